// The session module (satp/session.ts) attacked: header-only datagrams and forged tags create no
// per-sender state; sender ids past the cap are dropped and counted, never evicting a window (an
// evicted window would accept its old packets again); replays stay replays.
import { expect, test } from "bun:test";
import { newDrops } from "../src/drops.ts";
import { PT_IPV4 } from "../src/satp/codec.ts";
import { SatpCrypto } from "../src/satp/crypto.ts";
import { countRx, receiverFor, RX_AUTH, RX_REPLAY, RX_SENDERS, RX_SHORT, SatpSession } from "../src/satp/session.ts";
import { deriveMaster } from "../src/satp/suite.ts";
import {
  authentic,
  countSeal,
  RX_MUX,
  RX_WAIT,
  SEAL_EXHAUSTED,
  SEAL_NOSTATE,
  SEAL_TOOBIG,
  Receiver,
} from "../src/satp/session.ts";
import { HEADER_LEN, MAX_PACKET, readHeader } from "../src/satp/codec.ts";
import { SEQ_LIMIT } from "../src/satp/crypto.ts";

const suite = { cipher: "aes-ctr", auth: "sha1", tagLength: 10, kdPrf: "aes-ctr" } as const;
const master = deriveMaster("aes-ctr", { passphrase: "session test" });
const pair = (window: number, maxSenders?: number) => ({
  tx: new SatpSession(new SatpCrypto(suite, master, "left"), 7, 0),
  rx: new SatpSession(new SatpCrypto(suite, master, "right"), 7, window, maxSenders),
});
const open = (rx: SatpSession, pkt: Uint8Array) => receiverFor(rx).open(pkt);
const inner = new Uint8Array([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
function sealed(tx: SatpSession, senderId: number, seq: number): Uint8Array {
  tx.seq = seq;
  const b = new Uint8Array(2048);
  return b.slice(0, tx.seal(b, senderId, PT_IPV4, inner));
}

test("header-only datagrams and forged tags from 65,536 sender ids create no window", () => {
  const { tx, rx } = pair(1024);
  const drops = newDrops();
  const good = sealed(tx, 1, 5);
  for (let sid = 0; sid < 65536; sid++) {
    const h = new Uint8Array(8); // seq 0, this sender id, our mux: no payload, no tag
    h[4] = sid >>> 8;
    h[5] = sid & 255;
    h[7] = 7;
    countRx(open(rx, h), drops);
    const f = good.slice();
    f[4] = sid >>> 8; // the sender id is covered by the tag
    f[5] = sid & 255;
    f[f.length - 1]! ^= sid === 1 ? 1 : 0;
    countRx(open(rx, f), drops);
  }
  expect(drops.short).toBe(65536);
  expect(drops.auth).toBe(65536);
  expect([...rx.windows()].length).toBe(0);
  expect(open(rx, good)).toBeGreaterThan(0); // the real sender still gets in
  expect([...rx.windows()].map(([sid]) => sid)).toEqual([1]);
  expect(open(rx, good)).toBe(RX_REPLAY);
  expect(open(rx, new Uint8Array(3))).toBe(RX_SHORT);
});

test("sender ids past maxSenders are dropped and counted; no window is evicted", () => {
  const { tx, rx } = pair(16, 3);
  const drops = newDrops();
  const first = [1, 2, 3].map((sid) => sealed(tx, sid, 100));
  for (const p of first) expect(open(rx, p)).toBeGreaterThan(0);
  for (const sid of [4, 5, 6]) {
    const r = open(rx, sealed(tx, sid, 100));
    expect(r).toBe(RX_SENDERS);
    countRx(r, drops);
  }
  expect(drops.senders).toBe(3);
  // the three windows are still there: their old packets stay replays, newer ones pass
  for (const p of first) expect(open(rx, p)).toBe(RX_REPLAY);
  expect(open(rx, sealed(tx, 2, 101))).toBeGreaterThan(0);
  expect([...rx.windows()].map(([sid]) => sid).sort()).toEqual([1, 2, 3]);
  // a forged packet claiming a new sender id is refused for its tag, not counted against the cap
  const forged = sealed(tx, 9, 1);
  forged[forged.length - 1]! ^= 0xff;
  expect(open(rx, forged)).toBe(RX_AUTH);
});

test("window 0 delivers repeats (anytun's default) but only the newest packet is `newest`", () => {
  const { tx, rx } = pair(0);
  const p = sealed(tx, 1, 10);
  expect(open(rx, p)).toBeGreaterThan(0);
  expect(rx.newest).toBe(true); // the first packet of a sender id
  expect(open(rx, p)).toBeGreaterThan(0); // delivered again (anytun -w 0) ...
  expect(rx.newest).toBe(false); // ... but it may move nothing
  expect(open(rx, sealed(tx, 1, 9))).toBeGreaterThan(0);
  expect(rx.newest).toBe(false);
  expect(open(rx, sealed(tx, 1, 11))).toBeGreaterThan(0);
  expect(rx.newest).toBe(true);
  expect(open(rx, sealed(tx, 2, 0))).toBeGreaterThan(0); // another sender id has its own mark
  expect(rx.newest).toBe(true);
  expect([...rx.windows()].map(([sid, w]) => [sid, w.max])).toEqual([
    [1, 11],
    [2, 0],
  ]);
});

test("with a window: a packet inside the window that was never seen passes but is not `newest`", () => {
  const { tx, rx } = pair(64);
  expect(open(rx, sealed(tx, 1, 100))).toBeGreaterThan(0);
  expect(rx.newest).toBe(true);
  expect(open(rx, sealed(tx, 1, 99))).toBeGreaterThan(0); // late, reordered
  expect(rx.newest).toBe(false);
  expect(open(rx, sealed(tx, 1, 101))).toBeGreaterThan(0);
  expect(rx.newest).toBe(true);
  expect(open(rx, sealed(tx, 1, 101))).toBe(RX_REPLAY);
});

test("resetWindows (an operator's reset) lets a restarted client back in at seq 0, and only then", () => {
  const { tx, rx } = pair(1024);
  for (let q = 0; q < 50; q++) expect(open(rx, sealed(tx, 1, q))).toBeGreaterThan(0);
  const restarted = sealed(tx, 1, 0);
  expect(open(rx, restarted)).toBe(RX_REPLAY);
  expect(rx.epoch).toBe(0);
  rx.resetWindows();
  expect(rx.epoch).toBe(1);
  expect([...rx.windows()].length).toBe(0);
  expect(open(rx, restarted)).toBeGreaterThan(0);
  expect(rx.newest).toBe(true);
  expect(open(rx, restarted)).toBe(RX_REPLAY);
  rx.resetWindows(7);
  expect(rx.epoch).toBe(7);
});

test("crypto.maxSenders reaches a client's session (and a client may override it)", async () => {
  const { validateConfig } = await import("../src/config.ts");
  const { ConnTable } = await import("../src/state.ts");
  const cfg = validateConfig({
    mode: "server",
    crypto: { window: 16, maxSenders: 2 },
    clients: [
      { mux: 1, passphrase: "a" },
      { mux: 2, passphrase: "b", crypto: { maxSenders: 5 } },
    ],
  });
  const t = new ConnTable();
  t.replace(cfg.clients, cfg.crypto);
  expect(t.get(1)!.maxSenders).toBe(2);
  expect(t.get(2)!.maxSenders).toBe(5);
  expect(() => validateConfig({ mode: "server", crypto: { maxSenders: 0 } })).toThrow("crypto.maxSenders");
});

// ---- the session module's contract, clause by clause (mutation testing kills what it misses) --

const ALL_RX = [RX_SHORT, RX_AUTH, RX_REPLAY, RX_MUX, RX_SENDERS, RX_WAIT];
const ALL_SEAL = [SEAL_TOOBIG, SEAL_EXHAUSTED, SEAL_NOSTATE];

test("every RX_ and SEAL_ code is negative and distinct (a result >= 0 is a length)", () => {
  for (const codes of [ALL_RX, ALL_SEAL]) {
    for (const c of codes) expect(c).toBeLessThan(0);
    expect(new Set(codes).size).toBe(codes.length);
  }
});

test("countRx / countSeal count each code under its own reason, nothing for lengths; authentic()", () => {
  const reasons: [number, string][] = [
    [RX_SHORT, "short"],
    [RX_AUTH, "auth"],
    [RX_REPLAY, "replay"],
    [RX_MUX, "mux"],
    [RX_SENDERS, "senders"],
  ];
  for (const [code, reason] of reasons) {
    const d = newDrops();
    countRx(code, d);
    expect(Object.entries(d).filter(([, n]) => n !== 0)).toEqual([[reason, 1]]);
  }
  for (const code of [0, 5, RX_WAIT]) {
    const d = newDrops();
    countRx(code, d);
    expect(Object.values(d).every((n) => n === 0)).toBe(true);
  }
  for (const code of [0, 40, -9]) {
    const d = newDrops();
    countSeal(code, d);
    expect(Object.values(d).every((n) => n === 0)).toBe(true);
  }
  for (const [code, reason] of [
    [SEAL_TOOBIG, "toobig"],
    [SEAL_EXHAUSTED, "exhausted"],
    [SEAL_NOSTATE, "nostate"],
  ] as const) {
    const d = newDrops();
    countSeal(code, d);
    expect(Object.entries(d).filter(([, n]) => n !== 0)).toEqual([[reason, 1]]);
  }
  expect([0, 40, RX_REPLAY, RX_SENDERS].map(authentic)).toEqual([true, true, true, true]);
  expect([RX_SHORT, RX_AUTH, RX_MUX, RX_WAIT].map(authentic)).toEqual([false, false, false, false]);
});

test("seal: data and keepalive lengths, the type bytes, what opens; inner() is the packet", () => {
  const { tx, rx } = pair(64);
  expect(rx.newest).toBe(false); // nothing opened yet
  const buf = new Uint8Array(2048).fill(0xff); // stale bytes: seal must write every one it uses
  const n = tx.seal(buf, 3, PT_IPV4, inner);
  expect(n).toBe(tx.crypto.overhead + 2 + inner.length);
  expect([buf[HEADER_LEN], buf[HEADER_LEN + 1]]).not.toEqual([0x08, 0x00]); // encrypted in place
  expect(open(rx, buf.slice(0, n))).toBe(2 + inner.length);
  expect(rx.type).toBe(PT_IPV4);
  expect([...rx.inner()]).toEqual([...inner]);
  const k = tx.seal(buf, 3, 0, new Uint8Array(0)); // keepalive: no type bytes
  expect(k).toBe(tx.crypto.overhead);
  const ka = buf.slice(0, k);
  expect(open(rx, ka)).toBe(0);
  expect(rx.type).toBe(0);
  expect(rx.newest).toBe(true);
  expect(open(rx, ka)).toBe(RX_REPLAY); // a keepalive is replay-checked like data
  const c = tx.seal(buf, 3, 0x88b5, new Uint8Array(0)); // type without inner: not a keepalive
  expect(c).toBe(tx.crypto.overhead + 2);
  expect(open(rx, buf.slice(0, c))).toBe(0); // but it opens as one: anytun treats <= 2 bytes alike
  expect(rx.type).toBe(0);
  const h = { seq: 0, senderId: 0, mux: 0 };
  readHeader(buf, h);
  expect(h).toEqual({ seq: 2, senderId: 3, mux: 7 });
  const t0 = tx.seal(buf, 3, 0, new Uint8Array(5)); // type 0 with an inner: data, not a keepalive
  expect(t0).toBe(tx.crypto.overhead + 2 + 5);
  expect(tx.seq).toBe(4);
});

test("seal refuses what does not fit (at MAX_PACKET and at the buffer's end) and consumes no seq", () => {
  const { tx } = pair(0);
  const room = MAX_PACKET - tx.crypto.overhead - 2; // largest inner that fits
  const big = new Uint8Array(2048);
  expect(tx.seal(big, 0, PT_IPV4, new Uint8Array(room))).toBe(MAX_PACKET);
  expect(tx.seal(big, 0, PT_IPV4, new Uint8Array(room + 1))).toBe(SEAL_TOOBIG);
  const small = new Uint8Array(tx.crypto.overhead + 2 + 10);
  expect(tx.seal(small, 0, PT_IPV4, new Uint8Array(10))).toBe(small.length);
  expect(tx.seal(small, 0, PT_IPV4, new Uint8Array(11))).toBe(SEAL_TOOBIG);
  expect(tx.seq).toBe(2);
});

test("seal stops at SEQ_LIMIT (SEAL_EXHAUSTED, keepalives too), and at a reservation it cannot extend (SEAL_NOSTATE)", () => {
  const { tx } = pair(0);
  const buf = new Uint8Array(2048);
  tx.seq = SEQ_LIMIT - 1;
  expect(tx.seal(buf, 0, PT_IPV4, inner)).toBeGreaterThan(0);
  expect(tx.seal(buf, 0, PT_IPV4, inner)).toBe(SEAL_EXHAUSTED);
  expect(tx.seal(buf, 0, 0, new Uint8Array(0))).toBe(SEAL_EXHAUSTED);
  expect(tx.seq).toBe(SEQ_LIMIT);
  const { tx: t2 } = pair(0);
  let asked = 0;
  t2.reserveFrom({
    start: 100,
    limit: 102,
    extend: (next) => {
      asked++;
      return next === 102 && asked === 1 ? 110 : next; // then: no progress at all
    },
  });
  expect(t2.seq).toBe(100);
  expect(t2.seal(buf, 0, PT_IPV4, inner)).toBeGreaterThan(0);
  expect(t2.seal(buf, 0, PT_IPV4, inner)).toBeGreaterThan(0);
  expect(asked).toBe(0);
  expect(t2.seal(buf, 0, PT_IPV4, inner)).toBeGreaterThan(0); // 102: extended to 110
  expect(asked).toBe(1);
  t2.seq = 110;
  expect(t2.seal(buf, 0, PT_IPV4, inner)).toBe(SEAL_NOSTATE); // the second extension failed
  expect(t2.seq).toBe(110);
});

test("verify checks the tag only: no window, no newest", () => {
  const { tx, rx } = pair(64);
  const p = sealed(tx, 1, 9);
  const h = { seq: 0, senderId: 0, mux: 0 };
  readHeader(p, h);
  expect(rx.verify(p, h)).toBe(2 + inner.length);
  expect(rx.verify(p, h)).toBe(2 + inner.length);
  expect([...rx.windows()].length).toBe(0);
  const bad = p.slice();
  bad[bad.length - 1]! ^= 1;
  expect(rx.verify(bad, h)).toBe(RX_AUTH);
  expect(open(rx, p)).toBeGreaterThan(0); // still new for open
});

test("Receiver: short, unknown mux (even header-only), waiting sessions; receiverFor knows one mux", () => {
  const { tx, rx } = pair(64);
  const r = receiverFor(rx);
  expect(r.open(new Uint8Array(7))).toBe(RX_SHORT);
  const other = new Uint8Array(8);
  other[7] = 8; // mux 8: not ours
  expect(r.open(other)).toBe(RX_MUX);
  expect(r.session).toBeUndefined();
  const p = sealed(tx, 1, 1);
  rx.wait = 1;
  expect(r.open(p)).toBe(RX_WAIT);
  expect(r.session).toBe(rx);
  expect([...rx.windows()].length).toBe(0); // untouched while waiting
  rx.wait = 0;
  expect(r.open(p)).toBeGreaterThan(0);
  expect(r.header).toEqual({ seq: 1, senderId: 1, mux: 7 });
  const table = new Receiver((m) => (m === 7 ? rx : undefined));
  expect(table.open(other)).toBe(RX_MUX);
});

test("carryOver: the larger seq, the epoch, the same windows; a resized window keeps the floor", () => {
  const { rx: old } = pair(64, 2);
  old.seq = 500;
  old.resetWindows(3);
  old.window(1)!.accept(40);
  old.window(2); // never started
  const same = pair(64).rx;
  same.seq = 700;
  same.carryOver(old);
  expect(same.seq).toBe(700);
  expect(same.epoch).toBe(3);
  expect(same.window(1)).toBe(old.window(1)); // the very window
  const lower = pair(64).rx;
  lower.carryOver(old);
  expect(lower.seq).toBe(500);
  const resized = pair(16, 1).rx; // smaller window, and room for one sender id only
  resized.carryOver(old);
  expect(resized.window(1)!.max).toBe(40);
  expect(resized.window(1)!.accept(40)).toBe(false);
  expect(resized.window(1)!.accept(39)).toBe(false); // the floor: everything up to 40 counts as seen
  expect(resized.window(2)).toBeNull(); // the unstarted one was not carried (and the cap holds)
  const roomy = pair(16, 4).rx;
  roomy.carryOver(old);
  expect(roomy.window(2)!.isStarted).toBe(false); // an unstarted window carries no floor
  const tight = pair(16, 1).rx;
  old.window(2)!.accept(5); // now two started windows, room for one
  tight.carryOver(old);
  expect([...tight.windows()].length).toBe(1);
});
