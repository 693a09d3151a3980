// The one IP view (src/net/ip.ts) and the checksum (src/net/checksum.ts), no root: parse
// results field by field, refusals by reason, packets built here verified by an independent
// oracle (test/lib/ip-ref.ts), the TCP reset built by the segment codec, and a fuzz.
import { describe, expect, test } from "bun:test";
import { formatIp, parseIp } from "../src/net/addr.ts";
import { checksum, sum16 } from "../src/net/checksum.ts";
import { buildUdp, checksumsOk, newIpView, parseIpHeader, parseL4, u32At } from "../src/net/ip.ts";
import { buildReset, parsePacket } from "../src/tcp/segment.ts";
import { refChecksumsOk } from "./lib/ip-ref.ts";
import { bytes, hex, mulberry32 } from "./lib/util.ts";

/** An ICMP (IPv4) or ICMPv6 echo of `type` with identifier `id`, checksums filled in. */
function echo(src: string, dst: string, type: number, id: number): Uint8Array {
  const s = parseIp(src)!;
  const v6 = s.length === 16;
  const hl = v6 ? 40 : 20;
  const p = new Uint8Array(hl + 8 + 4);
  if (v6) {
    p.set([0x60, 0, 0, 0, 0, 12, 58, 64], 0);
    p.set(s, 8);
    p.set(parseIp(dst)!, 24);
  } else {
    p.set([0x45, 0, 0, p.length, 0, 0, 0x40, 0, 64, 1], 0);
    p.set(s, 12);
    p.set(parseIp(dst)!, 16);
    const h = checksum(p, 0, 20);
    p.set([h >> 8, h & 255], 10);
  }
  p.set([type, 0, 0, 0, id >> 8, id & 255, 0, 1, 1, 2, 3, 4], hl);
  const c = checksum(p, hl, p.length, v6 ? sum16(p, 8, 40) + 58 + 12 : 0);
  p.set([c >> 8, c & 255], hl + 2);
  return p;
}

describe("checksum and the IP view", () => {
  test("RFC 1071 example: sum and checksum", () => {
    const p = bytes(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    expect(sum16(p, 0, p.length)).toBe(0xddf2);
    expect(checksum(p, 0, p.length)).toBe(0x220d);
    expect(sum16(bytes(0xff), 0, 1)).toBe(0xff00); // odd byte padded
  });

  test("sum16 equals a word-by-word sum for every length and start, and up to 64 KiB of 0xff", () => {
    const ref = (p: Uint8Array, from: number, to: number, init: number) => {
      let s = init;
      for (let i = from; i < to; i += 2) s += (p[i]! << 8) | (i + 1 < to ? p[i + 1]! : 0);
      while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
      return s;
    };
    const p = Uint8Array.from({ length: 300 }, (_, i) => (i * 151 + 7) & 255);
    for (let from = 0; from < 9; from++)
      for (let to = from; to <= 300; to++) expect(sum16(p, from, to, from * 1000)).toBe(ref(p, from, to, from * 1000));
    const ones = new Uint8Array(65535).fill(0xff);
    expect(sum16(ones, 0, ones.length, 0x1234)).toBe(ref(ones, 0, ones.length, 0x1234));
  });

  test("buildUdp: IPv4 and IPv6 packets whose checksums verify (and by the independent oracle)", () => {
    const payload = bytes("hello dns");
    const p4 = buildUdp(parseIp("10.99.0.1")!, parseIp("10.99.0.53")!, 40000, 53, payload);
    expect(p4.length).toBe(28 + payload.length);
    expect(refChecksumsOk(p4)).toBe(true);
    const f = newIpView();
    expect(parseL4(p4, f)).toBeNull();
    expect([f.family, f.proto, f.sport, f.dport, f.payload, f.end]).toEqual([4, 17, 40000, 53, 28, p4.length]);
    expect(checksumsOk(p4, f)).toBe(true);
    p4[30]! ^= 1;
    expect(checksumsOk(p4, f)).toBe(false);
    const p6 = buildUdp(parseIp("fd00:99::1")!, parseIp("fd00:99::53")!, 40000, 53, payload);
    expect(p6.length).toBe(48 + payload.length);
    expect(parseL4(p6, f)).toBeNull();
    expect([f.family, f.payload]).toEqual([6, 48]);
    expect(checksumsOk(p6, f)).toBe(true);
    p6[46] = p6[47] = 0; // no checksum: fine over IPv4 only
    expect(checksumsOk(p6, f)).toBe(false);
  });

  test("parseL4 refuses fragments, other protocols, bad lengths", () => {
    const f = newIpView();
    const p = buildUdp(parseIp("10.0.0.1")!, parseIp("10.0.0.2")!, 1, 53, bytes("x"));
    const frag = p.slice();
    frag[6] = 0x20; // MF
    expect(parseL4(frag, f)).toBe("fragment");
    const gre = p.slice();
    gre[9] = 47;
    expect(parseL4(gre, f)).toBe("protocol");
    expect(parseL4(p.subarray(0, 27), f)).toBe("length");
    expect(parseL4(bytes(0x45), f)).toBe("short");
    expect(parseL4(bytes(0x10, 0, 0, 0), f)).toBe("version");
  });

  test("TCP reset for a SYN: RST|ACK, ack = seq + 1, checksum verifies", () => {
    const syn = new Uint8Array(40);
    syn.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6], 0);
    syn.set(parseIp("10.99.0.1")!, 12);
    syn.set(parseIp("10.99.0.53")!, 16);
    syn.set([0x9c, 0x40, 0, 53, 0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff], 20);
    syn.set([checksum(syn, 0, 20) >> 8, checksum(syn, 0, 20) & 255], 10);
    const f = newIpView();
    expect(parseL4(syn, f)).toBeNull();
    const rst = buildReset(syn, f)!;
    expect(refChecksumsOk(rst)).toBe(true);
    expect(formatIp(rst.subarray(12, 16))).toBe("10.99.0.53");
    // ports swapped, seq 0, ack = seq + 1 (the SYN), data offset 5, RST|ACK
    expect(hex(rst.subarray(20, 34))).toBe("00359c40" + "00000000" + "11223345" + "50" + "14");
  });
});

describe("the IP view: one parse for routing, ports, NAT and TCP", () => {
  test("parseIpHeader takes any protocol and marks fragments; parseL4 refuses them", () => {
    const v = newIpView();
    const p = buildUdp(parseIp("10.0.0.1")!, parseIp("10.0.0.2")!, 1, 2, bytes("x"));
    p[9] = 47; // GRE: routable, not parseable further
    expect(parseIpHeader(p, v)).toBeNull();
    expect([v.family, v.proto, v.srcOff, v.dstOff, v.l4, v.end, v.fragment]).toEqual([4, 47, 12, 16, 20, 29, false]);
    expect(formatIp(p.subarray(v.dstOff, v.dstOff + 4))).toBe("10.0.0.2");
    expect(u32At(p, v.srcOff)).toBe(0x0a000001);
    p[7] = 1; // a fragment offset
    expect(parseIpHeader(p, v)).toBeNull();
    expect(v.fragment).toBe(true);
    expect(parseL4(p, v)).toBe("fragment");
    const p6 = buildUdp(parseIp("fd00::1")!, parseIp("fd00::2")!, 1, 2, bytes("xy"));
    expect(parseIpHeader(p6, v)).toBeNull();
    expect([v.family, v.proto, v.srcOff, v.dstOff, v.l4, v.end, v.fragment]).toEqual([6, 17, 8, 24, 40, 50, false]);
    // the IP length fields must fit the buffer; a buffer longer than the packet is fine
    expect(parseIpHeader(p6.subarray(0, 49), v)).toBe("length");
    const padded = new Uint8Array(64);
    padded.set(p6);
    expect(parseIpHeader(padded, v)).toBeNull();
    expect(v.end).toBe(50);
    const bad = p.slice();
    bad[0] = 0x44; // IHL 16 bytes
    expect(parseIpHeader(bad, v)).toBe("length");
  });

  test("ICMP and ICMPv6 echo: identifier as both ports, type as kind; other ICMP refused by type", () => {
    const v = newIpView();
    for (const [src, dst, req, rep] of [
      ["10.99.0.1", "203.0.113.10", 8, 0],
      ["fd00:99::1", "2001:db8::10", 128, 129],
    ] as const) {
      for (const type of [req, rep]) {
        const p = echo(src, dst, type, 0x1234);
        expect(refChecksumsOk(p)).toBe(true);
        expect(parseL4(p, v)).toBeNull();
        expect([v.kind, v.sport, v.dport, v.payload - v.l4, v.end]).toEqual([type, 0x1234, 0x1234, 8, p.length]);
        expect(checksumsOk(p, v)).toBe(true);
        p[p.length - 1]! ^= 0x40;
        expect(checksumsOk(p, v)).toBe(false);
      }
      const unreach = echo(src, dst, src.includes(":") ? 1 : 3, 1);
      expect(parseL4(unreach, v)).toBe("icmp-type");
    }
    // ICMPv4 in an IPv6 packet (and the reverse) is another protocol, not echo
    const odd = echo("fd00:99::1", "fd00:99::2", 8, 1);
    odd[6] = 1;
    expect(parseL4(odd, v)).toBe("protocol");
  });

  test("a segment that gets a reset is parsed once: parsePacket fills the caller's view, buildReset reads it", () => {
    const v = newIpView();
    const ack = new Uint8Array(40 + 20 + 3);
    ack.set([0x60, 0, 0, 0, 0, 23, 6, 64], 0);
    ack.set(parseIp("fd00::1")!, 8);
    ack.set(parseIp("fd00::2")!, 24);
    ack.set([0x9c, 0x40, 0, 80, 1, 2, 3, 4, 0xaa, 0xbb, 0xcc, 0xdd, 0x50, 0x18, 0xff, 0xff], 40);
    ack.set([7, 8, 9], 60);
    const c = checksum(ack, 40, ack.length, sum16(ack, 8, 40) + 6 + 23);
    ack.set([c >> 8, c & 255], 56);
    const seg = parsePacket(ack, v)!;
    expect(seg.seg.payload.length).toBe(3);
    expect([v.family, v.sport, v.dport, v.kind]).toEqual([6, 40000, 80, 0x18]);
    const rst = buildReset(ack, v)!;
    expect(refChecksumsOk(rst)).toBe(true);
    expect(formatIp(rst.subarray(8, 24))).toBe("fd00::2");
    // to a segment with ACK: RST, seq = its ack, ack field 0
    expect(hex(rst.subarray(40, 54))).toBe("00509c40" + "aabbccdd" + "00000000" + "50" + "04");
    const r = parsePacket(rst, v)!;
    expect(buildReset(rst, v)).toBeNull(); // never a reset to a reset
    expect(r.seg.flags).toBe(0x04);
  });

  test("fuzz: 20k random and mutated packets; no throw; whatever parses has offsets inside the packet", () => {
    const rnd = mulberry32(17);
    const v = newIpView();
    const seeds = [
      buildUdp(parseIp("10.0.0.1")!, parseIp("10.0.0.2")!, 1, 53, bytes("query")),
      buildUdp(parseIp("fd00::1")!, parseIp("fd00::2")!, 1, 53, bytes("query")),
      echo("10.0.0.1", "10.0.0.2", 8, 7),
      echo("fd00::1", "fd00::2", 128, 7),
    ];
    let parsed = 0;
    for (let i = 0; i < 20000; i++) {
      const p = seeds[i % seeds.length]!.slice(0, rnd() % 80);
      for (let k = rnd() % 4; k > 0; k--) if (p.length > 0) p[rnd() % p.length] = rnd() & 255;
      if (parseL4(p, v) !== null) continue;
      parsed++;
      expect(v.end <= p.length && v.payload <= v.end && v.l4 < v.payload).toBe(true);
      // the product's checksum verdict agrees with the oracle's on every packet that parses
      expect(checksumsOk(p, v)).toBe(refChecksumsOk(p));
    }
    expect(parsed).toBeGreaterThan(1000);
  });
});
