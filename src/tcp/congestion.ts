// Congestion control of the userspace TCP endpoint (endpoint.ts): slow start and congestion
// avoidance (RFC 5681 3.1), fast retransmit on the third duplicate ACK (RFC 5681 3.2) and NewReno
// recovery with partial ACKs (RFC 6582 3.2), the collapse after a retransmission timeout
// (RFC 5681 3.1 eq. 4). Pure; the endpoint tells it what the ACKs did and asks for the window.
import { lt } from "./types.ts";

const DUPACK_THRESHOLD = 3;

export class NewReno {
  /** Congestion window, bytes (the endpoint sets the initial one, RFC 6928). */
  cwnd = 0;
  ssthresh = 0x7fffffff;
  /** The next send should retransmit the segment at SND.UNA (fast retransmit, partial ACK). */
  retransmitOne = false;
  private dupAcks = 0;
  private recover = 0;
  private inRecovery = false;

  /** `acked` new bytes up to `ack`, with `flight` bytes outstanding before it. */
  acked(ack: number, acked: number, flight: number, mss: number): void {
    if (this.inRecovery) {
      if (lt(ack, this.recover)) {
        // Partial ACK (RFC 6582 3.2 step 3): retransmit the next hole, deflate.
        this.retransmitOne = true;
        this.cwnd = Math.max(mss, this.cwnd - acked + mss);
      } else {
        this.inRecovery = false;
        this.cwnd = Math.min(this.ssthresh, Math.max(flight - acked, 0) + mss);
      }
    } else if (this.cwnd < this.ssthresh) this.cwnd += Math.min(acked, mss);
    else this.cwnd += Math.max(1, Math.floor((mss * mss) / this.cwnd));
    this.dupAcks = 0;
  }

  /** A duplicate ACK (RFC 5681 2); true when it starts fast retransmit. */
  duplicate(flight: number, mss: number, sndNxt: number): boolean {
    this.dupAcks++;
    if (this.dupAcks === DUPACK_THRESHOLD && !this.inRecovery) {
      this.ssthresh = Math.max(Math.floor(flight / 2), 2 * mss);
      this.cwnd = this.ssthresh + DUPACK_THRESHOLD * mss;
      this.recover = sndNxt;
      this.inRecovery = true;
      this.retransmitOne = true;
      return true;
    }
    if (this.inRecovery) this.cwnd += mss;
    return false;
  }

  /** The retransmission timer expired with `flight` bytes outstanding. */
  timeout(flight: number, mss: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * mss);
    this.cwnd = mss;
    this.inRecovery = false;
    this.dupAcks = 0;
  }
}
