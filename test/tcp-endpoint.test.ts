// The userspace TCP endpoint (src/tcp/endpoint.ts). Tests are scripts over per-state fixtures:
// a fixture builder puts an endpoint in one RFC 9293 state with an injected clock (`Rig.now`),
// then a script feeds segments from a hand-played peer and checks the segments that come out
// of poll(), the state, the hooks fired and the bytes delivered. The last part runs two
// endpoints against each other over a simulated lossy, duplicating, reordering link.
import { describe, expect, test } from "bun:test";
import { TcpEndpoint, type FlowState, type TcpOptions } from "../src/tcp/endpoint.ts";
import { ACK, FIN, PSH, RST, SYN, type Segment } from "../src/tcp/segment.ts";
import { concat, prng } from "./lib/util.ts";

const LPORT = 443;
const RPORT = 51000;
const ISS = 1_000_000;
const IRS = 7_000_000;
const DATA = ACK | PSH;
const add = (a: number, n: number) => (a + n) >>> 0;

/** Bytes with a pattern that shows misordering (period 251, prime to any segment size). */
function pattern(n: number, from = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (from + i) % 251;
  return b;
}

/** Index of the first differing byte, -1 when equal. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** A segment out of poll(), copied (its payload view dies at the next call). */
interface Out {
  seq: number;
  ack: number;
  flags: number;
  wnd: number;
  len: number;
  mss?: number | undefined;
  wscale?: number | undefined;
  data: Uint8Array;
}

const copyOut = (s: Segment): Out => ({
  seq: s.seq,
  ack: s.ack,
  flags: s.flags,
  wnd: s.wnd,
  len: s.payload.length,
  mss: s.mss,
  wscale: s.wscale,
  data: s.payload.slice(),
});

interface Fixture {
  opts?: Partial<TcpOptions>;
  iss?: number;
  irs?: number;
  /** The peer's MSS option; null: none. */
  mss?: number | null;
  /** The peer's window shift option; null: none. */
  wscale?: number | null;
  /** The peer's window field after the handshake. */
  wnd?: number;
}

/** One endpoint under test, the peer played by the script, and a clock. */
class Rig {
  now = 0;
  e!: TcpEndpoint;
  readonly iss: number;
  readonly irs: number;
  /** The peer's next sequence number. */
  pseq: number;
  /** The peer's window field. */
  pwnd: number;
  readonly chunks: Uint8Array[] = [];
  readonly events: string[] = [];
  /** The handshake segment we sent (SYN-ACK or SYN) and our FIN, when the fixture sent them. */
  first?: Out;
  ourFin?: Out;
  readonly hooks = {
    onData: (d: Uint8Array) => void this.chunks.push(d.slice()),
    onEstablished: () => void this.events.push("established"),
    onPeerClosed: () => void this.events.push("peer-closed"),
    onClosed: (why: string) => void this.events.push(`closed:${why}`),
  };

  constructor(readonly fx: Fixture = {}) {
    this.iss = fx.iss ?? ISS;
    this.irs = fx.irs ?? IRS;
    this.pseq = add(this.irs, 1);
    this.pwnd = fx.wnd ?? 1024;
  }

  options(): TcpOptions {
    return { localPort: LPORT, remotePort: RPORT, iss: this.iss, ...this.fx.opts };
  }

  get received(): Uint8Array {
    return concat(this.chunks);
  }

  at(t: number): this {
    this.now = t;
    return this;
  }

  /** A segment from the peer; defaults: seq = the peer's next, ack = our SND.NXT, ACK. */
  seg(p: Partial<Segment> & { data?: Uint8Array } = {}): Segment {
    const { data, ...rest } = p;
    return {
      srcPort: RPORT,
      dstPort: LPORT,
      seq: this.pseq,
      ack: this.e ? this.e.sndNxt : 0,
      flags: ACK,
      wnd: this.pwnd,
      payload: data ?? new Uint8Array(0),
      ...rest,
    };
  }

  in(p: Partial<Segment> & { data?: Uint8Array } = {}): void {
    this.e.input(this.seg(p), this.now);
  }

  /** The peer sends `data` (and FIN when asked) at its next sequence number. */
  send(data: Uint8Array, p: Partial<Segment> = {}): void {
    const flags = p.flags ?? (data.length > 0 ? DATA : ACK);
    this.in({ ...p, flags, data });
    this.pseq = add(this.pseq, data.length + (flags & FIN ? 1 : 0));
  }

  poll(t?: number): Out[] {
    if (t !== undefined) this.now = t;
    return this.e.poll(this.now).map(copyOut);
  }

  /** Polls and expects exactly one segment. */
  one(t?: number): Out {
    const out = this.poll(t);
    expect(out).toHaveLength(1);
    return out[0]!;
  }
}

// ---- fixtures: one per RFC 9293 state --------------------------------------------------------

/** Passive open: a SYN (MSS 1460, wscale 7 unless told) accepted, the SYN-ACK polled. */
function synReceived(fx: Fixture = {}): Rig {
  const r = new Rig(fx);
  const mss = fx.mss === undefined ? 1460 : fx.mss;
  const wscale = fx.wscale === undefined ? 7 : fx.wscale;
  const syn = r.seg({ seq: r.irs, ack: 0, flags: SYN, wnd: 65535 });
  if (mss !== null) syn.mss = mss;
  if (wscale !== null) syn.wscale = wscale;
  r.e = TcpEndpoint.accept(r.options(), syn, r.now, r.hooks);
  expect(r.e.state).toBe("SYN-RECEIVED");
  r.first = r.one();
  return r;
}

/** ESTABLISHED by passive open: the final ACK of the handshake input. */
function established(fx: Fixture = {}): Rig {
  const r = synReceived(fx);
  r.in({ ack: add(r.iss, 1) });
  expect(r.e.state).toBe("ESTABLISHED");
  expect(r.poll()).toEqual([]);
  return r;
}

/** Active open: connect() and the SYN polled. */
function synSent(fx: Fixture = {}): Rig {
  const r = new Rig(fx);
  r.e = new TcpEndpoint(r.options(), r.hooks);
  r.e.connect(r.now);
  expect(r.e.state).toBe("SYN-SENT");
  r.first = r.one();
  return r;
}

/** FIN-WAIT-1: close() on an idle established flow, our FIN polled. */
function finWait1(fx: Fixture = {}): Rig {
  const r = established(fx);
  r.e.close(r.now);
  expect(r.e.state).toBe("FIN-WAIT-1");
  r.ourFin = r.one();
  expect(r.ourFin).toMatchObject({ seq: add(r.iss, 1), flags: ACK | FIN, len: 0 });
  return r;
}

/** FIN-WAIT-2: our FIN acknowledged. */
function finWait2(fx: Fixture = {}): Rig {
  const r = finWait1(fx);
  r.in({ ack: add(r.iss, 2) });
  expect(r.e.state).toBe("FIN-WAIT-2");
  expect(r.poll()).toEqual([]);
  return r;
}

/** TIME-WAIT: the peer's FIN after ours was acknowledged, our ACK polled. */
function timeWait(fx: Fixture = {}): Rig {
  const r = finWait2(fx);
  r.send(new Uint8Array(0), { flags: ACK | FIN });
  expect(r.e.state).toBe("TIME-WAIT");
  expect(r.one()).toMatchObject({ flags: ACK, ack: r.pseq });
  return r;
}

/** CLOSE-WAIT: the peer's FIN on an established flow, our ACK polled. */
function closeWait(fx: Fixture = {}): Rig {
  const r = established(fx);
  r.send(new Uint8Array(0), { flags: ACK | FIN });
  expect(r.e.state).toBe("CLOSE-WAIT");
  expect(r.one()).toMatchObject({ flags: ACK, seq: add(r.iss, 1), ack: r.pseq });
  return r;
}

/** LAST-ACK: close() in CLOSE-WAIT, our FIN polled. */
function lastAck(fx: Fixture = {}): Rig {
  const r = closeWait(fx);
  r.e.close(r.now);
  expect(r.e.state).toBe("LAST-ACK");
  r.ourFin = r.one();
  expect(r.ourFin).toMatchObject({ seq: add(r.iss, 1), flags: ACK | FIN });
  return r;
}

/** Sum of payload lengths. */
const bytesOf = (out: Out[]) => out.reduce((n, s) => n + s.len, 0);

// ---- handshake -------------------------------------------------------------------------------

describe("handshake", () => {
  test("passive open: SYN-ACK carries MSS and wscale, the final ACK establishes", () => {
    const r = synReceived();
    expect(r.first).toMatchObject({
      seq: ISS,
      ack: IRS + 1,
      flags: SYN | ACK,
      wnd: 65535,
      mss: 1460,
      wscale: 7, // 4 MiB receive buffer: 65535 << 7 covers it
      len: 0,
    });
    expect(r.events).toEqual([]);
    r.in({ ack: ISS + 1, wnd: 1000 });
    expect(r.e.state).toBe("ESTABLISHED");
    expect(r.events).toEqual(["established"]);
    expect(r.e.mss).toBe(1460);
    expect(r.e.sndShift).toBe(7);
    expect(r.e.rcvShift).toBe(7);
    expect(r.e.sndWnd).toBe(1000 << 7);
    // Our window field is scaled down by the shift we offered.
    r.send(pattern(10));
    expect(r.one()).toMatchObject({ flags: ACK, ack: IRS + 11, wnd: (4 << 20) >>> 7 });
  });

  test("passive open without the peer's wscale: no wscale in the SYN-ACK, windows unscaled", () => {
    const r = synReceived({ wscale: null });
    expect(r.first!.wscale).toBeUndefined();
    expect(r.first!.mss).toBe(1460);
    r.in({ ack: ISS + 1, wnd: 5000 });
    expect(r.e.state).toBe("ESTABLISHED");
    expect(r.e.sndShift).toBe(0);
    expect(r.e.rcvShift).toBe(0);
    expect(r.e.sndWnd).toBe(5000);
    r.send(pattern(10));
    expect(r.one().wnd).toBe(65535);
  });

  test("the shift we offer follows the receive buffer", () => {
    const r = synReceived({ opts: { receiveBuffer: 1 << 20 } });
    expect(r.first!.wscale).toBe(5); // 65535 << 4 < 1 MiB <= 65535 << 5
    r.in({ ack: ISS + 1 });
    r.send(pattern(10));
    expect(r.one().wnd).toBe((1 << 20) >>> 5);
  });

  test("negotiated MSS is the minimum of both sides; 536 when the SYN has none", () => {
    const a = established({ mss: 1200 });
    expect(a.first!.mss).toBe(1460);
    expect(a.e.mss).toBe(1200);
    expect(a.e.write(pattern(3000))).toBe(true);
    expect(a.poll().map((s) => s.len)).toEqual([1200, 1200, 600]);

    const b = synReceived({ opts: { mss: 1000 }, mss: 1460 });
    expect(b.first!.mss).toBe(1000);
    expect(b.e.mss).toBe(1000);

    const c = synReceived({ mss: null });
    expect(c.e.mss).toBe(536);
  });

  test("SYN-ACK retransmitted after the RTO with exponential backoff", () => {
    const r = synReceived();
    expect(r.e.nextDeadline()).toBe(1000);
    expect(r.poll(999)).toEqual([]);
    const again = r.one(1000);
    expect(again).toMatchObject({ seq: ISS, ack: IRS + 1, flags: SYN | ACK, mss: 1460, wscale: 7 });
    expect(r.e.nextDeadline()).toBe(3000);
    expect(r.poll(2999)).toEqual([]);
    expect(r.one(3000)).toMatchObject({ seq: ISS, flags: SYN | ACK });
    expect(r.e.nextDeadline()).toBe(7000);
    expect(r.e.counters.retransmits).toBe(2);
    expect(r.e.state).toBe("SYN-RECEIVED");
    // A late final ACK still completes the handshake.
    r.at(7100).in({ ack: ISS + 1 });
    expect(r.e.state).toBe("ESTABLISHED");
    expect(r.e.nextDeadline()).toBe(Infinity);
  });

  test("a retransmitted SYN in SYN-RECEIVED gets the SYN-ACK again", () => {
    const r = synReceived();
    r.at(300).in({ seq: IRS, ack: 0, flags: SYN, wnd: 65535, mss: 1460, wscale: 7 });
    expect(r.one()).toMatchObject({ seq: ISS, ack: IRS + 1, flags: SYN | ACK, mss: 1460, wscale: 7 });
    expect(r.e.state).toBe("SYN-RECEIVED");
    r.in({ ack: ISS + 1 });
    expect(r.e.state).toBe("ESTABLISHED");
    expect(r.events).toEqual(["established"]);
  });

  test("active open: SYN with MSS and wscale; the SYN-ACK establishes and is ACKed", () => {
    const r = synSent();
    expect(r.first).toMatchObject({ seq: ISS, ack: 0, flags: SYN, mss: 1460, wscale: 7, len: 0 });
    r.at(40).in({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, wnd: 2000, mss: 1400, wscale: 3 });
    expect(r.e.state).toBe("ESTABLISHED");
    expect(r.events).toEqual(["established"]);
    expect(r.one()).toMatchObject({ seq: ISS + 1, ack: IRS + 1, flags: ACK, len: 0 });
    expect(r.e.mss).toBe(1400);
    expect(r.e.sndShift).toBe(3);
    expect(r.e.sndWnd).toBe(2000 << 3);
    expect(r.e.irs).toBe(IRS);
    expect(r.e.nextDeadline()).toBe(Infinity);
  });

  test("active open: SYN-ACK without wscale turns scaling off both ways", () => {
    const r = synSent();
    r.in({ seq: IRS, ack: ISS + 1, flags: SYN | ACK, wnd: 3000, mss: 1460 });
    expect(r.e.sndShift).toBe(0);
    expect(r.e.rcvShift).toBe(0);
    expect(r.e.sndWnd).toBe(3000);
    expect(r.one().wnd).toBe(65535);
  });

  test("active open: SYN retransmitted with backoff; a bad SYN-ACK gets a RST; RST|ACK resets", () => {
    const r = synSent();
    expect(r.poll(999)).toEqual([]);
    expect(r.one(1000)).toMatchObject({ seq: ISS, flags: SYN });
    expect(r.e.nextDeadline()).toBe(3000);
    // A SYN-ACK acknowledging something we never sent: RST from its ACK number, no state change.
    r.in({ seq: IRS, ack: ISS + 5, flags: SYN | ACK });
    expect(r.one()).toMatchObject({ seq: ISS + 5, flags: RST });
    expect(r.e.state).toBe("SYN-SENT");
    // A bare RST without ACK is ignored; RST|ACK acknowledging our SYN resets.
    r.in({ seq: IRS, ack: 0, flags: RST });
    expect(r.e.state).toBe("SYN-SENT");
    r.in({ seq: IRS, ack: ISS + 1, flags: RST | ACK });
    expect(r.e.state).toBe("CLOSED");
    expect(r.events).toEqual(["closed:reset"]);
  });
});

// ---- receiving -------------------------------------------------------------------------------

describe("receiving", () => {
  test("in-order segments are delivered once, in order, and ACKed", () => {
    const r = established();
    r.send(pattern(100));
    expect(r.one()).toMatchObject({ seq: ISS + 1, ack: IRS + 101, flags: ACK, len: 0 });
    r.send(pattern(50, 100));
    expect(r.one().ack).toBe(IRS + 151);
    expect(r.received).toEqual(pattern(150));
    expect(r.chunks.map((c) => c.length)).toEqual([100, 50]);
    expect(r.e.counters.bytesIn).toBe(150);
    expect(r.e.rcvNxt).toBe(IRS + 151);
  });

  test("out-of-order segments are held, each gets an immediate duplicate ACK, delivered when the hole fills", () => {
    const r = established();
    const all = pattern(400);
    const at = (k: number) => add(IRS + 1, k);
    r.in({ seq: at(200), flags: DATA, data: all.subarray(200, 300) });
    expect(r.one()).toMatchObject({ flags: ACK, ack: at(0) });
    r.in({ seq: at(100), flags: DATA, data: all.subarray(100, 200) });
    expect(r.one()).toMatchObject({ flags: ACK, ack: at(0) });
    r.in({ seq: at(300), flags: DATA, data: all.subarray(300, 400) });
    expect(r.one()).toMatchObject({ flags: ACK, ack: at(0) });
    expect(r.chunks).toEqual([]);
    expect(r.e.counters.outOfOrder).toBe(3);
    // The hole: everything comes out, in order, and one ACK covers it all.
    r.in({ seq: at(0), flags: DATA, data: all.subarray(0, 100) });
    expect(r.received).toEqual(all);
    expect(r.one()).toMatchObject({ flags: ACK, ack: at(400) });
    expect(r.e.rcvNxt).toBe(at(400));
  });

  test("a filled hole whose held segment overlaps the filler delivers each byte once", () => {
    const r = established();
    const all = pattern(300);
    const at = (k: number) => add(IRS + 1, k);
    r.in({ seq: at(100), flags: DATA, data: all.subarray(100, 300) });
    r.poll();
    r.in({ seq: at(0), flags: DATA, data: all.subarray(0, 150) }); // overlaps the held 100..150
    expect(r.received).toEqual(all);
    expect(r.one().ack).toBe(at(300));
  });

  test("duplicate segments are counted, ACKed and not delivered twice", () => {
    const r = established();
    r.send(pattern(100));
    r.send(pattern(100, 100));
    r.poll();
    // The latest segment again, then an older one.
    r.in({ seq: IRS + 101, flags: DATA, data: pattern(100, 100) });
    expect(r.one()).toMatchObject({ flags: ACK, ack: IRS + 201 });
    r.in({ seq: IRS + 1, flags: DATA, data: pattern(100) });
    expect(r.one()).toMatchObject({ flags: ACK, ack: IRS + 201 });
    expect(r.e.counters.duplicates).toBe(2);
    expect(r.e.counters.outOfWindow).toBe(0);
    expect(r.received).toEqual(pattern(200));
    expect(r.e.counters.bytesIn).toBe(200);
    // A held out-of-order segment arriving twice is counted too and held once.
    r.in({ seq: IRS + 301, flags: DATA, data: pattern(50, 300) });
    r.in({ seq: IRS + 301, flags: DATA, data: pattern(50, 300) });
    expect(r.poll().map((s) => s.ack)).toEqual([IRS + 201, IRS + 201]);
    expect(r.e.counters.duplicates).toBe(3);
    r.in({ seq: IRS + 201, flags: DATA, data: pattern(100, 200) });
    expect(r.received).toEqual(pattern(350));
  });

  test("a segment overlapping rcv.nxt is trimmed to its new bytes", () => {
    const r = established();
    r.send(pattern(100));
    r.poll();
    r.in({ seq: IRS + 51, flags: DATA, data: pattern(100, 50) }); // bytes 50..150, 50 new
    expect(r.one()).toMatchObject({ ack: IRS + 151 });
    expect(r.chunks.map((c) => c.length)).toEqual([100, 50]);
    expect(r.received).toEqual(pattern(150));
  });

  test("segments beyond the window or entirely old are dropped with an ACK and counted", () => {
    const r = established({ opts: { receiveBuffer: 8192 } }); // window 8192, no scaling
    expect(r.first!.wscale).toBe(0);
    r.send(pattern(100));
    r.poll();
    const nxt = IRS + 101;
    // Starts exactly at the right edge: not acceptable.
    r.in({ seq: nxt + 8192, flags: DATA, data: pattern(10) });
    expect(r.one()).toMatchObject({ flags: ACK, seq: ISS + 1, ack: nxt });
    expect(r.e.counters.outOfWindow).toBe(1);
    expect(r.e.counters.outOfOrder).toBe(0);
    // Entirely before rcv.nxt.
    r.in({ seq: IRS + 1 - 500, flags: DATA, data: pattern(100) });
    expect(r.one()).toMatchObject({ flags: ACK, ack: nxt });
    expect(r.e.counters.duplicates).toBe(1);
    // Far ahead in sequence space.
    r.in({ seq: add(nxt, 0x40000000), flags: DATA, data: pattern(10) });
    expect(r.one().ack).toBe(nxt);
    expect(r.e.counters.outOfWindow).toBe(2);
    // A segment straddling the right edge keeps only what fits; nothing dropped is delivered later.
    r.in({ seq: nxt + 8100, flags: DATA, data: pattern(200, 8200) });
    expect(r.one().ack).toBe(nxt);
    r.in({ seq: nxt, flags: DATA, data: pattern(8100, 100) });
    expect(r.one().ack).toBe(nxt + 8192);
    expect(r.received).toEqual(pattern(8292));
  });

  test("data without ACK is not delivered", () => {
    const r = established();
    r.in({ flags: PSH, data: pattern(10) });
    expect(r.chunks).toEqual([]);
    expect(r.e.rcvNxt).toBe(IRS + 1);
  });

  test("sequence numbers wrap around 2^32 in both directions", () => {
    const irs = 0xffffffff - 150; // peer bytes cross the wrap at offset 150
    const iss = 0xffffffff - 2000; // ours at offset 2000
    const r = established({ irs, iss });
    const at = (k: number) => add(irs + 1, k);
    const all = pattern(300);
    r.in({ seq: at(100), flags: DATA, data: all.subarray(100, 200) }); // crosses 2^32
    expect(r.one().ack).toBe(at(0));
    r.in({ seq: at(200), flags: DATA, data: all.subarray(200, 300) });
    r.poll();
    r.in({ seq: at(0), flags: DATA, data: all.subarray(0, 100) });
    expect(r.received).toEqual(all);
    const ack = r.one().ack;
    expect(ack).toBe(at(300));
    expect(ack).toBeLessThan(200); // wrapped
    expect(r.e.rcvNxt).toBe(ack);
    r.pseq = ack;

    // Sending: segments straddle the wrap, numbers stay in [0, 2^32).
    expect(r.e.write(pattern(4000))).toBe(true);
    const out = r.poll();
    expect(out.map((s) => s.seq)).toEqual([add(iss, 1), add(iss, 1461), add(iss, 2921)]);
    for (const s of out) expect(s.seq >= 0 && s.seq < 2 ** 32 && s.ack === ack).toBe(true);
    expect(concat(out.map((s) => s.data))).toEqual(pattern(4000));
    r.in({ ack: add(iss, 2921) }); // a wrapped ACK acknowledges 2920 bytes
    expect(r.e.buffered).toBe(1080);
    expect(r.e.sndUna).toBe(add(iss, 2921));
    r.in({ ack: add(iss, 4001) });
    expect(r.e.buffered).toBe(0);
    expect(r.e.nextDeadline()).toBe(Infinity);
  });
});

// ---- sending and retransmission --------------------------------------------------------------

describe("retransmission", () => {
  test("first RTO 1 s with doubling backoff; go-back-N from snd.una with cwnd at one MSS", () => {
    const r = established();
    expect(r.e.write(pattern(5000))).toBe(true);
    const first = r.poll();
    expect(first.map((s) => [s.seq - ISS, s.len])).toEqual([
      [1, 1460],
      [1461, 1460],
      [2921, 1460],
      [4381, 620],
    ]);
    expect(first.every((s) => s.flags === DATA && s.ack === IRS + 1)).toBe(true);
    expect(r.e.nextDeadline()).toBe(1000);
    expect(r.poll(999)).toEqual([]);
    const re1 = r.poll(1000);
    expect(re1.map((s) => [s.seq - ISS, s.len])).toEqual([[1, 1460]]);
    expect(re1[0]!.data).toEqual(pattern(1460));
    expect(r.e.cwnd).toBe(1460);
    expect(r.e.counters.timeouts).toBe(1);
    expect(r.e.nextDeadline()).toBe(3000);
    expect(r.poll(2999)).toEqual([]);
    expect(r.poll(3000).map((s) => [s.seq - ISS, s.len])).toEqual([[1, 1460]]);
    expect(r.e.nextDeadline()).toBe(7000);
    expect(r.e.counters.timeouts).toBe(2);
    // The ACK of the first segment: slow start from one MSS sends the next two.
    r.at(3050).in({ ack: ISS + 1461 });
    expect(r.poll().map((s) => [s.seq - ISS, s.len])).toEqual([
      [1461, 1460],
      [2921, 1460],
    ]);
    expect(r.e.nextDeadline()).toBe(3050 + 1000); // backoff reset, RTO still unsampled
    expect(r.e.sndNxt).toBe(ISS + 4381);
  });

  test("RTO from SRTT/RTTVAR samples (RFC 6298), floored at minRtoMs", () => {
    const r = established();
    const rtt = (t: number, ms: number) => {
      r.at(t);
      expect(r.e.write(pattern(100))).toBe(true);
      const s = r.one();
      r.at(t + ms).in({ ack: add(s.seq, s.len) });
    };
    rtt(0, 100); // srtt 100, rttvar 50
    expect(r.e.srtt).toBe(100);
    expect(r.e.rto).toBe(300);
    rtt(1000, 100); // rttvar 37.5
    expect(r.e.rto).toBe(250);
    rtt(2000, 20); // rttvar 48.125, srtt 90
    expect(r.e.srtt).toBe(90);
    expect(r.e.rto).toBe(282.5);
    // The timer is armed from the sample.
    r.at(3000);
    r.e.write(pattern(10));
    r.poll();
    expect(r.e.nextDeadline()).toBe(3282.5);
    expect(r.poll(3282)).toEqual([]);
    expect(r.poll(3282.5)).toHaveLength(1);
    r.at(3300).in({ ack: r.e.sndNxt });
    // Small RTTs drive it to the 200 ms floor.
    for (let i = 0; i < 20; i++) rtt(4000 + i * 100, 5);
    expect(r.e.srtt).toBeLessThan(20);
    expect(r.e.rto).toBe(200);
    r.at(10_000);
    r.e.write(pattern(10));
    r.poll();
    expect(r.e.nextDeadline()).toBe(10_200);

    const low = established({ opts: { minRtoMs: 20 } });
    low.e.write(pattern(10));
    low.poll();
    low.at(5).in({ ack: ISS + 11 });
    expect(low.e.rto).toBe(20); // 5 + 4 * 2.5 = 15, floored at 20
  });

  test("Karn: a retransmitted segment gives no RTT sample", () => {
    const r = established();
    r.e.write(pattern(100));
    r.poll();
    expect(r.poll(1000)).toHaveLength(1); // the retransmission
    r.at(1050).in({ ack: ISS + 101 });
    expect(r.e.buffered).toBe(0);
    expect(r.e.srtt).toBe(0);
    expect(r.e.rto).toBe(1000);
    // Fresh data samples again.
    r.at(2000);
    r.e.write(pattern(100));
    r.poll();
    expect(r.e.nextDeadline()).toBe(3000);
    r.at(2080).in({ ack: ISS + 201 });
    expect(r.e.srtt).toBe(80);
    expect(r.e.rto).toBe(80 + 160);
  });

  test("fast retransmit on the third duplicate ACK", () => {
    const r = established();
    r.e.write(pattern(5 * 1460));
    expect(r.poll()).toHaveLength(5);
    r.at(10).in({ ack: ISS + 1461 });
    expect(r.poll()).toEqual([]);
    r.in({ ack: ISS + 1461 });
    expect(r.poll()).toEqual([]);
    r.in({ ack: ISS + 1461 });
    expect(r.poll()).toEqual([]);
    expect(r.e.counters.fastRetransmits).toBe(0);
    r.in({ ack: ISS + 1461 });
    const re = r.poll();
    expect(re.map((s) => [s.seq - ISS, s.len])).toEqual([[1461, 1460]]);
    expect(re[0]!.data).toEqual(pattern(1460, 1460));
    expect(r.e.counters.fastRetransmits).toBe(1);
    expect(r.e.counters.timeouts).toBe(0);
    expect(r.e.ssthresh).toBe(2920); // half the 5840 in flight
    // More duplicates do not retransmit again.
    r.in({ ack: ISS + 1461 });
    expect(r.poll()).toEqual([]);
    expect(r.e.counters.fastRetransmits).toBe(1);
    // A duplicate that changes the window is a window update, not a duplicate ACK.
    const r2 = established();
    r2.e.write(pattern(5 * 1460));
    r2.poll();
    for (let i = 0; i < 3; i++) r2.in({ ack: ISS + 1, wnd: 1024 + i + 1 });
    expect(r2.poll()).toEqual([]);
    expect(r2.e.counters.fastRetransmits).toBe(0);
  });

  test("an ACK covering data sent before a go-back-N is accepted", () => {
    const r = established();
    r.e.write(pattern(5000));
    r.poll();
    expect(r.poll(1000)).toHaveLength(1); // SND.NXT back to SND.UNA + 1460
    // The original second segment's ACK arrives: SND.NXT moves up, sending goes on from there.
    r.at(1010).in({ ack: ISS + 2921 });
    expect(r.e.sndUna).toBe(ISS + 2921);
    expect(r.poll().map((s) => [s.seq - ISS, s.len])).toEqual([
      [2921, 1460],
      [4381, 620],
    ]);
    const all = established();
    all.e.write(pattern(5000));
    all.poll();
    all.poll(1000);
    all.at(1010).in({ ack: ISS + 5001 });
    expect(all.poll()).toEqual([]); // not an "ACK of unsent data"
    expect(all.e.buffered).toBe(0);
    expect(all.e.sndNxt).toBe(ISS + 5001);
    expect(all.e.nextDeadline()).toBe(Infinity);
  });

  test("an ACK covering data and FIN sent before a go-back-N completes the close", () => {
    const r = established();
    r.e.write(pattern(3000));
    r.e.close(0);
    const out = r.poll();
    expect(out.map((s) => [s.seq - ISS, s.len, s.flags])).toEqual([
      [1, 1460, DATA],
      [1461, 1460, DATA],
      [2921, 80, DATA | FIN],
    ]);
    expect(r.poll(1000)).toHaveLength(1); // timeout: the first segment again
    r.at(1010).in({ ack: ISS + 3002 }); // the original ACK of everything, FIN included
    expect(r.e.state).toBe("FIN-WAIT-2");
    expect(r.poll()).toEqual([]);
    expect(r.e.nextDeadline()).toBe(Infinity);

    const l = closeWait();
    l.e.write(pattern(3000));
    l.e.close(0);
    expect(l.poll()).toHaveLength(3);
    expect(l.poll(1000)).toHaveLength(1);
    l.at(1010).in({ ack: ISS + 3002 });
    expect(l.e.state).toBe("CLOSED");
    expect(l.events).toEqual(["established", "peer-closed", "closed:closed"]);
  });

  test("after a go-back-N, pure ACKs and RST carry the highest sequence sent", () => {
    const r = established();
    r.e.write(pattern(5000));
    r.poll();
    expect(r.poll(1000)).toHaveLength(1); // SND.NXT is back at ISS + 1461
    expect(r.e.sndNxt).toBe(ISS + 1461);
    // The peer has all 5000 bytes (its RCV.NXT is ISS + 5001): an ACK from ISS + 1461 would be
    // below its window and dropped there, ACK field and all.
    r.at(1010).send(pattern(10), { ack: ISS + 1 });
    expect(r.one()).toMatchObject({ flags: ACK, seq: ISS + 5001, ack: IRS + 11 });
    r.e.abort();
    expect(r.one()).toMatchObject({ flags: RST, seq: ISS + 5001 });
  });

  test("the FIN is retransmitted after the RTO", () => {
    const r = finWait1();
    expect(r.poll(999)).toEqual([]);
    expect(r.one(1000)).toMatchObject({ seq: ISS + 1, flags: ACK | FIN });
    r.in({ ack: ISS + 2 });
    expect(r.e.state).toBe("FIN-WAIT-2");
  });
});

// ---- flow control ----------------------------------------------------------------------------

describe("flow control", () => {
  /** Every segment ends at or before `edge`. */
  const within = (out: Out[], edge: number) => out.every((s) => ((add(s.seq, s.len) - edge) | 0) <= 0);

  test("never sends beyond the peer's window; window updates reopen sending", () => {
    const r = established({ wscale: null, wnd: 3000 });
    expect(r.e.sndWnd).toBe(3000);
    r.e.write(pattern(10_000));
    const a = r.poll();
    expect(bytesOf(a)).toBe(2920); // 80 more would fit, but a short segment waits (SWS avoidance)
    expect(within(a, ISS + 1 + 3000)).toBe(true);
    r.at(10).in({ ack: ISS + 2921, wnd: 3000 });
    const b = r.poll();
    expect(bytesOf(b)).toBe(2920);
    expect(within(b, ISS + 2921 + 3000)).toBe(true);
    // A pure window update (same ACK) opens room for more.
    r.in({ ack: ISS + 2921, wnd: 6000 });
    const c = r.poll();
    expect(c.map((s) => [s.seq - ISS, s.len])).toEqual([
      [5841, 1460],
      [7301, 1460],
    ]);
    expect(within(c, ISS + 2921 + 6000)).toBe(true);
    // All acknowledged with a big window: the rest goes, every byte in order.
    r.in({ ack: ISS + 8761, wnd: 65535 });
    const d = r.poll();
    expect(bytesOf(d)).toBe(10_000 - 8760);
    expect(concat([...a, ...b, ...c, ...d].map((s) => s.data))).toEqual(pattern(10_000));
  });

  test("the peer's window field is scaled by its shift", () => {
    const r = established({ wscale: 2, wnd: 1000 });
    expect(r.e.sndWnd).toBe(4000);
    r.e.write(pattern(10_000));
    const a = r.poll();
    expect(bytesOf(a)).toBe(2920); // unscaled (1000) would send 1000; shift 7 would send all
    r.in({ ack: ISS + 1, wnd: 2000 }); // 8000 bytes
    const b = r.poll();
    expect(bytesOf(a) + bytesOf(b)).toBe(5 * 1460);
    expect(within(b, ISS + 1 + 8000)).toBe(true);
  });

  test("zero window: a 1-byte persist probe after the RTO, repeated with backoff", () => {
    const r = established({ wnd: 0 });
    expect(r.e.sndWnd).toBe(0);
    r.e.write(pattern(100));
    expect(r.poll()).toEqual([]);
    expect(r.e.nextDeadline()).toBe(1000);
    expect(r.poll(999)).toEqual([]);
    const probe = r.one(1000);
    expect(probe).toMatchObject({ seq: ISS + 1, len: 1 });
    expect(probe.data).toEqual(pattern(1));
    // The next thing to do is the probe's retransmission timer, not an overdue persist timer.
    expect(r.e.nextDeadline()).toBe(2000);
    r.at(1010).in({ ack: ISS + 1, wnd: 0 }); // refused
    expect(r.poll()).toEqual([]);
    expect(r.one(2000)).toMatchObject({ seq: ISS + 1, len: 1 });
    expect(r.e.nextDeadline()).toBe(4000);
    expect(r.poll(3999)).toEqual([]);
    expect(r.one(4000)).toMatchObject({ seq: ISS + 1, len: 1 });
    // The window opens with the probe byte accepted: the rest follows at once.
    r.at(4010).in({ ack: ISS + 2, wnd: 512 });
    const rest = r.one();
    expect(rest).toMatchObject({ seq: ISS + 2, len: 99 });
    expect(rest.data).toEqual(pattern(99, 1));
  });

  test("a window update before the persist timer sends at once", () => {
    const r = established({ wnd: 0 });
    r.e.write(pattern(100));
    expect(r.poll()).toEqual([]);
    r.at(300).in({ ack: ISS + 1, wnd: 10 }); // 1280 bytes
    expect(r.one()).toMatchObject({ seq: ISS + 1, len: 100 });
    expect(r.e.nextDeadline()).toBe(1300);
  });

  test("write is all-or-nothing against the send buffer", () => {
    const r = established({ opts: { sendBuffer: 1000 } });
    expect(r.e.writable).toBe(1000);
    expect(r.e.write(pattern(600))).toBe(true);
    expect(r.e.write(pattern(500))).toBe(false);
    expect(r.e.buffered).toBe(600);
    expect(r.e.write(pattern(400, 600))).toBe(true);
    expect(concat(r.poll().map((s) => s.data))).toEqual(pattern(1000));
    r.in({ ack: ISS + 601 });
    expect(r.e.writable).toBe(600);
    expect(r.e.write(pattern(600, 1000))).toBe(true); // wraps inside the buffer
    r.in({ ack: ISS + 1001 });
    expect(concat(r.poll().map((s) => s.data))).toEqual(pattern(600, 1000));
  });
});

// ---- closing ---------------------------------------------------------------------------------

describe("closing", () => {
  test("peer FIN → CLOSE-WAIT; our close → LAST-ACK → CLOSED on the ACK of our FIN", () => {
    const r = established();
    r.send(pattern(3), { flags: DATA | FIN });
    expect(r.e.state).toBe("CLOSE-WAIT");
    expect(r.events).toEqual(["established", "peer-closed"]);
    expect(r.received).toEqual(pattern(3));
    expect(r.one()).toMatchObject({ flags: ACK, ack: IRS + 5 });
    // We can still send in CLOSE-WAIT.
    expect(r.e.write(pattern(10))).toBe(true);
    expect(r.one()).toMatchObject({ seq: ISS + 1, len: 10, flags: DATA });
    r.e.close(r.now);
    expect(r.e.state).toBe("LAST-ACK");
    expect(r.e.writable).toBe(0);
    expect(r.e.write(pattern(1))).toBe(false);
    expect(r.one()).toMatchObject({ seq: ISS + 11, flags: ACK | FIN, len: 0 });
    r.in({ ack: ISS + 11 }); // data acknowledged, not the FIN
    expect(r.e.state).toBe("LAST-ACK");
    r.in({ ack: ISS + 12 });
    expect(r.e.state).toBe("CLOSED");
    expect(r.events).toEqual(["established", "peer-closed", "closed:closed"]);
    expect(r.poll()).toEqual([]);
    expect(r.e.nextDeadline()).toBe(Infinity);
  });

  test("LAST-ACK fixture: the FIN is retransmitted until acknowledged", () => {
    const r = lastAck();
    expect(r.one(1000)).toMatchObject({ seq: ISS + 1, flags: ACK | FIN });
    r.in({ ack: ISS + 2 });
    expect(r.e.state).toBe("CLOSED");
  });

  test("our close first: FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED after timeWaitMs", () => {
    const r = established({ opts: { timeWaitMs: 5000 } });
    r.e.write(pattern(100));
    r.e.close(0);
    expect(r.e.state).toBe("FIN-WAIT-1");
    expect(r.one()).toMatchObject({ seq: ISS + 1, len: 100, flags: DATA | FIN }); // FIN after the data
    r.at(20).in({ ack: ISS + 101 });
    expect(r.e.state).toBe("FIN-WAIT-1");
    r.in({ ack: ISS + 102 });
    expect(r.e.state).toBe("FIN-WAIT-2");
    // Data still arrives in FIN-WAIT-2.
    r.at(40).send(pattern(7));
    expect(r.one().ack).toBe(IRS + 8);
    r.at(50).send(new Uint8Array(0), { flags: ACK | FIN });
    expect(r.e.state).toBe("TIME-WAIT");
    expect(r.one()).toMatchObject({ flags: ACK, seq: ISS + 102, ack: IRS + 9 });
    expect(r.e.nextDeadline()).toBe(5050);
    expect(r.poll(5049)).toEqual([]);
    expect(r.e.state).toBe("TIME-WAIT");
    r.poll(5050);
    expect(r.e.state).toBe("CLOSED");
    expect(r.events).toEqual(["established", "peer-closed", "closed:closed"]);
    expect(r.received).toEqual(pattern(7));
    expect(r.e.nextDeadline()).toBe(Infinity);
  });

  test("simultaneous close: CLOSING, then TIME-WAIT on the ACK of our FIN", () => {
    const r = finWait1({ opts: { timeWaitMs: 1000 } });
    r.at(10).send(new Uint8Array(0), { flags: ACK | FIN, ack: ISS + 1 }); // their FIN crossed ours
    expect(r.e.state).toBe("CLOSING");
    expect(r.one()).toMatchObject({ flags: ACK, ack: IRS + 2 });
    r.at(20).in({ ack: ISS + 2 });
    expect(r.e.state).toBe("TIME-WAIT");
    r.poll(1019);
    expect(r.e.state).toBe("TIME-WAIT");
    r.poll(1020);
    expect(r.e.state).toBe("CLOSED");
    expect(r.events).toEqual(["established", "peer-closed", "closed:closed"]);
  });

  test("a FIN out of order is held until the hole fills", () => {
    const r = established();
    r.in({ seq: IRS + 101, flags: ACK | FIN }); // FIN after 100 bytes we have not seen
    expect(r.e.state).toBe("ESTABLISHED");
    expect(r.events).toEqual(["established"]);
    expect(r.one()).toMatchObject({ flags: ACK, ack: IRS + 1 });
    r.in({ seq: IRS + 1, flags: DATA, data: pattern(100) });
    expect(r.received).toEqual(pattern(100));
    expect(r.e.state).toBe("CLOSE-WAIT");
    expect(r.events).toEqual(["established", "peer-closed"]);
    expect(r.one()).toMatchObject({ flags: ACK, ack: IRS + 102 });
  });

  test("a retransmitted FIN in TIME-WAIT is ACKed again and restarts the 2 MSL timer", () => {
    const r = timeWait(); // entered at 0, default timeWaitMs 60 s
    expect(r.e.nextDeadline()).toBe(60_000);
    r.at(40_000).in({ seq: IRS + 1, flags: ACK | FIN });
    expect(r.one()).toMatchObject({ flags: ACK, seq: ISS + 2, ack: IRS + 2 });
    expect(r.e.counters.duplicates).toBe(1);
    expect(r.e.state).toBe("TIME-WAIT");
    expect(r.e.nextDeadline()).toBe(100_000);
    expect(r.poll(99_999)).toEqual([]);
    expect(r.e.state).toBe("TIME-WAIT");
    r.poll(100_000);
    expect(r.e.state).toBe("CLOSED");
    expect(r.events.at(-1)).toBe("closed:closed");
  });

  test("close() in SYN-RECEIVED sends the FIN once the handshake completes", () => {
    const r = synReceived();
    r.e.close(0);
    expect(r.poll()).toEqual([]);
    r.in({ ack: ISS + 1 });
    expect(r.e.state).toBe("FIN-WAIT-1");
    expect(r.one()).toMatchObject({ seq: ISS + 1, flags: ACK | FIN });
  });

  test("close() in SYN-SENT closes at once", () => {
    const r = synSent();
    r.e.close(0);
    expect(r.e.state).toBe("CLOSED");
    expect(r.events).toEqual(["closed:closed"]);
    expect(r.poll(5000)).toEqual([]);
  });
});

// ---- reset -----------------------------------------------------------------------------------

describe("reset", () => {
  test("an RST at exactly rcv.nxt closes the flow (reset)", () => {
    const r = established();
    r.e.write(pattern(100));
    r.poll();
    r.in({ seq: IRS + 1, flags: RST, ack: 0 });
    expect(r.e.state).toBe("CLOSED");
    expect(r.events).toEqual(["established", "closed:reset"]);
    expect(r.poll(5000)).toEqual([]);
  });

  test("an in-window RST that is not exact gets a challenge ACK and does not close", () => {
    const r = established();
    r.in({ seq: IRS + 1000, flags: RST });
    expect(r.e.state).toBe("ESTABLISHED");
    expect(r.e.counters.challengeAcks).toBe(1);
    expect(r.one()).toMatchObject({ flags: ACK, seq: ISS + 1, ack: IRS + 1 });
    // Out of the window: dropped silently.
    r.in({ seq: IRS - 100_000, flags: RST });
    expect(r.poll()).toEqual([]);
    expect(r.e.state).toBe("ESTABLISHED");
    expect(r.events).toEqual(["established"]);
  });

  test("a SYN in ESTABLISHED gets a challenge ACK and does not close", () => {
    const r = established();
    r.send(pattern(10));
    r.poll();
    r.in({ seq: IRS + 11, flags: SYN, ack: 0, mss: 1460 });
    expect(r.one()).toMatchObject({ flags: ACK, seq: ISS + 1, ack: IRS + 11 });
    expect(r.e.counters.challengeAcks).toBe(1);
    expect(r.e.state).toBe("ESTABLISHED");
    r.in({ seq: IRS + 500, flags: SYN | ACK }); // anywhere in the window
    expect(r.one().ack).toBe(IRS + 11);
    expect(r.e.counters.challengeAcks).toBe(2);
    expect(r.events).toEqual(["established"]);
  });

  test("RST in CLOSE-WAIT and FIN-WAIT-2 closes too", () => {
    const a = closeWait();
    a.in({ flags: RST });
    expect(a.events.at(-1)).toBe("closed:reset");
    const b = finWait2();
    b.in({ flags: RST });
    expect(b.events.at(-1)).toBe("closed:reset");
  });

  test("abort() emits RST and closes (aborted); forget() closes silently", () => {
    const r = established();
    r.e.write(pattern(100));
    r.poll();
    r.e.abort();
    expect(r.e.state).toBe("CLOSED");
    expect(r.events).toEqual(["established", "closed:aborted"]);
    expect(r.poll()).toMatchObject([{ flags: RST, seq: ISS + 101, len: 0 }]);
    expect(r.poll(5000)).toEqual([]);

    const f = established();
    f.e.write(pattern(100));
    f.e.forget();
    expect(f.e.state).toBe("CLOSED");
    expect(f.poll()).toEqual([]);
    expect(f.events.at(-1)).toBe("closed:forgotten");
  });
});

// ---- ACK validation, takeover ----------------------------------------------------------------

describe("ACK validation and takeover", () => {
  const fs: FlowState = {
    iss: 0x10000,
    irs: 0x20000,
    mss: 1400,
    sndShift: 7,
    rcvShift: 7,
    sndNxt: 0x10000 + 5001,
    rcvNxt: 0x20000 + 9001,
  };
  const adopted = (seq: number, ack: number, opts: Partial<TcpOptions> = {}) => {
    const r = new Rig({ iss: fs.iss, irs: fs.irs, opts });
    r.pseq = seq;
    r.e = TcpEndpoint.adopt(r.options(), fs, r.seg({ seq, ack, wnd: 100 }), r.now, r.hooks);
    return r;
  };

  test("an ACK of unsent data is dropped with an ACK", () => {
    const r = established();
    r.e.write(pattern(100));
    r.poll();
    r.in({ ack: ISS + 500, flags: DATA, data: pattern(10) });
    expect(r.one()).toMatchObject({ flags: ACK, seq: ISS + 101, ack: IRS + 1 });
    expect(r.chunks).toEqual([]);
    expect(r.e.sndUna).toBe(ISS + 1);
    expect(r.e.sndNxt).toBe(ISS + 101);
    expect(r.e.buffered).toBe(100);
  });

  test("adopt() takes rcv.nxt from the segment's seq and snd.una/snd.nxt from its ack", () => {
    const r = adopted(0x20000 + 12_000, 0x10000 + 7000);
    expect(r.e.state).toBe("ESTABLISHED");
    expect(r.e.rcvNxt).toBe(0x20000 + 12_000);
    expect(r.e.sndUna).toBe(0x10000 + 7000);
    expect(r.e.sndNxt).toBe(0x10000 + 7000);
    expect(r.e.mss).toBe(1400);
    expect(r.e.sndWnd).toBe(100 << 7);
    expect(r.e.flowState()).toEqual({ ...fs, sndNxt: 0x10000 + 7000, rcvNxt: 0x20000 + 12_000 });
    // It announces itself with an ACK, then takes the segment's data in order.
    expect(r.one()).toMatchObject({ flags: ACK, seq: 0x10000 + 7000, ack: 0x20000 + 12_000, wnd: 32768 });
    r.send(pattern(50));
    expect(r.received).toEqual(pattern(50));
    expect(r.one().ack).toBe(0x20000 + 12_050);
    r.e.write(pattern(3000));
    expect(r.poll().map((s) => s.len)).toEqual([1400, 1400, 200]);
  });

  test("within adoptGraceMs an ACK beyond snd.nxt moves snd.una/snd.nxt; after it, dropped with an ACK", () => {
    const base = 0x10000 + 7000;
    const r = adopted(0x20000 + 100, base);
    expect(r.e.nextDeadline()).toBe(3000);
    r.poll();
    r.at(100).in({ ack: base + 300 }); // bytes the previous server sent
    expect(r.poll()).toEqual([]);
    expect(r.e.sndUna).toBe(base + 300);
    expect(r.e.sndNxt).toBe(base + 300);
    r.e.write(pattern(10));
    expect(r.one()).toMatchObject({ seq: base + 300, len: 10 });
    r.at(200).in({ ack: base + 310 });
    expect(r.e.buffered).toBe(0);
    // After the grace period the same kind of ACK is refused.
    r.poll(3000);
    expect(r.e.nextDeadline()).toBe(Infinity);
    r.in({ ack: base + 900 });
    expect(r.one()).toMatchObject({ flags: ACK, seq: base + 310 });
    expect(r.e.sndUna).toBe(base + 310);
    // With a custom grace.
    const g = adopted(0x20000 + 100, base, { adoptGraceMs: 50 });
    g.at(50).in({ ack: base + 300 });
    expect(g.e.sndUna).toBe(base);
    expect(g.poll().at(-1)).toMatchObject({ flags: ACK, seq: base });
  });

  test("flowState() round trip: another endpoint takes the flow over and the stream goes on", () => {
    // Client (active) and server 1 (passive) over a lossless link.
    let now = 0;
    const got: Uint8Array[] = [];
    const srvGot: Uint8Array[] = [];
    const client = new TcpEndpoint(
      { localPort: RPORT, remotePort: LPORT, iss: 0xfffffff0 },
      { onData: (d) => void got.push(d.slice()) },
    );
    const srvOpts = { localPort: LPORT, remotePort: RPORT, iss: 0xabcdef };
    const srvHooks = { onData: (d: Uint8Array) => void srvGot.push(d.slice()) };
    client.connect(now);
    const syn = client.poll(now)[0]!;
    const s1 = TcpEndpoint.accept(srvOpts, syn, now, srvHooks);
    const pump = (a: TcpEndpoint, b: TcpEndpoint) => {
      for (let i = 0; i < 100; i++) {
        const x = a.poll(now);
        for (const s of x) b.input(s, now);
        const y = b.poll(now);
        for (const s of y) a.input(s, now);
        if (x.length === 0 && y.length === 0) return;
        now += 1;
      }
      throw new Error("no quiescence");
    };
    pump(client, s1);
    expect(client.state).toBe("ESTABLISHED");
    expect(s1.state).toBe("ESTABLISHED");
    client.write(pattern(3000));
    s1.write(pattern(2000));
    pump(client, s1);
    // Takeover: server 1 goes away silently; its synced state travels (as JSON) to server 2.
    const st: FlowState = JSON.parse(JSON.stringify(s1.flowState()));
    s1.forget();
    client.write(pattern(1000, 3000));
    const next = client.poll(now);
    expect(next).toHaveLength(1);
    const s2 = TcpEndpoint.adopt(srvOpts, st, next[0]!, now, srvHooks);
    expect(s2.flowState()).toEqual(st);
    s2.input(next[0]!, now);
    s2.write(pattern(500, 2000));
    pump(client, s2);
    expect(concat(srvGot)).toEqual(pattern(4000));
    expect(concat(got)).toEqual(pattern(2500));
    expect(client.buffered).toBe(0);
    expect(s2.buffered).toBe(0);
  });
});

// ---- user timeout ----------------------------------------------------------------------------

describe("user timeout", () => {
  test("userTimeoutMs closes a flow with no ACK progress (timeout)", () => {
    const r = established({ opts: { userTimeoutMs: 5000 } });
    r.e.write(pattern(100));
    r.poll();
    const times: number[] = [];
    for (let i = 0; i < 10 && r.e.state !== "CLOSED"; i++) {
      const t = r.e.nextDeadline();
      expect(t).toBeLessThan(100_000);
      if (r.poll(t).length > 0) times.push(t);
    }
    expect(times).toEqual([1000, 3000]); // the retransmissions; at 7000 it gives up
    expect(r.now).toBe(7000);
    expect(r.events).toEqual(["established", "closed:timeout"]);
  });

  test("ACK progress restarts the user timeout", () => {
    const r = established({ opts: { userTimeoutMs: 5000 } });
    r.e.write(pattern(3000));
    r.poll();
    r.poll(1000);
    r.poll(3000);
    r.at(4000).in({ ack: ISS + 1461 }); // progress
    r.poll();
    r.poll(5000); // RTO again
    expect(r.e.state).toBe("ESTABLISHED");
    r.poll(7000);
    expect(r.e.state).toBe("ESTABLISHED");
    for (let i = 0; i < 10 && r.e.state !== "CLOSED"; i++) r.poll(r.e.nextDeadline());
    expect(r.e.state).toBe("CLOSED");
    expect(r.now).toBeGreaterThan(9000);
    expect(r.events.at(-1)).toBe("closed:timeout");
  });

  test("idle time before a write does not count toward userTimeoutMs", () => {
    const r = established({ opts: { userTimeoutMs: 5000 } });
    r.at(60_000);
    r.e.write(pattern(100));
    expect(r.one()).toMatchObject({ seq: ISS + 1, len: 100 });
    expect(r.one(61_000)).toMatchObject({ seq: ISS + 1, len: 100 }); // a retransmission, not a timeout
    expect(r.e.state).toBe("ESTABLISHED");
    r.at(61_050).in({ ack: ISS + 101 });
    expect(r.e.buffered).toBe(0);
  });
});

// ---- randomized end to end -------------------------------------------------------------------

interface Link {
  loss: number;
  dup: number;
  reorder: number;
}

/** Two endpoints over a simulated link; A sends `aBytes` to B and B `bBytes` to A, then both close. */
function simulate(seed: number, link: Link, aBytes: number, bBytes: number) {
  const rnd = prng(seed);
  const fill = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (rnd() * 256) | 0;
    return b;
  };
  const aData = fill(aBytes);
  const bData = fill(bBytes);
  const aGot = new Uint8Array(bBytes);
  const bGot = new Uint8Array(aBytes);
  let aN = 0;
  let bN = 0;
  let overflow = false;
  const why = { a: "", b: "" };
  let bPeerClosed = false;
  const common = { timeWaitMs: 60_000, sendBuffer: 64 << 10 };
  const A = new TcpEndpoint(
    { localPort: 40000, remotePort: 443, iss: 0xffffffff - 300_000, ...common },
    {
      onData: (d) => {
        if (aN + d.length > bBytes) overflow = true;
        else aGot.set(d, aN);
        aN += d.length;
      },
      onClosed: (w) => void (why.a = w),
    },
  );
  let B: TcpEndpoint | undefined;
  const bOpts = { localPort: 443, remotePort: 40000, iss: 0x7ffffff0, ...common };
  const bHooks = {
    onData: (d: Uint8Array) => {
      if (bN + d.length > aBytes) overflow = true;
      else bGot.set(d, bN);
      bN += d.length;
    },
    onPeerClosed: () => void (bPeerClosed = true),
    onClosed: (w: string) => void (why.b = w),
  };
  type Wire = { at: number; n: number; toB: boolean; seg: Segment };
  let wire: Wire[] = [];
  let n = 0;
  let now = 0;
  const transmit = (toB: boolean, segs: Segment[]) => {
    for (const s of segs) {
      if (rnd() < link.loss) continue;
      const copies = rnd() < link.dup ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        const delay = 10 + rnd() * 2 + (rnd() < link.reorder ? rnd() * 40 : 0);
        wire.push({ at: now + delay, n: n++, toB, seg: { ...s, payload: s.payload.slice() } });
      }
    }
  };
  let aSent = 0;
  let bSent = 0;
  let aClosed = false;
  let bClosed = false;
  let stale = 0;
  let steps = 0;
  A.connect(now);
  for (; steps < 500_000; steps++) {
    const due = wire.filter((w) => w.at <= now).sort((x, y) => x.at - y.at || x.n - y.n);
    if (due.length > 0) wire = wire.filter((w) => w.at > now);
    for (const w of due) {
      if (!w.toB) A.input(w.seg, now);
      else if (B) B.input(w.seg, now);
      else if (w.seg.flags === SYN) B = TcpEndpoint.accept(bOpts, w.seg, now, bHooks);
    }
    while (aSent < aBytes && A.writable > 0) {
      const k = Math.min(aBytes - aSent, 1 + ((rnd() * 30000) | 0));
      if (!A.write(aData.subarray(aSent, aSent + k))) break;
      aSent += k;
    }
    if (aSent === aBytes && !aClosed && A.state === "ESTABLISHED") {
      A.close(now);
      aClosed = true;
    }
    if (B) {
      while (bSent < bBytes && B.writable > 0) {
        const k = Math.min(bBytes - bSent, 1 + ((rnd() * 5000) | 0));
        if (!B.write(bData.subarray(bSent, bSent + k))) break;
        bSent += k;
      }
      if (bSent === bBytes && bPeerClosed && !bClosed) {
        B.close(now);
        bClosed = true;
      }
    }
    transmit(true, A.poll(now));
    if (B) transmit(false, B.poll(now));
    if (A.state === "CLOSED" && B?.state === "CLOSED") break;
    let next = Infinity;
    for (const w of wire) next = Math.min(next, w.at);
    if (A.state !== "CLOSED") next = Math.min(next, A.nextDeadline());
    if (B && B.state !== "CLOSED") next = Math.min(next, B.nextDeadline());
    if (next === Infinity) break; // stuck: nothing will ever happen again
    if (next <= now) {
      if (++stale > 1000) break; // a deadline that poll() never clears
      continue;
    }
    now = next;
  }
  return { aGot, bGot, aData, bData, aN, bN, overflow, why, A, B, now, steps, stale };
}

describe("randomized end to end", () => {
  const cases: [string, number, Link][] = [
    ["clean link", 1, { loss: 0, dup: 0, reorder: 0 }],
    ["5% loss, 2% duplication, 20% reordering", 7, { loss: 0.05, dup: 0.02, reorder: 0.2 }],
    ["5% loss, 2% duplication, 20% reordering (another seed)", 1234, { loss: 0.05, dup: 0.02, reorder: 0.2 }],
    ["20% loss, 2% duplication, 20% reordering", 99, { loss: 0.2, dup: 0.02, reorder: 0.2 }],
  ];
  const check = (seed: number, link: Link, aBytes: number, bBytes: number) => {
    const s = simulate(seed, link, aBytes, bBytes);
    const tag = `seed ${seed}`;
    expect([tag, s.overflow, s.stale]).toEqual([tag, false, 0]);
    expect([tag, s.bN, s.aN]).toEqual([tag, aBytes, bBytes]);
    expect([tag, firstDiff(s.bGot, s.aData), firstDiff(s.aGot, s.bData)]).toEqual([tag, -1, -1]);
    expect([tag, s.A.state, s.B?.state]).toEqual([tag, "CLOSED", "CLOSED"]);
    expect([tag, s.why]).toEqual([tag, { a: "closed", b: "closed" }]);
    if (link.loss > 0) expect(s.A.counters.retransmits + s.A.counters.fastRetransmits).toBeGreaterThan(0);
    return s;
  };
  for (const [name, seed, link] of cases)
    test(`1 MiB one way, 64 KiB back, both closed: ${name}`, () => {
      const s = check(seed, link, 1 << 20, 64 << 10);
      if (link.reorder > 0) expect(s.B!.counters.outOfOrder).toBeGreaterThan(0);
      if (link.dup > 0) expect(s.B!.counters.duplicates).toBeGreaterThan(0);
    });

  test("30 more seeds, 128 KiB each way, 0-20% loss", () => {
    for (let seed = 1000; seed < 1030; seed++) {
      const loss = ((seed % 5) * 5) / 100;
      check(seed, { loss, dup: 0.03, reorder: 0.25 }, 128 << 10, 128 << 10);
    }
  });
});
