// The one IP view: IPv4 / IPv6 with UDP, TCP or ICMP echo, parsed once into a reusable view
// (offsets, lengths, protocol, ports, where the payload is) that the routing table, the TCP
// codec, the NAT rewrite and the plugins read; checksums verified; UDP packets built from scratch.
// Pure functions over Uint8Array; nothing here throws on any input (a packet that cannot be
// parsed gets an error code). The caller owns the view and reuses it (no allocation per packet).
//
//   IPv4  0 ver/ihl  1 tos  2 total length  4 id  6 flags/fragment offset  8 ttl  9 protocol
//         10 header checksum  12 source  16 destination  (options up to ihl*4)
//   IPv6  0 ver/traffic class/flow label  4 payload length  6 next header  7 hop limit
//         8 source  24 destination  (40 bytes; extension headers are not walked)
//   UDP   0 src port  2 dst port  4 length  6 checksum (IPv4: 0 = none; IPv6: 0 is invalid)
//   TCP   0 src port  2 dst port  4 seq  8 ack  12 data offset (<<4)  13 flags  14 window
//         16 checksum  18 urgent pointer
//   ICMP  0 type  1 code  2 checksum  4 identifier  6 sequence (echo: v4 8/0, v6 128/129)
//   pseudo-header sum  IPv4: src + dst + protocol + L4 length;  IPv6: src + dst + L4 length + next header
//                      (ICMPv4 has none; ICMPv6 has one, RFC 4443 2.3)
import { sum16 } from "./checksum.ts";

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMP6 = 58;

/** An IP packet's layout: offsets into the packet it was parsed from. */
export interface IpView {
  family: 4 | 6;
  proto: number;
  /** Offset of the source and destination addresses (length 4 or 16). */
  srcOff: number;
  dstOff: number;
  /** Offset of the L4 header (the IP header's length). */
  l4: number;
  /** End of the IP packet (from its length fields; the buffer may be longer). */
  end: number;
  /** IPv4 with MF set or a fragment offset (parseIpHeader accepts it; parseL4 refuses it). */
  fragment: boolean;
  /** UDP/TCP ports; for ICMP echo both are the identifier. Set by parseL4. */
  sport: number;
  dport: number;
  /** TCP flags, the ICMP type, 0 for UDP. Set by parseL4. */
  kind: number;
  /** Offset of the UDP payload, TCP data or ICMP echo data. Set by parseL4. */
  payload: number;
}

export const newIpView = (): IpView => ({
  family: 4,
  proto: 0,
  srcOff: 0,
  dstOff: 0,
  l4: 0,
  end: 0,
  fragment: false,
  sport: 0,
  dport: 0,
  kind: 0,
  payload: 0,
});

/** Why a packet was refused. */
export type IpError = "short" | "version" | "fragment" | "protocol" | "length" | "icmp-type";

/** The 32-bit big-endian word at p[o..o+4) (an IPv4 address). */
export const u32At = (p: Uint8Array, o: number): number =>
  ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;

/**
 * Fills the IP part of `v` (family, addresses, protocol, header length, end, fragment); null on
 * success. Any protocol; fragments are marked, not refused. For routing by address.
 */
export function parseIpHeader(p: Uint8Array, v: IpView): IpError | null {
  if (p.length < 1) return "short";
  const version = p[0]! >>> 4;
  if (version === 4) {
    v.family = 4;
    if (p.length < 20) return "short";
    const ihl = (p[0]! & 15) * 4;
    const end = (p[2]! << 8) | p[3]!;
    if (ihl < 20 || end < ihl || end > p.length) return "length";
    v.fragment = (((p[6]! & 0x3f) << 8) | p[7]!) !== 0; // MF or an offset
    v.proto = p[9]!;
    v.srcOff = 12;
    v.dstOff = 16;
    v.l4 = ihl;
    v.end = end;
    return null;
  }
  if (version === 6) {
    v.family = 6;
    if (p.length < 40) return "short";
    const end = 40 + ((p[4]! << 8) | p[5]!);
    if (end > p.length) return "length";
    v.fragment = false;
    v.proto = p[6]!;
    v.srcOff = 8;
    v.dstOff = 24;
    v.l4 = 40;
    v.end = end;
    return null;
  }
  return "version";
}

/**
 * parseIpHeader, then the UDP, TCP or ICMP echo header (ports, kind, payload); null on success. IPv4
 * fragments, IPv6 packets whose next header is not UDP/TCP/ICMPv6 (extension headers), ICMP other
 * than echo and reply, and headers that do not fit are refused.
 */
export function parseL4(p: Uint8Array, v: IpView): IpError | null {
  const e = parseIpHeader(p, v);
  if (e !== null) return e;
  if (v.fragment) return "fragment";
  const l4 = v.l4;
  let end = v.end;
  const proto = v.proto;
  if (proto === PROTO_UDP) {
    if (end - l4 < 8) return "length";
    const ulen = (p[l4 + 4]! << 8) | p[l4 + 5]!;
    if (ulen < 8 || ulen > end - l4) return "length";
    end = l4 + ulen; // IPv4 padding past the UDP length is not payload
    v.payload = l4 + 8;
    v.kind = 0;
  } else if (proto === PROTO_TCP) {
    if (end - l4 < 20) return "length";
    const off = (p[l4 + 12]! >>> 4) * 4;
    if (off < 20 || off > end - l4) return "length";
    v.payload = l4 + off;
    v.kind = p[l4 + 13]!;
  } else if (proto === (v.family === 4 ? PROTO_ICMP : PROTO_ICMP6)) {
    if (end - l4 < 8) return "length";
    const type = p[l4]!;
    if (v.family === 4 ? type !== 8 && type !== 0 : type !== 128 && type !== 129) return "icmp-type";
    v.kind = type;
    v.payload = l4 + 8;
    v.sport = v.dport = (p[l4 + 4]! << 8) | p[l4 + 5]!;
    v.end = end;
    return null;
  } else return "protocol";
  v.end = end;
  v.sport = (p[l4]! << 8) | p[l4 + 1]!;
  v.dport = (p[l4 + 2]! << 8) | p[l4 + 3]!;
  return null;
}

/** Pseudo-header sum for an L4 segment of `len` bytes between the addresses at p[srcOff..] (dst follows src). */
export function pseudoSum(p: Uint8Array, family: 4 | 6, srcOff: number, proto: number, len: number): number {
  const alen = family === 4 ? 8 : 32; // source and destination are adjacent in both families
  return sum16(p, srcOff, srcOff + alen) + proto + len;
}

/**
 * True when the IPv4 header checksum (IPv4) and the UDP/TCP/ICMP checksum verify. A UDP checksum
 * of 0 means "none" over IPv4 and is accepted; over IPv6 it is invalid (RFC 8200 8.1).
 * `v` must come from parseL4 on this packet.
 */
export function checksumsOk(p: Uint8Array, v: IpView): boolean {
  if (v.family === 4 && sum16(p, 0, v.l4) !== 0xffff) return false;
  if (v.proto === PROTO_UDP && p[v.l4 + 6] === 0 && p[v.l4 + 7] === 0) return v.family === 4;
  const len = v.end - v.l4;
  const start = v.proto === PROTO_ICMP ? 0 : pseudoSum(p, v.family, v.srcOff, v.proto, len);
  return sum16(p, v.l4, v.end, start) === 0xffff;
}

function put16(p: Uint8Array, o: number, v: number): void {
  p[o] = v >>> 8;
  p[o + 1] = v & 255;
}

/**
 * Writes a fresh IP header into out[0..] for `proto` from src to dst (4 or 16 bytes each) with
 * `l4len` bytes after it: TTL/hop limit 64, IPv4 DF set, id 0 (RFC 6864: atomic datagrams), the
 * IPv4 header checksum filled in. Returns the L4 offset (20 or 40).
 */
export function writeIpHeader(out: Uint8Array, src: Uint8Array, dst: Uint8Array, proto: number, l4len: number): number {
  if (src.length === 4) {
    out[0] = 0x45;
    out[1] = 0;
    put16(out, 2, 20 + l4len);
    out[4] = out[5] = 0;
    out[6] = 0x40;
    out[7] = 0;
    out[8] = 64;
    out[9] = proto;
    out[10] = out[11] = 0;
    out.set(src, 12);
    out.set(dst, 16);
    put16(out, 10, ~sum16(out, 0, 20) & 0xffff);
    return 20;
  }
  out[0] = 0x60;
  out[1] = out[2] = out[3] = 0;
  put16(out, 4, l4len);
  out[6] = proto;
  out[7] = 64;
  out.set(src, 8);
  out.set(dst, 24);
  return 40;
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
  const family = src.length === 4 ? 4 : 6;
  const p = new Uint8Array((family === 4 ? 20 : 40) + 8 + len);
  const l4 = writeIpHeader(p, src, dst, PROTO_UDP, 8 + len);
  put16(p, l4, sport);
  put16(p, l4 + 2, dport);
  put16(p, l4 + 4, 8 + len);
  p.set(len === payload.length ? payload : payload.subarray(0, len), l4 + 8);
  const c = ~sum16(p, l4, p.length, pseudoSum(p, family, family === 4 ? 12 : 8, PROTO_UDP, 8 + len)) & 0xffff;
  put16(p, l4 + 6, c === 0 ? 0xffff : c); // RFC 768: a computed 0 is sent as all ones
  return p;
}

/** The source and destination addresses of a parsed packet, as views into it. */
export const addresses = (p: Uint8Array, v: IpView): { src: Uint8Array; dst: Uint8Array } => {
  const alen = v.family === 4 ? 4 : 16;
  return { src: p.subarray(v.srcOff, v.srcOff + alen), dst: p.subarray(v.dstOff, v.dstOff + alen) };
};

/** The UDP reply to packet `p` (parsed into `v`): addresses and ports swapped, carrying payload[0, len). */
export function buildUdpReply(p: Uint8Array, v: IpView, payload: Uint8Array, len: number): Uint8Array {
  const a = addresses(p, v);
  return buildUdp(a.dst, a.src, v.dport, v.sport, payload, len);
}
