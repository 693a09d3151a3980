// TCP segmentation offload for TUN writes (a device opened with IFF_VNET_HDR), the TCP twin of
// uso.ts: consecutive segments of one TCP connection, in sequence and of one size (the last may
// be shorter), are written as ONE packet whose virtio_net_hdr asks the kernel to cut it back
// into those segments (gso_type TCPV4 / TCPV6). The kernel carries it through routing, netfilter
// and forwarding once and cuts it at the device or hands it whole to a local TCP socket. Cutting
// gives each piece its sequence number, IPv4 id (first + i), lengths and checksums; PSH (of the
// last segment) only on the last piece. Pure functions over the packets as they would be written
// one by one; what the kernel cuts out is those packets again.
//
//   virtio_net_hdr (10 bytes, little-endian)
//     0  flags        u8   1 = NEEDS_CSUM
//     1  gso_type     u8   1 = TCPV4, 4 = TCPV6
//     2  hdr_len      u16  IP + TCP header bytes
//     4  gso_size     u16  TCP payload bytes per piece (the first segment's)
//     6  csum_start   u16  offset of the TCP header
//     8  csum_offset  u16  16 (the TCP checksum field)
//
// A run, as Linux's own GRO would merge it:
// - IPv4 without options and not a fragment, or IPv6 with TCP as the first next header; the IP
//   length matches the packet;
// - TCP with ACK set and none of SYN, FIN, RST, URG, CWR; PSH ends the run (it may be on the last);
//   a payload (pure ACKs are written one by one);
// - every segment has the first's IPv4 TOS/flags/TTL or IPv6 class/flow label/hop limit,
//   addresses, ports, acknowledgment number, header length, window, ECE and option bytes;
// - its sequence number follows the previous segment's payload, its IPv4 id the previous id + 1;
// - its payload is no larger than the first's (a smaller one ends the run);
// - its TCP checksum verifies: the kernel computes the pieces' checksums from their bytes, so a
//   segment that arrived damaged would leave here repaired; it is written alone instead, as it
//   came, for its receiver to drop.
// At most MAX_RUN segments and 65535 bytes of IP.
import { fold, sum16 } from "./checksum.ts";
import { pseudoSum } from "./ip.ts";
import { MAX_RUN, runHead, setIpLength, VNET_HDR } from "./uso.ts";

const TCP = 6;
const GSO_TCPV4 = 1;
const GSO_TCPV6 = 4;
const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;
const URG = 0x20;
const CWR = 0x80;

/**
 * IP header bytes when `p` is TCP over IPv4 (not a fragment; with `options`, any header length,
 * else 20) or over IPv6 with TCP as the first next header, its IP length matching; else 0.
 */
function ipHeader(p: Uint8Array, options = false): number {
  const n = p.length;
  if (n < 40) return 0;
  const v = p[0]! >> 4;
  if (v === 4) {
    const ihl = (p[0]! & 15) * 4;
    if (ihl < 20 || (ihl !== 20 && !options) || p[9] !== TCP || ((p[6]! & 0x3f) | p[7]!) !== 0) return 0;
    return ((p[2]! << 8) | p[3]!) === n ? ihl : 0;
  }
  if (v === 6 && n >= 60 && p[6] === TCP) return ((p[4]! << 8) | p[5]!) === n - 40 ? 40 : 0;
  return 0; // IPv6 extension headers before TCP: neither merged nor cut here
}

/** IP + TCP header bytes when `p` is a TCP segment that can be in a run, else 0. */
export function tcpRunHeader(p: Uint8Array): number {
  const ip = ipHeader(p);
  if (ip === 0) return 0;
  const h = ip + (p[ip + 12]! >> 4) * 4;
  if (h < ip + 20 || h >= p.length) return 0; // a header shorter than 20 bytes, past the end, or no payload
  const f = p[ip + 13]!;
  if ((f & ACK) === 0 || (f & (SYN | FIN | RST | URG | CWR)) !== 0) return 0;
  return h;
}

const u32 = (p: Uint8Array, o: number) => ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;

/** The pseudo-header sum of `p` (IPv4 or IPv6 by its version) for a TCP length of `len`, folded. */
function pseudo(p: Uint8Array, len: number): number {
  return fold(p[0]! >> 4 === 4 ? pseudoSum(p, 4, 12, TCP, len) : pseudoSum(p, 6, 8, TCP, len));
}

/** True when the TCP checksum of `p` (IP header bytes `ip`) verifies. */
export function tcpChecksumValid(p: Uint8Array, ip: number): boolean {
  return sum16(p, ip, p.length, pseudo(p, p.length - ip)) === 0xffff;
}

/** True when `q` may follow `prev` in the run that `first` (headers `h`, IP header `ip`) starts. */
function follows(first: Uint8Array, prev: Uint8Array, q: Uint8Array, h: number, ip: number): boolean {
  // the same first byte: the same IP version (and IPv4 header length) as the run's first
  if (q.length > first.length || q[0] !== first[0] || tcpRunHeader(q) !== h) return false;
  if (ip === 20) {
    // TOS, flags, TTL/protocol, addresses (not the length, id or checksum); the id follows
    if (q[1] !== first[1] || q[6] !== first[6] || q[8] !== first[8]) return false;
    for (let i = 12; i < 20; i++) if (q[i] !== first[i]) return false;
    if (((q[4]! << 8) | q[5]!) !== ((((prev[4]! << 8) | prev[5]!) + 1) & 0xffff)) return false;
  } else {
    for (let i = 0; i < 4; i++) if (q[i] !== first[i]) return false; // version, class, flow label
    for (let i = 7; i < 40; i++) if (q[i] !== first[i]) return false; // hop limit, addresses
  }
  // ports, acknowledgment number, header length, flags but PSH, window; then the options
  for (let i = ip; i < ip + 4; i++) if (q[i] !== first[i]) return false;
  for (let i = ip + 8; i < ip + 13; i++) if (q[i] !== first[i]) return false;
  if (
    (q[ip + 13]! & ~PSH) !== (first[ip + 13]! & ~PSH) ||
    q[ip + 14] !== first[ip + 14] ||
    q[ip + 15] !== first[ip + 15]
  )
    return false;
  for (let i = ip + 20; i < h; i++) if (q[i] !== first[i]) return false;
  return u32(q, ip + 4) === (u32(prev, ip + 4) + prev.length - h) >>> 0;
}

/** How many of pkts[i..n) form one TCP run starting at pkts[i] (1 when it cannot be in one). */
export function tcpRunLength(pkts: readonly Uint8Array[], i: number, n: number): number {
  const first = pkts[i]!;
  const h = tcpRunHeader(first);
  if (h === 0) return 1;
  const ip = ipHeader(first);
  if ((first[ip + 13]! & PSH) !== 0) return 1;
  let k = 1;
  let bytes = first.length;
  while (i + k < n && k < MAX_RUN) {
    const q = pkts[i + k]!;
    if (bytes + q.length - h > 65535 || !follows(first, pkts[i + k - 1]!, q, h, ip)) break;
    bytes += q.length - h;
    k++;
    if (q.length < first.length || (q[ip + 13]! & PSH) !== 0) break;
  }
  if (k === 1) return 1;
  // only segments that verify are merged: the run ends before the first that does not
  for (let j = 0; j < k; j++) if (!tcpChecksumValid(pkts[i + j]!, ip)) return j < 2 ? 1 : j;
  return k;
}

/**
 * Writes into `out` the virtio_net_hdr and the IP + TCP header of the run of `k` segments
 * pkts[i..i+k) (k ≥ 2, as tcpRunLength found it); returns the bytes written (VNET_HDR + header).
 * The run's payloads follow it on the wire: pkts[j].subarray(header) for each j, in order.
 */
export function tcpRunPrefix(out: Uint8Array, pkts: readonly Uint8Array[], i: number, k: number): number {
  const first = pkts[i]!;
  const last = pkts[i + k - 1]!;
  const h = tcpRunHeader(first);
  const ip = ipHeader(first);
  let payload = 0;
  for (let j = i; j < i + k; j++) payload += pkts[j]!.length - h;
  const p = runHead(out, first, h, ip === 20 ? GSO_TCPV4 : GSO_TCPV6, ip, 16);
  p[ip + 13] = first[ip + 13]! | (last[ip + 13]! & PSH);
  const tcpLen = h - ip + payload;
  setIpLength(p, ip, tcpLen);
  // NEEDS_CSUM: the field holds the pseudo-header sum (over the whole run's TCP length), not complemented
  const s = pseudo(p, tcpLen);
  p[ip + 16] = s >> 8;
  p[ip + 17] = s & 255;
  return VNET_HDR + h;
}

// Reading (a device opened with TUNSETOFFLOAD TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6): the kernel
// hands over a TCP connection's segments as one super-packet (gso_type TCPV4 / TCPV6, gso_size the
// MSS) with its checksum left partial, and other packets with NEEDS_CSUM and their checksum partial
// too. tsoPiece cuts as Linux's TCP segmentation does (tcp_gso_segment): sequence numbers step by
// the MSS, the IPv4 id by one, FIN and PSH only on the last piece, CWR only on the first, lengths
// and both checksums computed per piece. IPv4 options are copied into every piece; a
// super-packet with IPv6 extension headers before TCP, or flags TSO never carries (SYN, RST,
// URG), is refused (the device counts rxErrors). The virtio hdr_len is only a hint; the header
// length comes from the packet itself.

/** Completes the checksum a NEEDS_CSUM packet left partial (its field holds the pseudo-header sum); false when out of bounds. */
export function completeChecksum(p: Uint8Array, start: number, offset: number): boolean {
  const at = start + offset;
  if (start >= p.length || at + 2 > p.length) return false;
  const c = ~sum16(p, start, p.length) & 0xffff;
  // one that computes to 0 is stored as 0xffff: UDP needs it (RFC 768), and for TCP both verify
  const v = c === 0 ? 0xffff : c;
  p[at] = v >> 8;
  p[at + 1] = v & 255;
  return true;
}

/** IP + TCP header bytes of a super-packet of gso_type `gso` (1 TCPV4, 4 TCPV6) that can be cut, else 0. */
export function tsoHeader(p: Uint8Array, gso: number): number {
  const ip = ipHeader(p, true); // IPv4 options are copied into every piece
  const v4 = p[0]! >> 4 === 4;
  if (ip === 0 || v4 !== (gso === GSO_TCPV4) || !v4 !== (gso === GSO_TCPV6)) return 0;
  const h = ip + (p[ip + 12]! >> 4) * 4;
  if (h < ip + 20 || h >= p.length) return 0;
  if ((p[ip + 13]! & (SYN | RST | URG)) !== 0) return 0;
  return h;
}

/** How many pieces of `size` payload bytes the super-packet `p` (headers `h`) is cut into. */
export const tsoPieces = (p: Uint8Array, h: number, size: number): number => Math.ceil((p.length - h) / size);

/** Writes piece `j` of the super-packet `p` (headers `h`, MSS `size`) into `out`; returns its length. */
export function tsoPiece(p: Uint8Array, h: number, size: number, j: number, out: Uint8Array): number {
  const v4 = p[0]! >> 4 === 4;
  const ip = v4 ? (p[0]! & 15) * 4 : 40;
  const off = j * size;
  const len = Math.min(size, p.length - h - off);
  const n = h + len;
  out.set(p.subarray(0, h));
  out.set(p.subarray(h + off, h + off + len), h);
  const seq = (u32(p, ip + 4) + off) >>> 0;
  out[ip + 4] = seq >>> 24;
  out[ip + 5] = (seq >>> 16) & 255;
  out[ip + 6] = (seq >>> 8) & 255;
  out[ip + 7] = seq & 255;
  let f = p[ip + 13]!;
  if (h + off + len < p.length) f &= ~(FIN | PSH);
  if (j > 0) f &= ~CWR;
  out[ip + 13] = f;
  out[ip + 16] = 0;
  out[ip + 17] = 0;
  if (v4) {
    const id = (((p[4]! << 8) | p[5]!) + j) & 0xffff;
    out[4] = id >> 8;
    out[5] = id & 255;
  }
  setIpLength(out, ip, n - ip);
  const c = ~sum16(out, ip, n, pseudo(out, n - ip)) & 0xffff;
  out[ip + 16] = c >> 8;
  out[ip + 17] = c & 255;
  return n;
}
