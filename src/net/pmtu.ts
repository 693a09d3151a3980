// The tunnel's path MTU rules (issue 19), on the server between the clients and the plugin chain
// (and tooBig in the client roles too, for a device whose MTU was raised past `mtu`):
//   - clamp: a client's TCP SYN through the server announces at most the MSS that fits the
//     tunnel (config mssClamp; net/mss.ts), so TCP never sends what the tunnel cannot carry;
//   - tooBig: a client's inner packet over the tunnel's `mtu` that a router may not fragment
//     (IPv4 with DF, any IPv6) goes nowhere (no plugin sees it: the tunnel's MTU holds for every
//     destination, so a client whose device MTU is larger learns the tunnel's); its sender gets "fragmentation needed" / "packet too big"
//     with the MTU (net/icmp.ts), at most `icmpRate` errors per second (RFC 4443 2.4(f)), so path
//     MTU discovery through the tunnel works instead of a silent drop. IPv4 without DF is
//     forwarded as it is (the outer datagram may be fragmented).
// The caller owns the packets; clamp changes one in place, tooBig returns a new one.
import type { Config } from "../config.ts";
import { RateLimit } from "../rate.ts";
import { buildTooBig, mayNotFragment } from "./icmp.ts";
import { newIpView, parseIpHeader, parseL4 } from "./ip.ts";
import { clampMss, mssFor } from "./mss.ts";

export class PathMtu {
  /** SYNs whose MSS was lowered (mssClamp). */
  mssClamped = 0;
  /** Packets over `mtu` not forwarded; the ICMP errors sent for them, and those the rate held back. */
  readonly tooBigs = { dropped: 0, icmpSent: 0, icmpLimited: 0 };
  private readonly view = newIpView();
  private rate: RateLimit | null = null;
  private rateOf = -1;

  /** Lowers the MSS of a client's SYN in `inner` to what fits the tunnel. */
  clamp(inner: Uint8Array, cfg: Config): void {
    const m = cfg.mssClamp;
    if (m === false || inner.length < 40) return;
    // a cheap look first (TCP with SYN: at the IPv4 header's length, or at 40 + 13 for IPv6), so
    // only SYNs pay for the full parse
    const v4 = inner[0]! >>> 4 === 4;
    const syn = v4
      ? inner[9] === 6 && (inner[(inner[0]! & 15) * 4 + 13]! & 2) !== 0
      : inner[6] === 6 && (inner[53]! & 2) !== 0;
    if (!syn || parseL4(inner, this.view) !== null) return;
    const max = m === true ? mssFor(cfg.mtu, this.view.family) : m;
    if (clampMss(inner, this.view, max)) this.mssClamped++;
  }

  /**
   * For an inner packet over cfg.mtu: null when it may go on (IPv4 without DF, or not over),
   * else "drop", or the ICMP error to send to its sender instead.
   */
  tooBig(inner: Uint8Array, cfg: Pick<Config, "mtu" | "icmpRate">, now: number): Uint8Array | "drop" | null {
    if (inner.length <= cfg.mtu || parseIpHeader(inner, this.view) !== null) return null;
    if (this.view.end <= cfg.mtu || !mayNotFragment(inner, this.view)) return null;
    this.tooBigs.dropped++;
    if (this.rateOf !== cfg.icmpRate) {
      this.rateOf = cfg.icmpRate;
      this.rate = cfg.icmpRate > 0 ? new RateLimit(cfg.icmpRate, 0, 1000, now) : null;
    }
    if (this.rate === null || !this.rate.take(0, now)) {
      this.tooBigs.icmpLimited++;
      return "drop";
    }
    const icmp = buildTooBig(inner, this.view, cfg.mtu);
    if (icmp === null) return "drop";
    this.tooBigs.icmpSent++;
    return icmp;
  }
}
