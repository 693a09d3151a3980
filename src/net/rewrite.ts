// IPv4 flow parsing and address/port rewriting for NAT, with checksums fixed incrementally
// (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')). Pure functions over Uint8Array; the caller owns
// the packet and the `Flow` it passes in. Only unfragmented IPv4 TCP, UDP and ICMP echo.
//
//   IPv4   0 ver/ihl  2 total length  6 flags/fragment offset  9 protocol  10 header checksum
//          12 source  16 destination          (options up to ihl*4)
//   TCP    0 src port  2 dst port  13 flags  16 checksum      (pseudo-header covers addresses)
//   UDP    0 src port  2 dst port  6 checksum (0 = none)      (pseudo-header covers addresses)
//   ICMP   0 type  2 checksum  4 identifier (echo 8 / echo reply 0; no pseudo-header)

import { sum16 } from "./checksum.ts";

export { sum16 };

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;

export interface Flow {
  proto: number;
  /** Offset of the L4 header. */
  l4: number;
  src: number; // u32
  dst: number; // u32
  /** Source port, or the ICMP echo identifier. */
  sport: number;
  /** Destination port, or the ICMP echo identifier. */
  dport: number;
  /** ICMP type (8 request, 0 reply); TCP flags for TCP; 0 for UDP. */
  kind: number;
}

export const newFlow = (): Flow => ({ proto: 0, l4: 0, src: 0, dst: 0, sport: 0, dport: 0, kind: 0 });

/** Why parseFlow refused a packet (for counting). */
export type FlowError = "short" | "not-ipv4" | "fragment" | "protocol" | "icmp-type";

/** Fills `f` from an IPv4 packet; returns null on success or the reason it cannot be NATed. */
export function parseFlow(p: Uint8Array, f: Flow): FlowError | null {
  if (p.length < 20) return "short";
  if (p[0]! >>> 4 !== 4) return "not-ipv4";
  const ihl = (p[0]! & 15) * 4;
  const total = (p[2]! << 8) | p[3]!;
  if (ihl < 20 || total < ihl || total > p.length) return "short";
  if ((((p[6]! & 0x3f) << 8) | p[7]!) !== 0) return "fragment"; // MF set or non-zero offset
  const proto = p[9]!;
  f.proto = proto;
  f.l4 = ihl;
  f.src = ((p[12]! << 24) | (p[13]! << 16) | (p[14]! << 8) | p[15]!) >>> 0;
  f.dst = ((p[16]! << 24) | (p[17]! << 16) | (p[18]! << 8) | p[19]!) >>> 0;
  if (proto === PROTO_TCP) {
    if (total < ihl + 20) return "short";
    f.sport = (p[ihl]! << 8) | p[ihl + 1]!;
    f.dport = (p[ihl + 2]! << 8) | p[ihl + 3]!;
    f.kind = p[ihl + 13]!;
    return null;
  }
  if (proto === PROTO_UDP) {
    if (total < ihl + 8) return "short";
    f.sport = (p[ihl]! << 8) | p[ihl + 1]!;
    f.dport = (p[ihl + 2]! << 8) | p[ihl + 3]!;
    f.kind = 0;
    return null;
  }
  if (proto === PROTO_ICMP) {
    if (total < ihl + 8) return "short";
    const type = p[ihl]!;
    if (type !== 8 && type !== 0) return "icmp-type";
    f.kind = type;
    f.sport = f.dport = (p[ihl + 4]! << 8) | p[ihl + 5]!;
    return null;
  }
  return "protocol";
}

function adjust(sum: number, oldWord: number, newWord: number): number {
  let s = (~sum & 0xffff) + (~oldWord & 0xffff) + newWord;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

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
 * `f` must come from parseFlow on this packet.
 */
export function rewrite(p: Uint8Array, f: Flow, which: 12 | 16, ip: number, port: number): void {
  const oldHi = get16(p, which);
  const oldLo = get16(p, which + 2);
  const newHi = ip >>> 16;
  const newLo = ip & 0xffff;
  put16(p, which, newHi);
  put16(p, which + 2, newLo);
  let h = get16(p, 10);
  h = adjust(adjust(h, oldHi, newHi), oldLo, newLo);
  put16(p, 10, h);
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
  let c = get16(p, ck);
  if (f.proto === PROTO_UDP && c === 0) return; // no UDP checksum: leave none
  c = adjust(adjust(adjust(c, oldHi, newHi), oldLo, newLo), oldPort, port);
  if (f.proto === PROTO_UDP && c === 0) c = 0xffff; // RFC 768: a computed 0 is sent as all ones
  put16(p, ck, c);
}

/** True when the IPv4 header and the TCP/UDP/ICMP checksum of `p` verify. */
export function checksumsOk(p: Uint8Array): boolean {
  const f = newFlow();
  if (parseFlow(p, f) !== null) return false;
  if (sum16(p, 0, f.l4) !== 0xffff) return false;
  const total = (p[2]! << 8) | p[3]!;
  if (f.proto === PROTO_ICMP) return sum16(p, f.l4, total) === 0xffff;
  if (f.proto === PROTO_UDP && get16(p, f.l4 + 6) === 0) return true;
  const pseudo = sum16(p, 12, 20) + f.proto + (total - f.l4);
  return sum16(p, f.l4, total, pseudo) === 0xffff;
}
