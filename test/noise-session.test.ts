// The Noise suite on the datapath's seam: a session with the suite's crypto (noise/crypto.ts)
// sealing and opening through SatpSession's windows and counters, its receive prologue
// (NoiseReceiver), and the server's gate (noise/gate.ts) over real SyncStores: handshake,
// publication, another server continuing the session — and the attacks: tampered and replayed
// packets, expired keys, records forged by a peer, an initiation replayed at the other server,
// floods (with and without a valid mac1) and 20,000 random datagrams.
import { describe, expect, test } from "bun:test";
import { validateConfig } from "../src/config.ts";
import { countRx, countSeal, RX_AUTH, RX_MUX, RX_REPLAY, RX_SHORT, SatpSession } from "../src/satp/session.ts";
import { PT_IPV4 } from "../src/satp/codec.ts";
import { newDrops } from "../src/drops.ts";
import { NoiseCrypto, NoiseReceiver, type TransportKeys } from "../src/noise/crypto.ts";
import { NOISE_TABLE, NoiseGate } from "../src/noise/gate.ts";
import { KEYS_TABLE, RecordKeys } from "../src/noise/records.ts";
import { dhOps, generateKeyPair, keyText } from "../src/noise/keys.ts";
import { MacKeys, seal as sealMacs } from "../src/noise/macs.ts";
import { Initiator, REJECT_AFTER_MS } from "../src/noise/peers.ts";
import { INITIATION_LEN } from "../src/noise/wire.ts";
import { ConnTable } from "../src/state.ts";
import { SyncStore } from "../src/sync/store.ts";
import { Rng } from "./lib/fuzz.ts";

const group = generateKeyPair();
const alice = generateKeyPair();
const inner = new Uint8Array([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2]);

function keysPair(now: number): [TransportKeys, TransportKeys] {
  const a = crypto.getRandomValues(new Uint8Array(32));
  const b = crypto.getRandomValues(new Uint8Array(32));
  return [
    { local: 7, remote: 0x10009, send: a, recv: b, created: now },
    { local: 0x10009, remote: 7, send: b, recv: a, created: now },
  ];
}

describe("NoiseCrypto in a session", () => {
  test("seal and open both ways, keepalive, the counter carries the sender id; tamper, replay and expiry refused", () => {
    let now = 1_000_000;
    const [ck, sk] = keysPair(now);
    const client = new SatpSession(new NoiseCrypto(() => now), 0, 64);
    const server = new SatpSession(new NoiseCrypto(() => now), 5, 64);
    client.crypto.add(ck);
    server.crypto.add(sk);
    const rxServer = new NoiseReceiver((i) => (i === 0x10009 ? server : undefined));
    const rxClient = new NoiseReceiver((i) => (i === 7 ? client : undefined));
    const buf = new Uint8Array(2048);
    const n = client.seal(buf, 0, PT_IPV4, inner);
    expect(n).toBe(16 + 2 + inner.length + 16);
    const pkt = buf.slice(0, n);
    expect(pkt[0]).toBe(4);
    expect(rxServer.open(pkt)).toBe(2 + inner.length);
    expect(server.type).toBe(PT_IPV4);
    expect(server.inner()).toEqual(inner);
    expect(server.newest).toBe(true);
    expect(rxServer.open(pkt)).toBe(RX_REPLAY); // the session's window, as SATP's
    const bad = pkt.slice();
    bad[20]! ^= 1;
    expect(rxServer.open(bad)).toBe(RX_AUTH);
    const hdr = pkt.slice();
    hdr[8]! ^= 1; // the counter is associated data
    expect(rxServer.open(hdr)).toBe(RX_AUTH);

    const back = server.seal(buf, 2, PT_IPV4, inner); // server sender id 2
    expect(buf[15]).toBe(0);
    expect(buf[14]).toBe(2); // counter bits 48..63: the sender id
    expect(rxClient.open(buf.slice(0, back))).toBe(2 + inner.length);
    expect(rxClient.header.senderId).toBe(2);
    const ka = client.seal(buf, 0, 0, new Uint8Array(0));
    expect(ka).toBe(32);
    expect(rxServer.open(buf.slice(0, ka))).toBe(0);

    now += REJECT_AFTER_MS;
    const late = client.seal(buf, 0, PT_IPV4, inner);
    expect(late).toBe(-4); // no live key: SEAL_NOKEY
    const drops = newDrops();
    countSeal(late, drops);
    expect(drops.nokey).toBe(1);
  });

  test("older keys still open what was in flight; at most three are kept", () => {
    const now = 5_000_000;
    const c = new NoiseCrypto(() => now);
    for (let i = 0; i < 5; i++)
      c.add({ local: i, remote: 100 + i, send: new Uint8Array(32), recv: new Uint8Array(32), created: now - 5 + i });
    expect(c.keys.map((k) => k.local)).toEqual([2, 3, 4]);
    expect(c.current()!.local).toBe(4);
    expect(c.add({ local: 4, remote: 0, send: new Uint8Array(32), recv: new Uint8Array(32), created: now })).toBe(
      false,
    );
  });

  test("the receiver refuses by name: short, another type, a seq past 2^32, an unknown index", () => {
    const s = new SatpSession(new NoiseCrypto(), 1, 64);
    const rx = new NoiseReceiver((i) => (i === 1 ? s : undefined));
    expect(rx.open(new Uint8Array(31))).toBe(RX_SHORT);
    const p = new Uint8Array(40);
    p[0] = 1;
    expect(rx.open(p)).toBe(RX_SHORT);
    p[0] = 4;
    p[4] = 2;
    expect(rx.open(p)).toBe(RX_MUX);
    p[4] = 1;
    p[12] = 1; // counter bit 32
    expect(rx.open(p)).toBe(RX_AUTH);
    p[12] = 0;
    expect(rx.open(p)).toBe(RX_AUTH); // no keys at all
  });

  test("20,000 random datagrams through the receiver: none throws, each is refused and counted", () => {
    const s = new SatpSession(new NoiseCrypto(), 1, 64);
    s.crypto.add({ local: 1, remote: 2, send: new Uint8Array(32), recv: new Uint8Array(32), created: Date.now() });
    const rx = new NoiseReceiver((i) => (i === 1 ? s : undefined));
    const rng = new Rng(20);
    const drops = newDrops();
    for (let i = 0; i < 20_000; i++) {
      const p = new Uint8Array(rng.range(0, 1700));
      rng.fill(p);
      if (i % 2 === 0 && p.length >= 16) p.set([4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // our index, a plausible counter
      const n = rx.open(p);
      expect(n).toBeLessThan(0);
      countRx(n, drops);
    }
    expect(drops.short + drops.auth + drops.mux).toBe(20_000);
  });
});

/** A server's gate over its own store, with alice as a Noise client (mux 1). */
function gateOf(senderId: number, clock: () => number) {
  const cfg = validateConfig({
    mode: "server",
    noise: { listen: ["127.0.0.1:0"], privateKeyFile: "/unused" },
    clients: [{ mux: 1, protocol: "noise", publicKey: keyText(alice.pub), routes: ["10.99.0.1/32"] }],
  });
  const conns = new ConnTable();
  conns.replace(cfg.clients, cfg.crypto);
  const store = new SyncStore(senderId);
  const gate = new NoiseGate(
    { key: group, senderId, maxSessions: 16, loadPerSecond: 20, recordKeyMs: 600_000 },
    store,
    conns.all(),
    clock,
  );
  return { conns, store, gate, conn: conns.get(1)! };
}

/** Hands `from`'s "nzk" record (its record-sealing key) to `to`'s store, as a sync link would. */
function shareKey(from: ReturnType<typeof gateOf>, to: ReturnType<typeof gateOf>, node: number): void {
  const key = String(node);
  const ver = from.store.version(KEYS_TABLE, key)!;
  to.store.apply({ table: KEYS_TABLE, key, value: from.store.get(KEYS_TABLE, key), t: ver.t, node: ver.node }, 9);
}

describe("the gate over real sync stores", () => {
  test("a handshake at S1 is published; S2 adopts it and opens the client's packets; the record is checked", () => {
    const now = Date.now();
    const clock = () => now;
    const s1 = gateOf(1, clock);
    const s2 = gateOf(2, clock);
    shareKey(s2, s1, 2); // S1 knows S2's record key: it seals the session's keys to it
    const wire: Parameters<SyncStore["apply"]>[0][] = [];
    s1.store.onPublish((r) => wire.push(r));
    const a = new Initiator(alice, group.pub);
    const resp = s1.gate.handshake(a.initiation(now), "192.0.2.1:1000");
    expect(resp).not.toBeNull();
    const got = a.receive(resp!, now);
    expect(got.kind).toBe("session");
    if (got.kind !== "session") return;
    expect(s1.conn.crypto).toBeInstanceOf(NoiseCrypto);
    expect(got.session.remote >>> 16).toBe(1); // S1's index
    expect(wire.length).toBe(1);
    expect(wire[0]!.table).toBe(NOISE_TABLE);
    const sent = JSON.stringify(wire[0]!.value);
    expect(sent).not.toContain(Buffer.from(got.session.sendKey).toString("base64")); // only sealed
    expect(sent).not.toContain(Buffer.from(got.session.recvKey).toString("base64"));
    expect(s2.store.apply(wire[0]!, 9)).toBe(true);
    expect(s2.gate.counts.adopted).toBe(1);

    // the client's packet opens at either server
    const client = new SatpSession(new NoiseCrypto(clock), 0, 64);
    const s = got.session;
    client.crypto.add({ local: s.local, remote: s.remote, send: s.sendKey, recv: s.recvKey, created: now });
    const buf = new Uint8Array(2048);
    const pkt = buf.slice(0, client.seal(buf, 0, PT_IPV4, inner));
    for (const srv of [s1, s2]) {
      const rx = new NoiseReceiver((i) => srv.gate.find(i));
      expect(rx.open(pkt)).toBe(2 + inner.length);
      expect(rx.session).toBe(srv.conn);
    }

    // forged records: another origin's index, an unknown client, no sealed part, a stale time
    const rec = wire[0]!;
    const v = rec.value as Record<string, unknown>;
    const forged = [
      { ...rec, node: 3, t: rec.t + 1 },
      { ...rec, key: String(0x20005), t: rec.t + 1 },
      { ...rec, key: String(0x10077), value: { ...v, c: keyText(group.pub) } },
      { ...rec, key: String(0x10078), value: { ...v, z: null } },
      { ...rec, key: String(0x10079), value: { ...v, t: now - REJECT_AFTER_MS - 60_000 } },
    ];
    const refused = s2.gate.counts.refusedRecords;
    for (const f of forged) expect(s2.store.apply(f, 9)).toBe(false);
    expect(s2.gate.counts.refusedRecords - refused).toBe(forged.length);
    expect(s2.gate.sessions).toBe(1);
    // well-formed, but its keys sealed under another index (the sealing binds the record's key)
    expect(s2.store.apply({ ...rec, key: String(0x1007a) }, 9)).toBe(true);
    expect(s2.gate.counts.unreadableRecords).toBe(1);
    expect(s2.gate.sessions).toBe(1);
  });

  test("a server that restarts (new record key) gets the live sessions sealed to it again", () => {
    const now = Date.now();
    const s1 = gateOf(1, () => now);
    let s2 = gateOf(2, () => now);
    s1.store.onPublish((r) => s2.store.apply(r, 9));
    shareKey(s2, s1, 2);
    const a = new Initiator(alice, group.pub);
    a.receive(s1.gate.handshake(a.initiation(now), "192.0.2.1:1000")!, now);
    expect(s2.gate.sessions).toBe(1);
    s2 = gateOf(2, () => now); // kill -9 and start: nothing in memory, a new key
    expect(s2.gate.sessions).toBe(0);
    shareKey(s2, s1, 2); // its "nzk" record reaches S1: S1 publishes its session to it again
    expect(s1.gate.counts.republished).toBe(1);
    expect(s2.gate.sessions).toBe(1);
    expect(s2.gate.counts.adopted).toBe(1);
  });

  test("forged record keys: another node's, a key that is no key, are refused; no republish follows", () => {
    const now = Date.now();
    const s1 = gateOf(1, () => now);
    const s2 = gateOf(2, () => now);
    const ver = s2.store.version(KEYS_TABLE, "2")!;
    const good = { table: KEYS_TABLE, key: "2", value: s2.store.get(KEYS_TABLE, "2"), t: ver.t, node: 2 };
    expect(s1.store.apply({ ...good, key: "3" }, 9)).toBe(false); // written by node 2 in node 3's name
    expect(s1.store.apply({ ...good, value: { p: "AAAA", i: "x" } }, 9)).toBe(false);
    expect(s1.store.apply({ ...good, value: "not an object" }, 9)).toBe(false);
    expect(s1.gate.counts.republished).toBe(0);
    expect(s1.store.apply(good, 9)).toBe(true);
  });

  test("an initiation S1 accepted, replayed at S2 once S2 has the record, is refused (its timestamp)", () => {
    const now = Date.now();
    const s1 = gateOf(1, () => now);
    const s2 = gateOf(2, () => now);
    shareKey(s2, s1, 2);
    s1.store.onPublish((r) => s2.store.apply(r, 9));
    const init = new Initiator(alice, group.pub).initiation(now);
    expect(s1.gate.handshake(init, "192.0.2.1:1000")).not.toBeNull();
    expect(s2.gate.handshake(init, "192.0.2.1:1000")).toBeNull();
    expect(s2.gate.responder.counts.staleInitiation).toBe(1);
    expect(s2.gate.sessions).toBe(1); // only the adopted one
  });

  test("floods: a bad mac1 costs no DH and no load; a valid mac1 beyond loadPerSecond gets cookies, and a real client gets through", () => {
    let now = Date.now();
    const s1 = gateOf(1, () => now);
    const bad = new Uint8Array(INITIATION_LEN);
    bad[0] = 1;
    const dh = dhOps.count;
    for (let i = 0; i < 10_000; i++) {
      crypto.getRandomValues(bad.subarray(4));
      expect(s1.gate.handshake(bad, `198.51.100.1:${i % 60000}`)).toBeNull();
    }
    expect(dhOps.count).toBe(dh);
    expect(s1.gate.underLoad).toBe(false);
    expect(s1.gate.counts.cookieReplies).toBe(0);

    const mac = new MacKeys(group.pub);
    const forged = new Uint8Array(INITIATION_LEN);
    forged[0] = 1;
    for (let i = 0; i < 100; i++) {
      crypto.getRandomValues(forged.subarray(4, 116));
      sealMacs(forged, mac, null);
      s1.gate.handshake(forged, "198.51.100.2:9");
    }
    expect(s1.gate.underLoad).toBe(true);
    expect(s1.gate.counts.cookieReplies).toBeGreaterThan(50);
    // a real client: a cookie reply, then the same initiation with mac2 is answered
    const a = new Initiator(alice, group.pub);
    const first = s1.gate.handshake(a.initiation(now), "192.0.2.1:1000");
    expect(first![0]).toBe(3);
    expect(a.receive(first!, now).kind).toBe("cookie");
    const second = s1.gate.handshake(a.resend(now)!, "192.0.2.1:1000");
    expect(second![0]).toBe(2);
    expect(a.receive(second!, now).kind).toBe("session");
    now += 3000; // two quiet seconds: load is gone
    expect(s1.gate.underLoad).toBe(false);
  });

  test("a reload (the client table rebuilt) keeps a Noise client's transport keys", () => {
    const now = Date.now();
    const s1 = gateOf(1, () => now);
    s1.conns.onChange(() => s1.gate.clients(s1.conns.all()));
    const a = new Initiator(alice, group.pub);
    a.receive(s1.gate.handshake(a.initiation(now), "192.0.2.1:1")!, now);
    const before = (s1.conn.crypto as NoiseCrypto).keys.map((k) => k.local);
    const cfg = validateConfig({
      mode: "server",
      noise: { listen: ["127.0.0.1:0"], privateKeyFile: "/unused" },
      clients: [{ mux: 1, protocol: "noise", publicKey: keyText(alice.pub), routes: ["10.99.0.1/32"] }],
    });
    s1.conns.replace(cfg.clients, cfg.crypto);
    const after = s1.conns.get(1)!;
    expect(after).not.toBe(s1.conn);
    expect((after.crypto as NoiseCrypto).keys.map((k) => k.local)).toEqual(before);
  });

  test("sweep: keys and records go REJECT_AFTER_MS after the handshake", () => {
    let now = Date.now();
    const s1 = gateOf(1, () => now);
    const a = new Initiator(alice, group.pub);
    a.receive(s1.gate.handshake(a.initiation(now), "192.0.2.1:1")!, now);
    expect(s1.store.entries(NOISE_TABLE).length).toBe(1);
    now += REJECT_AFTER_MS;
    s1.gate.sweep();
    expect(s1.gate.sessions).toBe(0);
    expect((s1.conn.crypto as NoiseCrypto).keys.length).toBe(0);
    expect(s1.store.entries(NOISE_TABLE).length).toBe(0);
  });
});

describe("records.ts: session keys sealed per recipient under in-memory keys", () => {
  test("each recipient opens its copy, nobody else; tampering fails; two rotations later nothing opens it", () => {
    let now = 0;
    const w = new RecordKeys(1, 1000, () => now);
    const r2 = new RecordKeys(2, 1000, () => now);
    const r3 = new RecordKeys(3, 1000, () => now);
    const outsider = new RecordKeys(4, 1000, () => now);
    const pub = (k: RecordKeys) => new Uint8Array(Buffer.from(k.publicKey, "base64"));
    const secret = crypto.getRandomValues(new Uint8Array(64));
    const part = w.seal(
      secret,
      "65541",
      new Map([
        [2, pub(r2)],
        [3, pub(r3)],
      ]),
    );
    expect(r2.open(part, "65541", 1)).toEqual(secret);
    expect(r3.open(part, "65541", 1)).toEqual(secret);
    expect(outsider.open(part, "65541", 1)).toBeNull();
    expect(r2.open(part, "65542", 1)).toBeNull(); // bound to the record's key
    expect(r2.open(part, "65541", 5)).toBeNull(); // and to its writer
    const x = Buffer.from(part.x, "base64");
    x[20]! ^= 1;
    expect(r2.open({ ...part, x: x.toString("base64") }, "65541", 1)).toBeNull();
    expect(r2.open({ e: 5, x: [], to: null }, "65541", 1)).toBeNull();
    now = 1000;
    expect(r2.rotate()).toBe(true);
    expect(r2.open(part, "65541", 1)).toEqual(secret); // the previous key is kept one period
    now = 2000;
    expect(r2.rotate()).toBe(true);
    expect(r2.open(part, "65541", 1)).toBeNull(); // gone from memory: a fleet key leaked now opens nothing
    expect(r2.unreadable).toBe(5);
  });
});

describe("config: the Noise suite's keys and mismatches are errors at start", () => {
  const pub = keyText(alice.pub);
  const errs = (raw: Record<string, unknown>) => {
    try {
      validateConfig(raw);
      return "";
    } catch (e) {
      return String(e);
    }
  };
  test("server", () => {
    expect(errs({ mode: "server", clients: [{ mux: 1, protocol: "noise" }] })).toContain(
      "clients.0.publicKey: required",
    );
    expect(errs({ mode: "server", clients: [{ mux: 1, protocol: "noise", publicKey: pub }] })).toContain(
      "noise.listen: required",
    );
    expect(
      errs({
        mode: "server",
        noise: { listen: ["[::]:51820"] },
        clients: [{ mux: 1, protocol: "noise", publicKey: pub }],
      }),
    ).toContain("noise.privateKeyFile: required");
    expect(errs({ mode: "server", clients: [{ mux: 1, passphrase: "p", publicKey: pub }] })).toContain(
      'only for protocol "noise"',
    );
    expect(
      errs({
        mode: "server",
        noise: { listen: ["[::]:51820"], privateKeyFile: "/k" },
        clients: [
          { mux: 1, protocol: "noise", publicKey: pub },
          { mux: 2, protocol: "noise", publicKey: pub },
        ],
      }),
    ).toContain("the same key as clients.0");
    expect(errs({ mode: "server", clients: [{ mux: 1, protocol: "noise", publicKey: "not a key" }] })).toContain(
      "wg genkey",
    );
  });
  test("peer", () => {
    expect(errs({ mode: "peer", protocol: "noise", remoteHost: "h" })).toContain("serverPublicKey: required");
    expect(errs({ mode: "peer", protocol: "noise", remoteHost: "h", serverPublicKey: pub })).toContain(
      "privateKeyFile: required",
    );
    const ok = { mode: "peer", protocol: "noise", remoteHost: "h", serverPublicKey: pub, privateKeyFile: "/k" };
    expect(errs(ok)).toBe("");
    expect(errs({ ...ok, transport: "tcp-anycast" })).toContain("UDP only");
    expect(errs({ ...ok, passphrase: "p" })).toContain("SATP's");
    expect(errs({ mode: "peer", passphrase: "p", serverPublicKey: pub })).toContain("only with protocol noise");
  });
});
