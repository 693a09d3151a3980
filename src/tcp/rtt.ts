// The retransmission timer's estimator (RFC 6298): SRTT and RTTVAR from RTT samples (2.2, 2.3),
// RTO clamped to [min, max] (2.4, 2.5), exponential backoff on timeouts (5.5). Pure: the
// endpoint (endpoint.ts) feeds it samples (only of segments never retransmitted: Karn's rule)
// and asks it how long the timer runs.

export class RttEstimator {
  /** Smoothed RTT, ms (0 until the first sample). */
  srtt = 0;
  rttvar = 0;
  /** Retransmission timeout, ms (1 s until the first sample, RFC 6298 2.1). */
  rto = 1000;
  /** Timeouts in a row (the RTO doubles with each, up to 2^12). */
  backoff = 0;

  constructor(
    private readonly minRto: number,
    private readonly maxRto: number,
  ) {}

  sample(r: number): void {
    if (this.srtt === 0) {
      this.srtt = Math.max(r, 1);
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = Math.min(this.maxRto, Math.max(this.minRto, this.srtt + Math.max(1, 4 * this.rttvar)));
  }

  /** How long the retransmission timer runs now: the RTO backed off, at most the maximum. */
  timeout(): number {
    return Math.min(this.maxRto, this.rto * 2 ** this.backoff);
  }

  backOff(): void {
    this.backoff = Math.min(this.backoff + 1, 12);
  }
}
