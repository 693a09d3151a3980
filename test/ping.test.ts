// The ping plugin in a server on loopback: echo requests to its addresses (IPv4 and IPv6) come
// back through the tunnel as valid echo replies; a bad checksum is a counted drop; requests to
// other addresses go on down the chain.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { checksum, sum16 } from "../src/net/checksum.ts";
import { PT_IPV6 } from "../src/satp/codec.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import { Client, until } from "./lib/satp-client.ts";

let s: Server;
const c = new Client(1, "ping test");
beforeAll(async () => {
  s = await Server.start(
    validateConfig({
      mode: "server",
      senderId: 78, // its own counter file: other tests' servers may still hold sender id 0
      listen: ["127.0.0.1:0"],
      clients: [{ mux: 1, passphrase: "ping test", routes: ["10.99.0.2/32", "fd99::2/128"] }],
      plugins: [{ use: "ping", addresses: ["10.99.0.1", "fd99::1"] }, { use: "routes" }],
    }),
    new Logger([], "text"),
    BUILTIN,
    process.cwd(),
  );
  await c.open();
});
afterAll(() => {
  s.stop();
  c.sock.close();
});

function echo4(dst: number[], id: number, payload: string, bad = false): Uint8Array {
  const data = new TextEncoder().encode(payload);
  const p = new Uint8Array(28 + data.length);
  p.set([0x45, 0, 0, p.length, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 99, 0, 2, ...dst]);
  const hc = checksum(p, 0, 20);
  p[10] = hc >> 8;
  p[11] = hc & 255;
  p.set([8, 0, 0, 0, id >> 8, id & 255, 0, 1], 20);
  p.set(data, 28);
  const ic = checksum(p, 20, p.length) ^ (bad ? 1 : 0);
  p[22] = ic >> 8;
  p[23] = ic & 255;
  return p;
}

function echo6(payload: string): Uint8Array {
  const data = new TextEncoder().encode(payload);
  const p = new Uint8Array(48 + data.length);
  const len = 8 + data.length;
  p.set([0x60, 0, 0, 0, len >> 8, len & 255, 58, 64]);
  p.set([0xfd, 0x99, ...new Array(13).fill(0), 2], 8);
  p.set([0xfd, 0x99, ...new Array(13).fill(0), 1], 24);
  p.set([128, 0, 0, 0, 0, 7, 0, 1], 40);
  p.set(data, 48);
  let ps = 0;
  for (let i = 8; i < 40; i += 2) ps += (p[i]! << 8) | p[i + 1]!;
  const ck = checksum(p, 40, p.length, ps + len + 58);
  p[42] = ck >> 8;
  p[43] = ck & 255;
  return p;
}

test("IPv4: an echo request to the server's address comes back as a valid echo reply", async () => {
  c.send(s.listeners[0]!.udp.port, echo4([10, 99, 0, 1], 0x1234, "are you there"));
  await until("reply", () => c.got.length === 1);
  const r = c.got[0]!;
  expect([...r.subarray(12, 20)]).toEqual([10, 99, 0, 1, 10, 99, 0, 2]);
  expect(r[20]).toBe(0); // echo reply
  expect((r[24]! << 8) | r[25]!).toBe(0x1234);
  expect(sum16(r, 0, 20)).toBe(0xffff);
  expect(sum16(r, 20, r.length)).toBe(0xffff);
  expect(new TextDecoder().decode(r.subarray(28))).toBe("are you there");
});

test("IPv6: an echo request to the server's address comes back as a valid echo reply", async () => {
  const n = c.got.length;
  c.send(s.listeners[0]!.udp.port, echo6("v6 too"), 1, PT_IPV6);
  await until("reply", () => c.got.length === n + 1);
  const r = c.got[n]!;
  expect(r[40]).toBe(129);
  expect(r[23]).toBe(1); // source fd99::1
  expect(r[39]).toBe(2); // to fd99::2
  let ps = 0;
  for (let i = 8; i < 40; i += 2) ps += (r[i]! << 8) | r[i + 1]!;
  expect(sum16(r, 40, r.length, ps + (r.length - 40) + 58)).toBe(0xffff);
});

test("a bad checksum is a counted drop; another address goes down the chain", async () => {
  const before = s.pluginDrops.get("ping-bad-checksum") ?? 0;
  const n = c.got.length;
  c.send(s.listeners[0]!.udp.port, echo4([10, 99, 0, 1], 1, "bad", true));
  await until("counted", () => (s.pluginDrops.get("ping-bad-checksum") ?? 0) === before + 1);
  const noroute = s.drops.noroute;
  c.send(s.listeners[0]!.udp.port, echo4([10, 99, 0, 77], 1, "elsewhere"));
  await until("passed on to routes", () => s.drops.noroute === noroute + 1);
  expect(c.got.length).toBe(n);
});
