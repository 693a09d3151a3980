// NAT pieces without root: rewriting with incremental checksums (verified by the independent
// oracle, a full recomputation), and the binding table (mapping, filtering data, limits, port slices,
// timeouts, replication between two servers' stores).
import { describe, expect, test } from "bun:test";
import { sum16 } from "../src/net/checksum.ts";
import { newIpView, parseL4, PROTO_ICMP, PROTO_ICMP6, PROTO_TCP, PROTO_UDP, u32At } from "../src/net/ip.ts";
import { quotedPacket, quotedPacket6, rewrite, rewrite6, rewriteQuoted, rewriteQuoted6 } from "../src/net/rewrite.ts";
import { formatIp, parseIp } from "../src/net/addr.ts";
import { refChecksumsOk } from "./lib/ip-ref.ts";
import { NatTable, type Binding } from "../plugins/nat/table.ts";
import { errorBinding, ipv4Side, ipv6Side } from "../plugins/nat/side.ts";
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
        expect(refChecksumsOk(p)).toBe(true);
        const f = newIpView();
        expect(parseL4(p, f)).toBeNull();
        rewrite(p, f, 12, (s * 2654435761) >>> 0, (s >>> 7) & 0xffff);
        expect(refChecksumsOk(p)).toBe(true);
        expect(parseL4(p, f)).toBeNull();
        expect(u32At(p, f.srcOff)).toBe((s * 2654435761) >>> 0);
        rewrite(p, f, 16, ip("10.99.0.1"), 4242);
        expect(refChecksumsOk(p)).toBe(true);
        expect(parseL4(p, f)).toBeNull();
        expect(u32At(p, f.dstOff)).toBe(ip("10.99.0.1"));
        if (proto !== PROTO_ICMP) expect(f.dport).toBe(4242);
      }
    });

  test("a UDP packet without checksum keeps none", () => {
    const p = packet(PROTO_UDP, "10.0.0.1", "203.0.113.1", 1000, 53);
    p[26] = p[27] = 0;
    const f = newIpView();
    parseL4(p, f);
    rewrite(p, f, 12, ip("192.0.2.1"), 30000);
    expect(p[26]! | p[27]!).toBe(0);
    expect(sum16(p, 0, 20)).toBe(0xffff);
  });

  test("refusals: short, fragments, other protocols, ICMP that is not echo", () => {
    const f = newIpView();
    expect(parseL4(new Uint8Array([0x45, 0, 0, 10, 0, 0, 0, 0, 64, 17]), f)).toBe("short");
    expect(parseL4(new Uint8Array(10), f)).toBe("version");
    const v6 = new Uint8Array(40);
    v6[0] = 0x60;
    expect(parseL4(v6, f)).toBe("protocol"); // next header 0: an extension header
    expect(f.family).toBe(6); // what the NAT reads to pass IPv6 on, whatever the error
    const frag = packet(PROTO_UDP, "10.0.0.1", "203.0.113.1", 1, 2);
    frag[6] = 0x20; // MF
    expect(parseL4(frag, f)).toBe("fragment");
    const gre = packet(PROTO_UDP, "10.0.0.1", "203.0.113.1", 1, 2);
    gre[9] = 47;
    expect(parseL4(gre, f)).toBe("protocol");
    const unreach = packet(PROTO_ICMP, "10.0.0.1", "203.0.113.1", 1, 1);
    unreach[20] = 3;
    expect(parseL4(unreach, f)).toBe("icmp-type");
    const lying = packet(PROTO_TCP, "10.0.0.1", "203.0.113.1", 1, 2);
    lying[3] = 255; // total length beyond the buffer
    expect(parseL4(lying, f)).toBe("length");
  });
});

describe("ICMP errors through the NAT (quotedPacket, rewriteQuoted)", () => {
  /** A router's ICMP error (type/code) to `to` quoting `orig` (the first `quote` bytes, all by default). */
  function icmpError(type: number, code: number, from: string, to: string, orig: Uint8Array, quote = orig.length) {
    const p = new Uint8Array(20 + 8 + quote);
    p.set([0x45, 0, p.length >> 8, p.length & 255, 0, 0, 0, 0, 64, PROTO_ICMP], 0);
    p.set(from.split(".").map(Number), 12);
    p.set(to.split(".").map(Number), 16);
    const h = ~sum16(p, 0, 20) & 0xffff;
    p.set([h >> 8, h & 255], 10);
    p.set([type, code, 0, 0, 0, 0, 0x04, 0x4c], 20); // next-hop MTU 1100 (for type 3 code 4)
    p.set(orig.subarray(0, quote), 28);
    const c = ~sum16(p, 20, p.length) & 0xffff;
    p.set([c >> 8, c & 255], 22);
    return p;
  }

  for (const [name, proto] of [
    ["udp", PROTO_UDP],
    ["tcp", PROTO_TCP],
    ["icmp echo", PROTO_ICMP],
  ] as const)
    for (const quote of ["the whole packet", "its header and 8 bytes"] as const)
      test(`${name}, quoting ${quote}: mapped back to the client's address and port, every checksum valid`, () => {
        // the client's packet, as the NAT sent it out (source natIp:30001)
        const orig = packet(proto, "10.99.0.1", "198.51.100.7", 5000, 53, 100);
        const fo = newIpView();
        parseL4(orig, fo);
        rewrite(orig, fo, 12, ip("192.0.2.53"), 30001);
        const n = quote === "the whole packet" ? orig.length : 28;
        const err = icmpError(3, 4, "203.0.113.1", "192.0.2.53", orig, n);
        const outer = newIpView();
        expect(parseL4(err, outer)).toBe("icmp-type"); // not echo: the NAT's error path
        const q = newIpView();
        expect(quotedPacket(err, outer, q)).toBe(true);
        expect([q.proto, q.sport, u32At(err, q.srcOff), u32At(err, q.dstOff)]).toEqual([
          proto,
          30001,
          ip("192.0.2.53"),
          ip("198.51.100.7"),
        ]);
        rewriteQuoted(err, outer, q, ip("10.99.0.1"), 5000);
        expect(refChecksumsOk(err)).toBe(true); // the error's IPv4 header and ICMP checksum
        expect(u32At(err, 16)).toBe(ip("10.99.0.1"));
        expect(u32At(err, 12)).toBe(ip("203.0.113.1")); // still from the router
        expect(sum16(err, 28, 48)).toBe(0xffff); // the quoted header's checksum
        expect(u32At(err, 28 + 12)).toBe(ip("10.99.0.1"));
        const quotedPort = proto === PROTO_ICMP ? (err[48 + 4]! << 8) | err[48 + 5]! : (err[48]! << 8) | err[49]!;
        expect(quotedPort).toBe(5000);
        // what the client sent, byte for byte, when the error quoted it all
        const sent = packet(proto, "10.99.0.1", "198.51.100.7", 5000, 53, 100);
        if (n === orig.length) expect([...err.subarray(28)]).toEqual([...sent]);
        else expect([...err.subarray(28, 28 + 8 + 20)].slice(0, 26)).toEqual([...sent.subarray(0, 26)]);
      });

  test("not mapped: an error about a later fragment, about an ICMP error, one too short to quote ports, not an error type", () => {
    const orig = packet(PROTO_UDP, "192.0.2.53", "198.51.100.7", 30001, 53, 20);
    const frag = orig.slice();
    frag[7] = 10; // fragment offset 80
    const aboutError = packet(PROTO_ICMP, "192.0.2.53", "198.51.100.7", 1, 1, 20);
    aboutError[20] = 3;
    const outer = newIpView();
    const q = newIpView();
    for (const err of [
      icmpError(3, 4, "203.0.113.1", "192.0.2.53", frag),
      icmpError(11, 0, "203.0.113.1", "192.0.2.53", aboutError),
      icmpError(3, 4, "203.0.113.1", "192.0.2.53", orig, 24),
      icmpError(5, 0, "203.0.113.1", "192.0.2.53", orig), // redirect: never mapped
    ]) {
      parseL4(err, outer);
      expect(quotedPacket(err, outer, q)).toBe(false);
    }
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

// ---- NAT66 ---------------------------------------------------------------------------------

const v6 = (s: string) => parseIp(s)!;

/** An IPv6 TCP/UDP/ICMPv6 echo packet with a correct checksum (by the oracle's rules). */
function packet6(proto: number, src: string, dst: string, sport: number, dport: number, payload = 37): Uint8Array {
  const l4len = proto === PROTO_TCP ? 20 : 8;
  const p = new Uint8Array(40 + l4len + payload);
  p.set([0x60, 0, 0, 0, (l4len + payload) >> 8, (l4len + payload) & 255, proto, 64], 0);
  p.set(v6(src), 8);
  p.set(v6(dst), 24);
  for (let i = 40 + l4len; i < p.length; i++) p[i] = (i * 11) & 255;
  if (proto === PROTO_ICMP6) {
    p[40] = 128;
    p.set([sport >> 8, sport & 255], 44);
  } else {
    p.set([sport >> 8, sport & 255, dport >> 8, dport & 255], 40);
    if (proto === PROTO_TCP) p[52] = 5 << 4;
    else p.set([(l4len + payload) >> 8, (l4len + payload) & 255], 44);
  }
  const ck = 40 + (proto === PROTO_TCP ? 16 : proto === PROTO_UDP ? 6 : 2);
  const c = ~sum16(p, 40, p.length, sum16(p, 8, 40) + proto + (p.length - 40)) & 0xffff;
  p.set([c >> 8, c & 255], ck);
  return p;
}

describe("NAT66 rewriting (rewrite6, quotedPacket6, rewriteQuoted6)", () => {
  for (const [name, proto] of [
    ["tcp", PROTO_TCP],
    ["udp", PROTO_UDP],
    ["icmpv6 echo", PROTO_ICMP6],
  ] as const)
    test(`${name}: out to the NAT address and back to the client, checksums valid (oracle), 300 random packets`, () => {
      let s = 11;
      for (let i = 0; i < 300; i++) {
        s = (s * 1103515245 + 12345) >>> 0;
        const client = `2001:db8:99::${(s & 0xffff).toString(16)}`;
        const p = packet6(proto, client, `2a00:1450::${(s >>> 16).toString(16)}`, s & 0xffff, (s >>> 16) | 1, s % 300);
        expect(refChecksumsOk(p)).toBe(true);
        const f = newIpView();
        expect(parseL4(p, f)).toBeNull();
        rewrite6(p, f, "src", v6("2001:db8:201::1"), 30000 + (s % 1000));
        expect(refChecksumsOk(p)).toBe(true);
        expect(formatIp(p.subarray(8, 24))).toBe("2001:db8:201::1");
        expect(parseL4(p, f)).toBeNull();
        expect(f.sport).toBe(30000 + (s % 1000));
        // the reply: swap, then map back to the client
        const r = p.slice();
        r.set(p.subarray(24, 40), 8);
        r.set(p.subarray(8, 24), 24);
        if (proto !== PROTO_ICMP6) r.set([p[42]!, p[43]!, p[40]!, p[41]!], 40);
        else r[40] = 129;
        const fr = newIpView();
        const ck = proto === PROTO_TCP ? 56 : proto === PROTO_UDP ? 46 : 42;
        r[ck] = r[ck + 1] = 0;
        const c = ~sum16(r, 40, r.length, sum16(r, 8, 40) + proto + (r.length - 40)) & 0xffff;
        r.set([c >> 8, c & 255], ck);
        expect(parseL4(r, fr)).toBeNull();
        rewrite6(r, fr, "dst", v6(client), s & 0xffff);
        expect(refChecksumsOk(r)).toBe(true);
        expect(formatIp(r.subarray(24, 40))).toBe(formatIp(v6(client)));
      }
    });

  test("packet too big about a NATed UDP packet: mapped back to the client, the ICMPv6 checksum (pseudo-header) valid", () => {
    const sent = packet6(PROTO_UDP, "2001:db8:99::1", "2a00:1450::7", 5000, 53, 1300);
    const out = sent.slice();
    const f = newIpView();
    parseL4(out, f);
    rewrite6(out, f, "src", v6("2001:db8:201::1"), 30001);
    // a router's packet too big to the NAT address, quoting what fits in 1280 bytes
    const quote = out.subarray(0, 1280 - 48);
    const e = new Uint8Array(48 + quote.length);
    e.set([0x60, 0, 0, 0, (8 + quote.length) >> 8, (8 + quote.length) & 255, 58, 64], 0);
    e.set(v6("2a00:1::1"), 8);
    e.set(v6("2001:db8:201::1"), 24);
    e.set([2, 0, 0, 0, 0, 0, 0x04, 0xd0], 40); // MTU 1232
    e.set(quote, 48);
    const c = ~sum16(e, 40, e.length, sum16(e, 8, 40) + 58 + (e.length - 40)) & 0xffff;
    e.set([c >> 8, c & 255], 42);
    const outer = newIpView();
    expect(parseL4(e, outer)).toBe("icmp-type");
    const q = newIpView();
    expect(quotedPacket6(e, outer, q)).toBe(true);
    expect([q.proto, q.sport, formatIp(e.subarray(q.dstOff, q.dstOff + 16))]).toEqual([
      PROTO_UDP,
      30001,
      "2a00:1450::7",
    ]);
    rewriteQuoted6(e, outer, q, v6("2001:db8:99::1"), 5000);
    expect(refChecksumsOk(e)).toBe(true);
    expect(formatIp(e.subarray(24, 40))).toBe("2001:db8:99::1");
    expect([...e.subarray(48, 48 + 44)]).toEqual([...sent.subarray(0, 44)]); // the quoted header and UDP header as sent
    // an error about an ICMPv6 error, or with a quoted extension header, is not mapped
    e[48 + 6] = 0; // hop-by-hop options as the next header
    expect(quotedPacket6(e, outer, q)).toBe(false);
  });
});

describe("NAT66 binding table (table nat6)", () => {
  const timeouts = { udp: 300, tcpEstablished: 7440, tcpTransitory: 240, icmp: 60 };
  const hex = (s: string) => Buffer.from(v6(s)).toString("hex");

  test("its own table and slice pool; replicated; junk and IPv4-shaped records refused", () => {
    const s1 = new SyncStore(1);
    const s2 = new SyncStore(2);
    s1.onPublish((r) => s2.apply(r, 1));
    const t1 = new NatTable<string>(s1, 1, [20000, 59999], timeouts, 100, 1, () => true, 1, 16, null, 6);
    const t2 = new NatTable<string>(s2, 2, [20000, 59999], timeouts, 100, 1, () => true, 2, 16, null, 6);
    const four = new NatTable(s2, 2, [20000, 59999], timeouts, 100);
    const b = t1.create(PROTO_TCP, 3, hex("2001:db8:99::3"), 40000, Date.now()) as Binding<string>;
    t1.sent(b, hex("2a00:1450::7"), Date.now());
    expect(s1.get("nat6", `6/${b.ext}`)).toBeDefined();
    expect(s1.get("nat", `6/${b.ext}`)).toBeUndefined();
    expect(t2.inbound(PROTO_TCP, b.ext)).toMatchObject({ ip: hex("2001:db8:99::3"), peers: [hex("2a00:1450::7")] });
    expect(four.inbound(PROTO_TCP, b.ext)).toBeUndefined(); // the IPv4 table never sees it
    expect(t1.timeoutOf(t1.create(PROTO_ICMP6, 3, hex("2001:db8:99::3"), 7, 0) as Binding<string>)).toBe(60);
    const refused = s2.recordsRefused;
    for (const value of [
      { ...b, ext: 20001, ip: 12345 }, // an IPv4-shaped address
      { ...b, ext: 20002, ip: "zz".repeat(16) },
      { ...b, ext: 20003, proto: PROTO_ICMP }, // ICMPv4 in the IPv6 table
      { ...b, ext: 20004, peers: Array.from({ length: 33 }, () => hex("2a00::1")) }, // over MAX_PEERS
    ])
      s2.apply({ table: "nat6", key: `${value.proto}/${value.ext}`, value, t: Date.now() + 5, node: 1 }, 1);
    expect(s2.recordsRefused - refused).toBe(4);
  });
});

describe("nat options", () => {
  test("address, address6 or both; neither is refused with the reason; allow/deny take IPv6 prefixes", async () => {
    const { default: nat } = await import("../plugins/nat/index.ts");
    const v = await import("valibot");
    for (const o of [
      { address: "192.0.2.1" },
      { address6: "2001:db8:201::1" },
      { address: "192.0.2.1", address6: "2001:db8:201::1" },
    ])
      expect(v.safeParse(nat.options, { ...o, allow: ["2001:db8:203::/64", "198.51.100.0/24"] }).success).toBe(true);
    const none = v.safeParse(nat.options, {});
    expect(none.success).toBe(false);
    expect(none.issues?.[0]?.message).toContain("give address (IPv4), address6 (IPv6) or both");
    expect(v.safeParse(nat.options, { address: "2001:db8::1" }).success).toBe(false);
    expect(v.safeParse(nat.options, { address6: "192.0.2.1" }).success).toBe(false);
    expect(v.safeParse(nat.options, { address: "192.0.2.1", allow: ["2001:db8::/129"] }).success).toBe(false);
  });
});

describe("forged ICMP errors at the NAT (errorBinding): an attacker on the internet cannot map one to a client", () => {
  const timeouts = { udp: 300, tcpEstablished: 7440, tcpTransitory: 240, icmp: 60 };
  /** A frag-needed to the NAT address quoting a UDP packet `qsrc`:`qport` → `qdst`. */
  function forged(qsrc: string, qport: number, qdst: string): Uint8Array {
    const quoted = packet(PROTO_UDP, qsrc, qdst, qport, 53, 20);
    const p = new Uint8Array(28 + quoted.length);
    p.set([0x45, 0, p.length >> 8, p.length & 255, 0, 0, 0, 0, 64, PROTO_ICMP], 0);
    p.set([203, 0, 113, 66], 12);
    p.set([192, 0, 2, 53], 16);
    const h = ~sum16(p, 0, 20) & 0xffff;
    p.set([h >> 8, h & 255], 10);
    p.set([3, 4, 0, 0, 0, 0, 0x02, 0x40], 20); // MTU 576: what a PMTU attack would push
    p.set(quoted, 28);
    return p;
  }
  test("unknown port, a destination the binding never sent to, a quoted source that is not the NAT: never mapped; the genuine one is", () => {
    const t = new NatTable(new SyncStore(1), 1, [20000, 59999], timeouts, 100);
    const side = ipv4Side(t, ip("192.0.2.53"));
    const b = t.create(PROTO_UDP, 1, ip("10.99.0.1"), 5000, Date.now()) as Binding<number>;
    t.sent(b, ip("198.51.100.7"), Date.now());
    const outer = newIpView();
    const q = newIpView();
    const verdict = (pkt: Uint8Array) => (parseL4(pkt, outer), errorBinding(side, pkt, outer, q));
    const other = b.ext === 59999 ? 20000 : b.ext + 1;
    expect(verdict(forged("192.0.2.53", other, "198.51.100.7"))).toBe("no-binding");
    expect(verdict(forged("192.0.2.53", b.ext, "198.51.100.8"))).toBe("filtered");
    expect(verdict(forged("192.0.2.54", b.ext, "198.51.100.7"))).toBe("unsolicited");
    expect(verdict(forged("192.0.2.53", b.ext, "198.51.100.7"))).toBe(b);
    // a flood of guesses at every port with a peer it never used: none maps
    let mapped = 0;
    for (let port = 20000; port < 60000; port += 7)
      if (typeof verdict(forged("192.0.2.53", port, "203.0.113.99")) === "object") mapped++;
    expect(mapped).toBe(0);
  });
});

test("NAT66: a forged packet too big (foreign peer, unknown port, not from the NAT address) is never mapped; the genuine one is", () => {
  const t = new NatTable<string>(
    new SyncStore(1),
    1,
    [20000, 59999],
    { udp: 300, tcpEstablished: 7440, tcpTransitory: 240, icmp: 60 },
    100,
    1,
    () => true,
    1,
    16,
    null,
    6,
  );
  const nat = v6("2001:db8:201::1");
  const side = ipv6Side(t, nat);
  const hexOf = (s: string) => Buffer.from(v6(s)).toString("hex");
  const b = t.create(PROTO_UDP, 1, hexOf("2001:db8:99::1"), 5000, Date.now()) as Binding<string>;
  t.sent(b, hexOf("2a00:1450::7"), Date.now());
  const forged = (src: string, port: number, dst: string) => {
    const q = packet6(PROTO_UDP, src, dst, port, 53, 20);
    const e = new Uint8Array(48 + q.length);
    e.set([0x60, 0, 0, 0, (8 + q.length) >> 8, (8 + q.length) & 255, 58, 64], 0);
    e.set(v6("2a00:1::66"), 8);
    e.set(nat, 24);
    e.set([2, 0, 0, 0, 0, 0, 0x05, 0x00], 40);
    e.set(q, 48);
    return e;
  };
  const outer = newIpView();
  const q = newIpView();
  const verdict = (e: Uint8Array) => (parseL4(e, outer), errorBinding(side, e, outer, q));
  const other = b.ext === 59999 ? 20000 : b.ext + 1;
  expect(verdict(forged("2001:db8:201::1", b.ext, "2a00:1450::8"))).toBe("filtered");
  expect(verdict(forged("2001:db8:201::1", other, "2a00:1450::7"))).toBe("no-binding");
  expect(verdict(forged("2001:db8:201::2", b.ext, "2a00:1450::7"))).toBe("unsolicited");
  expect(verdict(forged("2001:db8:201::1", b.ext, "2a00:1450::7"))).toBe(b);
});
