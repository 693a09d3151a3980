// The NATS sync backend (src/sync/nats.ts) against a real 3-node nats-server cluster on loopback
// (JetStream on, as operators run it), no root: deltas and snapshots between servers on
// different NATS nodes, 10,000 records at once, what NATS sees (sealed), forged, replayed and
// misattributed envelopes, a NATS node killed mid-run, a duplicate sender id, replay marks.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Logger } from "../src/log.ts";
import { NatsBackend } from "../src/sync/nats.ts";
import { MAX_PEERS } from "../src/sync/nats-peers.ts";
import { envelopeKey, jsonBody, KIND_DATA, KIND_JSON, seal, dataBody } from "../src/sync/nats-wire.ts";
import { SyncStore } from "../src/sync/store.ts";
import { fleetKeyFrom } from "../src/sync/wire.ts";
import { freePort, haveNats, NatsCluster } from "./lib/nats.ts";

const quiet = new Logger([], "text");
const KEY = "a fleet key for the nats tests";
const until = async (what: string, ok: () => boolean, ms = 8000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await Bun.sleep(10);
  }
};

if (!haveNats) console.warn("nats tests: skipped (no nats-server; apt-get install nats-server)");

describe.skipIf(!haveNats)("sync over NATS (3-node nats-server cluster on loopback)", () => {
  let cluster: NatsCluster;
  const backends: NatsBackend[] = [];
  let raw: NatsConnection;
  let prefixN = 0;

  beforeAll(async () => {
    cluster = await new NatsCluster(3).up();
    raw = await connect({ servers: cluster.urls });
  }, 20000);

  afterAll(async () => {
    for (const b of backends) b.stop();
    await raw?.close();
    await cluster?.stop();
  });

  /** A server's store and backend on NATS node `on` (all nodes as fallbacks), in group `prefix`. */
  const server = async (node: number, prefix: string, on: number, key = KEY, acceptKeys: string[] = []) => {
    const store = new SyncStore(node);
    const urls = [cluster.url(on), ...cluster.urls.filter((_, i) => i !== on)];
    const o = { node, key, acceptKeys, heartbeatMs: 100, staleMs: 2000, servers: urls, prefix };
    const b = new NatsBackend(store, o, quiet);
    backends.push(b);
    await b.start();
    await until(`node ${node} connected`, () => b.state.connected);
    return { store, b };
  };
  const group = () => `t${process.pid}.g${++prefixN}`;

  test("deltas between servers on different NATS nodes; a late joiner gets 10,000 records by snapshot", async () => {
    const g = group();
    const a = await server(1, g, 0);
    const b = await server(2, g, 1);
    await until("a and b see each other", () => a.b.peers().some((p) => p.node === 2 && p.state === "up"));
    a.store.set("ep", "1", { a: "192.0.2.1", p: 4444 });
    await until("delta at b", () => b.store.get("ep", "1") !== undefined);
    expect(b.store.get("ep", "1")).toEqual({ a: "192.0.2.1", p: 4444 });
    const t0 = performance.now();
    for (let i = 0; i < 10000; i++) a.store.set("ep", `k${i}`, { a: "192.0.2.2", p: i });
    await until("10k deltas at b", () => b.store.entries("ep").length >= 10001);
    const deltasMs = performance.now() - t0;
    const t1 = performance.now();
    const c = await server(3, g, 2);
    await until("10k by snapshot at c", () => c.store.entries("ep").length >= 10001, 15000);
    const snapMs = performance.now() - t1;
    console.log(
      `  nats: 10,000 deltas converged in ${deltasMs.toFixed(0)} ms; a joiner's snapshot in ${snapMs.toFixed(0)} ms`,
    );
    expect(c.store.get("ep", "k9999")).toEqual({ a: "192.0.2.2", p: 9999 });
    await until("c has both snapshots", () => c.b.readiness(60000, false) === null);
    expect(c.b.peers().every((p) => p.snapshotReceived)).toBe(true); // every live peer's snapshot is in
    expect(
      c.b
        .peers()
        .filter((p) => p.state === "up")
        .map((p) => p.node)
        .sort(),
    ).toEqual([1, 2]);
  }, 40000);

  test("NATS sees sealed bytes only; a forgery, another key, a replay and a delta in another's name are refused", async () => {
    const g = group();
    const seen: Uint8Array[] = [];
    const sub = raw.subscribe(`${g}.>`, {
      callback: (_e, m) => {
        seen.push(m.data);
      },
    });
    const a = await server(11, g, 0);
    const b = await server(12, g, 1);
    await until("up", () => b.b.peers().some((p) => p.node === 11 && p.state === "up"));
    a.store.set("ep", "secret", "endpoint-203.0.113.77");
    await until("delta", () => b.store.get("ep", "secret") !== undefined);
    await raw.flush();
    const all = Buffer.concat(seen).toString("latin1");
    expect(all.includes("endpoint-203.0.113.77")).toBe(false);
    expect(all.includes('"rec"')).toBe(false);

    const failures = b.b.stats.authFailures;
    raw.publish(`${g}.all`, new Uint8Array(200)); // garbage
    const other = envelopeKey(fleetKeyFrom("another fleet's key entirely"));
    const inst = new Uint8Array(8).fill(7);
    const rec = jsonBody({ k: "rec", r: [["ep", "forged", "x", Date.now(), 13]] });
    raw.publish(`${g}.all`, seal(other, `${g}.all`, { node: 13, instance: inst, seq: 1 }, KIND_JSON, rec));
    // the right key, sealed for another subject and moved to .all
    const key = envelopeKey(fleetKeyFrom(KEY));
    raw.publish(`${g}.all`, seal(key, `${g}.to.12`, { node: 13, instance: inst, seq: 2 }, KIND_JSON, rec));
    await until("three refused", () => b.b.stats.authFailures >= failures + 3);
    expect(b.store.get("ep", "forged")).toBeUndefined();

    // a replay: a data envelope delivered once, the same bytes again are not
    let delivered = 0;
    b.b.onForwarded(() => delivered++);
    const env = seal(
      key,
      `${g}.to.12`,
      { node: 11, instance: inst, seq: 5 },
      KIND_DATA,
      dataBody(1, new Uint8Array(40)),
    );
    raw.publish(`${g}.to.12`, env);
    await until("delivered", () => delivered === 1);
    const replays = b.b.state.replays;
    raw.publish(`${g}.to.12`, env);
    await until("replay counted", () => b.b.state.replays === replays + 1);
    expect(delivered).toBe(1);

    // an authenticated sender's delta in another node's name (only snapshots carry others' records)
    const refused = b.store.recordsRefused;
    const lie = jsonBody({ k: "rec", r: [["ep", "lie", "x", Date.now(), 99]] });
    raw.publish(`${g}.all`, seal(key, `${g}.all`, { node: 11, instance: inst, seq: 6 }, KIND_JSON, lie));
    await until("refused", () => b.store.recordsRefused === refused + 1);
    expect(b.store.get("ep", "lie")).toBeUndefined();
    sub.unsubscribe();
  }, 30000);

  test("the NATS node a server uses is killed: it reconnects to another, and state written meanwhile converges", async () => {
    const g = group();
    const a = await server(21, g, 2);
    const b = await server(22, g, 1);
    await until("up", () => a.b.peers().some((p) => p.node === 22 && p.state === "up"));
    a.store.set("ep", "before", 1);
    await until("before", () => b.store.get("ep", "before") === 1);
    // kill the NATS node `a` is on now
    const on = cluster.ports.findIndex((p) => a.b.state.server === `127.0.0.1:${p}`);
    expect(on).toBeGreaterThanOrEqual(0);
    await cluster.kill(on);
    await until("a reconnected", () => a.b.state.reconnects >= 1 && a.b.state.connected, 15000);
    b.store.set("ep", "during", 2);
    a.store.set("ep", "after", 3);
    await until(
      "converged both ways",
      () => a.store.get("ep", "during") === 2 && b.store.get("ep", "after") === 3,
      15000,
    );
    expect(a.b.describe()).toMatchObject({ kind: "nats", connected: true });
    expect(a.b.state.server).not.toBe(`127.0.0.1:${cluster.ports[on]}`);
    expect(a.b.state.disconnects).toBeGreaterThanOrEqual(1);
    cluster.start(on);
    await cluster.listening(on);
  }, 40000);

  test("another server with our sender id makes us not ready; replay marks answer across NATS", async () => {
    const g = group();
    const a = await server(31, g, 0);
    const b = await server(32, g, 1);
    a.b.answerMarks((mux) => (mux === 5 ? [[31, 123456]] : []));
    await until("up", () => b.b.peers().some((p) => p.node === 31 && p.state === "up"));
    expect(await b.b.askMarks(31, 5, 2000)).toEqual([[31, 123456]]);
    expect(b.b.askMarks(77, 5, 2000)).toBeNull(); // no such peer: nothing to wait for
    const dup = await server(31, g, 2);
    await until("duplicate seen", () => a.b.stats.duplicateNodes > 0 || dup.b.stats.duplicateNodes > 0);
    await Bun.sleep(300);
    expect(a.b.readiness(0, true) ?? dup.b.readiness(0, true)).toContain("sender id 31 is also used");
  }, 30000);

  test("a peer that let a replay-mark query time out and was not heard since is not waited for again", async () => {
    const g = group();
    const a = await server(41, g, 0);
    const b = await server(42, g, 1);
    await until("up", () => b.b.peers().some((p) => p.node === 41 && p.state === "up"));
    a.b.stop(); // gone without a word (as kill -9: no goodbye on NATS)
    const t0 = performance.now();
    expect(await b.b.askMarks(41, 5, 150)).toBeNull();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(b.b.askMarks(41, 5, 150)).toBeNull(); // at once, no second wait
  }, 20000);

  test("fleet key rotation: who accepts the next key reads it; after the old is dropped, its envelopes are refused", async () => {
    const g = group();
    const OLD = "the old fleet passphrase";
    const NEW = "the new fleet passphrase";
    const a = await server(51, g, 0, OLD, [NEW]); // phase 1: accepts the next key
    const b = await server(52, g, 1, NEW, [OLD]); // phase 2: seals with it, accepts the old
    const c = await server(53, g, 2, OLD); // left behind
    await until("a and b see each other", () => a.b.peers().some((p) => p.node === 52 && p.state === "up"));
    b.store.set("ep", "from b", 1);
    a.store.set("ep", "from a", 2);
    c.store.set("ep", "from c", 3);
    await until("a ↔ b, and c → both", () =>
      [
        a.store.get("ep", "from b"),
        b.store.get("ep", "from a"),
        a.store.get("ep", "from c"),
        b.store.get("ep", "from c"),
      ].every((x) => x !== undefined),
    );
    await Bun.sleep(200);
    // b seals with NEW: c opens none of b's envelopes, so b is no peer of c (b's records may still
    // reach c inside a's snapshot, sealed with OLD: a snapshot carries every node's records)
    expect(c.b.stats.authFailures).toBeGreaterThan(0);
    expect(c.b.peers().some((p) => p.node === 52)).toBe(false);
    expect(c.b.peers().some((p) => p.node === 51 && p.state === "up")).toBe(true); // a still seals with OLD
    expect(c.store.get("ep", "from a")).toBe(2);
    // phase 3: the old key goes
    a.b.setKeys(NEW, []);
    b.b.setKeys(NEW, []);
    const refused = a.b.stats.authFailures;
    c.store.set("ep", "late c", 4);
    await until("c's envelope refused at a", () => a.b.stats.authFailures > refused);
    await Bun.sleep(200);
    expect([a.store.get("ep", "late c"), b.store.get("ep", "late c")]).toEqual([undefined, undefined]);
  }, 30000);

  test("credentials: a NATS server that wants user and pass takes the right ones; wrong ones never connect, said", async () => {
    const port = freePort();
    const srv = Bun.spawn(
      ["nats-server", "-a", "127.0.0.1", "-p", String(port), "--user", "relay", "--pass", "s3cret"],
      {
        stdout: "ignore",
        stderr: "ignore",
      },
    );
    try {
      await until(
        "listening",
        () => Bun.spawnSync(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`]).exitCode === 0,
      );
      const mk = (node: number, pass: string) => {
        const o = {
          node,
          key: KEY,
          heartbeatMs: 100,
          staleMs: 2000,
          servers: [`nats://127.0.0.1:${port}`],
          prefix: group(),
        };
        const b = new NatsBackend(new SyncStore(node), { ...o, user: "relay", pass }, quiet);
        backends.push(b);
        return b;
      };
      const good = mk(61, "s3cret");
      const bad = mk(62, "wrong");
      await good.start();
      await bad.start(); // does not throw: the relay forwards without NATS and keeps trying
      await until("good connected", () => good.state.connected);
      await Bun.sleep(700);
      expect(bad.state.connected).toBe(false);
      expect(String(bad.describe().lastError)).toMatch(/auth/i);
    } finally {
      srv.kill("SIGKILL");
      await srv.exited;
    }
  }, 20000);

  test("a flood of envelopes from new instances (a holder of the fleet key) is bounded: no more than MAX_PEERS kept", async () => {
    const g = group();
    const b = await server(71, g, 0);
    const key = envelopeKey(fleetKeyFrom(KEY));
    const n = MAX_PEERS + 200;
    for (let i = 0; i < n; i++) {
      const inst = new Uint8Array(8);
      new DataView(inst.buffer).setUint32(0, i + 1);
      raw.publish(
        `${g}.all`,
        seal(key, `${g}.all`, { node: 1000 + (i % 60000), instance: inst, seq: 1 }, KIND_JSON, jsonBody({ k: "hb" })),
      );
    }
    await raw.flush();
    await until("all seen", () => b.b.state.envelopesIn >= n, 10000);
    expect(b.b.peers().length).toBeLessThanOrEqual(MAX_PEERS);
    expect(b.b.state.foreign).toBeGreaterThanOrEqual(n - MAX_PEERS);
  }, 30000);
});
