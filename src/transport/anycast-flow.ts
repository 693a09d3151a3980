// One captured TCP connection of full anycast TCP (tcp-anycast.ts keeps the table of them): the
// client's Link and Ingress (link.ts) while the flow is here — framed SATP in over the
// userspace endpoint, sealed packets out through it — and the flow's synced record.
//
// Record "tcp" value: { o: owner sender id, m: mux (-1 before the first authenticated packet),
//   is, ir: ISNs, ms: MSS, ss/rs: window shifts, sn/rn: SND.NXT/RCV.NXT when published, k: keep-alive ms }
import { OFF_MUX } from "../satp/codec.ts";
import type { FlowState, TcpEndpoint } from "../tcp/endpoint.ts";
import { ACK, type Segment } from "../tcp/segment.ts";
import { FRAME_HEADER, FrameReader } from "./framing.ts";
import type { Ingress, Link } from "./link.ts";
import type { TcpAnycast } from "./tcp-anycast.ts";
export interface FlowRecord {
  o: number;
  m: number;
  is: number;
  ir: number;
  ms: number;
  ss: number;
  rs: number;
  sn: number;
  rn: number;
  k: number;
  /**
   * Takeovers so far (absent from records of releases before it): a takeover publishes the
   * record's g + 1, so the old owner's refresh that crosses it (published before it learned of
   * the takeover, later by the clock) is known for stale and does not move the flow back.
   */
  g?: number;
}

/** One captured TCP connection: its client's Link and Ingress (link.ts) while it is here. */
export class AnycastFlow implements Link, Ingress {
  readonly reader = new FrameReader(true, (b, at) => {
    const mux = (b[at + OFF_MUX]! << 8) | b[at + OFF_MUX + 1]!;
    return this.mux >= 0 ? mux === this.mux : this.host.knownMux(mux);
  });
  ep!: TcpEndpoint;
  closed = false;
  readonly dataAllowed = true; // the client reached the anycast address itself: nothing to redirect
  readonly kind = "tcp-anycast";
  readonly record = "tcp";
  readonly local = true;
  readonly listener = -1;
  readonly via = this;
  mux = -1;
  keepaliveMs: number;
  lastSegment = 0;
  /** When the flow opened here (a flow that carries no authenticated packet within tcp.pendingMs is reset). */
  openedAt = 0;
  published = { sn: -1, rn: -1, at: 0 };
  /** While a takeover is unconfirmed: when it is forgotten (0 once confirmed or opened here). */
  tentativeUntil = 0;
  /** Its record's takeover generation (FlowRecord.g): 0 when opened here, the record's + 1 on a takeover. */
  gen = 0;
  private seen = { resyncs: 0, skipped: 0 }; // reader counters already added to the host's stats

  constructor(
    private readonly host: TcpAnycast,
    readonly key: string,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly addrs: { local: Uint8Array; remote: Uint8Array },
    keepaliveMs: number,
  ) {
    this.keepaliveMs = keepaliveMs;
  }

  get address(): string {
    return this.remoteAddress;
  }
  get port(): number {
    return this.remotePort;
  }
  get usable(): boolean {
    return !this.closed;
  }
  link(): Link {
    return this;
  }
  /** The host's framing buffer: the SATP packet is sealed at FRAME_HEADER, after the length. */
  slot(): Uint8Array {
    return this.host.framed.subarray(FRAME_HEADER);
  }
  send(len: number): boolean {
    return this.sendFramed(this.host.framed.subarray(0, this.host.lengthPrefix(len)));
  }
  agreed(ms: number): void {
    this.keepaliveMs = ms;
    this.host.publishNow(this);
  }
  bound(mux: number): void {
    this.host.bound(this, mux);
  }

  private sendFramed(framed: Uint8Array): boolean {
    if (this.closed || !this.ep.write(framed)) return false; // write copies what it takes
    this.host.dirty(this);
    return true;
  }

  onData(d: Uint8Array): void {
    const r = this.reader;
    r.push(d);
    for (let p = r.next(); p !== null; p = r.next()) {
      if (this.host.deliver(this, p) === false) r.reject();
      if (this.closed) return;
    }
    if (r.skipped !== this.seen.skipped) {
      this.host.stats.resyncs += r.resyncs - this.seen.resyncs;
      this.host.stats.skippedBytes += r.skipped - this.seen.skipped;
      this.seen = { resyncs: r.resyncs, skipped: r.skipped };
    }
  }
}

const u32 = (x: unknown) => typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
const small = (x: unknown, max: number) => typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= max;

export function isFlowRecord(v: unknown): v is FlowRecord {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    small(r.o, 0xffffffff) &&
    (r.m === -1 || small(r.m, 65535)) &&
    u32(r.is) &&
    u32(r.ir) &&
    u32(r.sn) &&
    u32(r.rn) &&
    small(r.ms, 65535) &&
    (r.ms as number) >= 64 &&
    small(r.ss, 14) &&
    small(r.rs, 14) &&
    small(r.k, 600000) &&
    (r.g === undefined || u32(r.g))
  );
}

export interface TcpAnycastStats {
  segmentsIn: number;
  segmentsOut: number;
  flowsOpened: number;
  flowsClosed: number;
  /** Confirmed takeovers (an authenticated packet arrived on the flow). */
  takeovers: number;
  /** Takeovers started (plausible segment of a synced flow) and those that expired unconfirmed. */
  tentative: number;
  tentativeExpired: number;
  cookiesSent: number;
  /** Final ACKs with a valid cookie (flows opened), and ACKs that matched no cookie nor record. */
  cookiesValid: number;
  /** Flows reset because no authenticated packet came within tcp.pendingMs (or after tcp.pendingBytes). */
  unauthenticated: number;
  movedAway: number;
  /** The former owner's refreshes that crossed a takeover here (older generation): ignored, ours republished. */
  staleOwner: number;
  resets: number;
  badSegments: number;
  notCaptured: number;
  refused: number;
  full: number;
  tunWriteErrors: number;
  resyncs: number;
  skippedBytes: number;
}

export function newStats(): TcpAnycastStats {
  return {
    segmentsIn: 0,
    segmentsOut: 0,
    flowsOpened: 0,
    flowsClosed: 0,
    takeovers: 0,
    tentative: 0,
    tentativeExpired: 0,
    cookiesSent: 0,
    cookiesValid: 0,
    unauthenticated: 0,
    movedAway: 0,
    staleOwner: 0,
    resets: 0,
    badSegments: 0,
    notCaptured: 0,
    refused: 0,
    full: 0,
    tunWriteErrors: 0,
    resyncs: 0,
    skippedBytes: 0,
  };
}

/** A flow's record as the owner publishes it. */
export function recordOf(e: TcpEndpoint, node: number, mux: number, keepaliveMs: number, gen: number): FlowRecord {
  return {
    o: node,
    m: mux,
    is: e.iss,
    ir: e.irs,
    ms: e.mss,
    ss: e.sndShift,
    rs: e.rcvShift,
    sn: e.sndNxt,
    rn: e.rcvNxt,
    k: keepaliveMs,
    g: gen,
  };
}

/** The endpoint state a takeover starts from (TcpEndpoint.adopt). */
export function stateOf(rec: FlowRecord): FlowState {
  return { iss: rec.is, irs: rec.ir, mss: rec.ms, sndShift: rec.ss, rcvShift: rec.rs, sndNxt: rec.sn, rcvNxt: rec.rn };
}

const diff = (a: number, b: number) => (a - b) | 0;

/**
 * May segment `seg` take over the flow of `rec`? Plausibility (RFC 5961 5.2 for the ACK, 9293
 * 3.10.7.4 for SEQ): an ACK, its SEQ and ACK within a window `w` before the published positions
 * and 2w after them (the owner republishes once they moved w/4, and one flush may send a window
 * more). A blind attacker needs both right: 1 in ~10^5 tries with a 4 MiB window, and then still
 * an authenticated SATP packet to confirm the takeover.
 */
export function plausible(rec: FlowRecord, seg: Segment, w: number): boolean {
  const near = (a: number, b: number) => {
    const d = diff(a, b);
    return d >= -w && d <= 2 * w;
  };
  return (seg.flags & ACK) !== 0 && near(seg.seq, rec.rn) && near(seg.ack, rec.sn);
}

/** A flow as /v1/tcp shows it. */
export function describeFlow(f: AnycastFlow): object {
  return {
    flow: f.key,
    mux: f.mux,
    state: f.ep.state,
    tentative: f.tentativeUntil !== 0,
    keepaliveMs: f.keepaliveMs,
    sndNxt: f.ep.sndNxt,
    rcvNxt: f.ep.rcvNxt,
    srttMs: Math.round(f.ep.srtt),
    rtoMs: Math.round(f.ep.rto),
    cwnd: f.ep.cwnd,
    buffered: f.ep.buffered,
    outOfOrderBytes: f.ep.heldBytes,
    counters: f.ep.counters,
    resyncs: f.reader.resyncs,
    skippedBytes: f.reader.skipped,
  };
}
