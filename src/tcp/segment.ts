// TCP segments inside IPv4/IPv6 packets, as read from and written to the capture TUN.
//
//   IPv4 header (RFC 791)        IPv6 header (RFC 8200)       TCP header (RFC 9293 3.1)
//   0  ver/ihl                   0  ver/class/flow            0  source port       2  dest port
//   2  total length              4  payload length            4  sequence number
//   9  protocol (6)              6  next header (6)           8  acknowledgment number
//   10 header checksum           8  source (16)               12 data offset (high 4 bits, words)
//   12 source (4)                24 destination (16)          13 flags: CWR ECE URG ACK PSH RST SYN FIN
//   16 destination (4)           40 TCP                       14 window   16 checksum   18 urgent
//   IHL*4 TCP                                                 20 options: 0 EOL, 1 NOP, 2 MSS (4),
//                                                                3 window scale (3), others skipped
//
// parsePacket reads the segment from the one IP view (net/ip.ts parseL4: every length checked
// once), verifies the TCP checksum (pseudo-header of RFC 9293 3.1 / RFC 8200 8.1) and returns null
// for anything it cannot use: fragments, IPv6 extension headers, other protocols, bad checksums,
// truncated options. The payload it returns is a view into the caller's packet (valid as long as
// the packet is). buildPacket writes a whole packet into `out` (the IP header by net/ip.ts
// writeIpHeader) and returns its length; it never reads the payload past its length.
import { sum16 } from "../net/checksum.ts";
import {
  addresses,
  checksumsOk,
  type IpView,
  newIpView,
  parseL4,
  PROTO_TCP,
  pseudoSum,
  writeIpHeader,
} from "../net/ip.ts";

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

export interface Segment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  /** The raw 16-bit window field (not yet scaled). */
  wnd: number;
  /** Options, on SYN segments: MSS and window shift when present. */
  mss?: number | undefined;
  wscale?: number | undefined;
  payload: Uint8Array;
}

export interface Addresses {
  /** 4 or 16 bytes each. */
  src: Uint8Array;
  dst: Uint8Array;
}

export interface Parsed extends Addresses {
  seg: Segment;
}

const u16 = (p: Uint8Array, o: number) => (p[o]! << 8) | p[o + 1]!;
const u32 = (p: Uint8Array, o: number) => ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;

const scratch = newIpView();

/**
 * The TCP segment in an IPv4/IPv6 packet, or null (see the header for what is refused). `v` is
 * the caller's view, filled here (so a caller that answers with buildReset parses once).
 */
export function parsePacket(p: Uint8Array, v: IpView = scratch): Parsed | null {
  if (parseL4(p, v) !== null || v.proto !== PROTO_TCP || !checksumsOk(p, v)) return null;
  const off = v.l4;
  const optEnd = v.payload;
  const { src, dst } = addresses(p, v);
  const seg: Segment = {
    srcPort: v.sport,
    dstPort: v.dport,
    seq: u32(p, off + 4),
    ack: u32(p, off + 8),
    flags: v.kind & 0x3f,
    wnd: u16(p, off + 14),
    payload: p.subarray(v.payload, v.end),
  };
  for (let i = off + 20; i < optEnd;) {
    const kind = p[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= optEnd) return null;
    const len = p[i + 1]!;
    if (len < 2 || i + len > optEnd) return null;
    if (kind === 2 && len === 4) seg.mss = u16(p, i + 2);
    else if (kind === 3 && len === 3) seg.wscale = Math.min(14, p[i + 2]!); // RFC 7323 2.3: >14 is 14
    i += len;
  }
  return { src, dst, seg };
}

const EMPTY = new Uint8Array(0);

/**
 * The TCP reset answering segment `p` (parsed into `v` by parsePacket or parseL4) as a closed
 * port does (RFC 9293 3.10.7.1): to a segment with ACK, RST with seq = its ack; otherwise RST|ACK
 * with seq 0 and ack = its seq + data length (+1 for SYN, +1 for FIN). Null for a segment that is
 * itself a reset. A new packet the caller owns.
 */
export function buildReset(p: Uint8Array, v: IpView): Uint8Array | null {
  const flags = v.kind;
  if (flags & RST) return null;
  const t = v.l4;
  const seq = u32(p, t + 4);
  const len = v.end - v.payload + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);
  const seg: Segment =
    flags & ACK
      ? { srcPort: v.dport, dstPort: v.sport, seq: u32(p, t + 8), ack: 0, flags: RST, wnd: 0, payload: EMPTY }
      : {
          srcPort: v.dport,
          dstPort: v.sport,
          seq: 0,
          ack: (seq + len) >>> 0,
          flags: RST | ACK,
          wnd: 0,
          payload: EMPTY,
        };
  const a = addresses(p, v);
  const out = new Uint8Array((v.family === 4 ? 20 : 40) + 20);
  buildPacket(out, { src: a.dst, dst: a.src }, seg);
  return out;
}

/** Room `out` needs for a segment with this payload: IPv6 header, TCP header with options. */
export const packetRoom = (payload: number) => 40 + 28 + payload;

/** Writes the IP packet carrying `seg` from `a.src` to `a.dst` into `out`; returns its length. */
export function buildPacket(out: Uint8Array, a: Addresses, seg: Segment): number {
  let optLen = 0;
  if (seg.mss !== undefined) optLen += 4;
  if (seg.wscale !== undefined) optLen += 4; // NOP + 3
  const tcpLen = 20 + optLen + seg.payload.length;
  const ipLen = writeIpHeader(out, a.src, a.dst, PROTO_TCP, tcpLen);
  const total = ipLen + tcpLen;
  const t = ipLen;
  out[t] = seg.srcPort >>> 8;
  out[t + 1] = seg.srcPort & 255;
  out[t + 2] = seg.dstPort >>> 8;
  out[t + 3] = seg.dstPort & 255;
  out[t + 4] = seg.seq >>> 24;
  out[t + 5] = (seg.seq >>> 16) & 255;
  out[t + 6] = (seg.seq >>> 8) & 255;
  out[t + 7] = seg.seq & 255;
  out[t + 8] = seg.ack >>> 24;
  out[t + 9] = (seg.ack >>> 16) & 255;
  out[t + 10] = (seg.ack >>> 8) & 255;
  out[t + 11] = seg.ack & 255;
  out[t + 12] = ((20 + optLen) / 4) << 4;
  out[t + 13] = seg.flags;
  out[t + 14] = seg.wnd >>> 8;
  out[t + 15] = seg.wnd & 255;
  out[t + 16] = out[t + 17] = out[t + 18] = out[t + 19] = 0;
  let o = t + 20;
  if (seg.mss !== undefined) {
    out[o] = 2;
    out[o + 1] = 4;
    out[o + 2] = seg.mss >>> 8;
    out[o + 3] = seg.mss & 255;
    o += 4;
  }
  if (seg.wscale !== undefined) {
    out[o] = 1;
    out[o + 1] = 3;
    out[o + 2] = 3;
    out[o + 3] = seg.wscale;
    o += 4;
  }
  out.set(seg.payload, o);
  const c =
    ~sum16(out, t, total, pseudoSum(out, ipLen === 20 ? 4 : 6, ipLen === 20 ? 12 : 8, PROTO_TCP, tcpLen)) & 0xffff;
  out[t + 16] = c >>> 8;
  out[t + 17] = c & 255;
  return total;
}
