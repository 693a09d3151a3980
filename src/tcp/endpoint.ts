// A userspace TCP endpoint (RFC 9293; base.ts its state, sender.ts its sending half), pure: segments in (`input`), segments out (`poll`), the
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
import { ACK, FIN, RST, SYN, type Segment } from "./segment.ts";
import { EMPTY, MAX_WIN, windowShift } from "./base.ts";
import { TcpSender } from "./sender.ts";

import {
  add,
  diff,
  le,
  lt,
  type FlowState,
  type TcpCounters,
  type TcpHooks,
  type TcpOptions,
  type TcpState,
} from "./types.ts";

export type { FlowState, TcpCounters, TcpHooks, TcpOptions, TcpState };

export class TcpEndpoint extends TcpSender {
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
    e.cc.cwnd = 10 * e.mss;
    e.highestSent = e.sndNxt;
    e.adoptedUntil = now + e.adoptGraceMs;
    e.lastProgress = now;
    e.ackNow = true;
    return e;
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
        this.rtt.backoff = 0;
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
      this.rtt.backoff = 0;
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
      this.rtt.backoff = 0;
      if (this.rttSeq !== -1 && le(this.rttSeq, ack)) {
        this.rtt.sample(now - this.rttAt);
        this.rttSeq = -1;
      }
      this.cc.acked(ack, acked, flight, this.mss);
      this.rtoAt = this.sndUna === this.sndNxt ? 0 : now + this.rto;
    } else if (
      seg.payload.length === 0 &&
      !(seg.flags & (SYN | FIN)) &&
      flight > 0 &&
      seg.wnd << this.sndShift === this.sndWnd
    ) {
      // RFC 5681 2 duplicate ACK.
      if (this.cc.duplicate(flight, this.mss, this.sndNxt)) {
        this.counters.fastRetransmits++;
        this.rttSeq = -1;
      }
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
}
