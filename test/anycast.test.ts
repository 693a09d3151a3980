// Two servers of one anycast group in-process on loopback, synced over their mesh: a client that
// only ever spoke to S1 is reachable through S2, a packet accepted by S1 and replayed to S2 is
// rejected, the "moved" counter counts a client changing servers, learned routes reach both.
// (The namespace e2e test does the same with a real route flip and real anytun clients.)
import { afterAll, beforeAll, expect, test } from "bun:test";
import { adminApp } from "../src/admin.ts";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import { Client, ipv4, until } from "./lib/satp-client.ts";

const quiet = new Logger([], "text");
const KEY = "fleet key for the anycast test";
let s1: Server, s2: Server;
let p1 = 0,
  p2 = 0;
const a = new Client(1, "pass a");
const b = new Client(2, "pass b");

async function server(senderId: number, peers: string[]) {
  const cfg = validateConfig({
    mode: "server",
    senderId,
    listen: ["127.0.0.1:0"],
    admin: { enabled: false },
    crypto: { window: 64 },
    clients: [
      { mux: 1, passphrase: "pass a", routes: ["10.99.0.1/32"] },
      { mux: 2, passphrase: "pass b", routes: ["10.99.0.2/32"] },
    ],
    sync: { listen: "127.0.0.1:0", peers, key: KEY, hwmIntervalMs: 20, heartbeatMs: 200 },
  });
  return Server.start(cfg, quiet, BUILTIN, process.cwd());
}

beforeAll(async () => {
  s1 = await server(1, []);
  s2 = await server(2, [`127.0.0.1:${s1.mesh!.listenPort}`]);
  p1 = s1.listeners[0]!.udp.port;
  p2 = s2.listeners[0]!.udp.port;
  await Promise.all([a.open(), b.open()]);
  await until("sync link up", () => s1.mesh!.peers().some((p) => p.state === "up"));
});
afterAll(() => {
  s1.stop();
  s2.stop();
  a.sock.close();
  b.sock.close();
});

test("a client that only spoke to S1 is reached through S2 (endpoint synced)", async () => {
  b.send(p1, ipv4("10.99.0.2", "10.99.0.1", "b says hi to s1"));
  a.send(p1, ipv4("10.99.0.1", "10.99.0.250", "a says hi to s1"));
  await until("s2 learns b's endpoint", () => s2.conns.get(2)!.endpoint !== null && s2.conns.get(1)!.endpoint !== null);
  expect(s2.conns.get(2)!.endpoint!.port).toBe(b.sock.port);
  expect(s2.conns.get(2)!.servedBy).toBe(1);
  const n = b.got.length;
  a.send(p2, ipv4("10.99.0.1", "10.99.0.2", "a via s2")); // "route flip" for A
  await until("b gets it from s2", () => b.got.length === n + 1);
  expect(new TextDecoder().decode(b.got.at(-1)!.subarray(28))).toBe("a via s2");
  expect(s2.conns.get(1)!.movedIn).toBe(1);
  await until("s1 sees a moved to s2", () => s1.conns.get(1)!.servedBy === 2);
});

test("a packet accepted by S1 and replayed to S2 is rejected (synced high-water mark)", async () => {
  const packets: Uint8Array[] = [];
  const origSend = a.sock.send.bind(a.sock);
  a.sock.send = ((buf: Uint8Array, port: number, addr: string) => {
    packets.push(Uint8Array.from(buf));
    return origSend(buf, port, addr);
  }) as typeof a.sock.send;
  const n = b.got.length;
  a.send(p1, ipv4("10.99.0.1", "10.99.0.2", "captured at s1"));
  a.sock.send = origSend as typeof a.sock.send;
  await until("delivered once", () => b.got.length === n + 1);
  await Bun.sleep(100); // > hwmIntervalMs: S1 published, S2 applied
  const replays = s2.drops.replay;
  a.sock.send(packets[0]!, p2, "127.0.0.1");
  await until("s2 drops the replay", () => s2.drops.replay === replays + 1);
  await Bun.sleep(30);
  expect(b.got.length).toBe(n + 1);
  // and new packets from A still pass S2
  a.send(p2, ipv4("10.99.0.1", "10.99.0.2", "fresh"));
  await until("fresh one passes", () => b.got.length === n + 2);
});

test("a route learned on S1 (admin API) routes on S2; deleting it removes it everywhere", async () => {
  const admin1 = adminApp(s1);
  const put = await admin1.request("/v1/routes", {
    method: "PUT",
    body: JSON.stringify({ prefix: "10.77.0.0/16", mux: 2 }),
  });
  expect(put.status).toBe(200);
  await until("s2 has it", () => s2.store.get("rt", "10.77.0.0/16") !== undefined);
  const n = b.got.length;
  a.send(p2, ipv4("10.99.0.1", "10.77.3.4", "learned route"));
  await until("routed by the learned route", () => b.got.length === n + 1);
  expect(
    (await admin1.request("/v1/routes", { method: "PUT", body: '{"prefix":"10.77.0.1/16","mux":2}' })).status,
  ).toBe(400);
  expect((await admin1.request("/v1/routes?prefix=10.77.0.0/16", { method: "DELETE" })).status).toBe(200);
  await until("gone on s2", () => s2.store.get("rt", "10.77.0.0/16") === undefined);
  const noroute = s2.drops.noroute;
  a.send(p2, ipv4("10.99.0.1", "10.77.3.4", "no longer routed"));
  await until("dropped", () => s2.drops.noroute === noroute + 1);
});

test("/v1/peers and sync metrics", async () => {
  const peers = (await (await adminApp(s2).request("/v1/peers")).json()) as {
    node: number;
    peers: { state: string; node: number; lagSeconds: number }[];
    tables: Record<string, { live: number }>;
  };
  expect(peers.node).toBe(2);
  expect(peers.peers[0]).toMatchObject({ state: "up", node: 1 });
  expect(peers.peers[0]!.lagSeconds).toBeLessThan(1);
  expect(peers.tables.ep!.live).toBe(2);
  const text = await (await adminApp(s2).request("/metrics")).text();
  expect(text).toContain("relay_sync_links_up 1");
  expect(text).toMatch(/relay_client_moved_total\{mux="1",client="mux-1"\} [1-9]/);
});
