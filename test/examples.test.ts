// examples/: the custom steering plugin loaded by path from examples/server.json, in a server on
// loopback with our own SATP clients; the example configs validate (see config.test.ts too).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { validateConfig } from "../src/config.ts";
import { readConfigFile } from "../src/config-file.ts";
import { Logger } from "../src/log.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import { Client, ipv4, until, withDscp } from "./lib/satp-client.ts";

const dir = new URL("../examples/", import.meta.url).pathname;
let server: Server;
let port = 0;
const alice = new Client(1, "change me: secret of alice");
const bob = new Client(2, "change me: secret of bob");
const carol = new Client(3, "", {
  key: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
  salt: "0102030405060708090a0b0c0d0e",
  suite: { cipher: "aes-ctr-256", auth: "sha1", tagLength: 20, kdPrf: "aes-ctr-256" },
});

beforeAll(async () => {
  const raw = readConfigFile(`${dir}server.json`);
  const cfg = validateConfig({ ...raw, listen: ["127.0.0.1:0"], admin: { enabled: false } });
  server = await Server.start(cfg, new Logger([], "text"), BUILTIN, dir);
  port = server.listeners[0]!.udp.port;
  await Promise.all([alice.open(), bob.open(), carol.open()]);
  for (const c of [alice, bob, carol]) c.send(port, ipv4(`10.99.0.${c.mux}`, "10.250.0.1", "hi"));
  await until("endpoints", () => server.conns.all().every((c) => c.endpoint !== null));
});
afterAll(() => {
  server.stop();
  for (const c of [alice, bob, carol]) c.sock.close();
});

test("the chain is the config's order: steer, then routes", () => {
  expect(server.chain.entries.map((e) => e.name)).toEqual(["steer", "routes"]);
});

test("DSCP 46 is steered to carol; other traffic follows routes", async () => {
  alice.send(port, withDscp(ipv4("10.99.0.1", "192.168.50.9", "voice"), 46));
  await until("carol gets the EF packet", () => carol.got.length === 1);
  alice.send(port, ipv4("10.99.0.1", "192.168.50.9", "bulk"));
  await until("bob gets the best-effort packet", () => bob.got.length === 1);
  expect(new TextDecoder().decode(carol.got[0]!.subarray(28))).toBe("voice");
  expect(new TextDecoder().decode(bob.got[0]!.subarray(28))).toBe("bulk");
  expect(server.pluginEvents.get("steer\u0000steered")).toBe(1);
});
