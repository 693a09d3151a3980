// Readiness of a (re)started server (server.ts notReadyReason, sync/mesh.ts readiness): not
// ready and taking no packets until it has the fleet's replay marks (a peer's snapshot) or the
// grace time passed with no peer; two servers with one sender id are both not ready, saying why —
// but only once the fleet key proves it: a stranger's hello with our id changes nothing.
import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { adminApp } from "../src/admin.ts";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { Server } from "../src/server.ts";
import { encodeHello } from "../src/sync/wire.ts";
import { BUILTIN } from "../plugins/index.ts";
import { Client, ipv4, until } from "./lib/satp-client.ts";

const quiet = new Logger([], "text");
const started: Server[] = [];
afterAll(() => {
  for (const s of started) s.stop();
});
async function server(senderId: number, peers: string[], readyGraceMs: number, wait = false) {
  const cfg = validateConfig({
    mode: "server",
    senderId,
    listen: ["127.0.0.1:0"],
    admin: { enabled: false },
    clients: [{ mux: 1, passphrase: "pass a", routes: ["10.99.0.1/32"] }],
    sync: { listen: "127.0.0.1:0", peers, key: "readiness fleet key", heartbeatMs: 200, readyGraceMs },
  });
  const s = await Server.start(cfg, quiet, BUILTIN, process.cwd(), wait);
  started.push(s);
  return s;
}
const readyz = async (s: Server) => {
  const r = await adminApp(s).request("/readyz");
  return { status: r.status, ...((await r.json()) as { ready: boolean; state: string; reason: string | null }) };
};

test("alone: syncing (503, packets dropped notready) until the grace time, then ready", async () => {
  const t0 = performance.now();
  const s = await server(1, [], 400);
  expect(await readyz(s)).toEqual({
    status: 503,
    ready: false,
    state: "syncing",
    reason: "waiting up to 400 ms for a sync peer's replay marks",
  });
  const a = new Client(1, "pass a");
  await a.open();
  a.send(s.listeners[0]!.udp.port, ipv4("10.99.0.1", "10.99.0.9", "too early"));
  await until("dropped notready", () => s.drops.notready === 1);
  expect(s.conns.get(1)!.endpoint).toBeNull(); // nothing learned, no window made
  expect([...s.conns.get(1)!.windows()].length).toBe(0);
  await s.whenReady();
  const waited = performance.now() - t0;
  expect(waited).toBeGreaterThanOrEqual(390);
  console.log(`  alone: ready after ${waited.toFixed(0)} ms (grace 400)`);
  expect((await readyz(s)).status).toBe(200);
  a.send(s.listeners[0]!.udp.port, ipv4("10.99.0.1", "10.99.0.9", "now"));
  await until("taken now", () => s.conns.get(1)!.endpoint !== null);
  a.sock.close();
});

test("with a live peer: ready as soon as its snapshot is in, long before the grace time", async () => {
  const s1 = started[0]!;
  const t0 = performance.now();
  const s2 = await server(2, [`127.0.0.1:${s1.mesh!.listenPort}`], 60000, true);
  const took = performance.now() - t0;
  console.log(`  with a peer: ready after ${took.toFixed(0)} ms (grace 60000)`);
  expect(took).toBeLessThan(5000);
  expect((await readyz(s2)).status).toBe(200);
  expect(s2.mesh!.peers()[0]!.snapshotReceived).toBe(true);
});

test("a stranger's hello with our sender id (no fleet key) leaves the server ready", async () => {
  const s1 = started[0]!;
  const sock = await Bun.connect({ hostname: "127.0.0.1", port: s1.mesh!.listenPort, socket: { data() {} } });
  sock.write(encodeHello({ node: 1, instance: randomBytes(8).toString("hex"), nonce: new Uint8Array(16) }));
  sock.write(new Uint8Array([0, 0, 0, 32, ...randomBytes(32)])); // a frame no fleet key sealed
  await until("auth failure counted", () => s1.mesh!.stats.authFailures > 0 || s1.mesh!.stats.duplicateNodes > 0);
  expect(s1.mesh!.stats.duplicateNodes).toBe(0);
  expect(await readyz(s1)).toMatchObject({ status: 200, reason: null });
  sock.end();
});

test("two servers with the same sender id: both not ready, and they say why", async () => {
  const s1 = started[0]!;
  const dup = await server(1, [`127.0.0.1:${s1.mesh!.listenPort}`], 100);
  await until("duplicate seen on both", () => s1.mesh!.stats.duplicateNodes > 0 && dup.mesh!.stats.duplicateNodes > 0);
  const r1 = await readyz(s1);
  expect(r1.status).toBe(503);
  expect(r1.reason ?? "").toMatch(/^sender id 1 is also used by the sync peer at 127\.0\.0\.1/);
  expect((await readyz(dup)).reason).toMatch(/^sender id 1 is also used/);
  expect(s1.state).toBe("ready"); // it keeps serving its sessions; only BGP withdraws (readyz)
});
