// UDP segmentation offload for TUN writes (a device opened with IFF_VNET_HDR): consecutive
// packets of one UDP flow, of one size (the last may be shorter), are written as ONE packet
// whose virtio_net_hdr asks the kernel to cut it back into those packets (gso_type UDP_L4,
// Linux ≥ 6.2). The kernel carries it through routing, netfilter and forwarding once and cuts it
// at the device or the receiving socket, recomputing each piece's lengths, IPv4 header checksum
// and UDP checksum (from the pseudo-header sum left in the field: NEEDS_CSUM). Pure functions
// over the packets as they would be written one by one.
//
//   virtio_net_hdr (10 bytes, little-endian: the legacy header, the host's byte order)
//     0  flags        u8   1 = NEEDS_CSUM (checksum from csum_start + csum_offset)
//     1  gso_type     u8   0 = none, 5 = UDP_L4
//     2  hdr_len      u16  IP + UDP header bytes
//     4  gso_size     u16  UDP payload bytes per piece
//     6  csum_start   u16  offset of the UDP header
//     8  csum_offset  u16  6 (the UDP checksum field)
//
// A run: IPv4 without options and not a fragment, or IPv6 with UDP as the first next header;
// every packet has the first one's version, addresses, ports, IPv4 TOS/flags/TTL or IPv6 traffic
// class/flow label/hop limit, a UDP length that matches its IP length, and a payload no larger
// than the first's (a smaller one ends the run). At most MAX_RUN packets and 65535 bytes of IP.
import { fold, sum16 } from "./checksum.ts";
import { pseudoSum } from "./ip.ts";

export const VNET_HDR = 10;
export const MAX_RUN = 64;
const GSO_UDP_L4 = 5;
const NEEDS_CSUM = 1;
const UDP = 17;

/** IP + UDP header bytes when `p` can be in a run (20 + 8 or 40 + 8), else 0. */
export function runHeader(p: Uint8Array): number {
  const n = p.length;
  if (n < 28) return 0;
  const v = p[0]! >> 4;
  if (v === 4) {
    if (p[0] !== 0x45 || p[9] !== UDP || ((p[6]! & 0x3f) | p[7]!) !== 0) return 0; // options, fragment
    if (((p[2]! << 8) | p[3]!) !== n || ((p[24]! << 8) | p[25]!) !== n - 20) return 0;
    return 28;
  }
  if (v === 6 && n >= 48 && p[6] === UDP) {
    if (((p[4]! << 8) | p[5]!) !== n - 40 || ((p[44]! << 8) | p[45]!) !== n - 40) return 0;
    return 48;
  }
  return 0;
}

/** True when `q` may follow `first` (header bytes `h`) in its run. */
function sameFlow(first: Uint8Array, q: Uint8Array, h: number): boolean {
  if (q.length > first.length || q.length <= h || runHeader(q) !== h) return false;
  if (h === 28) {
    // TOS, flags, TTL/protocol, addresses, ports (not the length, id or checksums)
    if (q[1] !== first[1] || q[6] !== first[6] || q[8] !== first[8]) return false;
    for (let i = 12; i < 24; i++) if (q[i] !== first[i]) return false;
    return true;
  }
  for (let i = 0; i < 4; i++) if (q[i] !== first[i]) return false; // version, class, flow label
  if (q[7] !== first[7]) return false;
  for (let i = 8; i < 44; i++) if (q[i] !== first[i]) return false;
  return true;
}

/** How many of pkts[i..n) form one run starting at pkts[i] (1 when it cannot be in one). */
export function runLength(pkts: readonly Uint8Array[], i: number, n: number): number {
  const first = pkts[i]!;
  const h = runHeader(first);
  if (h === 0) return 1;
  let k = 1;
  let bytes = first.length;
  while (i + k < n && k < MAX_RUN) {
    const q = pkts[i + k]!;
    if (bytes + q.length - h > 65535 || !sameFlow(first, q, h)) break;
    bytes += q.length - h;
    k++;
    if (q.length < first.length) break;
  }
  return k;
}

/**
 * Writes into `out` the virtio_net_hdr and the IP + UDP header of the run of `k` packets
 * pkts[i..i+k) (k ≥ 2); returns the bytes written (VNET_HDR + header). The run's payloads follow
 * it on the wire: pkts[j].subarray(header) for each j, in order.
 */
export function runPrefix(out: Uint8Array, pkts: readonly Uint8Array[], i: number, k: number): number {
  const first = pkts[i]!;
  const h = runHeader(first);
  let payload = 0;
  for (let j = i; j < i + k; j++) payload += pkts[j]!.length - h;
  const ip = h - 8;
  const p = runHead(out, first, h, GSO_UDP_L4, ip, 6);
  const udpLen = payload + 8;
  p[ip + 4] = udpLen >> 8;
  p[ip + 5] = udpLen & 255;
  setIpLength(p, ip, udpLen);
  const pseudo = fold(ip === 20 ? pseudoSum(p, 4, 12, UDP, udpLen) : pseudoSum(p, 6, 8, UDP, udpLen));
  // NEEDS_CSUM: the field holds the pseudo-header sum, not complemented
  p[ip + 6] = pseudo >> 8;
  p[ip + 7] = pseudo & 255;
  return VNET_HDR + h;
}

/**
 * The start of a run as written (uso.ts, tso.ts): a NEEDS_CSUM virtio_net_hdr of `gsoType` into
 * out[0, VNET_HDR) (the piece size is the first packet's payload), then the first packet's `h`
 * header bytes; returns the view of that header copy, for the caller to fix up.
 */
export function runHead(
  out: Uint8Array,
  first: Uint8Array,
  h: number,
  gsoType: number,
  ip: number,
  csumOffset: number,
) {
  out.fill(0, 0, VNET_HDR);
  out[0] = NEEDS_CSUM;
  out[1] = gsoType;
  out[2] = h;
  out[4] = (first.length - h) & 255;
  out[5] = (first.length - h) >> 8;
  out[6] = ip;
  out[8] = csumOffset;
  const p = out.subarray(VNET_HDR, VNET_HDR + h);
  p.set(first.subarray(0, h));
  return p;
}

/** Sets the IP length in header `p` for `l4` bytes after its `ip` header bytes: IPv4's total length (and a fresh header checksum) or IPv6's payload length. */
export function setIpLength(p: Uint8Array, ip: number, l4: number): void {
  if (p[0]! >> 4 === 6) {
    p[4] = l4 >> 8;
    p[5] = l4 & 255;
    return;
  }
  const total = ip + l4;
  p[2] = total >> 8;
  p[3] = total & 255;
  p[10] = 0;
  p[11] = 0;
  const c = ~sum16(p, 0, ip) & 0xffff;
  p[10] = c >> 8;
  p[11] = c & 255;
}
