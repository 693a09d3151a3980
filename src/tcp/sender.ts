// The userspace TCP endpoint's sending half (endpoint.ts has the contract, base.ts the state):
// timers (retransmission, persist, TIME-WAIT), segments out (poll) with congestion control
// (congestion.ts) and the RTO (rtt.ts), the send window and silly-window avoidance. Pure: no
// I/O, the clock passed in.
import { ACK, FIN, PSH, SYN, type Segment } from "./segment.ts";
import { add, diff, lt } from "./types.ts";
import { EMPTY, MAX_WIN, TcpBase } from "./base.ts";

export abstract class TcpSender extends TcpBase {
  /** Window we offer, bytes (before scaling into the 16-bit field). In-order data is consumed
   *  at once (onData), so it stays the whole buffer; held out-of-order bytes lie inside it and
   *  never shrink it, so the peer's duplicate ACK detection (same window) works. */
  protected rcvWindow(): number {
    return Math.min(this.rcvBuf, MAX_WIN << this.rcvShift);
  }

  protected armRto(now: number): void {
    this.rtoAt = now + this.rtt.timeout();
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

  protected onTimeout(now: number): void {
    if (now - this.lastProgress > this.userTimeoutMs) {
      this.toClosed("timeout");
      return;
    }
    this.counters.timeouts++;
    // RFC 6298 5.5-5.7: back off, collapse the window (RFC 5681 3.1 eq. 4), go back to SND.UNA.
    const flight = diff(this.sndNxt, this.sndUna);
    this.cc.timeout(flight, this.mss);
    this.rttSeq = -1;
    this.rtt.backOff();
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

  protected sendData(now: number): void {
    if (this.cc.retransmitOne) {
      this.cc.retransmitOne = false;
      const n = Math.min(this.mss, this.tail - this.head, Math.max(0, diff(this.sndNxt, this.sndUna)));
      if (n > 0) {
        this.emitData(this.sndUna, this.sbuf.subarray(this.head, this.head + n), false);
        this.counters.retransmits++;
      }
    }
    const limit = Math.min(this.sndWnd, this.cc.cwnd);
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
        if (this.persistAt === 0) this.persistAt = now + this.rtt.rto;
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

  protected emitData(seq: number, data: Uint8Array, fin: boolean): void {
    this.emit({
      seq,
      ack: this.rcvNxt,
      flags: ACK | (data.length > 0 ? PSH : 0) | (fin ? FIN : 0),
      wnd: this.rcvWindow() >>> this.rcvShift,
      payload: data,
    });
    this.ackNow = false;
  }

  protected emitAck(): void {
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

  protected emit(s: Omit<Segment, "srcPort" | "dstPort">): void {
    this.counters.segmentsOut++;
    this.outQ.push({ srcPort: this.localPort, dstPort: this.remotePort, ...s });
  }

  protected drain(): Segment[] {
    const q = this.outQ;
    if (q.length === 0) return NONE;
    this.outQ = [];
    return q;
  }
}

/** The window shift that lets a 16-bit window field offer `rcvBuf` (RFC 7323 2.3, at most 14). */
export function windowShift(rcvBuf: number): number {
  let s = 0;
  while (s < 14 && MAX_WIN << s < rcvBuf) s++;
  return s;
}

const NONE: Segment[] = [];
