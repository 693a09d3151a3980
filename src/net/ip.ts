// IPv4 / IPv6 with UDP or TCP: read a packet's addressing, verify its checksums, build UDP
// packets and TCP resets from scratch with correct checksums. Pure functions over Uint8Array;
// nothing here throws on any input (a packet that cannot be parsed gets an error code).
//
//   IPv4  0 ver/ihl  1 tos  2 total length  4 id  6 flags/fragment offset  8 ttl  9 protocol
//         10 header checksum  12 source  16 destination  (options up to ihl*4)
//   IPv6  0 ver/traffic class/flow label  4 payload length  6 next header  7 hop limit
//         8 source  24 destination  (40 bytes; extension headers are not walked)
//   UDP   0 src port  2 dst port  4 length  6 checksum (IPv4: 0 = none; IPv6: 0 is invalid)
//   TCP   0 src port  2 dst port  4 seq  8 ack  12 data offset (<<4)  13 flags  14 window
//         16 checksum  18 urgent pointer
//   pseudo-header sum  IPv4: src + dst + protocol + L4 length;  IPv6: src + dst + L4 length + next header
import { sum16 } from "./checksum.ts";

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;

/** Addressing of an IPv4/IPv6 UDP or TCP packet (offsets into the packet it was parsed from). */
export interface L4 {
  family: 4 | 6;
  proto: number;
  /** Offset of the source and destination addresses (length 4 or 16). */
  srcOff: number;
  dstOff: number;
  /** Offset of the UDP/TCP header. */
  l4: number;
  /** End of the IP packet (from its length field; the buffer may be longer). */
  end: number;
  sport: number;
  dport: number;
  /** Offset of the UDP payload or TCP data. */
  payload: number;
}

export const newL4 = (): L4 => ({
  family: 4,
  proto: 0,
  srcOff: 0,
  dstOff: 0,
  l4: 0,
  end: 0,
  sport: 0,
  dport: 0,
  payload: 0,
});

/** Why parseL4 refused a packet. */
export type L4Error = "short" | "version" | "fragment" | "protocol" | "length";

/**
 * Fills `f` from an IPv4 or IPv6 packet carrying UDP or TCP; null on success. IPv4 fragments and
 * IPv6 packets whose next header is not UDP/TCP (extension headers) are refused.
 */
export function parseL4(p: Uint8Array, f: L4): L4Error | null {
  if (p.length < 1) return "short";
  const version = p[0]! >>> 4;
  let l4: number, end: number, proto: number;
  if (version === 4) {
    if (p.length < 20) return "short";
    l4 = (p[0]! & 15) * 4;
    end = (p[2]! << 8) | p[3]!;
    if (l4 < 20 || end < l4 || end > p.length) return "length";
    if ((((p[6]! & 0x3f) << 8) | p[7]!) !== 0) return "fragment"; // MF or an offset
    proto = p[9]!;
    f.family = 4;
    f.srcOff = 12;
    f.dstOff = 16;
  } else if (version === 6) {
    if (p.length < 40) return "short";
    l4 = 40;
    end = 40 + ((p[4]! << 8) | p[5]!);
    if (end > p.length) return "length";
    proto = p[6]!;
    f.family = 6;
    f.srcOff = 8;
    f.dstOff = 24;
  } else return "version";
  if (proto === PROTO_UDP) {
    if (end - l4 < 8) return "length";
    const ulen = (p[l4 + 4]! << 8) | p[l4 + 5]!;
    if (ulen < 8 || ulen > end - l4) return "length";
    end = l4 + ulen; // IPv4 padding past the UDP length is not payload
    f.payload = l4 + 8;
  } else if (proto === PROTO_TCP) {
    if (end - l4 < 20) return "length";
    const off = (p[l4 + 12]! >>> 4) * 4;
    if (off < 20 || off > end - l4) return "length";
    f.payload = l4 + off;
  } else return "protocol";
  f.proto = proto;
  f.l4 = l4;
  f.end = end;
  f.sport = (p[l4]! << 8) | p[l4 + 1]!;
  f.dport = (p[l4 + 2]! << 8) | p[l4 + 3]!;
  return null;
}

/** Pseudo-header sum for an L4 segment of `len` bytes between the addresses at p[srcOff..]/p[dstOff..]. */
function pseudo(p: Uint8Array, family: 4 | 6, srcOff: number, proto: number, len: number): number {
  const alen = family === 4 ? 8 : 32; // source and destination are adjacent in both families
  return sum16(p, srcOff, srcOff + alen) + proto + len;
}

/**
 * True when the IPv4 header checksum (IPv4) and the UDP/TCP checksum verify. A UDP checksum of 0
 * means "none" over IPv4 and is accepted; over IPv6 it is invalid (RFC 8200 §8.1).
 * `f` must come from parseL4 on this packet.
 */
export function checksumsOk(p: Uint8Array, f: L4): boolean {
  if (f.family === 4 && sum16(p, 0, f.l4) !== 0xffff) return false;
  if (f.proto === PROTO_UDP && p[f.l4 + 6] === 0 && p[f.l4 + 7] === 0) return f.family === 4;
  const len = f.end - f.l4;
  return sum16(p, f.l4, f.end, pseudo(p, f.family, f.srcOff, f.proto, len)) === 0xffff;
}

function put16(p: Uint8Array, o: number, v: number): void {
  p[o] = v >>> 8;
  p[o + 1] = v & 255;
}

/** A fresh IP header for `proto` from src to dst with room for `l4len` bytes after it; returns [packet, l4 offset]. */
function ipHeader(src: Uint8Array, dst: Uint8Array, proto: number, l4len: number): [Uint8Array, number] {
  if (src.length === 4) {
    const p = new Uint8Array(20 + l4len);
    p[0] = 0x45;
    put16(p, 2, 20 + l4len);
    p[6] = 0x40; // DF; id 0 (RFC 6864: atomic datagrams)
    p[8] = 64;
    p[9] = proto;
    p.set(src, 12);
    p.set(dst, 16);
    put16(p, 10, ~sum16(p, 0, 20) & 0xffff);
    return [p, 20];
  }
  const p = new Uint8Array(40 + l4len);
  p[0] = 0x60;
  put16(p, 4, l4len);
  p[6] = proto;
  p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  return [p, 40];
}

/**
 * A complete IPv4 (src and dst 4 bytes) or IPv6 (16 bytes) UDP packet carrying payload[0, len),
 * TTL/hop limit 64, IPv4 DF set, both checksums filled in. src and dst must have the same length.
 */
export function buildUdp(
  src: Uint8Array,
  dst: Uint8Array,
  sport: number,
  dport: number,
  payload: Uint8Array,
  len = payload.length,
): Uint8Array {
  const [p, l4] = ipHeader(src, dst, PROTO_UDP, 8 + len);
  const family = src.length === 4 ? 4 : 6;
  put16(p, l4, sport);
  put16(p, l4 + 2, dport);
  put16(p, l4 + 4, 8 + len);
  p.set(len === payload.length ? payload : payload.subarray(0, len), l4 + 8);
  const c = ~sum16(p, l4, p.length, pseudo(p, family, family === 4 ? 12 : 8, PROTO_UDP, 8 + len)) & 0xffff;
  put16(p, l4 + 6, c === 0 ? 0xffff : c); // RFC 768: a computed 0 is sent as all ones
  return p;
}

/** The UDP reply to packet `p` (parsed into `f`): addresses and ports swapped, carrying payload[0, len). */
export function buildUdpReply(p: Uint8Array, f: L4, payload: Uint8Array, len: number): Uint8Array {
  const alen = f.family === 4 ? 4 : 16;
  return buildUdp(
    p.subarray(f.dstOff, f.dstOff + alen),
    p.subarray(f.srcOff, f.srcOff + alen),
    f.dport,
    f.sport,
    payload,
    len,
  );
}

/**
 * The TCP reset answering segment `p` (parsed into `f`) as a closed port does (RFC 9293 §3.10.7.1):
 * to a segment with ACK, RST with seq = its ack; otherwise RST|ACK with seq 0 and ack = its seq +
 * data length (+1 for SYN, +1 for FIN). Null for a segment that is itself a reset.
 */
export function buildTcpReset(p: Uint8Array, f: L4): Uint8Array | null {
  const t = f.l4;
  const flags = p[t + 13]!;
  if (flags & TCP_RST) return null;
  const alen = f.family === 4 ? 4 : 16;
  const [r, l4] = ipHeader(p.subarray(f.dstOff, f.dstOff + alen), p.subarray(f.srcOff, f.srcOff + alen), PROTO_TCP, 20);
  put16(r, l4, f.dport);
  put16(r, l4 + 2, f.sport);
  if (flags & TCP_ACK) {
    r.set(p.subarray(t + 8, t + 12), l4 + 4); // seq = their ack
    r[l4 + 13] = TCP_RST;
  } else {
    const seq = ((p[t + 4]! << 24) | (p[t + 5]! << 16) | (p[t + 6]! << 8) | p[t + 7]!) >>> 0;
    const segLen = f.end - f.payload + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
    const ack = (seq + segLen) >>> 0;
    r[l4 + 8] = ack >>> 24;
    r[l4 + 9] = (ack >>> 16) & 255;
    r[l4 + 10] = (ack >>> 8) & 255;
    r[l4 + 11] = ack & 255;
    r[l4 + 13] = TCP_RST | TCP_ACK;
  }
  r[l4 + 12] = 5 << 4;
  const family = f.family;
  put16(r, l4 + 16, ~sum16(r, l4, r.length, pseudo(r, family, family === 4 ? 12 : 8, PROTO_TCP, 20)) & 0xffff);
  return r;
}
