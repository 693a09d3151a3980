// What the fleet must agree on (src/sync/consistency.ts, server-parts.ts fleetDigest): groups by
// the gating parts, the smaller group (or between equals the later one) not ready; the plugin
// chain shown only; digests written in another node's name refused; and real servers on the
// mesh: one started with a conflicting client table is not ready and says why, over /readyz and
// /v1/peers, while the first stays ready; a reload to the fleet's table makes it ready.
import { afterAll, describe, expect, test } from "bun:test";
import { adminApp } from "../src/admin.ts";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { Server } from "../src/server.ts";
import { fleetDigest, GATING_PARTS } from "../src/server-parts.ts";
import { renderStatus, statusOf } from "../src/status.ts";
import { FleetConsistency, type Digest } from "../src/sync/consistency.ts";
import { SyncStore } from "../src/sync/store.ts";
import { BUILTIN } from "../plugins/index.ts";
import { until } from "./lib/satp-client.ts";

const digest = (clients: string, since: number, plugins = "p"): Digest => ({
  v: 1,
  since,
  parts: { clients, protocol: "1", stride: "1024", plugins },
});

/** n servers' stores joined by hand (every record copied to every store), all peers up. */
function fleet(ds: Digest[]) {
  const stores = ds.map((_, i) => new SyncStore(i + 1));
  const nodes = ds.map((_, i) => i + 1);
  const cs = ds.map(
    (d, i) => new FleetConsistency(stores[i]!, i + 1, d, GATING_PARTS, () => nodes.filter((n) => n !== i + 1)),
  );
  stores.forEach((s, i) => s.onPublish((r) => stores.forEach((t, j) => j !== i && t.apply(r, 100 + i))));
  for (const c of cs) c.publish();
  return cs;
}

describe("groups by the gating parts", () => {
  test("two servers: the one that joined later with another client table is not ready, the first is", () => {
    const [a, b] = fleet([digest("A", 1000), digest("B", 2000)]);
    expect(a!.readiness()).toBeNull();
    expect(b!.readiness()).toBe("config differs from the fleet's: clients (node 1)");
    expect(b!.conflicts()).toEqual([{ node: 1, parts: ["clients"], ours: true }]);
    expect(a!.conflicts()).toEqual([{ node: 2, parts: ["clients"], ours: false }]);
    expect(a!.mismatches + b!.mismatches).toBe(2);
  });

  test("three servers: the odd one out is not ready even when it is the oldest (a key rotated on two)", () => {
    const [a, b, c] = fleet([digest("old", 1000), digest("new", 2000), digest("new", 3000)]);
    expect(a!.readiness()).toMatch(/clients \(node 2\); clients \(node 3\)/);
    expect([b!.readiness(), c!.readiness()]).toEqual([null, null]);
  });

  test("the plugin chain differing is shown, not gating; equal views have no conflict", () => {
    const [a, b] = fleet([digest("A", 1000, "with local"), digest("A", 2000, "without")]);
    expect(b!.conflicts()).toEqual([{ node: 1, parts: ["plugins"], ours: false }]);
    expect([a!.readiness(), b!.readiness()]).toEqual([null, null]);
    const [c, d] = fleet([digest("A", 1000), digest("A", 2000)]);
    expect([c!.conflicts(), d!.conflicts()]).toEqual([[], []]);
  });

  test("a digest in another node's name, or not a digest, is refused", () => {
    const s = new SyncStore(1);
    new FleetConsistency(s, 1, digest("A", 1), GATING_PARTS, () => [2]);
    expect(s.apply({ table: "cfg", key: "2", value: digest("B", 1), t: Date.now(), node: 3 }, 9)).toBe(false);
    expect(s.apply({ table: "cfg", key: "2", value: { v: 1, parts: "x" }, t: Date.now(), node: 2 }, 9)).toBe(false);
    expect(s.apply({ table: "cfg", key: "2", value: digest("B", 1), t: Date.now(), node: 2 }, 9)).toBe(true);
  });

  test("fleetDigest: the same config hashes alike on two servers; a client key changes `clients` only", () => {
    const base = {
      mode: "server",
      clients: [{ mux: 1, passphrase: "pass a", routes: ["10.99.0.1/32"] }],
      sync: { listen: "127.0.0.1:0", key: "consistency fleet key" },
    };
    const d1 = fleetDigest(validateConfig({ ...base, senderId: 1 }), 1);
    const d2 = fleetDigest(validateConfig({ ...base, senderId: 2 }), 2);
    expect(d1.parts).toEqual(d2.parts);
    const d3 = fleetDigest(validateConfig({ ...base, clients: [{ ...base.clients[0]!, passphrase: "pass b" }] }), 3);
    expect(Object.keys(d3.parts).filter((k) => d3.parts[k] !== d1.parts[k])).toEqual(["clients"]);
    expect(JSON.stringify(d3)).not.toContain("pass b"); // hashes, keyed with the fleet secret
  });
});

describe("real servers on the mesh (loopback)", () => {
  const quiet = new Logger([], "text");
  const started: Server[] = [];
  afterAll(() => {
    for (const s of started) s.stop();
  });
  const cfg = (id: number, peers: string[], passphrase: string) =>
    validateConfig({
      mode: "server",
      senderId: id,
      listen: ["127.0.0.1:0"],
      admin: { enabled: false },
      clients: [{ mux: 1, passphrase, routes: ["10.99.0.1/32"] }],
      sync: { listen: "127.0.0.1:0", peers, key: "consistency fleet key", heartbeatMs: 200, readyGraceMs: 300 },
    });

  test("a server started with a conflicting client table is not ready and says why; a reload to the fleet's fixes it", async () => {
    const s1 = await Server.start(cfg(1, [], "pass a"), quiet, BUILTIN, process.cwd(), true);
    started.push(s1);
    await Bun.sleep(5); // a later start time for S2
    const s2cfg = cfg(2, [`127.0.0.1:${s1.mesh!.listenPort}`], "another pass");
    const s2 = await Server.start(s2cfg, quiet, BUILTIN, process.cwd(), false);
    started.push(s2);
    await until("S2 sees S1's digest", () => s2.notReadyReason()?.startsWith("config differs") === true, 5000);
    const r = await adminApp(s2).request("/readyz");
    expect(r.status).toBe(503);
    expect(((await r.json()) as { reason: string }).reason).toBe("config differs from the fleet's: clients (node 1)");
    const peers = (await (await adminApp(s2).request("/v1/peers")).json()) as {
      consistency: { conflicts: unknown[]; mismatches: number };
    };
    expect(peers.consistency.conflicts).toEqual([{ node: 1, parts: ["clients"], ours: true }]);
    expect(peers.consistency.mismatches).toBeGreaterThan(0);
    expect(statusOf(s2).configConflicts).toEqual([{ node: 1, parts: ["clients"], ours: true }]);
    expect(renderStatus(statusOf(s2))).toContain(
      "config differs from node 1: clients (this server is the one out of step: not ready)",
    );
    expect(s1.notReadyReason()).toBeNull(); // the first server keeps serving
    expect(s2.state).toBe("syncing");
    await s2.reload(cfg(2, [`127.0.0.1:${s1.mesh!.listenPort}`], "pass a"));
    await until("S2 ready", () => s2.notReadyReason() === null, 5000);
    await s2.whenReady();
    expect(s2.state).toBe("ready");
  }, 20000);
});
