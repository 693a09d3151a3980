// net/uso.ts: which queued packets make one run, and the header a run is written with.
import { expect, test } from "bun:test";
import { checksum, sum16 } from "../src/net/checksum.ts";
import { MAX_RUN, runHeader, runLength, runPrefix, VNET_HDR } from "../src/net/uso.ts";

/** An IPv4/UDP packet with `payload` bytes (each `fill`), valid header checksum. */
function udp4(payload: number, opts: { sport?: number; dst?: number; ttl?: number; df?: boolean; fill?: number } = {}) {
  const n = 28 + payload;
  const p = new Uint8Array(n);
  p.set([0x45, 0, n >> 8, n & 255, 0, 7, opts.df === false ? 0 : 0x40, 0, opts.ttl ?? 64, 17, 0, 0]);
  p.set([10, 98, 0, 1, 203, 0, 113, opts.dst ?? 10], 12);
  const sp = opts.sport ?? 40000;
  p.set([sp >> 8, sp & 255, 0x14, 0x51, (payload + 8) >> 8, (payload + 8) & 255, 0, 0], 20);
  p.fill(opts.fill ?? 1, 28);
  const c = checksum(p, 0, 20);
  p[10] = c >> 8;
  p[11] = c & 255;
  return p;
}

function udp6(payload: number, flow = 0) {
  const n = 48 + payload;
  const p = new Uint8Array(n);
  p.set([0x60, 0, flow >> 8, flow & 255, (payload + 8) >> 8, (payload + 8) & 255, 17, 64]);
  p.set([0x20, 0x01, 0x0d, 0xb8], 8);
  p[23] = 1;
  p.set([0x20, 0x01, 0x0d, 0xb8], 24);
  p[39] = 2;
  p.set([0x9c, 0x40, 0x14, 0x51, (payload + 8) >> 8, (payload + 8) & 255, 0, 0], 40);
  return p;
}

test("which packets can be in a run at all", () => {
  expect(runHeader(udp4(100))).toBe(28);
  expect(runHeader(udp6(100))).toBe(48);
  const frag = udp4(100);
  frag[6] = 0x20; // more fragments
  expect(runHeader(frag)).toBe(0);
  const opts = udp4(100);
  opts[0] = 0x46; // an option word
  expect(runHeader(opts)).toBe(0);
  const tcp = udp4(100);
  tcp[9] = 6;
  expect(runHeader(tcp)).toBe(0);
  const lying = udp4(100);
  lying[25] = 50; // UDP length that does not match
  expect(runHeader(lying)).toBe(0);
  expect(runHeader(udp4(100).subarray(0, 27))).toBe(0);
  const ext = udp6(100);
  ext[6] = 0; // hop-by-hop header first
  expect(runHeader(ext)).toBe(0);
  expect(runHeader(new Uint8Array(0))).toBe(0);
});

test("a run: one flow, one size, a shorter last one; anything else ends it", () => {
  const q = [udp4(1000), udp4(1000), udp4(1000), udp4(400), udp4(1000)];
  expect(runLength(q, 0, 5)).toBe(4); // the shorter one ends it
  expect(runLength(q, 4, 5)).toBe(1);
  expect(runLength([udp4(1000), udp4(1000, { sport: 1 })], 0, 2)).toBe(1); // another port
  expect(runLength([udp4(1000), udp4(1000, { dst: 11 })], 0, 2)).toBe(1); // another address
  expect(runLength([udp4(1000), udp4(1000, { ttl: 3 })], 0, 2)).toBe(1);
  expect(runLength([udp4(1000), udp4(1000, { df: false })], 0, 2)).toBe(1);
  expect(runLength([udp4(1000), udp4(1200)], 0, 2)).toBe(1); // larger than the first
  expect(runLength([udp4(1000), udp6(1000)], 0, 2)).toBe(1);
  expect(runLength([udp6(900), udp6(900), udp6(900, 5)], 0, 3)).toBe(2); // another flow label
  // at most MAX_RUN, and at most 65535 bytes of IP
  const many = Array.from({ length: 100 }, () => udp4(200));
  expect(runLength(many, 0, 100)).toBe(MAX_RUN);
  const big = Array.from({ length: 60 }, () => udp4(1472));
  const k = runLength(big, 0, 60);
  expect(28 + k * 1472).toBeLessThanOrEqual(65535);
  expect(28 + (k + 1) * 1472).toBeGreaterThan(65535);
});

test("the run's prefix: virtio_net_hdr, then the first header with the run's lengths and checksums", () => {
  const q = [udp4(1000), udp4(1000), udp4(300)];
  const out = new Uint8Array(VNET_HDR + 48);
  const n = runPrefix(out, q, 0, 3);
  expect(n).toBe(VNET_HDR + 28);
  const dv = new DataView(out.buffer);
  expect([
    out[0],
    out[1],
    dv.getUint16(2, true),
    dv.getUint16(4, true),
    dv.getUint16(6, true),
    dv.getUint16(8, true),
  ]).toEqual([1, 5, 28, 1000, 20, 6]);
  const ip = out.subarray(VNET_HDR, n);
  const total = 28 + 2300;
  expect((ip[2]! << 8) | ip[3]!).toBe(total);
  expect(sum16(ip, 0, 20)).toBe(0xffff); // the IPv4 header checksum verifies
  expect((ip[24]! << 8) | ip[25]!).toBe(2308);
  // the UDP field holds the pseudo-header sum: src, dst, protocol, UDP length
  expect((ip[26]! << 8) | ip[27]!).toBe(sum16(ip, 12, 20, 17 + 2308));
  expect(q[0]![2]).toBe(1028 >> 8); // the queued packets are not changed
});

test("IPv6 prefix: payload length and pseudo-header over both addresses", () => {
  const q = [udp6(700), udp6(700)];
  const out = new Uint8Array(VNET_HDR + 48);
  expect(runPrefix(out, q, 0, 2)).toBe(VNET_HDR + 48);
  const ip = out.subarray(VNET_HDR);
  expect((ip[4]! << 8) | ip[5]!).toBe(1408);
  expect((ip[44]! << 8) | ip[45]!).toBe(1408);
  expect((ip[46]! << 8) | ip[47]!).toBe(sum16(ip, 8, 40, 17 + 1408));
  expect(out[6]).toBe(40);
});
