// The sync link attacked before the fleet key is proven (real meshes on loopback, a raw TCP
// attacker): a declared 16 MiB frame is refused at once, a silent handshake is cut at the
// deadline, a flood of half-open handshakes is capped while a real link stays up, and a
// reflected hello no longer makes a real peer "self".
import { afterEach, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { Logger } from "../src/log.ts";
import { encodeHello, HANDSHAKE_MS, HELLO_LEN } from "../src/sync/wire.ts";
import { MAX_UNAUTHENTICATED, SyncMesh } from "../src/sync/mesh.ts";
import { SyncStore } from "../src/sync/store.ts";

const quiet = new Logger([], "text");
const KEY = "fleet passphrase for the attack tests";
const until = async (what: string, ok: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await Bun.sleep(10);
  }
};
const meshes: SyncMesh[] = [];
const closers: (() => void)[] = [];
afterEach(() => {
  for (const m of meshes.splice(0)) m.stop();
  for (const c of closers.splice(0)) c();
});
async function node(id: number, peers: number[] = []) {
  const store = new SyncStore(id);
  const mesh = new SyncMesh(
    store,
    {
      node: id,
      key: KEY,
      listen: { host: "127.0.0.1", port: 0 },
      peers: peers.map((port) => ({ host: "127.0.0.1", port })),
      heartbeatMs: 200,
      staleMs: 60000,
    },
    quiet,
  );
  meshes.push(mesh);
  await mesh.start();
  return { store, mesh };
}
/** A raw TCP connection to `port` that records whether it was closed (or refused). */
async function attacker(port: number) {
  const st = { closed: false, got: [] as Uint8Array[] };
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_s, d) => void st.got.push(d),
      close: () => void (st.closed = true),
      error: () => void (st.closed = true),
      connectError: () => void (st.closed = true),
    },
  }).catch(() => null);
  if (sock === null) st.closed = true;
  else closers.push(() => sock.end());
  return { sock: sock ?? { write: () => 0, end: () => {} }, st };
}
const hello = (node: number) => encodeHello({ node, instance: randomBytes(8).toString("hex"), nonce: randomBytes(16) });

test("a 16 MiB frame declared before authentication closes the link at once (nothing buffered)", async () => {
  const a = await node(1);
  const { sock, st } = await attacker(a.mesh.listenPort);
  sock.write(hello(9));
  sock.write(new Uint8Array([0x01, 0x00, 0x00, 0x00, ...randomBytes(1000)])); // n = 16 MiB
  await until("closed", () => st.closed);
  expect(a.mesh.stats.handshakeFailures).toBe(1);
});

test(`a handshake trickled byte by byte (slow loris) is cut at the ${HANDSHAKE_MS} ms deadline`, async () => {
  const a = await node(1);
  const { sock, st } = await attacker(a.mesh.listenPort);
  sock.write(hello(9));
  const frame = new Uint8Array([0, 0, 0, 200, ...randomBytes(200)]); // never complete in time
  const t0 = performance.now();
  for (let i = 0; i < frame.length && !st.closed; i++) {
    sock.write(frame.subarray(i, i + 1)); // often enough that no heartbeat timeout fires
    await Bun.sleep(50);
  }
  const took = performance.now() - t0;
  expect(st.closed).toBe(true);
  expect(took).toBeGreaterThan(HANDSHAKE_MS - 500);
  expect(took).toBeLessThan(HANDSHAKE_MS + 1500);
  expect(a.mesh.stats.handshakeFailures).toBe(1);
}, 15000);

test(`200 half-open handshakes: at most ${MAX_UNAUTHENTICATED} held, the real link stays up and a new peer still joins`, async () => {
  const a = await node(1);
  const b = await node(2, [a.mesh.listenPort]);
  await until("link up", () => a.mesh.peers().some((p) => p.state === "up"));
  const conns = [];
  for (let i = 0; i < 200; i++) conns.push(await attacker(a.mesh.listenPort));
  await until("excess refused", () => a.mesh.stats.refusedConnections >= 200 - MAX_UNAUTHENTICATED);
  expect(conns.filter((c) => !c.st.closed).length).toBeLessThanOrEqual(MAX_UNAUTHENTICATED + 1);
  b.store.set("ep", "1", { a: "198.51.100.7", p: 1, l: "x", s: 2 });
  await until("records still flow", () => a.store.get("ep", "1") !== undefined);
  expect(a.mesh.peers().filter((p) => p.state === "up").length).toBe(1);
  for (const c of conns) c.sock.end();
  const c3 = await node(3, [a.mesh.listenPort]);
  await until("a new peer joins once the flood is gone", () => c3.mesh.peers().some((p) => p.state === "up"));
});

test("a reflected hello (the server's own, sent back) does not mark a peer as self", async () => {
  // a "peer" that echoes back what the dialing server sends: its own hello
  const echo = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { data: (s, d) => void s.write(d.subarray(0, HELLO_LEN)) },
  });
  closers.push(() => echo.stop(true));
  const a = await node(1, [echo.port]);
  await Bun.sleep(1500); // several dials
  expect(a.mesh.stats.selfLinks).toBe(0);
  expect(a.mesh.peers()[0]!.state).not.toBe("self");
  // a real link to itself is still detected (after authentication) and not redialled
  const port = 24000 + (process.pid % 500);
  const self = new SyncMesh(
    new SyncStore(5),
    {
      node: 5,
      key: KEY,
      listen: { host: "127.0.0.1", port },
      peers: [{ host: "127.0.0.1", port }],
      heartbeatMs: 200,
      staleMs: 60000,
    },
    quiet,
  );
  meshes.push(self);
  await self.start();
  await until("self link detected after authentication", () => self.stats.selfLinks > 0);
  expect(self.peers()[0]!.state).toBe("self");
}, 10000);

test("a fleet member's forged records are refused before they apply: future stamps, other nodes' names, wrong shapes", async () => {
  const a = await node(1);
  const b = await node(2, [a.mesh.listenPort]);
  const { Replication } = await import("../src/sync/replicate.ts");
  const { ConnTable } = await import("../src/state.ts");
  new Replication(
    a.store,
    new ConnTable(),
    () => null,
    () => {},
    1000,
  ); // a's table rules (ep, rt, hwm)
  await until("link up, snapshots done", () => a.mesh.peers().some((p) => p.state === "up" && p.snapshotReceived));
  await until("b has a's snapshot", () => b.mesh.peers().some((p) => p.snapshotReceived));
  // b's authenticated link to a, used to send what a compromised or buggy member might
  const link = (b.mesh as unknown as { byNode: Map<number, { queue(r: unknown): void }> }).byNode.get(1)!;
  const now = Date.now();
  const ep = { a: "198.51.100.9", p: 4444, l: "x", s: 2 };
  const forged = [
    { table: "ep", key: "7", value: ep, t: now + 3_600_000, node: 2 }, // pins mux 7 for an hour
    { table: "ep", key: "8", value: ep, t: 2 ** 53, node: 1 }, // in a's own name, beyond any later write
    { table: "ep", key: "9", value: ep, t: now, node: 3 }, // a delta in a third node's name
    { table: "ep", key: "10", value: { ...ep, a: "not an address" }, t: now, node: 2 },
    { table: "ep", key: "x", value: ep, t: now, node: 2 },
    { table: "rt", key: "not a prefix", value: { mux: 1 }, t: now, node: 2 },
    { table: "rt", key: "10.0.0.0/8", value: { mux: 70000 }, t: now, node: 2 },
  ];
  const refused = a.store.recordsRefused;
  for (const r of forged) link.queue(r);
  link.queue({ table: "ep", key: "11", value: ep, t: now, node: 2 }); // and one good record last
  link.queue({ table: "hwm", key: "11/0", value: 500, t: now + 120_000, node: 2 }); // marks ignore clocks
  await until("the good record arrived", () => a.store.get("ep", "11") !== undefined);
  await until("the mark arrived", () => a.store.get("hwm", "11/0") === 500);
  expect(a.store.recordsRefused - refused).toBe(forged.length);
  for (const k of ["7", "8", "9", "10", "x"]) expect(a.store.get("ep", k)).toBeUndefined();
  expect(a.store.entries("rt")).toEqual([]);
  // a's own later write to key 8 still wins everywhere
  a.store.set("ep", "8", { ...ep, a: "203.0.113.8" });
  await until("b takes a's write", () => (b.store.get("ep", "8") as { a?: string } | undefined)?.a === "203.0.113.8");
});

test("a peer that stops reading is dropped once 32 MiB wait for it (memory bounded)", async () => {
  const { SyncLink } = await import("../src/sync/link.ts");
  const { fleetKeyFrom, MAX_BACKLOG } = await import("../src/sync/wire.ts");
  const key = fleetKeyFrom(KEY);
  let reading = true;
  let closedWhy = "";
  const ends: { link?: InstanceType<typeof SyncLink> }[] = [{}, {}];
  // two links wired back to back in memory; b "stops reading" when `reading` turns false
  const sock = (to: number) => ({
    write: (d: Uint8Array) => {
      if (!reading && to === 1) return 0;
      queueMicrotask(() => ends[to]!.link?.onData(d.slice()));
      return d.length;
    },
    end() {},
  });
  const ev = (self: number) => ({
    up() {},
    records() {},
    snapshotDone() {},
    closed: (_l: unknown, why: string) => void (self === 0 && (closedWhy = why)),
  });
  ends[0]!.link = new SyncLink(
    sock(1),
    true,
    "b",
    { node: 1, instance: "aaaaaaaaaaaaaaaa", fleetKeys: () => [key] },
    ev(0),
  );
  ends[1]!.link = new SyncLink(
    sock(0),
    false,
    "a",
    { node: 2, instance: "bbbbbbbbbbbbbbbb", fleetKeys: () => [key] },
    ev(1),
  );
  await until("authenticated", () => ends[0]!.link!.state === "up" && ends[1]!.link!.state === "up");
  reading = false;
  const big = "x".repeat(1 << 20);
  for (let i = 0; i < 40 && ends[0]!.link!.state === "up"; i++)
    ends[0]!.link!.sendRecords([{ table: "t", key: String(i), value: big, t: Date.now(), node: 1 }]);
  expect(ends[0]!.link!.state).toBe("closed");
  expect(closedWhy).toBe(`peer too slow: over ${MAX_BACKLOG} bytes unsent`);
  expect(ends[0]!.link!.backlog).toBeLessThanOrEqual(MAX_BACKLOG + (2 << 20));
});

test("replay-mark messages: malformed queries and answers are refused; an answer nobody asked for changes nothing", async () => {
  const { parseMessage } = await import("../src/sync/wire.ts");
  const m = (o: unknown) => parseMessage(new TextEncoder().encode(JSON.stringify(o)));
  expect(m({ k: "mq", id: 1, mux: 7 })).toEqual({ k: "mq", id: 1, mux: 7 });
  for (const bad of [
    { k: "mq", id: 0, mux: 7 },
    { k: "mq", id: 1, mux: 65536 },
    { k: "mq", id: 1.5, mux: 1 },
    { k: "mq", id: 1 },
    { k: "ma", id: 1, m: [[70000, 5]] },
    { k: "ma", id: 1, m: [[1, -1]] },
    { k: "ma", id: 1, m: [[1, 2 ** 60]] },
    { k: "ma", id: 1, m: [[1]] },
    { k: "ma", id: 1, m: "x" },
    { k: "ma", id: 1, m: Array.from({ length: 65537 }, () => [1, 1]) },
  ])
    expect(m(bad)).toBeNull();
  // over an authenticated link: an unsolicited answer is ignored, a real query is answered once
  const a = await node(1);
  const b = await node(2, [a.mesh.listenPort]);
  await until("link up", () => b.mesh.peers().some((p) => p.state === "up"));
  let asked = 0;
  a.mesh.answerMarks((mux) => (asked++, mux === 7 ? [[0, 42]] : []));
  const link = (b.mesh as unknown as { byNode: Map<number, { sendMessage(m: unknown): void }> }).byNode.get(1)!;
  link.sendMessage({ k: "ma", id: 99, m: [[0, 1]] }); // to a, which never asked
  expect(await b.mesh.askMarks(1, 7, 1000)).toEqual([[0, 42]]);
  expect(asked).toBe(1);
  expect(a.mesh.peers().some((p) => p.state === "up")).toBe(true);
  expect(b.mesh.askMarks(9, 7, 1000)).toBeNull(); // no link to node 9: nothing to wait for
});

test("records from a peer are re-checked against local policy: routes, relay allocations, tcp flows, NAT bindings", async () => {
  const { Server } = await import("../src/server.ts");
  const { validateConfig } = await import("../src/config.ts");
  const { BUILTIN } = await import("../plugins/index.ts");
  const { TcpAnycast } = await import("../src/transport/tcp-anycast.ts");
  const { NatTable } = await import("../plugins/nat/table.ts");
  const s = await Server.start(
    validateConfig({
      mode: "server",
      senderId: 1,
      listen: ["127.0.0.1:0"],
      admin: { enabled: false },
      clients: [
        { mux: 1, passphrase: "one", routes: ["10.99.0.0/24"] },
        { mux: 2, passphrase: "two", routes: ["10.98.0.0/24"] },
      ],
      plugins: [
        { use: "relay", address: "127.0.0.1", ports: "41300-41555", allowPeers: ["127.0.0.0/8"] },
        { use: "routes" },
      ],
    }),
    quiet,
    BUILTIN,
    process.cwd(),
  );
  closers.push(() => s.stop());
  const now = Date.now();
  const rec = (table: string, key: string, value: unknown, node = 2) => ({ table, key, value, t: now, node });
  const alloc = (o: object) => ({
    mux: 1,
    ca: "127.0.0.1",
    cp: 5000,
    pa: "127.0.0.1",
    pp: 5555,
    exp: now + 60_000,
    by: 2,
    ...o,
  });
  const forged = [
    rec("rt", "10.99.0.128/25", { mux: 2 }), // a more specific route into client 1's prefix
    rec("rt", "10.0.0.0/8", { mux: 2 }), // one covering it
    rec("relay", "50000", alloc({})), // outside our relay range
    rec("relay", "41301", alloc({ mux: 9 })), // a client we do not have
    rec("relay", "41302", alloc({ pa: "169.254.169.254", pp: 80 })), // a refused peer
    rec("relay", "41303", alloc({ pp: s.listeners[0]!.udp.port })), // the server's own SATP port
    rec("relay", "41304", alloc({ exp: now + 10 * 86_400_000 })), // past our maximum lifetime
  ];
  const refused = s.store.recordsRefused;
  for (const r of forged) expect([r.table, r.key, s.store.apply(r, 2)]).toEqual([r.table, r.key, false]);
  expect(s.store.recordsRefused - refused).toBe(forged.length);
  // Next to them, valid records apply.
  expect(s.store.apply(rec("rt", "10.97.0.0/24", { mux: 2 }), 2)).toBe(true);
  expect(s.store.apply(rec("relay", "41305", alloc({})), 2)).toBe(true);
  expect(s.routes.entries().find((e) => e.prefix === "10.99.0.128/25")).toBeUndefined();
  expect(s.routes.entries().find((e) => e.prefix === "10.97.0.0/24")?.mux).toBe(2);
  expect(s.store.entries("relay").map(([k]) => k)).toEqual(["41305"]);

  // tcp: a record in a third server's name, for an address we do not capture, for an unknown
  // client, or malformed, would end or move a flow here: refused.
  const store = new SyncStore(1);
  const flow = { o: 2, m: 1, is: 1, ir: 2, ms: 1460, ss: 7, rs: 7, sn: 3, rn: 4, k: 10000 };
  const cfgTcp = validateConfig({ mode: "server", tcp: { capture: ["10.201.0.1:4444"] } }).tcp;
  new TcpAnycast(
    cfgTcp,
    1,
    store,
    () => true,
    quiet,
    (mux) => mux === 1,
    new Uint8Array(32),
  );
  const key = "203.0.113.5|40000|10.201.0.1|4444";
  for (const [k, v, node] of [
    [key, flow, 3], // o = 2 written by node 3
    ["203.0.113.5|40000|10.201.0.1|80", flow, 2], // not captured here
    [key, { ...flow, m: 9 }, 2],
    [key, { ...flow, sn: -1 }, 2],
    [key, { ...flow, ss: 15 }, 2],
  ] as const)
    expect(store.apply({ table: "tcp", key: k, value: v, t: now, node }, node)).toBe(false);
  expect(store.apply({ table: "tcp", key, value: flow, t: now, node: 2 }, 2)).toBe(true);

  // nat: a binding outside our port range, keyed by another port, or for an inner address the
  // client does not own maps nobody's replies.
  const nat = new SyncStore(1);
  const owned = (b: { mux: number; ip: number }) => b.mux === 1 && b.ip >>> 24 === 10;
  new NatTable(nat, 1, [20000, 20999], { udp: 300, tcpEstablished: 7440, tcpTransitory: 240, icmp: 60 }, 100, 1, owned);
  const b = { proto: 17, mux: 1, ip: 0x0a630001, port: 5000, ext: 20100, peers: [], tcp: 0, used: now, by: 2 };
  for (const [k, v] of [
    ["17/30000", { ...b, ext: 30000 }],
    ["17/20101", b],
    ["17/20100", { ...b, ip: 0xc0a80001 }],
    ["17/20100", { ...b, mux: 2 }],
  ] as const)
    expect(nat.apply({ table: "nat", key: k, value: v, t: now, node: 2 }, 2)).toBe(false);
  expect(nat.apply({ table: "nat", key: "17/20100", value: b, t: now, node: 2 }, 2)).toBe(true);
});
