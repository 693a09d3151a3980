// NAT address/port rewriting with checksums fixed incrementally (RFC 1624 eqn. 3:
// HC' = ~(~HC + ~m + m')), on a packet parsed into the one IP view (net/ip.ts parseL4). Pure
// functions over Uint8Array; the caller owns the packet and the view. TCP, UDP and ICMP echo
// (parseL4 refuses fragments and other ICMP), and ICMP errors about such packets (quotedPacket,
// rewriteQuoted: the quoted packet is mapped back like a reply); IPv4 here, IPv6 (NAT66: rewrite6,
// quotedPacket6, rewriteQuoted6) at the end.
//
//   ICMP error  0 type (3, 11, 12)  2 checksum  8.. the quoted IP header, then >= 8 bytes of its L4
//
//   IPv4   10 header checksum  12 source  16 destination
//   TCP    0 src port  2 dst port  16 checksum      (pseudo-header covers addresses)
//   UDP    0 src port  2 dst port  6 checksum (0 = none; pseudo-header covers addresses)
//   ICMP   2 checksum  4 identifier                 (no pseudo-header)
import { adjustChecksum as adjust, checksum } from "./checksum.ts";
import { type IpView, PROTO_ICMP, PROTO_ICMP6, PROTO_TCP, PROTO_UDP, pseudoSum } from "./ip.ts";

function get16(p: Uint8Array, o: number): number {
  return (p[o]! << 8) | p[o + 1]!;
}
function put16(p: Uint8Array, o: number, v: number): void {
  p[o] = v >>> 8;
  p[o + 1] = v & 255;
}

/**
 * Rewrites the source (which = 12) or destination (which = 16) address to `ip` and the matching
 * port (or the ICMP identifier) to `port`, fixing the IP header checksum and the L4 checksum.
 * `f` must come from parseL4 on this IPv4 packet, or from quotedPacket for the packet an ICMP
 * error quotes (offsets from the view; an L4 checksum past what is quoted is left alone).
 */
export function rewrite(p: Uint8Array, f: IpView, which: 12 | 16, ip: number, port: number): void {
  const at = which === 12 ? f.srcOff : f.dstOff;
  const oldHi = get16(p, at);
  const oldLo = get16(p, at + 2);
  const newHi = ip >>> 16;
  const newLo = ip & 0xffff;
  put16(p, at, newHi);
  put16(p, at + 2, newLo);
  const hc = f.srcOff - 2; // the header checksum (offset 10 of the IPv4 header)
  put16(p, hc, adjust(adjust(get16(p, hc), oldHi, newHi), oldLo, newLo));
  const l4 = f.l4;
  if (f.proto === PROTO_ICMP) {
    const oldId = get16(p, l4 + 4);
    put16(p, l4 + 4, port);
    put16(p, l4 + 2, adjust(get16(p, l4 + 2), oldId, port));
    return;
  }
  const portOff = l4 + (which === 12 ? 0 : 2);
  const oldPort = get16(p, portOff);
  put16(p, portOff, port);
  const ck = l4 + (f.proto === PROTO_TCP ? 16 : 6);
  if (ck + 2 > f.end) return; // a quoted TCP header cut after 8 bytes
  let c = get16(p, ck);
  if (f.proto === PROTO_UDP && c === 0) return; // no UDP checksum: leave none
  c = adjust(adjust(adjust(c, oldHi, newHi), oldLo, newLo), oldPort, port);
  if (f.proto === PROTO_UDP && c === 0) c = 0xffff; // RFC 768: a computed 0 is sent as all ones
  put16(p, ck, c);
}

/** ICMPv4 error types that quote the packet they are about (RFC 792): unreachable, time exceeded, parameter problem. */
const QUOTING = new Set([3, 11, 12]);

/**
 * The packet an ICMPv4 error in `p` quotes (RFC 792: its IP header and at least 8 bytes of what
 * followed), read into `q` with offsets into `p`; `outer` must come from parseIpHeader on `p`.
 * True for an error about a TCP or UDP packet or an echo request, first fragment, whose ports (or
 * identifier) are quoted; q.end is the end of what is quoted.
 */
export function quotedPacket(p: Uint8Array, outer: IpView, q: IpView): boolean {
  const l4 = outer.l4;
  const at = l4 + 8;
  if (outer.family !== 4 || outer.proto !== PROTO_ICMP || outer.fragment || outer.end < at + 28) return false;
  if (!QUOTING.has(p[l4]!) || p[at]! >>> 4 !== 4) return false;
  const hl = (p[at]! & 15) * 4;
  if (hl < 20 || outer.end < at + hl + 8) return false;
  if ((((p[at + 6]! & 0x1f) << 8) | p[at + 7]!) !== 0) return false; // not the first fragment
  return quotedAt(p, q, 4, p[at + 9]!, at + hl, at + 12, outer.end);
}

/**
 * Fills `q` with the quoted packet of `family` whose L4 header is at `e` (addresses at srcOff,
 * srcOff + 4 or 16): a TCP or UDP packet, or an echo request (only one of ours can be the cause
 * of an error) whose identifier stands for both ports. False for anything else.
 */
function quotedAt(
  p: Uint8Array,
  q: IpView,
  family: 4 | 6,
  proto: number,
  e: number,
  srcOff: number,
  end: number,
): boolean {
  const icmp = family === 4 ? PROTO_ICMP : PROTO_ICMP6;
  const echoRequest = family === 4 ? 8 : 128;
  if (proto === icmp) {
    if (p[e] !== echoRequest) return false;
    q.sport = q.dport = get16(p, e + 4);
    q.kind = echoRequest;
  } else if (proto === PROTO_TCP || proto === PROTO_UDP) {
    q.sport = get16(p, e);
    q.dport = get16(p, e + 2);
    q.kind = 0;
  } else return false;
  q.family = family;
  q.proto = proto;
  q.srcOff = srcOff;
  q.dstOff = srcOff + (family === 4 ? 4 : 16);
  q.l4 = e;
  q.payload = e + 8;
  q.end = end;
  q.fragment = false;
  return true;
}

/**
 * Maps an ICMPv4 error back to the inside (RFC 5508 4.2): the quoted packet's source becomes
 * `ip`:`port` (its header checksum and, where quoted, its UDP/TCP/ICMP checksum fixed
 * incrementally), the error's destination becomes `ip`, and the ICMP checksum is computed anew.
 * `outer` from parseIpHeader, `q` from quotedPacket on this packet.
 */
export function rewriteQuoted(p: Uint8Array, outer: IpView, q: IpView, ip: number, port: number): void {
  rewrite(p, q, 12, ip, port); // the quoted packet, as a reply to it would be mapped
  // the error itself: to the inside address, its checksum over the whole message anew
  const d = outer.dstOff;
  const dHi = get16(p, d);
  const dLo = get16(p, d + 2);
  put16(p, d, ip >>> 16);
  put16(p, d + 2, ip & 0xffff);
  put16(p, 10, adjust(adjust(get16(p, 10), dHi, ip >>> 16), dLo, ip & 0xffff));
  put16(p, outer.l4 + 2, 0);
  put16(p, outer.l4 + 2, checksum(p, outer.l4, outer.end));
}

// ---- IPv6 (NAT66) ---------------------------------------------------------------------------
//
//   IPv6   8 source  24 destination (no header checksum; the pseudo-header covers both in
//          TCP, UDP and ICMPv6 checksums, RFC 8200 8.1)
//   ICMPv6 2 checksum  4 identifier (echo)      errors: 0 type (1..4)  8.. the quoted packet

/** The L4 checksum field of a TCP/UDP/ICMPv6 packet at `l4`. */
const ck6 = (proto: number, l4: number) => l4 + (proto === PROTO_TCP ? 16 : proto === PROTO_UDP ? 6 : 2);

/**
 * rewrite for IPv6: the source (which = "src") or destination address becomes the 16 bytes `ip`,
 * the matching port (or the ICMPv6 echo identifier) `port`; the L4 checksum fixed incrementally.
 * `f` must come from parseL4 on this IPv6 packet, or from quotedPacket6 for a quoted one.
 */
export function rewrite6(p: Uint8Array, f: IpView, which: "src" | "dst", ip: Uint8Array, port: number): void {
  const off = which === "src" ? f.srcOff : f.dstOff;
  const l4 = f.l4;
  const ck = ck6(f.proto, l4);
  const has = ck + 2 <= f.end; // a quoted TCP header may be cut after 8 bytes
  let c = has ? get16(p, ck) : 0;
  for (let i = 0; i < 16; i += 2) {
    const w = (ip[i]! << 8) | ip[i + 1]!;
    c = adjust(c, get16(p, off + i), w);
    put16(p, off + i, w);
  }
  const portOff = f.proto === PROTO_ICMP6 ? l4 + 4 : l4 + (which === "src" ? 0 : 2);
  c = adjust(c, get16(p, portOff), port);
  put16(p, portOff, port);
  if (f.proto === PROTO_UDP && c === 0) c = 0xffff;
  if (has) put16(p, ck, c);
}

const QUOTING6 = new Set([1, 2, 3, 4]);

/**
 * quotedPacket for ICMPv6 errors (RFC 4443 2.4: as much of the packet as fits): an error about a
 * TCP, UDP or echo request packet without extension headers, whose ports are quoted.
 */
export function quotedPacket6(p: Uint8Array, outer: IpView, q: IpView): boolean {
  const l4 = outer.l4;
  const at = l4 + 8;
  if (outer.family !== 6 || outer.proto !== PROTO_ICMP6 || outer.end < at + 48) return false;
  if (!QUOTING6.has(p[l4]!) || p[at]! >>> 4 !== 6) return false;
  return quotedAt(p, q, 6, p[at + 6]!, at + 40, at + 8, outer.end);
}

/** rewriteQuoted for ICMPv6 errors: the quoted source and the error's destination become `ip`. */
export function rewriteQuoted6(p: Uint8Array, outer: IpView, q: IpView, ip: Uint8Array, port: number): void {
  rewrite6(p, q, "src", ip, port); // the quoted packet, as a reply to it would be mapped
  p.set(ip, outer.dstOff);
  const len = outer.end - outer.l4;
  put16(p, outer.l4 + 2, 0);
  put16(p, outer.l4 + 2, checksum(p, outer.l4, outer.end, pseudoSum(p, 6, outer.srcOff, PROTO_ICMP6, len)));
}
