// The userspace TCP endpoint's state (endpoint.ts has the contract): sequence spaces, buffers,
// flags and counters, what the user does to it (write, close, abort, forget), and the moves to
// TIME-WAIT and CLOSED. sender.ts sends from it, endpoint.ts receives into it.
import { Reassembly } from "./reassembly.ts";
import { RST, type Segment } from "./segment.ts";
import { type FlowState, type TcpCounters, type TcpHooks, type TcpOptions, type TcpState } from "./types.ts";
import { RttEstimator } from "./rtt.ts";
import { NewReno } from "./congestion.ts";

export const MAX_WIN = 65535;
export const EMPTY = new Uint8Array(0);

/** The window shift that lets a 16-bit window field offer `rcvBuf` (RFC 7323 2.3, at most 14). */
export function windowShift(rcvBuf: number): number {
  let s = 0;
  while (s < 14 && MAX_WIN << s < rcvBuf) s++;
  return s;
}

export abstract class TcpBase {
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
  protected sndWl1 = 0;
  protected sndWl2 = 0;
  sndShift = 0;
  // Receive sequence space.
  rcvNxt = 0;
  rcvShift = 0;
  /** Send MSS: payload bytes per segment. */
  mss: number;
  protected readonly ourMss: number;
  /** Congestion control (RFC 5681 / 6582 NewReno; congestion.ts). */
  protected readonly cc = new NewReno();
  // RTT / RTO (RFC 6298): the estimator, and the segment being timed (Karn's rule).
  protected readonly rtt: RttEstimator;
  protected rttSeq = -1;
  protected rttAt = 0;
  protected rtoAt = 0; // 0 = timer off
  protected lastProgress = 0;
  // Buffers. Send: bytes [head, tail) of sbuf are SND.UNA onwards (acked bytes dropped at head).
  protected sbuf: Uint8Array;
  protected head = 0;
  protected tail = 0;
  protected readonly rcvBuf: number;
  protected readonly held: Reassembly;
  // Flags.
  protected ackNow = false;
  protected closeRequested = false;
  protected finSent = false;
  protected finSeq = 0;
  protected synAcked = false;
  protected timeWaitUntil = 0;
  protected adoptedUntil = 0;
  protected persistAt = 0;
  protected readonly timeWaitMs: number;
  protected readonly userTimeoutMs: number;
  protected readonly adoptGraceMs: number;
  protected readonly wantShift: number;
  protected outQ: Segment[] = [];
  /** Clock of the latest call (for transitions inside hooks that get no `now`). */
  protected lastNow = 0;
  /** Highest sequence number sent so far (BSD's snd_max): SND.NXT moves back on go-back-N. */
  protected highestSent = 0;

  /** Smoothed RTT, its variation and the retransmission timeout, ms (RFC 6298; rtt.ts). */
  get srtt(): number {
    return this.rtt.srtt;
  }
  get rttvar(): number {
    return this.rtt.rttvar;
  }
  get rto(): number {
    return this.rtt.rto;
  }
  /** Congestion window and slow-start threshold, bytes. */
  get cwnd(): number {
    return this.cc.cwnd;
  }
  get ssthresh(): number {
    return this.cc.ssthresh;
  }

  constructor(
    o: TcpOptions,
    protected readonly hooks: TcpHooks = {},
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
    this.rtt = new RttEstimator(o.minRtoMs ?? 200, o.maxRtoMs ?? 60000);
    this.timeWaitMs = o.timeWaitMs ?? 60000;
    this.userTimeoutMs = o.userTimeoutMs ?? 120000;
    this.adoptGraceMs = o.adoptGraceMs ?? 3000;
    this.wantShift = windowShift(this.rcvBuf);
    this.cc.cwnd = 10 * this.mss;
    this.highestSent = this.iss;
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

  protected peerOptions(syn: Segment): void {
    if (syn.mss !== undefined) this.mss = Math.max(64, Math.min(syn.mss, this.ourMss));
    else this.mss = Math.min(536, this.ourMss);
    if (syn.wscale !== undefined) {
      this.sndShift = syn.wscale;
      this.rcvShift = this.wantShift;
    } else this.sndShift = this.rcvShift = 0;
    this.cc.cwnd = Math.min(10 * this.mss, Math.max(2 * this.mss, 14600)); // RFC 6928
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

  protected canSend(): boolean {
    return this.state === "ESTABLISHED" || this.state === "CLOSE-WAIT" || this.state === "SYN-RECEIVED";
  }

  /** State read through a call so the compiler does not narrow it across hooks and timers. */
  protected closedNow(): boolean {
    return this.state === "CLOSED";
  }

  protected enterTimeWait(now: number): void {
    this.state = "TIME-WAIT";
    this.timeWaitUntil = now + this.timeWaitMs;
    this.rtoAt = 0;
  }

  protected toClosed(why: string): void {
    if (this.state === "CLOSED") return;
    this.state = "CLOSED";
    this.rtoAt = this.persistAt = this.timeWaitUntil = this.adoptedUntil = 0;
    this.held.clear();
    this.hooks.onClosed?.(why);
  }

  /** Queues a segment for the next poll (sender.ts). */
  protected abstract emit(s: Omit<Segment, "srcPort" | "dstPort">): void;
}
