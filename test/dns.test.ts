// The dns plugin (plugins/dns/index.ts), no root: in-process behind a Server on loopback with
// SATP clients (queries inside the tunnel, replies decrypted and checked field by field), config
// errors, and a fuzz of the plugin's packet handler. Its wire codec: dns-wire.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as v from "valibot";
import { validateConfig } from "../src/config.ts";
import { TYPE } from "../plugins/dns/wire.ts";
import { compileZones } from "../plugins/dns/zone.ts";
import { Logger } from "../src/log.ts";
import { formatIp, parseIp } from "../src/net/addr.ts";
import { checksum, sum16 } from "../src/net/checksum.ts";
import { buildUdp, checksumsOk, newIpView, parseL4 } from "../src/net/ip.ts";
import { refChecksumsOk } from "./lib/ip-ref.ts";
import type { PluginContext, PluginInstance } from "../src/pipeline.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import dnsPlugin from "../plugins/dns/index.ts";
import { Client, sendInner, until } from "./lib/satp-client.ts";
import { Rng } from "./lib/fuzz.ts";
import { answers, decode, query, type QueryOpts, wireName } from "./lib/dns.ts";
import { bytes, hex } from "./lib/util.ts";

// ---- the plugin, in-process ---------------------------------------------------------------------

const ZONES = [
  {
    name: "example.test",
    ttl: 300,
    soa: { serial: 2024010101 },
    ns: ["ns1", "ns2.example.test."],
    records: [
      { name: "ns1", type: "A", value: "10.99.0.53" },
      { name: "ns2", type: "AAAA", value: "fd00:99::53" },
      { name: "www", type: "A", value: "10.99.0.10" },
      { name: "www", type: "A", value: "10.99.0.11" },
      { name: "www", type: "AAAA", value: "fd00:99::10" },
      { name: "web", type: "CNAME", value: "alias" },
      { name: "alias.example.test", type: "CNAME", value: "www" },
      { name: "ext", type: "CNAME", value: "www.example.com." },
      { name: "dangling", type: "CNAME", value: "missing" },
      { name: "@", type: "TXT", value: ["v=spf1 -all"] },
      { name: "long", type: "TXT", value: "x".repeat(300) },
      { name: "mid", type: "TXT", value: Array.from({ length: 7 }, (_, i) => `${i}`.repeat(100)) },
      { name: "big", type: "TXT", value: Array.from({ length: 14 }, (_, i) => `${i % 10}`.repeat(100)) },
      { name: "_sip._udp", type: "SRV", priority: 10, weight: 5, port: 5060, target: "sip" },
      { name: "sip", type: "A", value: "10.99.0.20" },
      { name: "@", type: "MX", preference: 10, exchange: "mail" },
      { name: "mail", type: "A", value: "10.99.0.25", ttl: 60 },
      { name: "deep.a.b", type: "A", value: "10.99.0.30" },
    ],
  },
  {
    name: "0.99.10.in-addr.arpa.",
    records: [
      { name: "53", type: "PTR", value: "ns1.example.test." },
      { name: "10", type: "PTR", value: "www.example.test." },
    ],
  },
];
const DNS4 = "10.99.0.53";
const DNS6 = "fd00:99::53";
const OPTIONS = { address: [DNS4, DNS6], zones: ZONES };
const quiet = new Logger([], "text");

describe("dns plugin in a server on loopback", () => {
  let server: Server;
  let port = 0;
  const a = new Client(1, "secret of a");
  const resolver = new Client(2, "secret of resolver");
  let sport = 40000;

  /** Sends DNS message `m` from a (10.99.0.1 or fd00:99::1) to the service address; the decrypted reply packet. */
  async function exchange(m: Uint8Array, v6 = false, to = v6 ? DNS6 : DNS4): Promise<Uint8Array> {
    const src = parseIp(v6 ? "fd00:99::1" : "10.99.0.1")!;
    const before = a.got.length;
    const sp = sport++;
    sendInner(a, port, buildUdp(src, parseIp(to)!, sp, 53, m));
    await until("a reply", () => a.got.length > before);
    const r = a.got[before]!;
    const f = newIpView();
    expect(parseL4(r, f)).toBeNull();
    expect(checksumsOk(r, f)).toBe(true); // IPv4 header + UDP checksum incl. pseudo-header
    expect(refChecksumsOk(r)).toBe(true); // and by the test's independent oracle
    expect(formatIp(r.subarray(f.srcOff, f.srcOff + (v6 ? 16 : 4)))).toBe(to);
    expect(formatIp(r.subarray(f.dstOff, f.dstOff + (v6 ? 16 : 4)))).toBe(formatIp(src));
    expect([f.sport, f.dport]).toEqual([53, sp]);
    return r.subarray(f.payload, f.end);
  }
  const ask = async (name: string, type: number, o: QueryOpts = {}) => {
    const m = decode(await exchange(query(name, type, o)));
    expect(m.id).toBe(o.id ?? 0x1234);
    expect(m.qr).toBe(true);
    return m;
  };
  const events = (e: string) => server.pluginEvents.get(`dns\u0000${e}`) ?? 0;

  beforeAll(async () => {
    const cfg = validateConfig({
      mode: "server",
      listen: ["127.0.0.1:0"],
      admin: { enabled: false },
      clients: [
        { name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32", "fd00:99::1/128"] },
        { name: "resolver", mux: 2, passphrase: "secret of resolver", routes: ["10.99.0.2/32"] },
      ],
      plugins: [{ use: "dns", ...OPTIONS }, { use: "routes" }],
    });
    server = await Server.start(cfg, quiet, BUILTIN, process.cwd());
    port = server.listeners[0]!.udp.port;
    await Promise.all([a.open(), resolver.open()]);
    for (const c of [a, resolver])
      c.send(port, buildUdp(parseIp(`10.99.0.${c.mux}`)!, parseIp("10.250.0.1")!, 1, 9, bytes("hi")));
    await until("endpoints", () => server.conns.all().every((c) => c.endpoint !== null));
  });
  afterAll(() => {
    server.stop();
    for (const c of [a, resolver]) c.sock.close();
  });

  test("A: configured records in order, AA, id/RD/question echoed in the asker's case", async () => {
    const m = await ask("WWW.Example.TEST", TYPE.A, { id: 0x4242 });
    expect([m.aa, m.rd, m.tc, m.rcode]).toEqual([true, true, false, 0]);
    expect(m.question).toEqual({ name: "WWW.Example.TEST", type: 1, cls: 1 });
    expect(answers(m)).toEqual(["WWW.Example.TEST 300 1 10.99.0.10", "WWW.Example.TEST 300 1 10.99.0.11"]);
    expect([m.authority.length, m.additional.length]).toEqual([0, 0]);
    const noRd = await ask("www.example.test", TYPE.A, { rd: false });
    expect(noRd.rd).toBe(false);
  });

  test("AAAA over IPv4 and over IPv6 to the IPv6 service address", async () => {
    expect(answers(await ask("www.example.test", TYPE.AAAA))).toEqual(["www.example.test 300 28 fd00:99::10"]);
    const m = decode(await exchange(query("www.example.test", TYPE.AAAA), true));
    expect(answers(m)).toEqual(["www.example.test 300 28 fd00:99::10"]);
  });

  test("CNAME chain inside the zone: each CNAME and the target's records", async () => {
    const m = await ask("web.example.test", TYPE.A);
    expect(m.rcode).toBe(0);
    expect(answers(m)).toEqual([
      "web.example.test 300 5 alias.example.test",
      "alias.example.test 300 5 www.example.test",
      "www.example.test 300 1 10.99.0.10",
      "www.example.test 300 1 10.99.0.11",
    ]);
    expect(answers(await ask("web.example.test", TYPE.CNAME))).toEqual(["web.example.test 300 5 alias.example.test"]);
    expect(answers(await ask("ext.example.test", TYPE.A))).toEqual(["ext.example.test 300 5 www.example.com"]);
    const dangling = await ask("dangling.example.test", TYPE.A);
    expect(dangling.rcode).toBe(3); // RFC 6604: the rcode of the last name
    expect(answers(dangling)).toEqual(["dangling.example.test 300 5 missing.example.test"]);
    expect(dangling.authority.map((r) => r.type)).toEqual([TYPE.SOA]);
  });

  test("TXT, split long strings; PTR in a reverse zone", async () => {
    expect(answers(await ask("example.test", TYPE.TXT))).toEqual(['example.test 300 16 ["v=spf1 -all"]']);
    const long = await ask("long.example.test", TYPE.TXT);
    expect(JSON.parse(long.answer[0]!.data)).toEqual(["x".repeat(255), "x".repeat(45)]);
    expect(answers(await ask("53.0.99.10.in-addr.arpa", TYPE.PTR))).toEqual([
      "53.0.99.10.in-addr.arpa 300 12 ns1.example.test",
    ]);
  });

  test("SRV (target uncompressed) and MX with in-zone A as additional records", async () => {
    const srv = await ask("_sip._udp.example.test", TYPE.SRV);
    expect(answers(srv)).toEqual(["_sip._udp.example.test 300 33 10 5 5060 sip.example.test"]);
    expect(hex(srv.answer[0]!.raw.subarray(6))).toBe(hex(new Uint8Array(wireName("sip.example.test"))));
    expect(srv.additional.map((r) => `${r.name} ${r.data}`)).toEqual(["sip.example.test 10.99.0.20"]);
    const mx = await ask("example.test", TYPE.MX);
    expect(answers(mx)).toEqual(["example.test 300 15 10 mail.example.test"]);
    expect(mx.additional.map((r) => `${r.name} ${r.ttl} ${r.data}`)).toEqual(["mail.example.test 60 10.99.0.25"]);
  });

  test("SOA and NS at the apex (defaults derived from the zone; glue for NS)", async () => {
    expect(answers(await ask("example.test", TYPE.SOA))).toEqual([
      "example.test 300 6 ns1.example.test hostmaster.example.test 2024010101 3600 600 604800 60",
    ]);
    const ns = await ask("example.test", TYPE.NS);
    expect(answers(ns)).toEqual(["example.test 300 2 ns1.example.test", "example.test 300 2 ns2.example.test"]);
    expect(ns.additional.map((r) => `${r.name} ${r.data}`)).toEqual([
      "ns1.example.test 10.99.0.53",
      "ns2.example.test fd00:99::53",
    ]);
    const rev = await ask("0.99.10.in-addr.arpa", TYPE.SOA);
    expect(answers(rev)).toEqual([
      "0.99.10.in-addr.arpa 300 6 ns.0.99.10.in-addr.arpa hostmaster.0.99.10.in-addr.arpa 1 3600 600 604800 60",
    ]);
  });

  test("NXDOMAIN and NODATA carry the SOA with the negative TTL; empty non-terminals are NODATA", async () => {
    const before = events("nxdomain");
    const nx = await ask("nope.example.test", TYPE.A);
    expect([nx.rcode, nx.aa, nx.answer.length]).toEqual([3, true, 0]);
    expect(nx.authority.map((r) => `${r.name} ${r.ttl} ${r.type}`)).toEqual(["example.test 60 6"]);
    expect(events("nxdomain")).toBe(before + 1);
    const nodata = await ask("www.example.test", TYPE.MX);
    expect([nodata.rcode, nodata.aa, nodata.answer.length, nodata.authority[0]!.type]).toEqual([0, true, 0, TYPE.SOA]);
    for (const ent of ["a.b.example.test", "b.example.test"]) {
      const m = await ask(ent, TYPE.A);
      expect([m.rcode, m.answer.length, m.authority.length]).toEqual([0, 0, 1]);
    }
    expect(answers(await ask("deep.a.b.example.test", TYPE.A))).toEqual(["deep.a.b.example.test 300 1 10.99.0.30"]);
    expect((await ask("x.deep.a.b.example.test", TYPE.A)).rcode).toBe(3);
  });

  test("REFUSED for names outside every zone, other classes and zone transfers", async () => {
    const before = events("refused");
    for (const [name, type, cls] of [
      ["www.example.com", TYPE.A, 1],
      ["test", TYPE.A, 1],
      ["", TYPE.NS, 1],
      ["version.bind", TYPE.TXT, 3],
      ["example.test", TYPE.AXFR, 1],
    ] as const) {
      const m = await ask(name, type, { cls });
      expect([m.rcode, m.aa, m.answer.length, m.authority.length]).toEqual([5, false, 0, 0]);
      expect(m.question).toEqual({ name, type, cls });
    }
    expect(events("refused")).toBe(before + 5);
  });

  test("ANY gets one RRset (RFC 8482): the name's first type; SOA at the apex", async () => {
    expect(answers(await ask("www.example.test", TYPE.ANY))).toEqual([
      "www.example.test 300 1 10.99.0.10",
      "www.example.test 300 1 10.99.0.11",
    ]);
    expect((await ask("example.test", TYPE.ANY)).answer.map((r) => r.type)).toEqual([TYPE.SOA]);
    expect(answers(await ask("web.example.test", TYPE.ANY))).toEqual(["web.example.test 300 5 alias.example.test"]);
  });

  test("EDNS: OPT answered (1232, DO copied); BADVERS for version 1", async () => {
    const m = await ask("www.example.test", TYPE.A, { edns: 4096, dnssecOk: true });
    expect(m.additional.map((r) => [r.type, r.cls, r.ttl, r.raw.length])).toEqual([[41, 1232, 0x8000, 0]]);
    const bad = await ask("www.example.test", TYPE.A, { edns: 1232, version: 1 });
    expect([bad.rcode, bad.answer.length]).toEqual([0, 0]);
    expect(bad.additional.map((r) => [r.type, r.ttl >>> 24])).toEqual([[41, 1]]); // extended rcode 16
    expect(events("badvers")).toBe(1);
  });

  test("TC when the answer exceeds the asker's limit: 512 without EDNS, min(its size, 1232) with", async () => {
    const small = await ask("mid.example.test", TYPE.TXT);
    expect([small.tc, small.answer.length, small.question?.name]).toEqual([true, 0, "mid.example.test"]);
    const fits = await ask("mid.example.test", TYPE.TXT, { edns: 1232 });
    expect([fits.tc, fits.answer.length]).toEqual([false, 1]);
    expect(JSON.parse(fits.answer[0]!.data)).toHaveLength(7);
    const tooBig = await ask("big.example.test", TYPE.TXT, { edns: 4096 });
    expect([tooBig.tc, tooBig.answer.length, tooBig.additional.map((r) => r.type)]).toEqual([true, 0, [41]]);
    expect(events("truncated")).toBe(2);
  });

  test("FORMERR for garbage after a valid header; NOTIMP for other opcodes; no reply to responses", async () => {
    const garbage = new Uint8Array([0x77, 0x88, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 0x01]);
    const f = decode(await exchange(garbage));
    expect([f.id, f.qr, f.rd, f.rcode, ...f.counts]).toEqual([0x7788, true, true, 1, 0, 0, 0, 0]);
    const trailing = new Uint8Array([...query("www.example.test", 1), 0, 0]);
    expect(decode(await exchange(trailing)).rcode).toBe(1);
    const update = query("example.test", TYPE.SOA);
    update[2] = 5 << 3;
    const n = decode(await exchange(update));
    expect([n.rcode, (n.flags >> 11) & 15, n.question]).toEqual([4, 5, null]);
    expect(events("formerr")).toBe(2);
  });

  test("too short for a header, QR set, bad checksum: counted drops, no reply", async () => {
    const drops = (r: string) => server.pluginDrops.get(r) ?? 0;
    const before = a.got.length;
    const src = parseIp("10.99.0.1")!;
    const dst = parseIp(DNS4)!;
    a.send(port, buildUdp(src, dst, 5353, 53, bytes(1, 2, 3, 4, 5)));
    const resp = query("www.example.test", 1);
    resp[2]! |= 0x80;
    a.send(port, buildUdp(src, dst, 5353, 53, resp));
    const bad = buildUdp(src, dst, 5353, 53, query("www.example.test", 1));
    bad[bad.length - 1]! ^= 0xff;
    a.send(port, bad);
    await until("three drops", () => drops("dns-malformed") + drops("dns-response") + drops("dns-checksum") === 3);
    expect([drops("dns-malformed"), drops("dns-response"), drops("dns-checksum")]).toEqual([1, 1, 1]);
    await Bun.sleep(50);
    expect(a.got.length).toBe(before);
  });

  test("TCP to port 53: a SYN is accepted (SYN-ACK), a segment of no connection is reset at once; other ports go to the next plugin", async () => {
    const syn = new Uint8Array(40);
    syn.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6], 0);
    syn.set(parseIp("10.99.0.1")!, 12);
    syn.set(parseIp(DNS4)!, 16);
    syn.set([0x9c, 0x40, 0, 53, 0, 0, 0, 7, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff], 20);
    syn.set([checksum(syn, 0, 20) >> 8, checksum(syn, 0, 20) & 255], 10);
    const ck = checksum(syn, 20, 40, sum16(syn, 12, 20) + 6 + 20);
    syn.set([ck >> 8, ck & 255], 36);
    const before = a.got.length;
    a.send(port, syn);
    await until("a reset", () => a.got.length > before);
    const synAck = a.got[before]!;
    expect(refChecksumsOk(synAck)).toBe(true);
    expect([synAck[33], (synAck[28]! << 24) | (synAck[29]! << 16) | (synAck[30]! << 8) | synAck[31]!]).toEqual([
      0x12, 8,
    ]);
    expect(events("tcp-accepted")).toBe(1);
    // a bare ACK from another port: no such connection, RST with SEQ = its ACK (RFC 9293 3.10.7.1)
    syn.set([0x9c, 0x41], 20);
    syn.set([0, 0, 0x30, 0x39], 28);
    syn[33] = 0x10;
    syn.set([0, 0], 36);
    const ck2 = checksum(syn, 20, 40, sum16(syn, 12, 20) + 6 + 20);
    syn.set([ck2 >> 8, ck2 & 255], 36);
    const before2 = a.got.length;
    a.send(port, syn);
    await until("a reset", () => a.got.length > before2);
    const rst = a.got[before2]!;
    expect(refChecksumsOk(rst)).toBe(true);
    expect([rst[33], (rst[24]! << 24) | (rst[25]! << 16) | (rst[26]! << 8) | rst[27]!]).toEqual([0x04, 0x3039]);
    expect(events("tcp-reset")).toBe(1);
    const noroute = server.drops.noroute;
    a.send(port, buildUdp(parseIp("10.99.0.1")!, parseIp(DNS4)!, 5353, 54, query("www.example.test", 1)));
    await until("noroute", () => server.drops.noroute === noroute + 1);
  });

  test("describe(): zones and record counts", () => {
    const d = server.chain.entries[0]!.instance.describe!() as {
      zones: { name: string; records: number; types: Record<string, number> }[];
    };
    expect(d.zones.map((z) => [z.name, z.records])).toEqual([
      ["0.99.10.in-addr.arpa", 4],
      ["example.test", 21],
    ]);
    expect(d.zones[1]!.types).toEqual({ SOA: 1, NS: 2, A: 6, AAAA: 2, CNAME: 4, TXT: 4, SRV: 1, MX: 1 });
  });
});

describe("outside: next", () => {
  let server: Server;
  let port = 0;
  const a = new Client(1, "pa");
  const resolver = new Client(2, "pr");
  beforeAll(async () => {
    const cfg = validateConfig({
      mode: "server",
      listen: ["127.0.0.1:0"],
      admin: { enabled: false },
      clients: [
        { mux: 1, passphrase: "pa", routes: ["10.99.0.1/32"] },
        // a real resolver behind the tunnel owns the same address for everything else
        { mux: 2, passphrase: "pr", routes: ["10.99.0.53/32"] },
      ],
      plugins: [{ use: "dns", ...OPTIONS, outside: "next", tcp: "next" }, { use: "routes" }],
    });
    server = await Server.start(cfg, quiet, BUILTIN, process.cwd());
    port = server.listeners[0]!.udp.port;
    await Promise.all([a.open(), resolver.open()]);
    for (const [c, src] of [
      [a, "10.99.0.1"],
      [resolver, "10.99.0.53"],
    ] as const)
      c.send(port, buildUdp(parseIp(src)!, parseIp("10.250.0.1")!, 1, 9, bytes("hi"))); // noroute: endpoints learned
    await until("endpoints", () => server.conns.all().every((c) => c.endpoint !== null));
  });
  afterAll(() => {
    server.stop();
    for (const c of [a, resolver]) c.sock.close();
  });

  test("names outside the zones pass to routes (the resolver gets the query); ours are answered", async () => {
    const q = buildUdp(parseIp("10.99.0.1")!, parseIp(DNS4)!, 4444, 53, query("www.example.com", TYPE.A));
    a.send(port, q);
    await until("the resolver gets the query", () => resolver.got.length === 1);
    expect(hex(resolver.got[0]!)).toBe(hex(q));
    expect(server.pluginEvents.get("dns\u0000outside")).toBe(1);
    a.send(port, buildUdp(parseIp("10.99.0.1")!, parseIp(DNS4)!, 4444, 53, query("www.example.test", TYPE.A)));
    await until("a's answer", () => a.got.length === 1);
    const r = a.got[0]!;
    expect(answers(decode(r.subarray(28)))).toEqual([
      "www.example.test 300 1 10.99.0.10",
      "www.example.test 300 1 10.99.0.11",
    ]);
    // tcp: "next": a SYN goes to the resolver too
    const syn = new Uint8Array(40);
    syn.set([0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6], 0);
    syn.set(parseIp("10.99.0.1")!, 12);
    syn.set(parseIp(DNS4)!, 16);
    syn.set([0x9c, 0x40, 0, 53, 0, 0, 0, 7, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff], 20);
    a.send(port, syn);
    await until("the resolver gets the SYN", () => resolver.got.length === 2);
  });
});

// ---- options ------------------------------------------------------------------------------------

describe("options", () => {
  const problems = (opts: Record<string, unknown>) => {
    const r = v.safeParse(dnsPlugin.options, opts);
    return r.success ? [] : r.issues.map((i) => `${v.getDotPath(i) ?? "(options)"}: ${i.message}`);
  };
  const zone = (records: unknown[], extra: Record<string, unknown> = {}) => ({
    address: [DNS4],
    zones: [{ name: "example.test", records, ...extra }],
  });

  test("the example options are valid; defaults filled in", () => {
    const r = v.safeParse(dnsPlugin.options, OPTIONS);
    expect(r.success).toBe(true);
    if (!r.success) return;
    expect([r.output.outside, r.output.tcp, r.output.zones[1]!.ttl, r.output.zones[1]!.ns]).toEqual([
      "refused",
      "answer",
      300,
      ["ns"],
    ]);
    expect(r.output.zones[1]!.soa).toEqual({ serial: 1, refresh: 3600, retry: 600, expire: 604800, minimum: 60 });
  });

  test("record values are checked by type", () => {
    expect(problems(zone([{ name: "a", type: "A", value: "fd00::1" }]))).toEqual([
      "zones.0.records.0.value: expected an IPv4 address",
    ]);
    expect(problems(zone([{ name: "a", type: "AAAA", value: "10.0.0.1" }]))).toEqual([
      "zones.0.records.0.value: expected an IPv6 address",
    ]);
    expect(problems(zone([{ name: "a", type: "CNAME", value: "bad name!" }]))[0]).toStartWith(
      "zones.0.records.0.value: label",
    );
    expect(problems(zone([{ name: "*.a", type: "A", value: "10.0.0.1" }]))[0]).toContain("no wildcards");
    expect(problems(zone([{ name: "s", type: "SRV", priority: 1, weight: 2, port: 70000, target: "t" }]))).toHaveLength(
      1,
    );
    expect(problems(zone([{ name: "s", type: "SRV", priority: 1, weight: 2, target: "t" }]))[0]).toStartWith(
      "zones.0.records.0.port",
    );
    expect(problems(zone([{ name: "a", type: "A", value: "10.0.0.1", color: "red" }]))).toHaveLength(1);
    expect(problems({ ...zone([]), extra: 1 })).toHaveLength(1);
    expect(problems({ address: ["nope"], zones: [{ name: "x.test" }] })).toEqual([
      "address.0: expected an IPv4 or IPv6 address",
    ]);
  });

  test("zone-level problems name the record", () => {
    expect(problems(zone([{ name: "www.example.com.", type: "A", value: "10.0.0.1" }]))).toEqual([
      "zones.0.records.0.name: www.example.com is not inside zone example.test",
    ]);
    expect(problems(zone([{ name: "@", type: "CNAME", value: "x" }]))).toEqual([
      "zones.0.records.0: a CNAME cannot be at the zone apex",
    ]);
    expect(
      problems(
        zone([
          { name: "a", type: "A", value: "10.0.0.1" },
          { name: "a", type: "CNAME", value: "b" },
        ]),
      ),
    ).toEqual(["zones.0.records.1: a.example.test has a CNAME and other records"]);
    expect(
      problems(
        zone([
          { name: "a", type: "CNAME", value: "b" },
          { name: "b", type: "CNAME", value: "c" },
          { name: "c", type: "CNAME", value: "A.example.test." },
        ]),
      ),
    ).toEqual([
      "zones.0.records.0.value: CNAME loop: a.example.test → b.example.test → c.example.test → a.example.test",
    ]);
    expect(
      problems(
        zone([
          { name: "a", type: "A", value: "10.0.0.1" },
          { name: "A.example.test", type: "A", value: "10.0.0.1" },
        ]),
      ),
    ).toEqual(["zones.0.records.1: duplicate record (a.example.test A)"]);
    expect(
      problems(
        zone([
          { name: "a", type: "A", value: "10.0.0.1" },
          { name: "a", type: "A", value: "10.0.0.2", ttl: 5 },
        ]),
      ),
    ).toEqual(["zones.0.records.1.ttl: records of a.example.test A must share one TTL (300 before)"]);
    expect(
      problems({
        address: [DNS4],
        zones: [
          { name: "example.test", records: [{ name: "x.sub", type: "A", value: "10.0.0.1" }] },
          { name: "sub.example.test" },
          { name: "Example.Test." },
        ],
      }),
    ).toEqual([
      "zones.2.name: zone example.test is listed twice",
      "zones.0.records.0.name: x.sub.example.test belongs to zone sub.example.test, listed separately",
    ]);
    expect(problems(zone([], { soa: { rname: "dns-admin@example.test" } }))).toEqual([]);
    const { zones } = compileZones(
      v.parse(dnsPlugin.options, zone([], { soa: { rname: "dns-admin@example.test" } })).zones,
    );
    expect(zones[0]!.nodes.get("example.test")!.sets.get(TYPE.SOA)!.rdata[0]![1]).toMatchObject({
      name: { key: "dns-admin.example.test" },
    });
  });
});

// ---- identical answers and fuzz -----------------------------------------------------------------

/** A plugin instance outside any server (counters and log are no-ops). */
async function instance(options: unknown): Promise<PluginInstance> {
  const ctx = {
    log: quiet,
    counter: () => ({ inc() {} }),
    send: () => true, // DNS over TCP's segments (dns-tcp.test.ts looks at them)
  } as unknown as PluginContext;
  return await dnsPlugin.create(ctx, v.parse(dnsPlugin.options, options));
}

const packet = (data: Uint8Array) => ({ from: null as never, type: 0x0800, data, listener: 0, now: 0 });

describe("identical answers, fuzz", () => {
  test("two instances (two servers) answer every query byte for byte alike", async () => {
    const s1 = await instance(OPTIONS);
    const s2 = await instance(OPTIONS);
    const names = [
      "www.example.test",
      "web.example.test",
      "nope.example.test",
      "example.test",
      "x.org",
      "mid.example.test",
    ];
    for (const name of names)
      for (const type of [1, 2, 6, 15, 16, 28, 33, 255])
        for (const edns of [undefined, 1232]) {
          const p = buildUdp(parseIp("10.99.0.1")!, parseIp(DNS4)!, 1000, 53, query(name, type, { edns }));
          const r1 = s1.handle(packet(p.slice()));
          const r2 = s2.handle(packet(p.slice()));
          expect(r1.kind).toBe("reply");
          expect(r1).toEqual(r2);
        }
  });

  test("≥ 50k random and mutated inputs: no exception, every reply well-formed", async () => {
    const p = await instance(OPTIONS);
    const rng = new Rng(0xd15ea5e);
    const seeds = [
      query("www.example.test", 1),
      query("web.example.test", 1, { edns: 1232 }),
      query("_sip._udp.example.test", 33, { edns: 4096, dnssecOk: true }),
      query("example.test", 2),
      query("mid.example.test", 16),
      query("nope.example.test", 28),
      query("www.example.com", 1),
      // a query whose name is compressed against the question
      bytes(
        0,
        1,
        1,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        1,
        3,
        "www",
        7,
        "example",
        4,
        "test",
        0,
        0,
        1,
        0,
        1,
        0xc0,
        16,
        0,
        16,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
      ),
    ];
    const src = parseIp("10.99.0.1")!;
    const dst4 = parseIp(DNS4)!;
    const src6 = parseIp("fd00:99::1")!;
    const dst6 = parseIp(DNS6)!;
    const mutate = (m: Uint8Array): Uint8Array => {
      const out = Array.from(m);
      const steps = rng.range(1, 4);
      for (let s = 0; s < steps; s++) {
        const k = rng.int(8);
        if (k === 0 && out.length > 0) out[rng.int(out.length)]! ^= 1 << rng.int(8);
        else if (k === 1 && out.length > 0) out[rng.int(out.length)] = rng.int(256);
        else if (k === 2) out.length = rng.int(out.length + 1);
        else if (k === 3) for (let i = rng.int(40); i > 0; i--) out.push(rng.int(256));
        else if (k === 4 && out.length > 13) {
          const at = rng.range(12, out.length - 2); // a pointer anywhere
          out[at] = 0xc0 | rng.int(4);
          out[at + 1] = rng.int(256);
        } else if (k === 5 && out.length >= 12)
          out[4 + rng.int(8)] = rng.pick([0, 1, 2, 255]); // counts
        else if (k === 6 && out.length >= 12) out[2] = rng.int(256);
        else if (k === 7 && out.length > 12) out[rng.range(12, out.length - 1)] = rng.pick([63, 64, 0x80, 0xc0, 0]);
      }
      return new Uint8Array(out);
    };
    const N = 60000;
    let exceptions = 0;
    const kinds: Record<string, number> = {};
    for (let i = 0; i < N; i++) {
      let data: Uint8Array;
      let dnsMsg: Uint8Array | null = null;
      const k = rng.int(10);
      if (k === 0) {
        data = new Uint8Array(rng.int(120)); // raw garbage as an IP packet
        rng.fill(data);
        if (data.length > 0) data[0] = (data[0]! & 0x0f) | rng.pick([0x40, 0x60, 0x40]);
        if (data.length >= 20) data.set(dst4, 16);
      } else if (k === 2 && rng.chance(0.5)) {
        // a TCP segment to port 53 (random flags, options, data) with valid checksums
        const seg = new Uint8Array(20 + rng.int(60));
        rng.fill(seg);
        seg.set([0x9c, 0x40, 0, 53], 0);
        seg[12] = (rng.range(5, 15) << 4) & 0xf0;
        data = new Uint8Array(20 + seg.length);
        data.set([0x45, 0, 0, data.length, 0, 0, 0x40, 0, 64, 6], 0);
        data[2] = data.length >> 8;
        data[3] = data.length & 255;
        data.set(src, 12);
        data.set(dst4, 16);
        data.set(seg, 20);
        data[36] = data[37] = 0;
        const hc = checksum(data, 0, 20);
        data.set([hc >> 8, hc & 255], 10);
        const tc = checksum(data, 20, data.length, sum16(data, 12, 20) + 6 + seg.length);
        data.set([tc >> 8, tc & 255], 36);
      } else {
        if (k === 1) {
          dnsMsg = new Uint8Array(rng.int(80));
          rng.fill(dnsMsg);
        } else dnsMsg = mutate(rng.pick(seeds));
        const v6 = rng.chance(0.2);
        data = v6 ? buildUdp(src6, dst6, 1000, 53, dnsMsg) : buildUdp(src, dst4, 1000, 53, dnsMsg);
        if (rng.chance(0.05)) {
          data = mutate(data); // broken IP/UDP headers too
          dnsMsg = null;
        }
      }
      try {
        const verdict = p.handle(packet(data));
        kinds[verdict.kind === "drop" ? verdict.reason : verdict.kind] =
          (kinds[verdict.kind === "drop" ? verdict.reason : verdict.kind] ?? 0) + 1;
        if (verdict.kind === "reply") {
          const f = newIpView();
          if (parseL4(verdict.data, f) !== null || !checksumsOk(verdict.data, f)) throw new Error("bad reply packet");
          if (f.proto === 6) kinds["tcp-reset"] = (kinds["tcp-reset"] ?? 0) + 1;
          if (f.proto === 17) {
            const r = decode(verdict.data.subarray(f.payload, f.end));
            if (!r.qr || (dnsMsg !== null && r.id !== ((dnsMsg[0]! << 8) | dnsMsg[1]!))) throw new Error("bad header");
            if (f.end - f.payload > 1232) throw new Error("reply too big");
          }
        }
      } catch (e) {
        if (exceptions++ < 3) console.log(`input ${hex(data)}: ${(e as Error).stack}`);
      }
    }
    console.log(`  fuzz: ${N} inputs, ${exceptions} exceptions, verdicts ${JSON.stringify(kinds)}`);
    expect(exceptions).toBe(0);
    expect(kinds.reply).toBeGreaterThan(N / 4);
  }, 60000);
});
