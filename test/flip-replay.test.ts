// Cross-server replay right after a route flip, in-process on loopback with a real mesh: S1 has
// accepted a packet; the route moves the client to S2, and an attacker replays that packet to S2
// from its own address at 0, 10, 50 and 150 ms after the flip. Marks are published only every
// 5 s here, so what refuses the replay is S2 asking S1 for its current marks before the first
// packet counts (datapath.ts `arrive`), not the periodic publication. Nothing the client sent is
// lost by that wait.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import { Client, ipv4, until } from "./lib/satp-client.ts";

const quiet = new Logger([], "text");
let s1: Server, s2: Server;
const a = new Client(1, "pass a");
const b = new Client(2, "pass b");
const attacker = new Client(9, "not a key of this fleet"); // only its socket is used

async function server(senderId: number, peers: string[], hwmIntervalMs: number) {
  const cfg = validateConfig({
    mode: "server",
    senderId,
    listen: ["127.0.0.1:0"],
    admin: { enabled: false },
    clients: [
      { mux: 1, passphrase: "pass a", routes: ["10.99.0.1/32"] },
      { mux: 2, passphrase: "pass b", routes: ["10.99.0.2/32"] },
    ],
    sync: { listen: "127.0.0.1:0", peers, key: "flip replay fleet key", hwmIntervalMs, heartbeatMs: 200 },
  });
  return Server.start(cfg, quiet, BUILTIN, process.cwd());
}
const port = (s: Server) => s.listeners[0]!.udp.port;
const got = () => b.got.map((p) => new TextDecoder().decode(p.subarray(28)));

beforeAll(async () => {
  s1 = await server(1, [], 5000);
  s2 = await server(2, [`127.0.0.1:${s1.mesh!.listenPort}`], 5000);
  await Promise.all([a.open(), b.open(), attacker.open()]);
  await until("sync link up", () => s1.mesh!.peers().some((p) => p.state === "up"));
  b.send(port(s1), ipv4("10.99.0.2", "10.99.0.9", "b is here"));
  await until("both know b", () => s1.conns.get(2)!.endpoint !== null && s2.conns.get(2)!.endpoint !== null);
});
afterAll(() => {
  s1?.stop();
  s2?.stop();
  for (const c of [a, b, attacker]) c.sock?.close();
});

test("server mode: the window is on (1024) without any crypto setting", () => {
  expect(s1.conns.get(1)!.windowSize).toBe(1024);
});

for (const delay of [0, 10, 50, 150])
  test(`a packet S1 accepted, replayed to S2 ${delay} ms after the flip (S1 alive): refused, moves nothing`, async () => {
    // the client is at S1 (S2 learns that through the synced endpoint)...
    a.send(port(s1), ipv4("10.99.0.1", "10.99.0.2", `at s1 before ${delay}`));
    const captured = a.last;
    await until("b got it via s1", () => got().includes(`at s1 before ${delay}`));
    await until("s2 knows s1 serves a", () => s2.conns.get(1)!.servedBy === 1);
    const asked = s2.markStats.answered;
    // ...and the route flips: the client's next packet lands on S2, the replay too
    a.send(port(s2), ipv4("10.99.0.1", "10.99.0.2", `at s2 after ${delay}`));
    if (delay > 0) await Bun.sleep(delay);
    attacker.sock.send(captured, port(s2), "127.0.0.1");
    await until("the client's packet got through s2", () => got().includes(`at s2 after ${delay}`));
    await Bun.sleep(30);
    expect(got().filter((t) => t === `at s1 before ${delay}`).length).toBe(1); // delivered once, by S1
    expect(s2.conns.get(1)!.endpoint!.port).toBe(a.sock.port); // never the attacker's
    expect(s1.conns.get(1)!.endpoint!.port).toBe(a.sock.port);
    expect(s2.markStats.answered).toBe(asked + 1); // one round trip to S1 per flip
    expect(s2.markStats.timeouts).toBe(0);
    expect(s2.conns.get(1)!.wait).toBe(0);
  });

test("a replay from another address while the client stays put is refused and moves nothing (default config)", async () => {
  a.send(port(s2), ipv4("10.99.0.1", "10.99.0.2", "steady"));
  await until("b got steady", () => got().includes("steady"));
  const replays = s2.drops.replay;
  for (let i = 0; i < 5; i++) attacker.sock.send(a.last, port(s2), "127.0.0.1");
  await until("counted as replays", () => s2.drops.replay === replays + 5);
  expect(got().filter((t) => t === "steady").length).toBe(1);
  expect(s2.conns.get(1)!.endpoint!.port).toBe(a.sock.port);
  b.send(port(s2), ipv4("10.99.0.2", "10.99.0.1", "to a"));
  await until("a still gets its traffic", () => a.got.length > 0);
});
