// A userspace TCP endpoint (RFC 9293), pure: segments in (`input`), segments out (`poll`), the
// clock passed in as milliseconds; no I/O, no timers, no randomness (the ISS is given).
//
// What it does: passive and active open (three-way handshake, simultaneous open not needed by
// the relay and answered as RFC 9293 says for a SYN in a synchronized state), in-order delivery
// with reassembly of out-of-order segments (reassembly.ts: within the window, overlaps held
// once, ranges and pieces bounded), retransmission with
// the RFC 6298 timer (SRTT/RTTVAR, Karn's rule, exponential backoff, go-back-N from SND.UNA),
// fast retransmit and NewReno recovery (RFC 5681/6582) with slow start and congestion avoidance,
// flow control with window scaling (RFC 7323 2) and a persist probe for zero windows, MSS
// (RFC 9293 3.7.1, RFC 6691), FIN in both directions (CLOSE-WAIT, LAST-ACK, FIN-WAIT-1/2,
// CLOSING, TIME-WAIT), RST in and out with the RFC 5961 checks (challenge ACK for a RST or SYN
// in the window but not exact). Not done: SACK, timestamps (never offered, so PAWS never applies
// and a flow can move between servers), urgent data, ECN.
//
// Takeover (anycast): `TcpEndpoint.adopt` builds an ESTABLISHED endpoint from synced flow state
// (ISNs, MSS, window shifts) and the first segment this server sees of the flow: RCV.NXT is that
// segment's SEQ, SND.UNA = SND.NXT is its ACK. For `adoptGraceMs` after that, an ACK beyond
// SND.NXT (bytes the previous server sent) moves SND.UNA/SND.NXT up to it instead of being
// dropped; the bytes in between are lost to the stream, which the framing layer above resyncs.
//
// Contracts: `input` reads the segment and its payload only during the call (it copies what it
// keeps). Data is handed to `onData` as views valid only during the call, in order, once.
// Segments from `poll` carry payload views into the send buffer, valid until the next call into
// the endpoint; the caller encodes them at once. Sequence numbers compare modulo 2^32.
import { Reassembly } from "./reassembly.ts";
import { ACK, FIN, PSH, RST, SYN, type Segment } from "./segment.ts";

export type TcpState =
  | "CLOSED"
  | "LISTEN"
  | "SYN-SENT"
  | "SYN-RECEIVED"
  | "ESTABLISHED"
  | "FIN-WAIT-1"
  | "FIN-WAIT-2"
  | "CLOSE-WAIT"
  | "CLOSING"
  | "LAST-ACK"
  | "TIME-WAIT";

export interface TcpOptions {
  localPort: number;
  remotePort: number;
  /** Initial send sequence number (the host picks it at random). */
  iss: number;
  /** Largest segment payload this side can receive (advertised in the SYN). Default 1460. */
  mss?: number;
  /** Receive buffer, bytes: the window offered and the out-of-order bytes held. Default 4 MiB. */
  receiveBuffer?: number;
  /** Send buffer, bytes: `write` refuses what does not fit. Default 4 MiB. */
  sendBuffer?: number;
  /** RFC 6298 2.4 says 1 s; Linux uses 200 ms. Default 200. */
  minRtoMs?: number;
  maxRtoMs?: number;
  /** TIME-WAIT length (2 MSL). Default 60000. */
  timeWaitMs?: number;
  /** Give up a flow after this long without any ACK progress while data is outstanding. Default 120000. */
  userTimeoutMs?: number;
  /** How long after adopt() ACKs beyond SND.NXT are accepted. Default 3000. */
  adoptGraceMs?: number;
}

export interface TcpHooks {
  /** In-order received bytes (a view valid during the call). */
  onData?: (data: Uint8Array) => void;
  /** ESTABLISHED reached (handshake done). */
  onEstablished?: () => void;
  /** The peer sent FIN (no more data will come). */
  onPeerClosed?: () => void;
  /** The endpoint reached CLOSED; `why` is "closed", "reset", "timeout" or "aborted". */
  onClosed?: (why: string) => void;
}

/** What a server syncs so another can take the flow over (see the header). */
export interface FlowState {
  iss: number;
  irs: number;
  /** Our send MSS (min of the peer's and ours). */
  mss: number;
  /** Shift applied to the peer's window field / to ours (0 when scaling is off). */
  sndShift: number;
  rcvShift: number;
  sndNxt: number;
  rcvNxt: number;
}

export interface TcpCounters {
  segmentsIn: number;
  segmentsOut: number;
  retransmits: number;
  timeouts: number;
  fastRetransmits: number;
  outOfOrder: number;
  /** Out-of-order segments refused because the reassembly bounds were reached (reassembly.ts). */
  outOfOrderRefused: number;
  duplicates: number;
  outOfWindow: number;
  challengeAcks: number;
  bytesIn: number;
  bytesOut: number;
}

const MAX_WIN = 65535;
const DUPACK_THRESHOLD = 3;
const lt = (a: number, b: number) => ((a - b) | 0) < 0;
const le = (a: number, b: number) => ((a - b) | 0) <= 0;
const add = (a: number, n: number) => (a + n) >>> 0;
const diff = (a: number, b: number) => (a - b) | 0; // a - b as a signed 32-bit distance

export class TcpEndpoint {
  state: TcpState = "CLOSED";
  readonly counters: TcpCounters = {
    segmentsIn: 0,
    segmentsOut: 0,
    retransmits: 0,
    timeouts: 0,
    fastRetransmits: 0,
    outOfOrder: 0,
    outOfOrderRefused: 0,
    duplicates: 0,
    outOfWindow: 0,
    challengeAcks: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
  readonly localPort: number;
  readonly remotePort: number;
  iss: number;
  irs = 0;
  // Send sequence space (RFC 9293 3.3.1).
  sndUna: number;
  sndNxt: number;
  /** Peer's window, bytes (scaled). */
  sndWnd = 0;
  private sndWl1 = 0;
  private sndWl2 = 0;
  sndShift = 0;
  // Receive sequence space.
  rcvNxt = 0;
  rcvShift = 0;
  /** Send MSS: payload bytes per segment. */
  mss: number;
  private readonly ourMss: number;
  // Congestion control.
  cwnd: number;
  ssthresh = 0x7fffffff;
  private dupAcks = 0;
  private recover = 0;
  private inRecovery = false;
  private retransmitOne = false;
  // RTT / RTO (RFC 6298).
  srtt = 0;
  rttvar = 0;
  rto = 1000;
  private rttSeq = -1;
  private rttAt = 0;
  private rtoAt = 0; // 0 = timer off
  private backoff = 0;
  private lastProgress = 0;
  // Buffers. Send: bytes [head, tail) of sbuf are SND.UNA onwards (acked bytes dropped at head).
  private sbuf: Uint8Array;
  private head = 0;
  private tail = 0;
  private readonly rcvBuf: number;
  private readonly held: Reassembly;
  // Flags.
  private ackNow = false;
  private closeRequested = false;
  private finSent = false;
  private finSeq = 0;
  private synAcked = false;
  private timeWaitUntil = 0;
  private adoptedUntil = 0;
  private persistAt = 0;
  private readonly minRto: number;
  private readonly maxRto: number;
  private readonly timeWaitMs: number;
  private readonly userTimeoutMs: number;
  private readonly adoptGraceMs: number;
  private readonly wantShift: number;
  private outQ: Segment[] = [];
  /** Clock of the latest call (for transitions inside hooks that get no `now`). */
  private lastNow = 0;
  /** Highest sequence number sent so far (BSD's snd_max): SND.NXT moves back on go-back-N. */
  private highestSent = 0;

  constructor(
    o: TcpOptions,
    private readonly hooks: TcpHooks = {},
  ) {
    this.localPort = o.localPort;
    this.remotePort = o.remotePort;
    this.iss = o.iss >>> 0;
    this.sndUna = this.sndNxt = this.iss;
    this.ourMss = o.mss ?? 1460;
    this.mss = 536; // RFC 9293 3.7.1 default until the peer's MSS option is seen
    this.rcvBuf = o.receiveBuffer ?? 4 << 20;
    // One stored piece per 256 window bytes: ordinary segments (>= 536 bytes) never reach it,
    // 1-byte pieces cost at most a window's worth of headers.
    this.held = new Reassembly(64, Math.ceil(this.rcvBuf / 256) + 64);
    this.sbuf = new Uint8Array(o.sendBuffer ?? 4 << 20);
    this.minRto = o.minRtoMs ?? 200;
    this.maxRto = o.maxRtoMs ?? 60000;
    this.timeWaitMs = o.timeWaitMs ?? 60000;
    this.userTimeoutMs = o.userTimeoutMs ?? 120000;
    this.adoptGraceMs = o.adoptGraceMs ?? 3000;
    this.wantShift = windowShift(this.rcvBuf);
    this.cwnd = 10 * this.mss;
    this.highestSent = this.iss;
  }

  // ---- opening -------------------------------------------------------------------------

  /** Passive open: `syn` arrived for a listening port. The SYN-ACK comes out of the next poll. */
  static accept(o: TcpOptions, syn: Segment, now: number, hooks?: TcpHooks): TcpEndpoint {
    const e = new TcpEndpoint(o, hooks);
    e.irs = syn.seq;
    e.rcvNxt = add(syn.seq, 1);
    e.peerOptions(syn);
    e.sndWnd = syn.wnd; // never scaled in a SYN (RFC 7323 2.2)
    e.sndWl1 = syn.seq;
    e.state = "SYN-RECEIVED";
    e.lastProgress = now;
    e.armRto(now);
    return e;
  }

  /**
   * The SYN-ACK a stateless listener (SYN cookies, cookie.ts) sends for `syn`, with `iss` as its
   * ISS: the same options `accept` would offer, so `fromCookie` can rebuild the endpoint.
   */
  static synAck(o: TcpOptions, syn: Segment, iss: number): Segment {
    const rcvBuf = o.receiveBuffer ?? 4 << 20;
    return {
      srcPort: o.localPort,
      dstPort: o.remotePort,
      seq: iss >>> 0,
      ack: add(syn.seq, 1),
      flags: SYN | ACK,
      wnd: Math.min(rcvBuf, MAX_WIN),
      mss: o.mss ?? 1460,
      // Window scaling only when the peer offered it (RFC 7323 1.3).
      wscale: syn.wscale !== undefined ? windowShift(rcvBuf) : undefined,
      payload: EMPTY,
    };
  }

  /**
   * The endpoint a valid cookie's final ACK opens (ESTABLISHED; the caller then inputs that ACK):
   * `irs` is the peer's ISN, `o.iss` the cookie, `peer` the MSS and window shift it carried.
   */
  static fromCookie(
    o: TcpOptions,
    irs: number,
    peer: { mss: number; wscale: number | undefined },
    now: number,
    hooks?: TcpHooks,
  ): TcpEndpoint {
    const e = new TcpEndpoint(o, hooks);
    e.irs = irs >>> 0;
    e.rcvNxt = add(irs, 1);
    e.peerOptions({ srcPort: 0, dstPort: 0, seq: irs, ack: 0, flags: SYN, wnd: 0, payload: EMPTY, ...peer });
    e.sndUna = e.sndNxt = e.highestSent = add(e.iss, 1);
    e.synAcked = true;
    e.state = "ESTABLISHED";
    e.sndWl1 = e.irs; // the final ACK (SEQ = IRS + 1) sets the window
    e.sndWl2 = e.sndUna;
    e.lastProgress = now;
    return e;
  }

  /** Active open: the SYN comes out of the next poll. */
  connect(now: number): void {
    if (this.state !== "CLOSED") throw new Error(`connect in ${this.state}`);
    this.state = "SYN-SENT";
    this.lastProgress = now;
    this.armRto(now);
  }

  /** Takeover: ESTABLISHED from synced `st` and the first segment seen here (see the header). */
  static adopt(o: TcpOptions, st: FlowState, seg: Segment, now: number, hooks?: TcpHooks): TcpEndpoint {
    const e = new TcpEndpoint({ ...o, iss: st.iss }, hooks);
    e.irs = st.irs;
    e.mss = st.mss;
    e.sndShift = st.sndShift;
    e.rcvShift = st.rcvShift;
    e.synAcked = true;
    e.state = "ESTABLISHED";
    e.rcvNxt = seg.seq;
    e.sndUna = e.sndNxt = seg.flags & ACK ? seg.ack : st.sndNxt;
    e.sndWnd = seg.wnd << e.sndShift;
    e.sndWl1 = seg.seq;
    e.sndWl2 = e.sndUna;
    e.cwnd = 10 * e.mss;
    e.highestSent = e.sndNxt;
    e.adoptedUntil = now + e.adoptGraceMs;
    e.lastProgress = now;
    e.ackNow = true;
    return e;
  }

  /** The state another server needs to take this flow over. */
  flowState(): FlowState {
    return {
      iss: this.iss,
      irs: this.irs,
      mss: this.mss,
      sndShift: this.sndShift,
      rcvShift: this.rcvShift,
      sndNxt: this.sndNxt,
      rcvNxt: this.rcvNxt,
    };
  }

  private peerOptions(syn: Segment): void {
    if (syn.mss !== undefined) this.mss = Math.max(64, Math.min(syn.mss, this.ourMss));
    else this.mss = Math.min(536, this.ourMss);
    if (syn.wscale !== undefined) {
      this.sndShift = syn.wscale;
      this.rcvShift = this.wantShift;
    } else this.sndShift = this.rcvShift = 0;
    this.cwnd = Math.min(10 * this.mss, Math.max(2 * this.mss, 14600)); // RFC 6928
  }

  // ---- the application side ----------------------------------------------------------------

  /** Bytes that can still be written. */
  get writable(): number {
    if (this.closeRequested || !this.canSend()) return 0;
    return this.sbuf.length - (this.tail - this.head);
  }

  /** Out-of-order bytes held (at most the receive window). */
  get heldBytes(): number {
    return this.held.bytes;
  }

  /** Bytes written but not yet acknowledged. */
  get buffered(): number {
    return this.tail - this.head;
  }

  /** Queues all of `data` or none of it (false: buffer full or not sendable). */
  write(data: Uint8Array): boolean {
    if (data.length > this.writable) return false;
    if (this.tail + data.length > this.sbuf.length) {
      this.sbuf.copyWithin(0, this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    this.sbuf.set(data, this.tail);
    this.tail += data.length;
    return true;
  }

  /** Sends FIN after the queued data (RFC 9293 3.10.4). */
  close(now: number): void {
    if (this.state === "SYN-SENT" || this.state === "LISTEN") return this.toClosed("closed");
    if (this.closeRequested) return;
    this.closeRequested = true; // from SYN-RECEIVED: FIN-WAIT-1 once the SYN is acknowledged
    if (this.state === "ESTABLISHED") this.state = "FIN-WAIT-1";
    else if (this.state === "CLOSE-WAIT") this.state = "LAST-ACK";
    this.lastNow = now;
  }

  /** Sends RST and goes to CLOSED (RFC 9293 3.10.5). */
  abort(): void {
    if (this.state === "CLOSED") return;
    if (this.state !== "SYN-SENT" && this.state !== "TIME-WAIT")
      this.emit({ seq: this.highestSent, ack: 0, flags: RST, wnd: 0, payload: EMPTY });
    this.toClosed("aborted");
  }

  /** An ACK goes out at the next poll (what arrived while the host held its output back). */
  ackSoon(): void {
    this.ackNow = true;
  }

  /** Goes to CLOSED without sending anything (the flow moved to another server). */
  forget(): void {
    this.outQ = [];
    this.toClosed("forgotten");
  }

  private canSend(): boolean {
    return this.state === "ESTABLISHED" || this.state === "CLOSE-WAIT" || this.state === "SYN-RECEIVED";
  }

  // ---- input (RFC 9293 3.10.7) -------------------------------------------------------------

  input(seg: Segment, now: number): void {
    this.counters.segmentsIn++;
    this.lastNow = now;
    if (this.state === "CLOSED") return;
    if (this.state === "SYN-SENT") return this.inputSynSent(seg, now);
    const len = seg.payload.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);
    const wnd = this.rcvWindow();
    // First: sequence number acceptability.
    let ok: boolean;
    if (len === 0)
      ok = wnd === 0 ? seg.seq === this.rcvNxt : le(this.rcvNxt, seg.seq) && lt(seg.seq, add(this.rcvNxt, wnd));
    else
      ok =
        wnd > 0 &&
        ((le(this.rcvNxt, seg.seq) && lt(seg.seq, add(this.rcvNxt, wnd))) ||
          (le(this.rcvNxt, add(seg.seq, len - 1)) && lt(add(seg.seq, len - 1), add(this.rcvNxt, wnd))));
    if (!ok) {
      if (this.state === "SYN-RECEIVED" && seg.flags & SYN && seg.seq === this.irs) {
        this.ackNow = true; // retransmitted SYN: answer with the SYN-ACK again
        this.sndNxt = this.iss;
        return;
      }
      if (le(add(seg.seq, len), this.rcvNxt) || seg.seq === this.rcvNxt) this.counters.duplicates++;
      else this.counters.outOfWindow++;
      if (!(seg.flags & RST)) this.ackNow = true;
      // The peer's FIN again in TIME-WAIT (our ACK was lost): ACK it and restart the 2 MSL timer.
      if (this.state === "TIME-WAIT" && seg.flags & FIN && add(seg.seq, len) === this.rcvNxt)
        this.timeWaitUntil = now + this.timeWaitMs;
      return;
    }
    // Second: RST (RFC 5961 3.2: exact → reset, in window → challenge ACK).
    if (seg.flags & RST) {
      if (seg.seq === this.rcvNxt) return this.toClosed("reset");
      this.challenge();
      return;
    }
    // Fourth: SYN in a synchronized state → challenge ACK (RFC 5961 4, RFC 9293 3.10.7.4).
    if (seg.flags & SYN) {
      this.challenge();
      return;
    }
    // Fifth: ACK.
    if (!(seg.flags & ACK)) return;
    if (this.state === "SYN-RECEIVED") {
      if (lt(this.sndUna, seg.ack) && le(seg.ack, this.sndNxt)) {
        this.state = this.closeRequested ? "FIN-WAIT-1" : "ESTABLISHED";
        this.synAcked = true;
        this.sndUna = add(this.sndUna, 1); // the SYN
        this.sndWnd = seg.wnd << this.sndShift;
        this.sndWl1 = seg.seq;
        this.sndWl2 = seg.ack;
        this.backoff = 0;
        this.rtoAt = 0;
        this.hooks.onEstablished?.();
        if (this.closedNow()) return; // the hook may have aborted
      } else return; // an unacceptable ACK: RFC says RST; a relay never resets, it drops
    }
    if (!this.processAck(seg, now)) return;
    // Seventh and eighth: segment text and FIN (after the peer's FIN only retransmissions come).
    const st = this.state;
    if (st === "ESTABLISHED" || st === "FIN-WAIT-1" || st === "FIN-WAIT-2") {
      if (seg.payload.length > 0 || seg.flags & FIN) this.receiveData(seg);
    } else if (seg.payload.length > 0 || seg.flags & FIN) this.ackNow = true;
    if (st === "TIME-WAIT" && seg.flags & FIN) {
      this.ackNow = true; // retransmitted FIN: ACK it and restart the 2 MSL timer
      this.timeWaitUntil = now + this.timeWaitMs;
    }
  }

  private inputSynSent(seg: Segment, now: number): void {
    if (seg.flags & ACK && (le(seg.ack, this.iss) || lt(this.sndNxt, seg.ack))) {
      if (!(seg.flags & RST)) this.emit({ seq: seg.ack, ack: 0, flags: RST, wnd: 0, payload: EMPTY });
      return;
    }
    if (seg.flags & RST) {
      if (seg.flags & ACK) this.toClosed("reset");
      return;
    }
    if (!(seg.flags & SYN)) return;
    this.irs = seg.seq;
    this.rcvNxt = add(seg.seq, 1);
    this.peerOptions(seg);
    if (seg.flags & ACK) {
      this.sndUna = seg.ack;
      this.synAcked = true;
      this.state = "ESTABLISHED";
      this.sndWnd = seg.wnd << this.sndShift;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      this.rtoAt = 0;
      this.backoff = 0;
      this.lastProgress = now;
      this.ackNow = true;
      this.hooks.onEstablished?.();
    } else {
      this.state = "SYN-RECEIVED"; // simultaneous open
      this.sndNxt = this.iss;
      this.ackNow = true;
    }
  }

  private challenge(): void {
    this.counters.challengeAcks++;
    this.ackNow = true;
  }

  /** RFC 9293 3.10.7.4 fifth check; false when the segment is to be dropped. */
  private processAck(seg: Segment, now: number): boolean {
    const ack = seg.ack;
    // After go-back-N (SND.NXT moved back to SND.UNA) an ACK may cover bytes sent before: the
    // limit is the highest sequence ever sent (BSD's snd_max), not SND.NXT.
    if (lt(this.sndNxt, ack) && le(ack, this.highestSent)) {
      this.sndNxt = ack;
      // It may cover our FIN too (sent before the timeout cleared finSent): beyond all the data.
      if (this.closeRequested && !this.finSent && diff(ack, this.sndUna) > this.tail - this.head) {
        this.finSent = true;
        this.finSeq = add(ack, -1);
      }
    }
    if (lt(this.sndNxt, ack)) {
      if (now < this.adoptedUntil && diff(ack, this.sndNxt) <= 1 << 30) {
        // Taken over: the previous server sent these bytes; they are gone from the stream.
        const skip = Math.min(diff(ack, this.sndUna), this.tail - this.head);
        this.head += skip;
        this.sndUna = this.sndNxt = this.highestSent = ack;
        this.rttSeq = -1;
      } else {
        this.ackNow = true; // acks something not yet sent
        return false;
      }
    }
    if (lt(ack, this.sndUna)) return true; // old duplicate ACK: ignore the ACK, keep the text
    const acked = diff(ack, this.sndUna);
    const flight = diff(this.sndNxt, this.sndUna);
    if (acked > 0) {
      let dataAcked = acked;
      if (this.finSent && lt(this.finSeq, ack)) dataAcked--; // our FIN
      dataAcked = Math.min(dataAcked, this.tail - this.head);
      this.head += dataAcked;
      if (this.head === this.tail) this.head = this.tail = 0;
      this.sndUna = ack;
      this.counters.bytesOut += dataAcked;
      this.lastProgress = now;
      this.backoff = 0;
      if (this.rttSeq !== -1 && le(this.rttSeq, ack)) {
        this.sampleRtt(now - this.rttAt);
        this.rttSeq = -1;
      }
      if (this.inRecovery) {
        if (lt(ack, this.recover)) {
          // NewReno partial ACK (RFC 6582 3.2 step 3): retransmit the next hole, deflate.
          this.retransmitOne = true;
          this.cwnd = Math.max(this.mss, this.cwnd - acked + this.mss);
        } else {
          this.inRecovery = false;
          this.cwnd = Math.min(this.ssthresh, Math.max(flight - acked, 0) + this.mss);
        }
      } else if (this.cwnd < this.ssthresh) this.cwnd += Math.min(acked, this.mss);
      else this.cwnd += Math.max(1, Math.floor((this.mss * this.mss) / this.cwnd));
      this.dupAcks = 0;
      this.rtoAt = this.sndUna === this.sndNxt ? 0 : now + this.rto;
    } else if (
      seg.payload.length === 0 &&
      !(seg.flags & (SYN | FIN)) &&
      flight > 0 &&
      seg.wnd << this.sndShift === this.sndWnd
    ) {
      // RFC 5681 2 duplicate ACK.
      this.dupAcks++;
      if (this.dupAcks === DUPACK_THRESHOLD && !this.inRecovery) {
        this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
        this.cwnd = this.ssthresh + DUPACK_THRESHOLD * this.mss;
        this.recover = this.sndNxt;
        this.inRecovery = true;
        this.retransmitOne = true;
        this.counters.fastRetransmits++;
        this.rttSeq = -1;
      } else if (this.inRecovery) this.cwnd += this.mss;
    }
    // Window update (RFC 9293 3.10.7.4, SND.WL1/WL2 rule).
    if (lt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && le(this.sndWl2, ack))) {
      this.sndWnd = seg.wnd << this.sndShift;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (this.sndWnd > 0) this.persistAt = 0;
    }
    const finAcked = this.finSent && lt(this.finSeq, this.sndUna);
    switch (this.state) {
      case "FIN-WAIT-1":
        if (finAcked) this.state = "FIN-WAIT-2";
        break;
      case "CLOSING":
        if (finAcked) this.enterTimeWait(now);
        break;
      case "LAST-ACK":
        if (finAcked) {
          this.toClosed("closed");
          return false;
        }
        break;
    }
    return true;
  }

  private sampleRtt(r: number): void {
    // RFC 6298 2.2 / 2.3
    if (this.srtt === 0) {
      this.srtt = Math.max(r, 1);
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = Math.min(this.maxRto, Math.max(this.minRto, this.srtt + Math.max(1, 4 * this.rttvar)));
  }

  private receiveData(seg: Segment): void {
    let seq = seg.seq;
    let data = seg.payload;
    let fin = (seg.flags & FIN) !== 0;
    if (seg.flags & SYN) seq = add(seq, 1);
    const cut = diff(this.rcvNxt, seq);
    if (cut > 0) {
      if (cut >= data.length + (fin ? 1 : 0)) {
        this.ackNow = true;
        return;
      }
      data = data.subarray(Math.min(cut, data.length));
      seq = this.rcvNxt;
    }
    const room = this.rcvWindow();
    const beyond = diff(seq, this.rcvNxt);
    if (beyond + data.length > room) {
      data = data.subarray(0, Math.max(0, room - beyond)); // trim to the window (RFC 9293 3.10.7.4)
      fin = false;
    }
    this.ackNow = true;
    if (seq !== this.rcvNxt) {
      // RFC 5681 4.2: an out-of-order segment is acknowledged at once (a duplicate ACK).
      this.counters.outOfOrder++;
      if (data.length > 0 || fin) {
        const r = this.held.insert(seq, data, fin);
        if (r === "duplicate") this.counters.duplicates++;
        else if (r === "full") this.counters.outOfOrderRefused++;
      }
      this.emitAck();
      return;
    }
    const filling = !this.held.empty;
    this.deliver(data, fin);
    // Pull held bytes that are now in order.
    while (filling && this.state !== "CLOSED" && !fin) {
      const ready = this.held.popReady(this.rcvNxt);
      if (ready === null) {
        if (this.held.finSeq === this.rcvNxt) this.deliver(EMPTY, true);
        break;
      }
      for (let i = 0; i < ready.length && !this.closedNow(); i++) this.deliver(ready[i]!, false);
    }
    if (filling) this.emitAck(); // a segment that fills a hole is acknowledged at once too
  }

  private deliver(data: Uint8Array, fin: boolean): void {
    if (data.length > 0) {
      this.rcvNxt = add(this.rcvNxt, data.length);
      this.counters.bytesIn += data.length;
      this.hooks.onData?.(data);
      if (this.state === "CLOSED") return;
    }
    if (!fin) return;
    this.rcvNxt = add(this.rcvNxt, 1);
    this.held.clear();
    switch (this.state) {
      case "SYN-RECEIVED":
      case "ESTABLISHED":
        this.state = "CLOSE-WAIT";
        break;
      case "FIN-WAIT-1":
        this.state = this.finSent && lt(this.finSeq, this.sndUna) ? "TIME-WAIT" : "CLOSING";
        if (this.state === "TIME-WAIT") this.timeWaitUntil = this.lastNow + this.timeWaitMs;
        break;
      case "FIN-WAIT-2":
        this.state = "TIME-WAIT";
        this.timeWaitUntil = this.lastNow + this.timeWaitMs;
        break;
    }
    this.hooks.onPeerClosed?.();
  }

  /** State read through a call so the compiler does not narrow it across hooks and timers. */
  private closedNow(): boolean {
    return this.state === "CLOSED";
  }

  private enterTimeWait(now: number): void {
    this.state = "TIME-WAIT";
    this.timeWaitUntil = now + this.timeWaitMs;
    this.rtoAt = 0;
  }

  private toClosed(why: string): void {
    if (this.state === "CLOSED") return;
    this.state = "CLOSED";
    this.rtoAt = this.persistAt = this.timeWaitUntil = this.adoptedUntil = 0;
    this.held.clear();
    this.hooks.onClosed?.(why);
  }

  /** Window we offer, bytes (before scaling into the 16-bit field). In-order data is consumed
   *  at once (onData), so it stays the whole buffer; held out-of-order bytes lie inside it and
   *  never shrink it, so the peer's duplicate ACK detection (same window) works. */
  private rcvWindow(): number {
    return Math.min(this.rcvBuf, MAX_WIN << this.rcvShift);
  }

  private armRto(now: number): void {
    this.rtoAt = now + Math.min(this.maxRto, this.rto * 2 ** this.backoff);
  }

  // ---- output ------------------------------------------------------------------------------

  /** Earliest time poll() has timer work to do; Infinity when none. */
  nextDeadline(): number {
    let d = Infinity;
    if (this.rtoAt !== 0) d = this.rtoAt;
    if (this.persistAt !== 0) d = Math.min(d, this.persistAt);
    if (this.timeWaitUntil !== 0) d = Math.min(d, this.timeWaitUntil);
    if (this.adoptedUntil !== 0) d = Math.min(d, this.adoptedUntil);
    return d;
  }

  /** Runs timers and returns the segments to send now (payload views: see the header). */
  poll(now: number): Segment[] {
    this.lastNow = now;
    if (this.adoptedUntil !== 0 && now >= this.adoptedUntil) this.adoptedUntil = 0;
    if (this.state === "TIME-WAIT") {
      if (now >= this.timeWaitUntil) this.toClosed("closed");
      else if (this.ackNow) this.emitAck();
      return this.drain();
    }
    if (this.state === "CLOSED") return this.drain();
    if (this.rtoAt !== 0 && now >= this.rtoAt) this.onTimeout(now);
    if (this.closedNow()) return this.drain();
    if (this.state === "SYN-SENT") {
      if (this.sndNxt === this.iss) {
        this.emit({
          seq: this.iss,
          ack: 0,
          flags: SYN,
          wnd: Math.min(this.rcvWindow(), MAX_WIN),
          mss: this.ourMss,
          wscale: this.wantShift,
          payload: EMPTY,
        });
        this.sndNxt = add(this.iss, 1);
        this.highestSent = this.sndNxt;
        if (this.rtoAt === 0) this.armRto(now);
      }
      return this.drain();
    }
    if (this.state === "SYN-RECEIVED" && !this.synAcked) {
      if (this.sndNxt === this.iss) {
        // SYN-ACK: window scaling only when the peer offered it (RFC 7323 1.3).
        this.emit({
          seq: this.iss,
          ack: this.rcvNxt,
          flags: SYN | ACK,
          wnd: Math.min(this.rcvWindow(), MAX_WIN),
          mss: this.ourMss,
          wscale: this.rcvShift > 0 || this.sndShift > 0 ? this.rcvShift : undefined,
          payload: EMPTY,
        });
        this.sndNxt = add(this.iss, 1);
        this.highestSent = this.sndNxt;
        if (this.rtoAt === 0) this.armRto(now);
        this.ackNow = false;
      }
      return this.drain();
    }
    this.sendData(now);
    if (this.ackNow) this.emitAck();
    return this.drain();
  }

  private onTimeout(now: number): void {
    if (now - this.lastProgress > this.userTimeoutMs) {
      this.toClosed("timeout");
      return;
    }
    this.counters.timeouts++;
    // RFC 6298 5.5-5.7: back off, collapse the window (RFC 5681 3.1 eq. 4), go back to SND.UNA.
    const flight = diff(this.sndNxt, this.sndUna);
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.mss);
    this.cwnd = this.mss;
    this.inRecovery = false;
    this.dupAcks = 0;
    this.rttSeq = -1;
    this.backoff = Math.min(this.backoff + 1, 12);
    if (!this.synAcked)
      this.sndNxt = this.iss; // SYN or SYN-ACK again
    else {
      this.sndNxt = this.sndUna;
      if (this.finSent && lt(this.sndUna, add(this.finSeq, 1))) this.finSent = false;
      if (this.sndWnd === 0 && this.sndNxt === this.sndUna) this.persistAt = now; // probe
    }
    this.counters.retransmits++;
    this.armRto(now);
  }

  private sendData(now: number): void {
    if (this.retransmitOne) {
      this.retransmitOne = false;
      const n = Math.min(this.mss, this.tail - this.head, Math.max(0, diff(this.sndNxt, this.sndUna)));
      if (n > 0) {
        this.emitData(this.sndUna, this.sbuf.subarray(this.head, this.head + n), false);
        this.counters.retransmits++;
      }
    }
    const limit = Math.min(this.sndWnd, this.cwnd);
    for (;;) {
      const sent = diff(this.sndNxt, this.sndUna); // FIN included once sent
      const dataSent = Math.min(sent, this.tail - this.head);
      const unsent = this.tail - this.head - dataSent;
      const wantFin = this.closeRequested && !this.finSent;
      if (unsent === 0 && !wantFin) return;
      let room = limit - sent;
      if (unsent > 0 && room <= 0) {
        // Persist (RFC 9293 3.8.6.1): zero window, nothing in flight → a 1-byte probe after RTO;
        // the retransmission timer then repeats it with backoff.
        if (this.sndWnd !== 0 || sent !== 0) return;
        if (this.persistAt === 0) this.persistAt = now + this.rto;
        if (now < this.persistAt) return;
        room = 1;
        this.persistAt = 0; // the probe goes now; the retransmission timer repeats it
      }
      const n = Math.min(unsent, Math.max(0, room), this.mss);
      // Sender silly-window avoidance (RFC 9293 3.8.6.2.1): a short segment only when it is all
      // there is, or fills half the peer's largest window, or probes a zero window.
      if (n < unsent && n < this.mss && n * 2 < this.sndWnd && room !== 1) return;
      const fin = wantFin && n === unsent;
      if (n === 0 && !fin) return;
      const from = this.head + dataSent;
      this.emitData(this.sndNxt, this.sbuf.subarray(from, from + n), fin);
      if (lt(this.sndNxt, this.highestSent)) this.counters.retransmits++;
      else if (this.rttSeq === -1 && n > 0) {
        this.rttSeq = add(this.sndNxt, n);
        this.rttAt = now;
      }
      this.sndNxt = add(this.sndNxt, n + (fin ? 1 : 0));
      if (lt(this.highestSent, this.sndNxt)) this.highestSent = this.sndNxt;
      if (fin) {
        this.finSent = true;
        this.finSeq = add(this.sndNxt, -1);
      }
      if (this.rtoAt === 0) {
        this.armRto(now);
        this.lastProgress = now; // nothing was outstanding: idle time is no lack of progress
      }
      if (fin || room === 1) return;
    }
  }

  private emitData(seq: number, data: Uint8Array, fin: boolean): void {
    this.emit({
      seq,
      ack: this.rcvNxt,
      flags: ACK | (data.length > 0 ? PSH : 0) | (fin ? FIN : 0),
      wnd: this.rcvWindow() >>> this.rcvShift,
      payload: data,
    });
    this.ackNow = false;
  }

  private emitAck(): void {
    this.emit({
      // The highest sequence sent (BSD's snd_max): after a go-back-N, SND.NXT may lie below the
      // peer's RCV.NXT, which would make the ACK unacceptable there (RFC 9293 3.10.7.4).
      seq: this.highestSent,
      ack: this.rcvNxt,
      flags: ACK,
      wnd: this.rcvWindow() >>> this.rcvShift,
      payload: EMPTY,
    });
    this.ackNow = false;
  }

  private emit(s: Omit<Segment, "srcPort" | "dstPort">): void {
    this.counters.segmentsOut++;
    this.outQ.push({ srcPort: this.localPort, dstPort: this.remotePort, ...s });
  }

  private drain(): Segment[] {
    const q = this.outQ;
    if (q.length === 0) return NONE;
    this.outQ = [];
    return q;
  }
}

/** The window shift that lets a 16-bit window field offer `rcvBuf` (RFC 7323 2.3, at most 14). */
function windowShift(rcvBuf: number): number {
  let s = 0;
  while (s < 14 && MAX_WIN << s < rcvBuf) s++;
  return s;
}

const EMPTY = new Uint8Array(0);
const NONE: Segment[] = [];
