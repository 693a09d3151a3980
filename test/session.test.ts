// The session module (satp/session.ts) attacked: header-only datagrams and forged tags create no
// per-sender state; sender ids past the cap are dropped and counted, never evicting a window (an
// evicted window would accept its old packets again); replays stay replays.
import { expect, test } from "bun:test";
import { newDrops } from "../src/drops.ts";
import { PT_IPV4 } from "../src/satp/codec.ts";
import { SatpCrypto } from "../src/satp/crypto.ts";
import { countRx, receiverFor, RX_AUTH, RX_REPLAY, RX_SENDERS, RX_SHORT, SatpSession } from "../src/satp/session.ts";
import { deriveMaster } from "../src/satp/suite.ts";

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
