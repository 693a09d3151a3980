// TCP segments in IPv4/IPv6 packets (src/tcp/segment.ts): buildPacket against packets made by
// hand here (own checksum code, own layout), round trips, everything parsePacket must refuse
// (null, never an exception), and a fuzz loop over random and mutated buffers.
import { describe, expect, test } from "bun:test";
import {
  ACK,
  buildPacket,
  FIN,
  packetRoom,
  parsePacket,
  PSH,
  RST,
  SYN,
  type Addresses,
  type Segment,
} from "../src/tcp/segment.ts";
import { prng } from "./lib/util.ts";

const SRC4 = new Uint8Array([192, 0, 2, 1]);
const DST4 = new Uint8Array([198, 51, 100, 7]);
const SRC6 = Uint8Array.from(Buffer.from("20010db8000000000000000000000001", "hex"));
const DST6 = Uint8Array.from(Buffer.from("20010db8000000000000000000000002", "hex"));
const V4: Addresses = { src: SRC4, dst: DST4 };
const V6: Addresses = { src: SRC6, dst: DST6 };

const hex = (p: Uint8Array) => Buffer.from(p).toString("hex");
const unhex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));

/** RFC 1071 one's-complement sum of 16-bit big-endian words, folded, written independently. */
function onesSum(parts: (Uint8Array | number[])[]): number {
  const bytes: number[] = [];
  for (const p of parts) bytes.push(...p);
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) + (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The pseudo-header of RFC 9293 3.1 (IPv4) or RFC 8200 8.1 (IPv6). */
function pseudo(src: Uint8Array, dst: Uint8Array, tcpLen: number): number[] {
  if (src.length === 4) return [...src, ...dst, 0, 6, tcpLen >> 8, tcpLen & 255];
  return [...src, ...dst, 0, 0, tcpLen >> 8, tcpLen & 255, 0, 0, 0, 6];
}

interface Raw {
  v6?: boolean;
  srcPort?: number;
  dstPort?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  wnd?: number;
  /** Option bytes (the caller keeps them a multiple of 4 unless testing bad offsets). */
  options?: number[];
  payload?: Uint8Array;
  /** Data offset in 32-bit words; default from the options. */
  doff?: number;
  /** IPv4 protocol / IPv6 next header. */
  proto?: number;
  /** IPv4 flags + fragment offset field. Default DF. */
  frag?: number;
}

/** A packet laid out by hand with correct checksums (so only the property under test is off). */
function raw(o: Raw = {}): Uint8Array {
  const v6 = o.v6 ?? false;
  const src = v6 ? SRC6 : SRC4;
  const dst = v6 ? DST6 : DST4;
  const opts = o.options ?? [];
  const payload = o.payload ?? new Uint8Array(0);
  const ipLen = v6 ? 40 : 20;
  const tcpLen = 20 + opts.length + payload.length;
  const p = new Uint8Array(ipLen + tcpLen);
  const dv = new DataView(p.buffer);
  if (v6) {
    p[0] = 0x60;
    dv.setUint16(4, tcpLen);
    p[6] = o.proto ?? 6;
    p[7] = 64;
    p.set(src, 8);
    p.set(dst, 24);
  } else {
    p[0] = 0x45;
    dv.setUint16(2, p.length);
    dv.setUint16(6, o.frag ?? 0x4000);
    p[8] = 64;
    p[9] = o.proto ?? 6;
    p.set(src, 12);
    p.set(dst, 16);
    dv.setUint16(10, ~onesSum([p.subarray(0, 20)]) & 0xffff);
  }
  const t = ipLen;
  dv.setUint16(t, o.srcPort ?? 51000);
  dv.setUint16(t + 2, o.dstPort ?? 443);
  dv.setUint32(t + 4, o.seq ?? 0x11223344);
  dv.setUint32(t + 8, o.ack ?? 0x55667788);
  p[t + 12] = (o.doff ?? (20 + opts.length) / 4) << 4;
  p[t + 13] = o.flags ?? ACK;
  dv.setUint16(t + 14, o.wnd ?? 4096);
  p.set(opts, t + 20);
  p.set(payload, t + 20 + opts.length);
  dv.setUint16(t + 16, ~onesSum([pseudo(src, dst, tcpLen), p.subarray(t)]) & 0xffff);
  return p;
}

/** Recomputes the TCP checksum of a well-formed packet (after a test changed its TCP bytes). */
function fixTcpChecksum(p: Uint8Array): void {
  const v6 = p[0]! >> 4 === 6;
  const t = v6 ? 40 : (p[0]! & 15) * 4;
  const end = v6 ? 40 + ((p[4]! << 8) | p[5]!) : (p[2]! << 8) | p[3]!;
  const src = v6 ? p.subarray(8, 24) : p.subarray(12, 16);
  const dst = v6 ? p.subarray(24, 40) : p.subarray(16, 20);
  p[t + 16] = p[t + 17] = 0;
  const c = ~onesSum([pseudo(src, dst, end - t), p.subarray(t, end)]) & 0xffff;
  p[t + 16] = c >> 8;
  p[t + 17] = c & 255;
}

function build(a: Addresses, seg: Segment): Uint8Array {
  const out = new Uint8Array(packetRoom(seg.payload.length));
  const n = buildPacket(out, a, seg);
  return out.slice(0, n);
}

const seg = (s: Partial<Segment> = {}): Segment => ({
  srcPort: 51000,
  dstPort: 443,
  seq: 0x11223344,
  ack: 0x55667788,
  flags: ACK,
  wnd: 4096,
  payload: new Uint8Array(0),
  ...s,
});

describe("known-good packets", () => {
  // Laid out and checksummed by an independent script (Python struct + RFC 1071 sum).
  const SYN4 = "450000300000400040064e8cc0000201c6336407c73801bbdeadbeef000000007002ffff314b0000020405b401030307";
  const DATA6 =
    "600000000021064020010db800000000000000000000000120010db800000000000000000000000201bbc73801020304" +
    "fffffff0501804d22142000068656c6c6f2c20776f726c6421";

  test("IPv4 SYN with MSS and wscale: built byte for byte, parsed back", () => {
    const s = seg({ seq: 0xdeadbeef, ack: 0, flags: SYN, wnd: 65535, mss: 1460, wscale: 7 });
    expect(hex(build(V4, s))).toBe(SYN4);
    const p = parsePacket(unhex(SYN4));
    expect(p).not.toBeNull();
    expect([...p!.src]).toEqual([...SRC4]);
    expect([...p!.dst]).toEqual([...DST4]);
    expect(p!.seg).toEqual(s);
  });

  test("IPv6 data segment with an odd payload length: built byte for byte, parsed back", () => {
    const s = seg({
      srcPort: 443,
      dstPort: 51000,
      seq: 0x01020304,
      ack: 0xfffffff0,
      flags: ACK | PSH,
      wnd: 1234,
      payload: new TextEncoder().encode("hello, world!"),
    });
    expect(hex(build(V6, s))).toBe(DATA6);
    const p = parsePacket(unhex(DATA6));
    expect(p).not.toBeNull();
    expect([...p!.src]).toEqual([...SRC6]);
    expect(new TextDecoder().decode(p!.seg.payload)).toBe("hello, world!");
    expect(p!.seg).toEqual(s);
  });

  test("a packet laid out here is accepted; the payload is a view into it", () => {
    const payload = Uint8Array.from({ length: 33 }, (_, i) => i * 7);
    const p = raw({ flags: 0xff, payload, options: [2, 4, 0x04, 0x00, 1, 3, 3, 2] });
    const r = parsePacket(p);
    expect(r).not.toBeNull();
    expect(r!.seg).toMatchObject({ flags: 0x3f, mss: 1024, wscale: 2, seq: 0x11223344, ack: 0x55667788 });
    expect([...r!.seg.payload]).toEqual([...payload]);
    expect(r!.seg.payload.buffer).toBe(p.buffer);
    expect(r!.seg.payload.byteOffset).toBe(p.length - 33);
  });
});

describe("round trips", () => {
  for (const [name, a] of [
    ["IPv4", V4],
    ["IPv6", V6],
  ] as const)
    test(`${name}: MSS, wscale and payload survive build → parse`, () => {
      const payload = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 255);
      const s = seg({ seq: 0xffffffff, ack: 1, flags: SYN | ACK, wnd: 29200, mss: 1460, wscale: 14, payload });
      const p = build(a, s);
      expect(p.length).toBe((a === V4 ? 20 : 40) + 28 + 1000);
      const r = parsePacket(p);
      expect(r).not.toBeNull();
      expect(r!.seg).toEqual(s);
      expect([...r!.src]).toEqual([...a.src]);
      expect([...r!.dst]).toEqual([...a.dst]);
      // Without options: a 20-byte TCP header.
      const plain = build(a, seg({ flags: FIN | ACK }));
      expect(plain.length).toBe((a === V4 ? 20 : 40) + 20);
      expect(parsePacket(plain)!.seg).toEqual(seg({ flags: FIN | ACK }));
    });

  test("checksums verify independently: pseudo-header + TCP sums to 0xffff, IPv4 header too", () => {
    const rnd = prng(5);
    for (let i = 0; i < 200; i++) {
      const a = i % 2 ? V6 : V4;
      const payload = Uint8Array.from({ length: (rnd() * 300) | 0 }, () => (rnd() * 256) | 0);
      const s = seg({ seq: (rnd() * 2 ** 32) >>> 0, ack: (rnd() * 2 ** 32) >>> 0, payload });
      if (i % 3 === 0) s.mss = (rnd() * 65536) | 0;
      const p = build(a, s);
      const t = a === V4 ? 20 : 40;
      expect(onesSum([pseudo(a.src, a.dst, p.length - t), p.subarray(t)])).toBe(0xffff);
      if (a === V4) expect(onesSum([p.subarray(0, 20)])).toBe(0xffff);
      // The field itself: recomputed here with the field zeroed.
      const z = p.slice();
      z[t + 16] = z[t + 17] = 0;
      const c = ~onesSum([pseudo(a.src, a.dst, p.length - t), z.subarray(t)]) & 0xffff;
      expect((p[t + 16]! << 8) | p[t + 17]!).toBe(c);
    }
  });

  test("random segments round trip in both families", () => {
    const rnd = prng(42);
    for (let i = 0; i < 500; i++) {
      const a = rnd() < 0.5 ? V4 : V6;
      const s = seg({
        srcPort: (rnd() * 65536) | 0,
        dstPort: (rnd() * 65536) | 0,
        seq: (rnd() * 2 ** 32) >>> 0,
        ack: (rnd() * 2 ** 32) >>> 0,
        flags: (rnd() * 64) | 0,
        wnd: (rnd() * 65536) | 0,
        payload: Uint8Array.from({ length: (rnd() * 200) | 0 }, () => (rnd() * 256) | 0),
      });
      if (rnd() < 0.5) s.mss = (rnd() * 65536) | 0;
      if (rnd() < 0.5) s.wscale = (rnd() * 15) | 0;
      const r = parsePacket(build(a, s));
      expect(r?.seg).toEqual(s);
    }
  });

  test("buildPacket reads the payload only up to its length", () => {
    const big = Uint8Array.from({ length: 100 }, (_, i) => i);
    const s = seg({ payload: big.subarray(10, 20) });
    const r = parsePacket(build(V4, s));
    expect([...r!.seg.payload]).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });
});

describe("options", () => {
  test("unknown options are skipped; NOP and EOL are handled", () => {
    // SACK-permitted (4, 2), timestamps (8, 10), MSS, NOP, wscale, NOP.
    const opts = [4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 0x05, 0x78, 1, 3, 3, 5, 1, 1, 1, 1];
    const r = parsePacket(raw({ flags: SYN, options: opts }));
    expect(r!.seg).toMatchObject({ mss: 1400, wscale: 5 });
    // After EOL nothing is read, not even garbage.
    const eol = parsePacket(raw({ flags: SYN, options: [2, 4, 0x05, 0xb4, 0, 3, 3, 9] }));
    expect(eol!.seg.mss).toBe(1460);
    expect(eol!.seg.wscale).toBeUndefined();
  });

  test("a window shift above 14 reads as 14 (RFC 7323 2.3)", () => {
    const r = parsePacket(raw({ flags: SYN, options: [1, 3, 3, 200] }));
    expect(r!.seg.wscale).toBe(14);
  });

  test("MSS or wscale with a wrong length are ignored, not misread", () => {
    const r = parsePacket(raw({ flags: SYN, options: [2, 3, 9, 3, 2, 1, 1, 1] }));
    expect(r).not.toBeNull();
    expect(r!.seg.mss).toBeUndefined();
    expect(r!.seg.wscale).toBeUndefined();
  });
});

describe("refused packets (null, never an exception)", () => {
  const good4 = () => raw({ payload: new Uint8Array([1, 2, 3, 4, 5]) });
  const good6 = () => raw({ v6: true, payload: new Uint8Array([1, 2, 3, 4, 5]) });

  test("the unmodified packets parse (so each refusal below is about its one change)", () => {
    expect(parsePacket(good4())).not.toBeNull();
    expect(parsePacket(good6())).not.toBeNull();
  });

  test("corrupted checksum", () => {
    for (const good of [good4, good6]) {
      const t = good === good4 ? 20 : 40;
      const a = good();
      a[a.length - 1]! ^= 0x40; // payload
      expect(parsePacket(a)).toBeNull();
      const b = good();
      b[t + 17]! ^= 1; // the field
      expect(parsePacket(b)).toBeNull();
      const c = good();
      c[t + 4]! ^= 0x80; // sequence number
      expect(parsePacket(c)).toBeNull();
      const d = good();
      d[good === good4 ? 15 : 23]! ^= 1; // the source address (pseudo-header)
      expect(parsePacket(d)).toBeNull();
    }
  });

  test("truncated packets", () => {
    for (const good of [good4, good6]) {
      const p = good();
      for (let n = 0; n < p.length; n++) expect(parsePacket(p.subarray(0, n))).toBeNull();
    }
    // Cut trailing zero bytes: the checksum still adds up, only the lengths tell.
    for (const v6 of [false, true]) {
      const p = raw({ v6, payload: new Uint8Array([1, 2, 3, 0, 0, 0, 0]) });
      expect(parsePacket(p)).not.toBeNull();
      for (let cut = 1; cut <= 4; cut++) expect(parsePacket(p.subarray(0, p.length - cut))).toBeNull();
    }
  });

  test("trailing bytes after the IPv4 total length / IPv6 payload length are ignored", () => {
    for (const good of [good4, good6]) {
      const p = good();
      const padded = new Uint8Array(p.length + 11).fill(0xee);
      padded.set(p);
      const r = parsePacket(padded);
      expect(r).not.toBeNull();
      expect([...r!.seg.payload]).toEqual([1, 2, 3, 4, 5]);
    }
  });

  test("bad data offset", () => {
    for (const v6 of [false, true]) {
      for (const doff of [0, 1, 4]) expect(parsePacket(raw({ v6, doff }))).toBeNull();
      // Beyond the TCP length (header 20 + 5 bytes payload = 25 < 28).
      expect(parsePacket(raw({ v6, doff: 7, payload: new Uint8Array(5) }))).toBeNull();
      expect(parsePacket(raw({ v6, doff: 15 }))).toBeNull();
      // Exactly the TCP length: fine (options eat the payload bytes).
      expect(parsePacket(raw({ v6, doff: 6, payload: new Uint8Array([1, 1, 1, 1]) }))).not.toBeNull();
    }
  });

  test("truncated options", () => {
    const cases = [
      [1, 2, 4, 5], // MSS running past the header
      [1, 1, 1, 2], // a kind with no length byte
      [1, 1, 1, 3],
      [8, 10, 0, 0], // timestamps, length past the header
      [7, 0, 1, 1], // length below 2
      [7, 1, 1, 1],
    ];
    for (const options of cases)
      for (const v6 of [false, true]) expect(parsePacket(raw({ v6, flags: SYN, options }))).toBeNull();
  });

  test("IPv4 fragments", () => {
    expect(parsePacket(raw({ frag: 0x0000 }))).not.toBeNull(); // DF clear, not a fragment
    expect(parsePacket(raw({ frag: 0x2000 }))).toBeNull(); // MF
    expect(parsePacket(raw({ frag: 0x0001 }))).toBeNull(); // offset 8
    expect(parsePacket(raw({ frag: 0x4000 | 0x1fff }))).toBeNull();
    expect(parsePacket(raw({ frag: 0x2000 | 0x00b9 }))).toBeNull();
  });

  test("not TCP", () => {
    for (const proto of [17, 1, 58, 0, 255]) {
      expect(parsePacket(raw({ proto }))).toBeNull();
      expect(parsePacket(raw({ v6: true, proto }))).toBeNull(); // 0: a hop-by-hop header first
    }
  });

  test("IPv6 payload length beyond the buffer", () => {
    const p = good6();
    p[5]! += 1;
    expect(parsePacket(p)).toBeNull();
    p[4] = 0xff;
    expect(parsePacket(p)).toBeNull();
    // Shorter than a TCP header.
    const q = good6();
    q[4] = 0;
    q[5] = 19;
    expect(parsePacket(q)).toBeNull();
  });

  test("IPv4 header lengths out of range", () => {
    const small = good4();
    small[0] = 0x44; // IHL 16 bytes
    expect(parsePacket(small)).toBeNull();
    const long = good4();
    long[0] = 0x4f; // IHL 60 > total
    expect(parsePacket(long)).toBeNull();
    const total = good4();
    total[2] = 0;
    total[3] = 19; // total < IHL
    expect(parsePacket(total)).toBeNull();
    const tcpShort = good4();
    tcpShort[3] = 39; // 19 bytes of TCP
    expect(parsePacket(tcpShort)).toBeNull();
    const big = good4();
    big[3]! += 1; // total beyond the buffer
    expect(parsePacket(big)).toBeNull();
  });

  test("other IP versions and tiny buffers", () => {
    for (const v of [0, 5, 7, 15]) {
      const p = good4();
      p[0] = (v << 4) | 5;
      expect(parsePacket(p)).toBeNull();
    }
    expect(parsePacket(new Uint8Array(0))).toBeNull();
    expect(parsePacket(new Uint8Array(19).fill(0x45))).toBeNull();
    expect(parsePacket(new Uint8Array(39).fill(0x60))).toBeNull();
  });

  test("IPv4 options before TCP are skipped by the IHL", () => {
    const p = good4();
    const q = new Uint8Array(p.length + 4);
    q.set(p.subarray(0, 20));
    q.set([1, 1, 1, 0], 20); // NOP NOP NOP EOL
    q.set(p.subarray(20), 24);
    q[0] = 0x46;
    q[3]! += 4;
    q[10] = q[11] = 0;
    const c = ~onesSum([q.subarray(0, 24)]) & 0xffff;
    q[10] = c >> 8;
    q[11] = c & 255;
    const r = parsePacket(q);
    expect(r).not.toBeNull();
    expect([...r!.seg.payload]).toEqual([1, 2, 3, 4, 5]);
  });
});

describe("fuzz", () => {
  test("thousands of random and mutated buffers never throw; what parses is consistent", () => {
    const rnd = prng(20240601);
    const byte = () => (rnd() * 256) | 0;
    const seeds = [
      raw({ flags: SYN, options: [2, 4, 5, 0xb4, 1, 3, 3, 7], payload: new Uint8Array(9) }),
      raw({ v6: true, flags: SYN | ACK, options: [2, 4, 5, 0xa0, 4, 2, 1, 1] }),
      build(V4, seg({ payload: new Uint8Array(40).fill(7), mss: 536 })),
      build(V6, seg({ flags: RST })),
    ];
    let parsed = 0;
    let failure = "";
    for (let i = 0; i < 6000 && !failure; i++) {
      let p: Uint8Array;
      const kind = i % 4;
      if (kind === 0) {
        // Random bytes, mostly with a plausible version nibble.
        p = Uint8Array.from({ length: (rnd() * 120) | 0 }, byte);
        if (p.length > 0 && rnd() < 0.8) p[0] = rnd() < 0.5 ? 0x45 : 0x60;
        if (p.length > 9 && rnd() < 0.5) p[9] = 6;
        if (p.length > 6 && p[0] === 0x60 && rnd() < 0.5) p[6] = 6;
      } else {
        const base = seeds[(rnd() * seeds.length) | 0]!;
        p = base.slice();
        const t = p[0]! >> 4 === 6 ? 40 : 20;
        if (kind === 1) {
          // A few bytes anywhere.
          for (let k = 1 + ((rnd() * 4) | 0); k > 0; k--) p[(rnd() * p.length) | 0] = byte();
        } else if (kind === 2) {
          // TCP header and options only, checksum made right again: reaches the option parser.
          for (let k = 1 + ((rnd() * 4) | 0); k > 0; k--) p[t + 12 + ((rnd() * (p.length - t - 12)) | 0)] = byte();
          if (rnd() < 0.3) p[t + 12] = ((rnd() * 16) | 0) << 4;
          fixTcpChecksum(p);
        } else {
          // Cut or extend.
          const n = (rnd() * (p.length + 20)) | 0;
          const q = new Uint8Array(n);
          q.set(p.subarray(0, Math.min(n, p.length)));
          for (let k = p.length; k < n; k++) q[k] = byte();
          p = q;
        }
      }
      try {
        const r = parsePacket(p);
        if (r === null) continue;
        parsed++;
        const s = r.seg;
        const ok =
          s.payload.buffer === p.buffer &&
          s.payload.byteOffset >= p.byteOffset + (r.src.length === 4 ? 40 : 60) &&
          s.payload.byteOffset + s.payload.length <= p.byteOffset + p.length &&
          s.srcPort >= 0 &&
          s.srcPort < 65536 &&
          s.seq >= 0 &&
          s.seq < 2 ** 32 &&
          s.ack >= 0 &&
          s.ack < 2 ** 32 &&
          (s.flags & ~0x3f) === 0 &&
          (s.wscale === undefined || s.wscale <= 14) &&
          (r.src.length === 4 || r.src.length === 16) &&
          r.dst.length === r.src.length;
        if (!ok) failure = `inconsistent parse of ${hex(p)}`;
        // What parsed builds back into a packet that parses to the same segment.
        const again = parsePacket(build({ src: r.src.slice(), dst: r.dst.slice() }, s));
        if (!again) failure = `rebuild of ${hex(p)} does not parse`;
        else if (!Bun.deepEquals(again.seg, s)) failure = `rebuild of ${hex(p)} differs`;
      } catch (e) {
        failure = `threw on ${hex(p)}: ${e}`;
      }
    }
    expect(failure).toBe("");
    expect(parsed).toBeGreaterThan(300); // the mutations reach the success path too
  });
});
