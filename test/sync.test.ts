// Sync: the LWW store, the link's wire format, and meshes of real servers' sync endpoints on
// loopback (TCP, port 0): snapshot, deltas, convergence, self link, duplicate sender id, wrong
// fleet key, a dead link's records going stale and expiring.
import { afterEach, describe, expect, test } from "bun:test";
import { Logger } from "../src/log.ts";
import { decodeHello, deriveKeys, encodeHello, openFrame, parseMessage, sealFrame } from "../src/sync/wire.ts";
import { SyncMesh } from "../src/sync/mesh.ts";
import { SyncStore } from "../src/sync/store.ts";

const quiet = new Logger([], "text");
const until = async (what: string, ok: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await Bun.sleep(10);
  }
};

describe("store: last writer wins", () => {
  test("newer version wins whatever the arrival order; ties by node id", () => {
    const a = new SyncStore(1);
    const r1 = { table: "ep", key: "1", value: "old", t: 100, node: 2 };
    const r2 = { table: "ep", key: "1", value: "new", t: 200, node: 3 };
    expect(a.apply(r2, 9)).toBe(true);
    expect(a.apply(r1, 9)).toBe(false);
    expect(a.get("ep", "1")).toBe("new");
    expect(a.apply({ ...r2, value: "tie-lower", node: 2 }, 9)).toBe(false);
    expect(a.apply({ ...r2, value: "tie-higher", node: 4 }, 9)).toBe(true);
    expect(a.get("ep", "1")).toBe("tie-higher");
  });

  test("local writes are strictly increasing even within one millisecond, and published", () => {
    let now = 1000;
    const a = new SyncStore(1, () => now);
    const out: number[] = [];
    a.onPublish((r) => out.push(r.t));
    a.set("ep", "1", "x");
    a.set("ep", "1", "y");
    now = 999; // clock stepped back
    a.set("ep", "1", "z");
    expect(out[1]!).toBeGreaterThan(out[0]!);
    expect(out[2]!).toBeGreaterThan(out[1]!);
    expect(a.get("ep", "1")).toBe("z");
  });

  test("a local write made after seeing a record from a clock 2 s ahead replaces it, on every node", () => {
    const now = 1000;
    const a = new SyncStore(1, () => now);
    const b = new SyncStore(2, () => now + 2000);
    const ahead = b.set("tcp", "f", "b's")!;
    expect(a.apply(ahead, 9)).toBe(true);
    const mine = a.set("tcp", "f", "a's")!;
    expect(mine.t).toBeGreaterThan(ahead.t);
    expect(b.apply(mine, 9)).toBe(true);
    expect([a.get("tcp", "f"), b.get("tcp", "f")]).toEqual(["a's", "a's"]);
  });

  test("a tombstone beats an older write; stale records expire unless refreshed", async () => {
    const a = new SyncStore(1);
    a.apply({ table: "rt", key: "10.0.0.0/8", value: null, t: 500, node: 2 }, 7);
    expect(a.apply({ table: "rt", key: "10.0.0.0/8", value: 3, t: 400, node: 3 }, 7)).toBe(false);
    expect(a.get("rt", "10.0.0.0/8")).toBeUndefined();
    a.apply({ table: "ep", key: "1", value: "from 7", t: 10, node: 2 }, 7);
    a.apply({ table: "ep", key: "2", value: "from 8", t: 10, node: 3 }, 8);
    a.set("ep", "3", "local");
    const seen: string[] = [];
    a.onChange("ep", (k, v, origin) => seen.push(`${k}:${v}:${origin}`));
    a.linkDown(7);
    expect(a.counts().ep).toEqual({ live: 3, stale: 1 });
    await Bun.sleep(5);
    a.apply({ table: "ep", key: "1", value: "from 7", t: 10, node: 2 }, 9); // the same version again, via another link
    expect(a.counts().ep!.stale).toBe(0);
    a.linkDown(9);
    a.linkDown(8);
    await Bun.sleep(5);
    expect(a.expire(1)).toBe(2 + 1); // two endpoints + the rt tombstone from link 7
    expect(a.get("ep", "3")).toBe("local");
    expect(seen.sort()).toEqual(["1:null:expired", "2:null:expired"]);
  });
});

describe("store: replay marks merge by maximum", () => {
  test("a server whose clock runs 30 s ahead cannot pin a lower mark; marks never go stale or expire", async () => {
    const real = Date.now;
    const ahead = new SyncStore(1, () => real() + 30_000);
    const normal = new SyncStore(2, real);
    const third = new SyncStore(3, real);
    const max = (incoming: unknown, current: unknown) =>
      typeof incoming === "number" && (typeof current !== "number" || incoming > current);
    for (const s of [ahead, normal, third]) s.mergeBy("hwm", max);
    const link = (from: SyncStore, to: SyncStore[], via: number) =>
      from.onPublish((r) => {
        for (const t of to) t.apply(r, via);
      });
    link(ahead, [normal, third], 1);
    link(normal, [ahead, third], 2);
    ahead.set("hwm", "7/1", 100); // stamped 30 s in the future
    normal.set("hwm", "7/1", 250); // the fleet's real maximum, stamped "earlier"
    ahead.set("hwm", "7/1", 180); // the skewed server again, still behind the maximum
    for (const s of [ahead, normal, third]) expect(s.get("hwm", "7/1")).toBe(250);
    // last writer wins would have kept 180 (the newest timestamp) everywhere
    const lww = new SyncStore(4, real);
    lww.apply({ table: "hwm", key: "k", value: 250, t: real(), node: 2 }, 9);
    lww.apply({ table: "hwm", key: "k", value: 180, t: real() + 30_000, node: 1 }, 9);
    expect(lww.get("hwm", "k")).toBe(180);
    // the link that taught them goes down: marks are not stale, never expire, and are in snapshots
    third.linkDown(1);
    third.linkDown(2);
    await Bun.sleep(5);
    expect(third.expire(1)).toBe(0);
    expect(third.get("hwm", "7/1")).toBe(250);
    expect([...third.snapshot()].some((r) => r.table === "hwm" && r.value === 250)).toBe(true);
  });
});

describe("link wire format", () => {
  test("hello round trip and rejection", () => {
    const h = { node: 513, instance: "0011223344556677", nonce: new Uint8Array(16).fill(7) };
    expect(decodeHello(encodeHello(h))).toEqual(h);
    const bad = encodeHello(h);
    bad[0] = 0x47;
    expect(decodeHello(bad)).toBe("not an anytun-relay sync peer");
    bad[0] = 0x41;
    bad[4] = 9;
    expect(decodeHello(bad)).toMatch(/version 9 \(we speak 1, and take 1-2\)/);
    bad[4] = 0;
    expect(decodeHello(bad)).toMatch(/version 0/);
    bad[4] = 2; // the next version's hello: taken (a fleet upgrades one PoP at a time)
    expect(decodeHello(bad)).toEqual(h);
  });

  test("rolling upgrades: a message kind of a later version is ignored, unknown fields too; garbage is not", () => {
    const msg = (x: unknown) => parseMessage(new TextEncoder().encode(JSON.stringify(x)));
    expect(msg({ k: "digest2", anything: [1, 2] })).toEqual({ k: "other" });
    expect(msg({ k: "snap", since: 5 })).toEqual({ k: "snap" });
    expect(msg({ k: "ping", ts: 1, extra: "x" })).toMatchObject({ k: "ping", ts: 1 });
    expect(msg({ k: "Not A Kind!" })).toBeNull();
    expect(msg({ k: 5 })).toBeNull();
    expect(msg({ k: "rec", r: "nope" })).toBeNull(); // a known kind, malformed: still refused
  });

  test("frames are sealed per direction and counter; any bit flip fails", () => {
    const { d2a, a2d } = deriveKeys(new Uint8Array(32).fill(1), new Uint8Array(16).fill(2), new Uint8Array(16).fill(3));
    expect(Buffer.from(d2a).equals(Buffer.from(a2d))).toBe(false);
    const f = sealFrame(d2a, 5, new TextEncoder().encode('{"k":"snap"}'));
    const body = f.subarray(4);
    expect(parseMessage(openFrame(d2a, 5, body)!)).toEqual({ k: "snap" });
    expect(openFrame(d2a, 6, body)).toBeNull(); // replayed under another counter
    expect(openFrame(a2d, 5, body)).toBeNull(); // reflected back
    for (const i of [0, body.length - 1]) {
      const bad = body.slice();
      bad[i]! ^= 1;
      expect(openFrame(d2a, 5, bad)).toBeNull();
    }
    expect(parseMessage(new TextEncoder().encode('{"k":"rec","r":[["ep"]]}'))).toBeNull();
    // the data channel port in the authentication message: a port, or absent
    const auth = (dp: unknown) =>
      parseMessage(
        new TextEncoder().encode(
          JSON.stringify({ k: "auth", node: 1, instance: "aa", peerNode: 2, peerInstance: "bb", dp }),
        ),
      );
    expect(auth(2323)).not.toBeNull();
    expect(auth(undefined)).not.toBeNull();
    for (const bad of [0, 65536, -1, 1.5, "2323", null]) expect(auth(bad)).toBeNull();
    expect(parseMessage(new TextEncoder().encode("not json"))).toBeNull();
  });
});

describe("mesh on loopback", () => {
  const meshes: SyncMesh[] = [];
  afterEach(() => {
    for (const m of meshes.splice(0)) m.stop();
  });
  const opts = { heartbeatMs: 200, staleMs: 60000 };
  async function node(
    id: number,
    key: string,
    peers: number[] = [],
    extra: Partial<typeof opts> & { acceptKeys?: string[] } = {},
  ) {
    const store = new SyncStore(id);
    const mesh = new SyncMesh(
      store,
      {
        node: id,
        key,
        listen: { host: "127.0.0.1", port: 0 },
        peers: peers.map((port) => ({ host: "127.0.0.1", port })),
        ...opts,
        ...extra,
      },
      quiet,
    );
    meshes.push(mesh);
    await mesh.start();
    return { store, mesh };
  }
  const KEY = "fleet passphrase for tests";

  test("snapshot on connect, then deltas both ways; one link per pair even when both dial", async () => {
    const a = await node(1, KEY);
    a.store.set("ep", "1", { address: "192.0.2.1", port: 4444 });
    const b = await node(2, KEY, [a.mesh.listenPort]);
    await until("b gets the snapshot", () => b.store.get("ep", "1") !== undefined);
    expect(b.store.get("ep", "1")).toEqual({ address: "192.0.2.1", port: 4444 });
    b.store.set("ep", "2", { address: "192.0.2.2", port: 5555 });
    a.store.set("ep", "1", { address: "192.0.2.9", port: 4444 });
    await until(
      "deltas",
      () =>
        a.store.get("ep", "2") !== undefined && (b.store.get("ep", "1") as { address: string }).address === "192.0.2.9",
    );
    const c = await node(3, KEY, [a.mesh.listenPort, b.mesh.listenPort]);
    await until("c converges", () => c.store.entries("ep").length === 2);
    // a and c dial each other too: still exactly one live link per pair
    const a2 = a.mesh.peers();
    expect(a2.filter((p) => p.state === "up").length).toBe(2);
    expect(a.mesh.stats.selfLinks + a.mesh.stats.duplicateNodes + a.mesh.stats.authFailures).toBe(0);
  });

  test("a link to itself is detected and not dialed again", async () => {
    const store = new SyncStore(5);
    const mesh = new SyncMesh(
      store,
      { node: 5, key: KEY, listen: { host: "127.0.0.1", port: 0 }, peers: [], ...opts },
      quiet,
    );
    meshes.push(mesh);
    await mesh.start();
    const self = new SyncMesh(
      store,
      { node: 5, key: KEY, peers: [{ host: "127.0.0.1", port: mesh.listenPort }], ...opts },
      quiet,
    );
    // the same instance id = the same process: reuse the listener's identity through a peer entry on it
    Object.defineProperty(self, "instance", { value: mesh.instance });
    meshes.push(self);
    await self.start();
    await until("self detected", () => self.peers()[0]!.state === "self");
    const links = self.stats.selfLinks + mesh.stats.selfLinks;
    expect(links).toBeGreaterThan(0);
    await Bun.sleep(300); // a few redial periods: a self link is not made again
    expect(self.stats.selfLinks + mesh.stats.selfLinks).toBe(links);
    expect(self.peers()[0]!.state).toBe("self");
  });

  test("fleet key rotation: 3 phases by reload, links up throughout; a skipped phase still links; a dropped key ends its links", async () => {
    const OLD = "the old fleet passphrase";
    const NEW = "the new fleet passphrase";
    const up = (...ms: { mesh: SyncMesh }[]) => ms.every((m) => m.mesh.peers().some((p) => p.state === "up"));
    // phase 1 on a (accepts the next key), phase 2 on c (seals with it, accepts the old), b not started yet
    const a = await node(1, OLD, [], { acceptKeys: [NEW] });
    const c = await node(3, NEW, [a.mesh.listenPort], { acceptKeys: [OLD] });
    await until("a–c up", () => up(a, c));
    // b still has only the old key: c's first dial proves NEW, b refuses; c's next attempt proves OLD
    const b = await node(2, OLD, [c.mesh.listenPort]);
    const c2b = await node(4, NEW, [b.mesh.listenPort], { acceptKeys: [OLD] });
    await until("c2 → b up on the old key after one refusal", () => up(b, c2b), 8000);
    expect(b.mesh.stats.authFailures).toBeGreaterThanOrEqual(1);
    await until(
      "b–c up (b's old key, which c accepts)",
      () => b.mesh.peers().filter((p) => p.state === "up").length === 2,
    );
    c.store.set("ep", "rot", "during the rotation"); // the mesh does not forward: c's own links carry it
    await until("at a and b", () => [a, b].every((x) => x.store.get("ep", "rot") !== undefined), 5000);
    // phase 3 everywhere but b: links proven with OLD close and come back on NEW
    for (const x of [a, c, c2b]) x.mesh.setKeys(NEW, []);
    await until("a–c up on the new key", () => up(a, c), 8000);
    // b, left behind on the old key, is refused by all now
    const bFails = b.mesh.stats.authFailures + c2b.mesh.stats.authFailures;
    await until("b refused", () => b.mesh.stats.authFailures + c2b.mesh.stats.authFailures > bFails, 8000);
    c.store.set("ep", "after", "new key only");
    await until("a has it", () => a.store.get("ep", "after") !== undefined);
    await Bun.sleep(300);
    expect(b.store.get("ep", "after")).toBeUndefined(); // c's link to b (proven with OLD) is gone for good
    expect(b.mesh.peers().filter((p) => p.state === "up").length).toBe(0);
  }, 30000);

  test("two servers with the same sender id are refused loudly; a wrong fleet key is refused", async () => {
    const a = await node(7, KEY);
    const dup = await node(7, KEY, [a.mesh.listenPort]);
    await until("duplicate refused", () => dup.mesh.stats.duplicateNodes > 0 && a.mesh.stats.duplicateNodes > 0);
    expect(dup.mesh.peers()[0]!.state).toBe("refused");
    a.store.set("ep", "1", "secret-ish");
    const wrong = await node(8, "another fleet's passphrase", [a.mesh.listenPort]);
    await until("auth failure", () => wrong.mesh.stats.authFailures > 0 || a.mesh.stats.authFailures > 0);
    expect(wrong.store.get("ep", "1")).toBeUndefined();
    expect(dup.store.get("ep", "1")).toBeUndefined();
  });

  test("a silent peer is dropped after 3 heartbeats; its records go stale, expire, and come back when it returns", async () => {
    const a = await node(1, KEY, [], { staleMs: 300 });
    const b = await node(2, KEY, [a.mesh.listenPort], { staleMs: 300 });
    b.store.set("ep", "9", "b's knowledge");
    await until("a learns", () => a.store.get("ep", "9") !== undefined);
    b.mesh.stop(); // gone without a word on an idle link... stop() closes sockets, so also check the stats
    await until("a sees the link down", () => a.mesh.stats.linkDowns === 1);
    expect(a.store.counts().ep!.stale).toBe(1);
    await until("expired", () => a.store.get("ep", "9") === undefined, 3000);
    const b2 = await node(2, KEY, [a.mesh.listenPort], { staleMs: 300 });
    b2.store.apply({ table: "ep", key: "9", value: "b's knowledge", t: b.store.version("ep", "9")!.t, node: 2 }, 0);
    await until("relearned after reconnect", () => a.store.get("ep", "9") !== undefined);
  });
});
