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
// parsePacket checks every length once, verifies the TCP checksum (pseudo-header of RFC 9293
// 3.1 / RFC 8200 8.1) and returns null for anything it cannot use: fragments, IPv6 extension
// headers, other protocols, bad checksums, truncated options. The payload it returns is a view
// into the caller's packet (valid as long as the packet is). buildPacket writes a whole packet
// into `out` and returns its length; it never reads the payload past its length.
import { sum16 } from "../net/checksum.ts";

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

const PROTO_TCP = 6;

function pseudoSum(src: Uint8Array, dst: Uint8Array, tcpLen: number): number {
  let s = sum16(src, 0, src.length) + sum16(dst, 0, dst.length) + PROTO_TCP;
  if (src.length === 16) s += (tcpLen >>> 16) + (tcpLen & 0xffff);
  else s += tcpLen;
  return s;
}

const u16 = (p: Uint8Array, o: number) => (p[o]! << 8) | p[o + 1]!;
const u32 = (p: Uint8Array, o: number) => ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;

/** The TCP segment in an IPv4/IPv6 packet, or null (see the header for what is refused). */
export function parsePacket(p: Uint8Array): Parsed | null {
  if (p.length < 20) return null;
  const v = p[0]! >> 4;
  let src: Uint8Array, dst: Uint8Array, off: number, end: number;
  if (v === 4) {
    const ihl = (p[0]! & 15) * 4;
    const total = u16(p, 2);
    if (ihl < 20 || total < ihl || total > p.length || p[9] !== PROTO_TCP) return null;
    if ((u16(p, 6) & 0x3fff) !== 0) return null; // MF set or a fragment offset
    src = p.subarray(12, 16);
    dst = p.subarray(16, 20);
    off = ihl;
    end = total;
  } else if (v === 6) {
    if (p.length < 40 || p[6] !== PROTO_TCP) return null;
    end = 40 + u16(p, 4);
    if (end > p.length) return null;
    src = p.subarray(8, 24);
    dst = p.subarray(24, 40);
    off = 40;
  } else return null;
  const tcpLen = end - off;
  if (tcpLen < 20) return null;
  const doff = (p[off + 12]! >> 4) * 4;
  if (doff < 20 || doff > tcpLen) return null;
  if (sum16(p, off, end, pseudoSum(src, dst, tcpLen)) !== 0xffff) return null;
  const seg: Segment = {
    srcPort: u16(p, off),
    dstPort: u16(p, off + 2),
    seq: u32(p, off + 4),
    ack: u32(p, off + 8),
    flags: p[off + 13]! & 0x3f,
    wnd: u16(p, off + 14),
    payload: p.subarray(off + doff, end),
  };
  for (let i = off + 20; i < off + doff;) {
    const kind = p[i]!;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= off + doff) return null;
    const len = p[i + 1]!;
    if (len < 2 || i + len > off + doff) return null;
    if (kind === 2 && len === 4) seg.mss = u16(p, i + 2);
    else if (kind === 3 && len === 3) seg.wscale = Math.min(14, p[i + 2]!); // RFC 7323 2.3: >14 is 14
    i += len;
  }
  return { src, dst, seg };
}

/** Room `out` needs for a segment with this payload: IPv6 header, TCP header with options. */
export const packetRoom = (payload: number) => 40 + 28 + payload;

/** Writes the IP packet carrying `seg` from `a.src` to `a.dst` into `out`; returns its length. */
export function buildPacket(out: Uint8Array, a: Addresses, seg: Segment): number {
  const v6 = a.src.length === 16;
  const ipLen = v6 ? 40 : 20;
  let optLen = 0;
  if (seg.mss !== undefined) optLen += 4;
  if (seg.wscale !== undefined) optLen += 4; // NOP + 3
  const tcpLen = 20 + optLen + seg.payload.length;
  const total = ipLen + tcpLen;
  if (v6) {
    out[0] = 0x60;
    out[1] = out[2] = out[3] = 0;
    out[4] = tcpLen >>> 8;
    out[5] = tcpLen & 255;
    out[6] = PROTO_TCP;
    out[7] = 64;
    out.set(a.src, 8);
    out.set(a.dst, 24);
  } else {
    out[0] = 0x45;
    out[1] = 0;
    out[2] = total >>> 8;
    out[3] = total & 255;
    out[4] = out[5] = 0;
    out[6] = 0x40; // DF
    out[7] = 0;
    out[8] = 64;
    out[9] = PROTO_TCP;
    out[10] = out[11] = 0;
    out.set(a.src, 12);
    out.set(a.dst, 16);
    const c = ~sum16(out, 0, 20) & 0xffff;
    out[10] = c >>> 8;
    out[11] = c & 255;
  }
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
  const c = ~sum16(out, t, total, pseudoSum(a.src, a.dst, tcpLen)) & 0xffff;
  out[t + 16] = c >>> 8;
  out[t + 17] = c & 255;
  return total;
}
