// net/tso.ts: which queued TCP segments make one run, and the header a run is written with. The
// run is checked by cutting it as Linux's TCP segmentation does (sequence numbers, IPv4 id + i,
// lengths, checksums from the bytes, PSH only on the last piece): the pieces must be the queued
// segments again, byte for byte. The namespace test (e2e/tun-batch) has the kernel do the cutting.
import { describe, expect, test } from "bun:test";
import { checksum, sum16 } from "../src/net/checksum.ts";
import { VNET_HDR } from "../src/net/uso.ts";
import {
  completeChecksum,
  tcpChecksumValid,
  tcpRunHeader,
  tcpRunLength,
  tcpRunPrefix,
  tsoHeader,
  tsoPiece,
  tsoPieces,
} from "../src/net/tso.ts";
import { OffloadReader, offloadWanted } from "../src/tun-offload.ts";

interface Seg {
  seq?: number;
  id?: number;
  flags?: number;
  sport?: number;
  ack?: number;
  win?: number;
  ttl?: number;
  tos?: number;
  options?: number[];
  fill?: number;
}

function finish4(p: Uint8Array): Uint8Array {
  const c = checksum(p, 0, 20);
  p[10] = c >> 8;
  p[11] = c & 255;
  const t = checksum(p, 20, p.length, sum16(p, 12, 20, 6 + p.length - 20));
  p[36] = t >> 8;
  p[37] = t & 255;
  return p;
}

function tcpHeader(p: Uint8Array, at: number, payload: number, o: Seg): number {
  const opt = o.options ?? [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]; // NOP NOP timestamps
  const th = 20 + opt.length;
  const sp = o.sport ?? 40000;
  const seq = o.seq ?? 1000;
  const ack = o.ack ?? 7777;
  const win = o.win ?? 502;
  p.set([sp >> 8, sp & 255, 0x14, 0x51], at);
  p.set([seq >>> 24, (seq >>> 16) & 255, (seq >>> 8) & 255, seq & 255], at + 4);
  p.set([ack >>> 24, (ack >>> 16) & 255, (ack >>> 8) & 255, ack & 255], at + 8);
  p.set([(th / 4) << 4, o.flags ?? 0x10, win >> 8, win & 255, 0, 0, 0, 0], at + 12);
  p.set(opt, at + 20);
  for (let i = at + th; i < at + th + payload; i++) p[i] = ((o.fill ?? 1) * 31 + i) & 255;
  return th;
}

/** An IPv4/TCP segment with `payload` bytes, valid checksums. */
function tcp4(payload: number, o: Seg = {}): Uint8Array {
  const th = 20 + (o.options ?? [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]).length;
  const n = 20 + th + payload;
  const p = new Uint8Array(n);
  const id = o.id ?? 7;
  p.set([0x45, o.tos ?? 0, n >> 8, n & 255, id >> 8, id & 255, 0x40, 0, o.ttl ?? 64, 6, 0, 0]);
  p.set([10, 98, 0, 1, 203, 0, 113, 10], 12);
  tcpHeader(p, 20, payload, o);
  return finish4(p);
}

/** An IPv6/TCP segment. */
function tcp6(payload: number, o: Seg = {}): Uint8Array {
  const th = 20 + (o.options ?? [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]).length;
  const n = 40 + th + payload;
  const p = new Uint8Array(n);
  p.set([0x60, 0, 0, 5, (n - 40) >> 8, (n - 40) & 255, 6, o.ttl ?? 64]);
  p.set([0x20, 0x01, 0x0d, 0xb8], 8);
  p[23] = 1;
  p.set([0x20, 0x01, 0x0d, 0xb8], 24);
  p[39] = 2;
  tcpHeader(p, 40, payload, o);
  const t = checksum(p, 40, n, sum16(p, 8, 40, 6 + n - 40));
  p[56] = t >> 8;
  p[57] = t & 255;
  return p;
}

/** A flow of `k` segments of `size` bytes (the last `last` bytes), in sequence, ids + 1. */
function flow(make: typeof tcp4, k: number, size: number, last = size, o: Seg = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  let seq = o.seq ?? 1000;
  for (let j = 0; j < k; j++) {
    const len = j === k - 1 ? last : size;
    out.push(make(len, { ...o, seq, id: (o.id ?? 7) + j, fill: j + 1 }));
    seq += len;
  }
  return out;
}

/** Cuts a written run (virtio_net_hdr + packet) as Linux's TCP GSO does. */
function cut(wire: Uint8Array): Uint8Array[] {
  const hdrLen = wire[2]! | (wire[3]! << 8);
  const size = wire[4]! | (wire[5]! << 8);
  const ip = wire[6]! | (wire[7]! << 8);
  expect(wire[0]).toBe(1); // NEEDS_CSUM
  expect(wire[8]! | (wire[9]! << 8)).toBe(16);
  const p = wire.subarray(VNET_HDR);
  expect(wire[1]).toBe(ip === 20 ? 1 : 4);
  const total = p.length - hdrLen;
  // the field carries the pseudo-header sum over the whole run's TCP length
  const v4 = ip === 20;
  const tcpLen = p.length - ip;
  expect((p[ip + 16]! << 8) | p[ip + 17]!).toBe(v4 ? sum16(p, 12, 20, 6 + tcpLen) : sum16(p, 8, 40, 6 + tcpLen));
  if (v4) expect(sum16(p, 0, 20)).toBe(0xffff);
  const out: Uint8Array[] = [];
  const seq0 = ((p[ip + 4]! << 24) | (p[ip + 5]! << 16) | (p[ip + 6]! << 8) | p[ip + 7]!) >>> 0;
  const id0 = (p[4]! << 8) | p[5]!;
  for (let off = 0, j = 0; off < total; off += size, j++) {
    const len = Math.min(size, total - off);
    const s = new Uint8Array(hdrLen + len);
    s.set(p.subarray(0, hdrLen));
    s.set(p.subarray(hdrLen + off, hdrLen + off + len), hdrLen);
    const seq = (seq0 + off) >>> 0;
    s.set([seq >>> 24, (seq >>> 16) & 255, (seq >>> 8) & 255, seq & 255], ip + 4);
    if (off + len < total) s[ip + 13]! &= ~0x09; // PSH, FIN only on the last
    s[ip + 16] = 0;
    s[ip + 17] = 0;
    if (v4) {
      const n = s.length;
      const id = (id0 + j) & 0xffff;
      s.set([n >> 8, n & 255, id >> 8, id & 255], 2);
      s[10] = 0;
      s[11] = 0;
      finish4(s);
    } else {
      s[4] = (s.length - 40) >> 8;
      s[5] = (s.length - 40) & 255;
      const t = checksum(s, 40, s.length, sum16(s, 8, 40, 6 + s.length - 40));
      s[56] = t >> 8;
      s[57] = t & 255;
    }
    out.push(s);
  }
  return out;
}

/** The run pkts[i..i+k) as written: prefix, then every payload. */
function written(pkts: Uint8Array[], i: number, k: number): Uint8Array {
  const pre = new Uint8Array(VNET_HDR + 100);
  const head = tcpRunPrefix(pre, pkts, i, k);
  const h = head - VNET_HDR;
  const parts = [pre.subarray(0, head), ...pkts.slice(i, i + k).map((p) => p.subarray(h))];
  const wire = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of parts) {
    wire.set(x, o);
    o += x.length;
  }
  return wire;
}

test("which segments can be in a run at all", () => {
  expect(tcpRunHeader(tcp4(100))).toBe(52);
  expect(tcpRunHeader(tcp6(100))).toBe(72);
  expect(tcpRunHeader(tcp4(100, { options: [] }))).toBe(40);
  expect(tcpRunHeader(tcp4(0))).toBe(0); // a pure ACK
  for (const f of [0x02, 0x12, 0x11, 0x14, 0x04, 0x30, 0x90, 0x00])
    expect(tcpRunHeader(tcp4(100, { flags: f }))).toBe(0);
  const frag = tcp4(100);
  frag[6] = 0x20;
  expect(tcpRunHeader(frag)).toBe(0);
  const opts = tcp4(100);
  opts[0] = 0x46;
  expect(tcpRunHeader(opts)).toBe(0);
  const lying = tcp4(100);
  lying[3]! -= 1; // IP length that does not match
  expect(tcpRunHeader(lying)).toBe(0);
  const doff = tcp4(100);
  doff[32] = 0x40; // a 16-byte TCP header
  expect(tcpRunHeader(doff)).toBe(0);
  const long = tcp4(4, { options: [] });
  long[32] = 0xf0; // 60-byte header past the end
  expect(tcpRunHeader(long)).toBe(0);
  const ext = tcp6(100);
  ext[6] = 0; // hop-by-hop first
  expect(tcpRunHeader(ext)).toBe(0);
  expect(tcpRunHeader(tcp4(100).subarray(0, 39))).toBe(0);
  expect(tcpRunHeader(new Uint8Array(0))).toBe(0);
});

test("a run cut back as Linux cuts it gives the queued segments, IPv4 and IPv6", () => {
  for (const make of [tcp4, tcp6]) {
    const q = flow(make, 10, 1348, 700, { flags: 0x10 });
    q[9] = make(700, { seq: 1000 + 9 * 1348, id: 16, fill: 10, flags: 0x18 }); // PSH on the last
    expect(q.every((p) => tcpChecksumValid(p, p[0]! >> 4 === 4 ? 20 : 40))).toBe(true);
    expect(tcpRunLength(q, 0, q.length)).toBe(10);
    const back = cut(written(q, 0, 10));
    expect(back.length).toBe(10);
    for (let j = 0; j < 10; j++) expect([...back[j]!]).toEqual([...q[j]!]);
  }
});

test("anything that is not the next segment of the same connection ends the run", () => {
  const base = () => flow(tcp4, 4, 1000);
  const cases: [string, (q: Uint8Array[]) => void, number][] = [
    ["another port", (q) => (q[2] = tcp4(1000, { seq: 3000, id: 9, sport: 1 })), 2],
    ["a gap in sequence", (q) => (q[2] = tcp4(1000, { seq: 3001, id: 9 })), 2],
    ["a retransmission", (q) => (q[2] = tcp4(1000, { seq: 2000, id: 9 })), 2],
    ["an id that does not follow", (q) => (q[2] = tcp4(1000, { seq: 3000, id: 99 })), 2],
    ["another ack", (q) => (q[2] = tcp4(1000, { seq: 3000, id: 9, ack: 1 })), 2],
    ["another window", (q) => (q[2] = tcp4(1000, { seq: 3000, id: 9, win: 1 })), 2],
    ["another TTL", (q) => (q[2] = tcp4(1000, { seq: 3000, id: 9, ttl: 3 })), 2],
    ["another TOS (an ECN mark)", (q) => (q[2] = tcp4(1000, { seq: 3000, id: 9, tos: 3 })), 2],
    [
      "other options",
      (q) => (q[2] = tcp4(1000, { seq: 3000, id: 9, options: [1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 2] })),
      2,
    ],
    ["ECE on one", (q) => (q[2] = tcp4(1000, { seq: 3000, id: 9, flags: 0x50 })), 2],
    ["FIN", (q) => (q[2] = tcp4(1000, { seq: 3000, id: 9, flags: 0x11 })), 2],
    ["a larger one", (q) => (q[2] = tcp4(1001, { seq: 3000, id: 9 })), 2],
    ["a pure ACK", (q) => (q[2] = tcp4(0, { seq: 3000, id: 9 })), 2],
  ];
  expect(tcpRunLength(base(), 0, 4)).toBe(4);
  for (const [what, edit, k] of cases) {
    const q = base();
    edit(q);
    expect([what, tcpRunLength(q, 0, 4)]).toEqual([what, k]);
  }
  // a shorter one, or PSH, is the last of its run
  const short = base();
  short[1] = tcp4(500, { seq: 2000, id: 8 });
  expect(tcpRunLength(short, 0, 4)).toBe(2);
  const psh = base();
  psh[1] = tcp4(1000, { seq: 2000, id: 8, flags: 0x18 });
  expect(tcpRunLength(psh, 0, 4)).toBe(2);
  const pshFirst = base();
  pshFirst[0] = tcp4(1000, { seq: 1000, id: 7, flags: 0x18 });
  expect(tcpRunLength(pshFirst, 0, 4)).toBe(1);
  // the sequence space wraps
  const wrap = flow(tcp4, 3, 1000, 1000, { seq: 0xffffffff - 1500 });
  expect(tcpRunLength(wrap, 0, 3)).toBe(3);
  expect(cut(written(wrap, 0, 3)).map((p) => [...p])).toEqual(wrap.map((p) => [...p]));
});

test("a damaged segment is never merged (the kernel would write it with a fresh checksum)", () => {
  const q = flow(tcp4, 6, 1000);
  q[3]![100]! ^= 0x40; // payload bit flip after the checksum was made
  expect(tcpChecksumValid(q[3]!, 20)).toBe(false);
  expect(tcpRunLength(q, 0, 6)).toBe(3); // the run ends before it
  expect(tcpRunLength(q, 3, 6)).toBe(1); // it is written alone, as it came
  const bad0 = flow(tcp6, 3, 1000);
  bad0[0]![80]! ^= 1;
  expect(tcpRunLength(bad0, 0, 3)).toBe(1);
  const bad1 = flow(tcp4, 3, 1000);
  bad1[1]![80]! ^= 1;
  expect(tcpRunLength(bad1, 0, 3)).toBe(1); // a run of one is no run
});

test("at most 64 segments and 65535 bytes of IP in a run", () => {
  const many = flow(tcp4, 70, 100);
  expect(tcpRunLength(many, 0, 70)).toBe(64);
  const big = flow(tcp4, 60, 1400);
  const k = tcpRunLength(big, 0, 60);
  expect(52 + k * 1400).toBeLessThanOrEqual(65535);
  expect(52 + (k + 1) * 1400).toBeGreaterThan(65535);
  expect(cut(written(big, 0, k)).map((p) => [...p])).toEqual(big.slice(0, k).map((p) => [...p]));
});

/** What a TSO read gives: the super-packet of segments q (their payloads joined), `flags` on it. */
function superPacket(q: Uint8Array[], flags: number): Uint8Array {
  const wire = written(q, 0, q.length);
  const p = wire.slice(VNET_HDR);
  const ip = p[0]! >> 4 === 4 ? 20 : 40;
  p[ip + 13] = flags;
  return p;
}

/** Cuts with tsoPiece, as a device read does. */
function pieces(p: Uint8Array, gso: number, size: number): Uint8Array[] {
  const h = tsoHeader(p, gso);
  expect(h).toBeGreaterThan(0);
  const out = new Uint8Array(65536);
  return Array.from({ length: tsoPieces(p, h, size) }, (_, j) => out.slice(0, tsoPiece(p, h, size, j, out)));
}

test("reads: a super-packet is cut into the segments it was made of (IPv4, IPv6, sequence wrap)", () => {
  for (const [make, gso] of [
    [tcp4, 1],
    [tcp6, 4],
  ] as const) {
    const q = flow(make, 7, 1348, 111, { seq: 0xffffffff - 3000 });
    const got = pieces(superPacket(q, 0x10), gso, 1348);
    expect(got.map((p) => [...p])).toEqual(q.map((p) => [...p]));
  }
});

test("reads: FIN and PSH only on the last piece, CWR only on the first", () => {
  const q = flow(tcp4, 3, 1000, 500);
  const got = pieces(superPacket(q, 0x10 | 0x08 | 0x01 | 0x80), 1, 1000);
  expect(got.map((p) => p[33])).toEqual([0x90, 0x10, 0x19]);
  expect(got.every((p) => tcpChecksumValid(p, 20) && sum16(p, 0, 20) === 0xffff)).toBe(true);
});

test("reads: what is not a super-packet we asked for is refused (counted by the device)", () => {
  const p = superPacket(flow(tcp4, 2, 1000), 0x10);
  expect(tsoHeader(p, 4)).toBe(0); // IPv4 under gso_type TCPV6
  expect(tsoHeader(superPacket(flow(tcp6, 2, 1000), 0x10), 1)).toBe(0);
  expect(tsoHeader(p, 5)).toBe(0); // UDP_L4: not asked for
  for (const f of [0x12, 0x14, 0x30]) expect(tsoHeader(superPacket(flow(tcp4, 2, 1000), f), 1)).toBe(0);
  expect(tsoHeader(p.subarray(0, 52), 1)).toBe(0); // headers only
  const lying = p.slice();
  lying[2]! ^= 1; // IP length that does not match
  expect(tsoHeader(lying, 1)).toBe(0);
});

test("reads: a partial checksum (NEEDS_CSUM) is completed, UDP's zero as 0xffff; out of bounds refused", () => {
  const t = tcp4(300);
  const want = [t[36]!, t[37]!];
  const s = sum16(t, 12, 20, 6 + t.length - 20); // what the kernel leaves in the field
  t[36] = s >> 8;
  t[37] = s & 255;
  expect(completeChecksum(t, 20, 16)).toBe(true);
  expect([t[36], t[37]]).toEqual(want);
  // a UDP datagram whose checksum computes to zero
  const u = new Uint8Array(28 + 2);
  u.set([0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2, 0, 10]);
  const ps = sum16(u, 12, 20, 17 + 10);
  const rest = 0xffff - sum16(u, 20, 30, ps); // payload bytes that make the total all ones
  u[28] = rest >> 8;
  u[29] = rest & 255;
  u[26] = ps >> 8;
  u[27] = ps & 255;
  expect(completeChecksum(u, 20, 6)).toBe(true);
  expect([u[26], u[27]]).toEqual([0xff, 0xff]);
  expect(sum16(u, 20, 30, sum16(u, 12, 20, 17 + 10))).toBe(0xffff);
  expect(completeChecksum(t, t.length, 16)).toBe(false);
  expect(completeChecksum(t, 20, t.length - 21)).toBe(false);
});

test("reads: IPv4 options are copied into every piece; IPv6 extension headers are refused", () => {
  // segments with a 4-byte IPv4 option (three NOPs and EOL)
  const withOpt = (p: Uint8Array) => {
    const o = new Uint8Array(p.length + 4);
    o.set(p.subarray(0, 20));
    o.set([1, 1, 1, 0], 20);
    o.set(p.subarray(20), 24);
    o[0] = 0x46;
    o[2] = o.length >> 8;
    o[3] = o.length & 255;
    o[10] = o[11] = 0;
    const c = checksum(o, 0, 24);
    o[10] = c >> 8;
    o[11] = c & 255;
    return o; // the TCP checksum does not cover the IP header: unchanged
  };
  const q = flow(tcp4, 4, 1000, 300).map(withOpt);
  expect(q.every((p) => tcpChecksumValid(p, 24))).toBe(true);
  const h = 24 + 32;
  const sp = new Uint8Array(h + 3300);
  sp.set(q[0]!.subarray(0, h));
  q.forEach((p, j) => sp.set(p.subarray(h), h + j * 1000));
  sp[2] = sp.length >> 8;
  sp[3] = sp.length & 255;
  expect(tsoHeader(sp, 1)).toBe(h);
  expect(pieces(sp, 1, 1000).map((p) => [...p])).toEqual(q.map((p) => [...p]));
  const ext = superPacket(flow(tcp6, 2, 1000), 0x10);
  ext[6] = 0; // a hop-by-hop header first
  expect(tsoHeader(ext, 4)).toBe(0);
});

test("the offload policy: off while UDP carries over 3/4 of a second's bytes, on again once TCP carries over half", () => {
  const M = 1 << 20;
  expect(offloadWanted(true, 10 * M, 10 * M)).toBe(true);
  expect(offloadWanted(true, 3 * M, 9 * M)).toBe(true); // exactly 3/4 UDP: stays on
  expect(offloadWanted(true, 3 * M, 9 * M + 1)).toBe(false);
  expect(offloadWanted(false, 5 * M, 5 * M)).toBe(false); // half: stays off
  expect(offloadWanted(false, 5 * M + 1, 5 * M)).toBe(true);
  expect(offloadWanted(true, 0, M - 1)).toBe(true); // too little to judge: no change
  expect(offloadWanted(false, M - 1, 0)).toBe(false);
  expect(offloadWanted(false, 2 * M, 0)).toBe(true);
});

describe("OffloadReader.read: what an offload device does with each read", () => {
  const stats = () => ({
    rxPackets: 0,
    rxBytes: 0,
    rxErrors: 0,
    callbackErrors: 0,
    rxOffloaded: 0,
    offloadSwitches: 0,
  });
  const open = () => false;

  test("a super-packet is delivered as its segments; a throwing callback loses only its own; close stops it", () => {
    const q = flow(tcp4, 5, 1000, 400);
    const wire = written(q, 0, 5);
    const st = stats();
    const got: number[][] = [];
    const r = new OffloadReader(-1, st);
    expect(r.read(wire, wire.length, (p) => void got.push([...p]), open)).toBe(true);
    expect(got).toEqual(q.map((p) => [...p]));
    expect([st.rxOffloaded, st.rxPackets, st.rxErrors]).toEqual([1, 5, 0]);
    let calls = 0;
    r.read(
      wire,
      wire.length,
      () => {
        if (++calls === 2) throw new Error("bug");
      },
      open,
    );
    expect([calls, st.callbackErrors, st.rxPackets]).toEqual([5, 1, 10]);
    let n = 0;
    r.read(
      wire,
      wire.length,
      () => void n++,
      () => n >= 2,
    );
    expect(n).toBe(2);
  });

  test("a zero header is the caller's; a partial checksum is completed; what cannot be read is counted, not delivered", () => {
    const st = stats();
    const r = new OffloadReader(-1, st);
    const plain = new Uint8Array(VNET_HDR + 100);
    plain[VNET_HDR] = 0x45;
    expect(r.read(plain, plain.length, () => {}, open)).toBe(false);
    // NEEDS_CSUM over a TCP segment: the field holds the pseudo-header sum
    const seg = tcp4(300);
    const want = [seg[36]!, seg[37]!];
    const s = sum16(seg, 12, 20, 6 + seg.length - 20);
    seg[36] = s >> 8;
    seg[37] = s & 255;
    const csum = new Uint8Array(VNET_HDR + seg.length);
    csum.set([1, 0, 0, 0, 0, 0, 20, 0, 16, 0]);
    csum.set(seg, VNET_HDR);
    const got: Uint8Array[] = [];
    expect(r.read(csum, csum.length, (p) => void got.push(p.slice()), open)).toBe(true);
    expect([got[0]![36], got[0]![37]]).toEqual(want);
    const bad = csum.slice();
    bad[8] = (seg.length - 20) & 255; // checksum field past the end
    bad[9] = (seg.length - 20) >> 8;
    const badSize = written(flow(tcp4, 2, 1000), 0, 2);
    badSize[4] = badSize[5] = 0; // gso_size 0
    const udpL4 = written(flow(tcp4, 2, 1000), 0, 2);
    udpL4[1] = 5; // a gso type not asked for
    const ecn = written(flow(tcp4, 2, 1000), 0, 2);
    ecn[1] = 0x81; // TCPV4 | ECN: not asked for
    for (const b of [bad, badSize, udpL4, ecn]) expect(r.read(b, b.length, () => got.push(b), open)).toBe(true);
    expect(got.length).toBe(1);
    expect(st.rxErrors).toBe(4);
  });

  test("random headers over random packets never throw: each read is delivered or counted", () => {
    const st = stats();
    const r = new OffloadReader(-1, st);
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
    let delivered = 0;
    for (let t = 0; t < 3000; t++) {
      const base = t % 2 === 0 ? written(flow(t % 4 === 0 ? tcp4 : tcp6, 3, 500, 200), 0, 3) : null;
      const n = base ? base.length : VNET_HDR + 20 + (rnd() % 200);
      const b = base ?? Uint8Array.from({ length: n }, rnd);
      for (let i = 0; i < 1 + (rnd() % 4); i++) b[rnd() % (base ? 80 : n)] = rnd(); // damage the headers
      const before = st.rxPackets + st.rxErrors;
      const handled = r.read(b, n, () => void delivered++, open);
      if (handled) expect(st.rxPackets + st.rxErrors).toBeGreaterThan(before);
    }
    expect(delivered).toBeGreaterThan(0);
    expect(st.rxErrors).toBeGreaterThan(0);
  });
});
