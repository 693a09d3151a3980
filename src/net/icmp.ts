// The ICMP errors a router sends when a packet does not fit the next hop, so path MTU discovery
// works through the tunnel (RFC 1191, RFC 8201):
//
//   IPv4, type 3 code 4 "fragmentation needed and DF set" (RFC 792, RFC 1191 4):
//     0 type=3  1 code=4  2-3 checksum (over the ICMP message)  4-5 unused=0  6-7 next-hop MTU
//     8-   the offending packet: as much as keeps the error within 576 bytes (RFC 1812 4.3.2.3)
//   IPv6, type 2 code 0 "packet too big" (RFC 4443 3.2):
//     0 type=2  1 code=0  2-3 checksum (pseudo-header included)  4-7 MTU
//     8-   the offending packet: as much as keeps the error within 1280 bytes (RFC 4443 2.4(c))
//
// The error is sent from the offending packet's destination address to its source, so it is
// routed back through the tunnel like any answer from that destination. No error answers an
// ICMP error, a packet to a multicast or broadcast address, a packet from an address that is not
// unicast, or an IPv4 fragment other than the first (RFC 1812 4.3.2.7, RFC 4443 2.4(e)).
// Pure functions over Uint8Array; the result is a new packet the caller owns.
import { checksum } from "./checksum.ts";
import { PROTO_ICMP, PROTO_ICMP6, pseudoSum, type IpView, writeIpHeader } from "./ip.ts";

const MAX_V4 = 576;
const MAX_V6 = 1280;

/** May an ICMP error be sent about packet `p` (parsed into `v` by parseIpHeader)? */
export function errorAllowed(p: Uint8Array, v: IpView): boolean {
  const s = v.srcOff;
  const d = v.dstOff;
  if (v.family === 4) {
    if ((((p[6]! & 0x1f) << 8) | p[7]!) !== 0) return false; // not the first fragment
    if (p[d]! >= 224 || p[s]! >= 224 || p[s] === 0 || p[s] === 127) return false; // multicast, broadcast, class E
    if (v.proto === PROTO_ICMP) {
      const t = p[v.l4]!;
      if (v.end - v.l4 < 1 || (t !== 0 && t !== 8 && t !== 13 && t !== 14)) return false; // errors (and unknown kinds)
    }
    return true;
  }
  if (p[d] === 0xff || p[s] === 0xff) return false; // multicast
  let unspecified = true;
  for (let i = 0; i < 16; i++) if (p[s + i] !== 0) unspecified = false;
  if (unspecified) return false;
  if (v.proto === PROTO_ICMP6 && (v.end - v.l4 < 1 || p[v.l4]! < 128)) return false; // an error (RFC 4443 2.4(e))
  return true;
}

/** IPv4 with DF set: a router may not fragment it. IPv6 routers never fragment. */
export function mayNotFragment(p: Uint8Array, v: IpView): boolean {
  return v.family === 6 || (p[6]! & 0x40) !== 0;
}

/**
 * "Fragmentation needed" / "packet too big" with `mtu` for packet `p` (parsed into `v` by
 * parseIpHeader), or null when no error may be sent (errorAllowed).
 */
export function buildTooBig(p: Uint8Array, v: IpView, mtu: number): Uint8Array | null {
  if (!errorAllowed(p, v)) return null;
  const v4 = v.family === 4;
  const alen = v4 ? 4 : 16;
  const hdr = v4 ? 20 : 40;
  const quoted = Math.min(v.end, (v4 ? MAX_V4 : MAX_V6) - hdr - 8);
  const out = new Uint8Array(hdr + 8 + quoted);
  // from the offending packet's destination, to its source
  writeIpHeader(
    out,
    p.subarray(v.dstOff, v.dstOff + alen),
    p.subarray(v.srcOff, v.srcOff + alen),
    v4 ? PROTO_ICMP : PROTO_ICMP6,
    8 + quoted,
  );
  const m = hdr;
  out[m] = v4 ? 3 : 2;
  out[m + 1] = v4 ? 4 : 0;
  if (v4) {
    out[m + 6] = (mtu >>> 8) & 255;
    out[m + 7] = mtu & 255;
  } else {
    out[m + 4] = mtu >>> 24;
    out[m + 5] = (mtu >>> 16) & 255;
    out[m + 6] = (mtu >>> 8) & 255;
    out[m + 7] = mtu & 255;
  }
  out.set(p.subarray(0, quoted), m + 8);
  const len = 8 + quoted;
  // IPv6: the pseudo-header (addresses, length, next header 58) is in the sum (RFC 4443 2.3)
  const ck = checksum(out, m, m + len, v4 ? 0 : pseudoSum(out, 6, 8, PROTO_ICMP6, len));
  out[m + 2] = ck >>> 8;
  out[m + 3] = ck & 255;
  return out;
}
