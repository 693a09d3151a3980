// Batch TUN writes (root, one namespace): packets queued on a batch TUN (IFF_VNET_HDR) go to the
// kernel as runs of one UDP flow (net/uso.ts) or of one TCP connection (net/tso.ts); the kernel
// forwards each run and, as the plain TUN it leaves by asks for no offloads, cuts it back in
// software. What that TUN reads must be the queued packets themselves, one by one and in order:
// same payloads, valid IPv4 header, UDP and TCP checksums (computed by the kernel from the
// pseudo-header sum the run carried), TTL less one. A TCP segment damaged before it was queued
// arrives damaged (it was not merged, so the kernel did not give it a fresh checksum).
// An empty packet and one past 65535 bytes are refused at once and counted (txErrors).
//
//   batch TUN (10.212.0.1/24, 2001:db8:a::1/64) → forwarding → plain TUN (10.213.0.1/24, 2001:db8:b::1/64)
import { afterAll, describe, expect, test } from "bun:test";
import { BUN, isRoot, Lab, ROOT } from "../lib/netns.ts";

if (!isRoot) console.warn("e2e tun-batch: skipped (needs root)");

const SCRIPT = `
import { openTun, configureLink, ip } from "${ROOT}src/tun.ts";
import { checksum, sum16 } from "${ROOT}src/net/checksum.ts";
const a = openTun({ name: "usoa", batch: true });
const b = openTun({ name: "usob" });
configureLink("usoa", { address: "10.212.0.1/24", mtu: 1500, up: true });
configureLink("usob", { address: "10.213.0.1/24", mtu: 1500, up: true });
ip(["-6", "addr", "add", "2001:db8:a::1/64", "dev", "usoa", "nodad"]);
ip(["-6", "addr", "add", "2001:db8:b::1/64", "dev", "usob", "nodad"]);
const got = [];
b.start((p) => got.push(p.slice()));
a.start(() => {});
function udp4(payload, sport, fill) {
  const n = 28 + payload, p = new Uint8Array(n);
  p.set([0x45, 0, n >> 8, n & 255, 0, 9, 0x40, 0, 64, 17, 0, 0, 10, 212, 0, 2, 10, 213, 0, 2]);
  const c = checksum(p, 0, 20); p[10] = c >> 8; p[11] = c & 255;
  p.set([sport >> 8, sport & 255, 0x1f, 0x40, (payload + 8) >> 8, (payload + 8) & 255, 0, 0], 20);
  for (let i = 28; i < n; i++) p[i] = (fill + i) & 255;
  const u = checksum(p, 20, n, sum16(p, 12, 20, 17 + payload + 8)) || 0xffff; p[26] = u >> 8; p[27] = u & 255;
  return p;
}
function udp6(payload, fill) {
  const n = 48 + payload, p = new Uint8Array(n);
  p.set([0x60, 0, 0, 0, (payload + 8) >> 8, (payload + 8) & 255, 17, 64]);
  p.set([0x20, 1, 0x0d, 0xb8, 0, 0x0a], 8); p[23] = 2;
  p.set([0x20, 1, 0x0d, 0xb8, 0, 0x0b], 24); p[39] = 2;
  p.set([0x9c, 0x40, 0x1f, 0x40, (payload + 8) >> 8, (payload + 8) & 255, 0, 0], 40);
  for (let i = 48; i < n; i++) p[i] = (fill + i) & 255;
  const u = checksum(p, 40, n, sum16(p, 8, 40, 17 + payload + 8)) || 0xffff; p[46] = u >> 8; p[47] = u & 255;
  return p;
}
function tcp(v6, payload, seq, id, fill, flags) {
  const ip = v6 ? 40 : 20, n = ip + 32 + payload, p = new Uint8Array(n);
  if (v6) {
    p.set([0x60, 0, 0, 0, (n - 40) >> 8, (n - 40) & 255, 6, 64]);
    p.set([0x20, 1, 0x0d, 0xb8, 0, 0x0a], 8); p[23] = 2;
    p.set([0x20, 1, 0x0d, 0xb8, 0, 0x0b], 24); p[39] = 2;
  } else {
    p.set([0x45, 0, n >> 8, n & 255, id >> 8, id & 255, 0x40, 0, 64, 6, 0, 0, 10, 212, 0, 2, 10, 213, 0, 2]);
    const c = checksum(p, 0, 20); p[10] = c >> 8; p[11] = c & 255;
  }
  p.set([0x9c, 0x41, 0x1f, 0x41, seq >>> 24, (seq >>> 16) & 255, (seq >>> 8) & 255, seq & 255, 0, 0, 0x30, 0x39, 0x80, flags, 1, 0xf6, 0, 0, 0, 0], ip);
  p.set([1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3], ip + 20);
  for (let i = ip + 32; i < n; i++) p[i] = (fill * 7 + i) & 255;
  const t = checksum(p, ip, n, v6 ? sum16(p, 8, 40, 6 + n - ip) : sum16(p, 12, 20, 6 + n - ip)); p[ip + 16] = t >> 8; p[ip + 17] = t & 255;
  return p;
}
const sent = [];
for (let i = 0; i < 20; i++) sent.push(udp4(1000, 40000, i));   // a run
sent.push(udp4(300, 40000, 20));                                  // ends it, shorter
for (let i = 0; i < 5; i++) sent.push(udp4(1000, 40001, 30 + i)); // another flow: a run
sent.push(udp4(1000, 40002, 40));                                 // alone
for (let i = 0; i < 8; i++) sent.push(udp6(1200, 50 + i));        // an IPv6 run
for (let i = 0; i < 12; i++) sent.push(tcp(false, 1348, 5000 + i * 1348, 100 + i, i, i === 11 ? 0x18 : 0x10)); // a TCP run, PSH last
for (let i = 0; i < 6; i++) sent.push(tcp(true, 1328, 9000 + i * 1328, 0, i, 0x10));                           // an IPv6 TCP run
const damaged = tcp(false, 1348, 70000, 300, 1, 0x10);
sent.push(tcp(false, 1348, 70000 - 1348, 299, 0, 0x10), damaged, tcp(false, 1348, 70000 + 1348, 301, 2, 0x10));
damaged[500] ^= 0x10;                                              // damaged after its checksum: written alone
await Bun.sleep(300);
// what cannot be taken is refused at once and counted: empty, past 65535 bytes
const refused = [a.queue(new Uint8Array(0)), a.queue(new Uint8Array(70000))];
const errorsBefore = a.stats.txErrors;
for (const p of sent) a.queue(p);
await Bun.sleep(500);
const ok = (p) => {
  if (p[0] >> 4 === 4 && p[9] === 6) return sum16(p, 0, 20) === 0xffff && sum16(p, 20, p.length, sum16(p, 12, 20, 6 + p.length - 20)) === 0xffff;
  if (p[0] >> 4 === 6 && p[6] === 6) return sum16(p, 40, p.length, sum16(p, 8, 40, 6 + p.length - 40)) === 0xffff;
  if (p[0] >> 4 === 4) return sum16(p, 0, 20) === 0xffff && sum16(p, 20, p.length, sum16(p, 12, 20, 17 + p.length - 20)) === 0xffff;
  return sum16(p, 40, p.length, sum16(p, 8, 40, 17 + p.length - 40)) === 0xffff;
};
// compare all but the fields forwarding and segmentation change (TTL / hop limit, IPv4 id and checksums)
const body = (p) => p[0] >> 4 === 4 ? [...p.subarray(0, 4), ...p.subarray(12, 26), ...p.subarray(28)] : [...p.subarray(0, 7), ...p.subarray(8, 46), ...p.subarray(48)];
const udp = got.filter((p) => (p[0] >> 4 === 4 && (p[9] === 17 || p[9] === 6)) || (p[0] >> 4 === 6 && (p[6] === 17 || p[6] === 6)));
// TCP: every byte but TTL / hop limit and the IPv4 header checksum (the ids follow one another, so cutting keeps them)
const tcpBody = (p) => p[0] >> 4 === 4 ? [...p.subarray(0, 8), p[9], ...p.subarray(12)] : [...p.subarray(0, 7), ...p.subarray(8)];
const isTcp = (p) => (p[0] >> 4 === 4 ? p[9] : p[6]) === 6;
console.log(JSON.stringify({
  sent: sent.length,
  got: udp.length,
  same: udp.length === sent.length && udp.every((p, i) => JSON.stringify((isTcp(p) ? tcpBody : body)(p)) === JSON.stringify((isTcp(p) ? tcpBody : body)(sent[i]))),
  checksums: udp.every((p, i) => ok(p) === (sent[i] !== damaged)),
  ttl: udp.map((p) => (p[0] >> 4 === 4 ? p[8] : p[7])).filter((t) => t !== 63).length,
  runs: a.runs,
  refused,
  txErrors: errorsBefore,
  tx: a.stats.txPackets,
}));
a.close(); b.close();
process.exit(0);`;

describe.skipIf(!isRoot)("batch TUN writes (namespace)", () => {
  const lab = new Lab("tb", { ipv6: true });
  afterAll(async () => {
    await lab.cleanup();
  });

  test("UDP and TCP runs written as one packet arrive as the queued packets, checksums valid", () => {
    const n = lab.ns("n");
    lab.exec(n, [
      "sysctl",
      "-qw",
      "net.ipv4.ip_forward=1",
      "net.ipv6.conf.all.forwarding=1",
      "net.ipv4.conf.default.rp_filter=0",
    ]);
    const out = JSON.parse(lab.exec(n, [BUN, "-e", SCRIPT]).trim().split("\n").pop()!) as {
      sent: number;
      got: number;
      same: boolean;
      checksums: boolean;
      ttl: number;
      runs: { written: number; refused: number };
      tx: number;
      refused: boolean[];
      txErrors: number;
    };
    expect(out.got).toBe(out.sent);
    expect(out.same).toBe(true);
    expect(out.checksums).toBe(true);
    expect(out.ttl).toBe(0);
    // the two IPv4 UDP runs and the IPv6 one; the two TCP runs (the three segments around the
    // damaged one are written one by one: the damaged one cannot be in a run, nor end one)
    expect(out.runs).toEqual({ written: 5, refused: 0 });
    expect(out.tx).toBe(out.sent);
    expect(out.refused).toEqual([false, false]);
    expect(out.txErrors).toBe(2);
  });
});
