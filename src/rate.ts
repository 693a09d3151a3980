// Per-client token buckets over authenticated packets (config `rateLimit`, a client's own
// `rateLimit` over it): packets/s and bytes/s, each with a burst of `burstMs` worth of its rate.
// Pure arithmetic on the hot path, the clock passed in (performance.now() ms); no allocation.
import type { RateConfig } from "./config.ts";

export class RateLimit {
  private pktTokens: number;
  private byteTokens: number;
  private readonly pktCap: number;
  private readonly byteCap: number;
  private last: number;

  constructor(
    readonly packetsPerSecond: number,
    readonly bytesPerSecond: number,
    burstMs: number,
    now: number,
  ) {
    this.pktCap = Math.max(1, (packetsPerSecond * burstMs) / 1000);
    this.byteCap = Math.max(2048, (bytesPerSecond * burstMs) / 1000); // at least one full packet
    this.pktTokens = this.pktCap;
    this.byteTokens = this.byteCap;
    this.last = now;
  }

  /** Takes one packet of `len` bytes; false when either bucket is empty (nothing is taken then). */
  take(len: number, now: number): boolean {
    const dt = Math.max(0, now - this.last) / 1000;
    this.last = now;
    const pps = this.packetsPerSecond,
      bps = this.bytesPerSecond;
    if (pps > 0) this.pktTokens = Math.min(this.pktCap, this.pktTokens + dt * pps);
    if (bps > 0) this.byteTokens = Math.min(this.byteCap, this.byteTokens + dt * bps);
    if ((pps > 0 && this.pktTokens < 1) || (bps > 0 && this.byteTokens < len)) return false;
    if (pps > 0) this.pktTokens -= 1;
    if (bps > 0) this.byteTokens -= len;
    return true;
  }
}

/** The limit for a client from the defaults and its override; null when neither rate is set. */
export function rateFor(defaults: RateConfig, over: Partial<RateConfig> | undefined, now: number): RateLimit | null {
  const pps = over?.packetsPerSecond ?? defaults.packetsPerSecond;
  const bps = over?.bytesPerSecond ?? defaults.bytesPerSecond;
  if (pps === 0 && bps === 0) return null;
  return new RateLimit(pps, bps, over?.burstMs ?? defaults.burstMs, now);
}
