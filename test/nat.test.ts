// NAT pieces without root: flow parsing and rewriting with incremental checksums (compared with a
// full recomputation), and the binding table (mapping, filtering data, limits, port slices,
// timeouts, replication between two servers' stores).
import { describe, expect, test } from "bun:test";
import {
  checksumsOk,
  newFlow,
  parseFlow,
  PROTO_ICMP,
  PROTO_TCP,
  PROTO_UDP,
  rewrite,
  sum16,
} from "../src/net/rewrite.ts";
import { NatTable } from "../src/nat/table.ts";
import { SyncStore } from "../src/sync/store.ts";

const ip = (s: string) => s.split(".").reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);

/** IPv4 + TCP/UDP/ICMP packet with correct checksums. */
function packet(proto: number, src: string, dst: string, sport: number, dport: number, payload = 37): Uint8Array {
  const l4len = proto === PROTO_TCP ? 20 : 8;
  const p = new Uint8Array(20 + l4len + payload);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 255;
  p[8] = 64;
  p[9] = proto;
  p.set(src.split(".").map(Number), 12);
  p.set(dst.split(".").map(Number), 16);
  for (let i = 20 + l4len; i < p.length; i++) p[i] = (i * 7) & 255;
  const h = ~sum16(p, 0, 20) & 0xffff;
  p[10] = h >> 8;
  p[11] = h & 255;
  if (proto === PROTO_ICMP) {
    p[20] = 8;
    p[24] = sport >> 8;
    p[25] = sport & 255;
    const c = ~sum16(p, 20, p.length) & 0xffff;
    p[22] = c >> 8;
    p[23] = c & 255;
    return p;
  }
  p[20] = sport >> 8;
  p[21] = sport & 255;
  p[22] = dport >> 8;
  p[23] = dport & 255;
  if (proto === PROTO_TCP) p[32] = 5 << 4;
  else {
    p[24] = (l4len + payload) >> 8;
    p[25] = (l4len + payload) & 255;
  }
  const ck = 20 + (proto === PROTO_TCP ? 16 : 6);
  const c = ~sum16(p, 20, p.length, sum16(p, 12, 20) + proto + (p.length - 20)) & 0xffff;
  p[ck] = c >> 8;
  p[ck + 1] = c & 255;
  return p;
}

describe("rewrite", () => {
  for (const [name, proto] of [
    ["tcp", PROTO_TCP],
    ["udp", PROTO_UDP],
    ["icmp", PROTO_ICMP],
  ] as const)
    test(`${name}: source and destination rewrites keep every checksum valid`, () => {
      let s = 7;
      for (let i = 0; i < 300; i++) {
        s = (s * 1103515245 + 12345) >>> 0;
        const p = packet(
          proto,
          `10.99.${s & 255}.${(s >> 8) & 255}`,
          `203.0.113.${(s >> 16) & 255}`,
          s & 0xffff,
          (s >>> 16) | 1,
          s % 200,
        );
        expect(checksumsOk(p)).toBe(true);
        const f = newFlow();
        expect(parseFlow(p, f)).toBeNull();
        rewrite(p, f, 12, (s * 2654435761) >>> 0, (s >>> 7) & 0xffff);
        expect(checksumsOk(p)).toBe(true);
        expect(parseFlow(p, f)).toBeNull();
        expect(f.src).toBe((s * 2654435761) >>> 0);
        rewrite(p, f, 16, ip("10.99.0.1"), 4242);
        expect(checksumsOk(p)).toBe(true);
        expect(parseFlow(p, f)).toBeNull();
        expect(f.dst).toBe(ip("10.99.0.1"));
        if (proto !== PROTO_ICMP) expect(f.dport).toBe(4242);
      }
    });

  test("a UDP packet without checksum keeps none", () => {
    const p = packet(PROTO_UDP, "10.0.0.1", "203.0.113.1", 1000, 53);
    p[26] = p[27] = 0;
    const f = newFlow();
    parseFlow(p, f);
    rewrite(p, f, 12, ip("192.0.2.1"), 30000);
    expect(p[26]! | p[27]!).toBe(0);
    expect(sum16(p, 0, 20)).toBe(0xffff);
  });

  test("refusals: short, not IPv4, fragments, other protocols, ICMP that is not echo", () => {
    const f = newFlow();
    expect(parseFlow(new Uint8Array(10), f)).toBe("short");
    const v6 = new Uint8Array(40);
    v6[0] = 0x60;
    expect(parseFlow(v6, f)).toBe("not-ipv4");
    const frag = packet(PROTO_UDP, "10.0.0.1", "203.0.113.1", 1, 2);
    frag[6] = 0x20; // MF
    expect(parseFlow(frag, f)).toBe("fragment");
    const gre = packet(PROTO_UDP, "10.0.0.1", "203.0.113.1", 1, 2);
    gre[9] = 47;
    expect(parseFlow(gre, f)).toBe("protocol");
    const unreach = packet(PROTO_ICMP, "10.0.0.1", "203.0.113.1", 1, 1);
    unreach[20] = 3;
    expect(parseFlow(unreach, f)).toBe("icmp-type");
    const lying = packet(PROTO_TCP, "10.0.0.1", "203.0.113.1", 1, 2);
    lying[3] = 255; // total length beyond the buffer
    expect(parseFlow(lying, f)).toBe("short");
  });
});

describe("binding table", () => {
  const timeouts = { udp: 300, tcpEstablished: 7440, tcpTransitory: 240, icmp: 60 };

  test("endpoint-independent mapping, lookups both ways, per-client limit", () => {
    const t = new NatTable(new SyncStore(1), 1, [20000, 59999], timeouts, 2);
    const b = t.create(PROTO_UDP, 7, ip("10.99.0.1"), 5000, 0);
    if (typeof b === "string") throw new Error(b);
    expect(b.ext).toBeGreaterThanOrEqual(t.sliceStart);
    expect(b.ext).toBeLessThan(t.sliceStart + t.sliceSize);
    expect(t.outbound(PROTO_UDP, 7, ip("10.99.0.1"), 5000)).toBe(b);
    expect(t.outbound(PROTO_TCP, 7, ip("10.99.0.1"), 5000)).toBeUndefined();
    expect(t.inbound(PROTO_UDP, b.ext)).toBe(b);
    t.sent(b, ip("203.0.113.10"), 1);
    t.sent(b, ip("203.0.113.11"), 2);
    expect(b.peers).toEqual([ip("203.0.113.10"), ip("203.0.113.11")]);
    expect(typeof t.create(PROTO_TCP, 7, ip("10.99.0.1"), 5001, 0)).toBe("object");
    expect(t.create(PROTO_TCP, 7, ip("10.99.0.1"), 5002, 0)).toBe("limit");
    expect(typeof t.create(PROTO_TCP, 8, ip("10.99.0.2"), 5002, 0)).toBe("object"); // another client
  });

  test("one client holds at most its share of the slice; others still get ports", () => {
    const t = new NatTable(new SyncStore(1), 1, [20000, 59999], timeouts, 4096, 0.25);
    expect(t.sliceSize).toBe(2500);
    expect(t.maxPerClient).toBe(625);
    let made = 0;
    for (let i = 0; i < 2500; i++) if (typeof t.create(PROTO_UDP, 1, 1, i, 0) === "object") made++;
    expect(made).toBe(625); // before: 2500, the whole slice
    expect(t.create(PROTO_UDP, 1, 1, 9999, 0)).toBe("limit");
    expect(typeof t.create(PROTO_UDP, 2, 2, 1, 0)).toBe("object");
  });

  test("servers allocate from disjoint slices; a full slice says so", () => {
    const a = new NatTable(new SyncStore(1), 1, [20000, 20255], timeouts, 1000);
    const b = new NatTable(new SyncStore(2), 2, [20000, 20255], timeouts, 1000);
    expect(a.sliceSize).toBe(16);
    expect(a.sliceStart).not.toBe(b.sliceStart);
    for (let i = 0; i < 16; i++) expect(typeof a.create(PROTO_UDP, 1, 1, i, 0)).toBe("object");
    expect(a.create(PROTO_UDP, 1, 1, 99, 0)).toBe("ports");
  });

  test("timeouts per RFC: UDP 300 s, ICMP 60 s, TCP transitory 240 s / established 7440 s", () => {
    const t = new NatTable(new SyncStore(1), 1, [20000, 59999], timeouts, 100);
    const udp = t.create(PROTO_UDP, 1, 1, 1, 0) as Exclude<ReturnType<typeof t.create>, string>;
    const icmp = t.create(PROTO_ICMP, 1, 1, 2, 0) as typeof udp;
    const tcp = t.create(PROTO_TCP, 1, 1, 3, 0) as typeof udp;
    const est = t.create(PROTO_TCP, 1, 1, 4, 0) as typeof udp;
    t.received(est, 0, 1);
    expect([udp, icmp, tcp, est].map((b) => t.timeoutOf(b))).toEqual([300, 60, 240, 7440]);
    expect(t.sweep(59_000)).toBe(0);
    expect(t.sweep(61_000)).toBe(1); // icmp
    expect(t.sweep(241_000)).toBe(1); // tcp opening
    expect(t.sweep(301_000)).toBe(1); // udp
    expect(t.size).toBe(1);
    expect(t.inbound(PROTO_TCP, est.ext)).toBe(est);
  });

  test("bindings replicate: another server indexes them, expiry tombstones them; junk records are ignored", () => {
    const s1 = new SyncStore(1);
    const s2 = new SyncStore(2);
    s1.onPublish((r) => s2.apply(r, 1));
    const t1 = new NatTable(s1, 1, [20000, 59999], timeouts, 100);
    const t2 = new NatTable(s2, 2, [20000, 59999], timeouts, 100);
    const b = t1.create(PROTO_TCP, 3, ip("10.99.0.3"), 40000, Date.now()) as Exclude<
      ReturnType<typeof t1.create>,
      string
    >;
    t1.sent(b, ip("203.0.113.10"), Date.now());
    const seen = t2.inbound(PROTO_TCP, b.ext)!;
    expect(seen).toMatchObject({ mux: 3, port: 40000, ext: b.ext, peers: [ip("203.0.113.10")] });
    expect(t2.outbound(PROTO_TCP, 3, ip("10.99.0.3"), 40000)).toBe(seen);
    t1.sweep(Date.now() + 241_000);
    expect(t2.inbound(PROTO_TCP, b.ext)).toBeUndefined();
    s2.apply({ table: "nat", key: "6/1", value: { proto: 6, mux: "x" }, t: Date.now() + 1e6, node: 9 }, 1);
    expect(t2.size).toBe(0);
  });
});
