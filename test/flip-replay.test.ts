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

test("S1 killed at the flip: replays of packets S1 accepted in its last moments pass S2 only within the mark interval (+ the mark wait); printed", async () => {
  // fresh pair with the default publication interval (100 ms) and mark wait (200 ms)
  const t1 = await server(11, [], 100);
  const t2 = await server(12, [`127.0.0.1:${t1.mesh!.listenPort}`], 100);
  const c = new Client(1, "pass a");
  const peer = new Client(2, "pass b");
  await Promise.all([c.open(), peer.open()]);
  try {
    await until("sync link up", () => t1.mesh!.peers().some((p) => p.state === "up"));
    peer.send(port(t1), ipv4("10.99.0.2", "10.99.0.9", "peer here"));
    const captured: { at: number; pkt: Uint8Array }[] = [];
    for (let i = 0; i < 120; i++) {
      c.send(port(t1), ipv4("10.99.0.1", "10.99.0.2", `c ${i}`));
      captured.push({ at: performance.now(), pkt: c.last });
      await Bun.sleep(5);
    }
    await until("s2 knows s1 serves c", () => t2.conns.get(1)!.servedBy === 11);
    const killedAt = performance.now();
    t1.stop(); // its sync link goes with it (as after kill -9: the kernel closes the socket)
    await until("s2 sees s1 gone", () => !t2.mesh!.peers().some((p) => p.state === "up"));
    const before = peer.got.length;
    for (const { pkt } of captured) attacker.sock.send(pkt, port(t2), "127.0.0.1");
    await Bun.sleep(300);
    const passed = peer.got.slice(before).map((p) => Number(new TextDecoder().decode(p.subarray(28)).slice(2)));
    const oldest = passed.length === 0 ? null : Math.min(...passed);
    const windowMs = oldest === null ? 0 : killedAt - captured[oldest]!.at;
    console.log(
      `  S1 killed at the flip: ${passed.length}/${captured.length} replays accepted by S2, accepted window ${windowMs.toFixed(0)} ms (bound: hwmIntervalMs 100 + markWaitMs 200)`,
    );
    expect(windowMs).toBeLessThanOrEqual(100 + 200 + 50); // 50: timer jitter
    // the client's own next packet is newer than any replay: its endpoint is back at once
    c.send(port(t2), ipv4("10.99.0.1", "10.99.0.2", "c after"));
    await until("s2 has the client's endpoint", () => t2.conns.get(1)!.endpoint?.port === c.sock.port);
  } finally {
    t2.stop();
    t1.stop();
    c.sock.close();
    peer.sock.close();
  }
}, 20000);
