// plugins/dns.ts, src/dns/ and the codecs (src/net/ip.ts, src/net/checksum.ts), no root:
// golden bytes for the DNS codec, the plugin in-process behind a Server on loopback with SATP
// clients (queries inside the tunnel, replies decrypted and checked field by field), config
// errors, and a fuzz of the plugin's packet handler.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as v from "valibot";
import { validateConfig } from "../src/config.ts";
import { Responder } from "../src/dns/answer.ts";
import { newQuery, parseQuery, readName, TYPE } from "../src/dns/wire.ts";
import { ANSWER, AUTHORITY, dnsName, DnsWriter } from "../src/dns/writer.ts";
import { compileZones } from "../src/dns/zone.ts";
import { Logger } from "../src/log.ts";
import { formatIp, parseIp } from "../src/net/addr.ts";
import { checksum, sum16 } from "../src/net/checksum.ts";
import { buildTcpReset, buildUdp, checksumsOk, newL4, parseL4 } from "../src/net/ip.ts";
import { checksumsOk as checksumsOkV4 } from "../src/net/rewrite.ts";
import type { PluginContext, PluginInstance } from "../src/pipeline.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import dnsPlugin from "../plugins/dns.ts";
import { Client, sendInner, until } from "./lib/satp-client.ts";
import { Rng } from "./fuzz/lib.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (...parts: (number | string)[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "number" ? [p] : [...new TextEncoder().encode(p)])));

// ---- a test-side DNS encoder/decoder, written independently of src/dns/ -------------------------

/** Wire form of a dotted name (no compression). */
function wireName(name: string): number[] {
  const out: number[] = [];
  for (const l of name.split(".").filter((x) => x !== "")) out.push(l.length, ...new TextEncoder().encode(l));
  out.push(0);
  return out;
}

interface QueryOpts {
  id?: number;
  rd?: boolean;
  cls?: number;
  /** EDNS payload size; no OPT when undefined. */
  edns?: number;
  version?: number;
  dnssecOk?: boolean;
}

/** A query message built by hand. */
function query(name: string, type: number, o: QueryOpts = {}): Uint8Array {
  const id = o.id ?? 0x1234;
  const m = [id >> 8, id & 255, o.rd === false ? 0 : 1, 0, 0, 1, 0, 0, 0, 0, 0, o.edns === undefined ? 0 : 1];
  m.push(...wireName(name), type >> 8, type & 255, 0, o.cls ?? 1);
  if (o.edns !== undefined) {
    // root, OPT, class = size, ttl = ext rcode 0 | version | DO, rdata: a COOKIE option as dig sends
    m.push(0, 0, 41, o.edns >> 8, o.edns & 255, 0, o.version ?? 0, o.dnssecOk ? 0x80 : 0, 0);
    m.push(0, 12, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8);
  }
  return new Uint8Array(m);
}

interface Rr {
  name: string;
  type: number;
  cls: number;
  ttl: number;
  data: string;
  /** rdata as sent. */
  raw: Uint8Array;
}

interface Msg {
  id: number;
  flags: number;
  qr: boolean;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  rcode: number;
  counts: number[];
  question: { name: string; type: number; cls: number } | null;
  answer: Rr[];
  authority: Rr[];
  additional: Rr[];
}

/** Decodes a response; throws on anything malformed (the responder must never send that). */
function decode(m: Uint8Array): Msg {
  const u16 = (o: number) => {
    if (o + 2 > m.length) throw new Error(`read past end at ${o}`);
    return (m[o]! << 8) | m[o + 1]!;
  };
  const name = (o: number, depth = 0): [string, number] => {
    if (depth > 20) throw new Error("pointer loop");
    const labels: string[] = [];
    for (;;) {
      const len = m[o];
      if (len === undefined) throw new Error("name past end");
      if (len === 0) return [labels.join("."), o + 1];
      if (len >= 0xc0) {
        const [rest] = name(((len & 0x3f) << 8) | m[o + 1]!, depth + 1);
        return [[...labels, rest].filter((x) => x !== "").join("."), o + 2];
      }
      if (len > 63) throw new Error("bad label");
      labels.push(new TextDecoder().decode(m.subarray(o + 1, o + 1 + len)));
      o += 1 + len;
    }
  };
  const flags = u16(2);
  const counts = [u16(4), u16(6), u16(8), u16(10)];
  let pos = 12;
  let question: Msg["question"] = null;
  if (counts[0]! > 0) {
    const [n, p] = name(pos);
    question = { name: n, type: u16(p), cls: u16(p + 2) };
    pos = p + 4;
  }
  const rrs = (n: number): Rr[] => {
    const out: Rr[] = [];
    for (let i = 0; i < n; i++) {
      const [owner, p] = name(pos);
      const type = u16(p);
      const cls = u16(p + 2);
      const ttl = ((u16(p + 4) << 16) | u16(p + 6)) >>> 0;
      const len = u16(p + 8);
      const rd = p + 10;
      if (rd + len > m.length) throw new Error("rdata past end");
      const raw = m.subarray(rd, rd + len);
      let data: string;
      if (type === TYPE.A || type === TYPE.AAAA) data = formatIp(raw);
      else if (type === TYPE.CNAME || type === TYPE.NS || type === TYPE.PTR) data = name(rd)[0];
      else if (type === TYPE.MX) data = `${u16(rd)} ${name(rd + 2)[0]}`;
      else if (type === TYPE.SRV) data = `${u16(rd)} ${u16(rd + 2)} ${u16(rd + 4)} ${name(rd + 6)[0]}`;
      else if (type === TYPE.SOA) {
        const [mn, p1] = name(rd);
        const [rn, p2] = name(p1);
        const n32 = (o: number) => ((u16(o) << 16) | u16(o + 2)) >>> 0;
        data = `${mn} ${rn} ${[0, 4, 8, 12, 16].map((k) => n32(p2 + k)).join(" ")}`;
      } else if (type === TYPE.TXT) {
        const strs: string[] = [];
        for (let o = 0; o < raw.length; o += 1 + raw[o]!)
          strs.push(new TextDecoder().decode(raw.subarray(o + 1, o + 1 + raw[o]!)));
        data = JSON.stringify(strs);
      } else data = hex(raw);
      out.push({ name: owner, type, cls, ttl, data, raw });
      pos = rd + len;
    }
    return out;
  };
  const answer = rrs(counts[1]!);
  const authority = rrs(counts[2]!);
  const additional = rrs(counts[3]!);
  if (pos !== m.length) throw new Error(`${m.length - pos} trailing bytes`);
  return {
    id: u16(0),
    flags,
    qr: (flags & 0x8000) !== 0,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    rcode: flags & 15,
    counts,
    question,
    answer,
    authority,
    additional,
  };
}

const answers = (m: Msg) => m.answer.map((r) => `${r.name} ${r.ttl} ${r.type} ${r.data}`);

// ---- checksums and IP ---------------------------------------------------------------------------

describe("checksum and ip", () => {
  test("RFC 1071 example: sum and checksum", () => {
    const p = bytes(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    expect(sum16(p, 0, p.length)).toBe(0xddf2);
    expect(checksum(p, 0, p.length)).toBe(0x220d);
    expect(sum16(bytes(0xff), 0, 1)).toBe(0xff00); // odd byte padded
  });

  test("buildUdp: IPv4 and IPv6 packets whose checksums verify (two implementations)", () => {
    const payload = bytes("hello dns");
    const p4 = buildUdp(parseIp("10.99.0.1")!, parseIp("10.99.0.53")!, 40000, 53, payload);
    expect(p4.length).toBe(28 + payload.length);
    expect(checksumsOkV4(p4)).toBe(true);
    const f = newL4();
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
    const f = newL4();
    const p = buildUdp(parseIp("10.0.0.1")!, parseIp("10.0.0.2")!, 1, 53, bytes("x"));
    const frag = p.slice();
    frag[6] = 0x20; // MF
    expect(parseL4(frag, f)).toBe("fragment");
    const icmp = p.slice();
    icmp[9] = 1;
    expect(parseL4(icmp, f)).toBe("protocol");
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
    const f = newL4();
    expect(parseL4(syn, f)).toBeNull();
    const rst = buildTcpReset(syn, f)!;
    expect(checksumsOkV4(rst)).toBe(true);
    expect(formatIp(rst.subarray(12, 16))).toBe("10.99.0.53");
    // ports swapped, seq 0, ack = seq + 1 (the SYN), data offset 5, RST|ACK
    expect(hex(rst.subarray(20, 34))).toBe("00359c40" + "00000000" + "11223345" + "50" + "14");
  });
});

// ---- the DNS codec: golden bytes ----------------------------------------------------------------

describe("dns codec", () => {
  test("a query built by hand parses", () => {
    const m = bytes(0x12, 0x34, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 0, 3, "WwW", 7, "Example", 4, "TEST", 0, 0, 28, 0, 1);
    const q = newQuery();
    expect(parseQuery(m, q)).toBeNull();
    expect([q.id, q.flags, q.opcode, q.qname, q.qtype, q.qclass, q.edns, q.udpSize]).toEqual([
      0x1234,
      0x0120,
      0,
      "www.example.test",
      28,
      1,
      false,
      512,
    ]);
    expect(new TextDecoder().decode(q.qnameWire.subarray(0, q.qnameLen))).toBe("\x03WwW\x07Example\x04TEST\x00");
  });

  test("EDNS: size, DO, version; BADVERS, two OPTs, OPT not at root, bad options", () => {
    const q = newQuery();
    expect(parseQuery(query("a.test", 1, { edns: 4096, dnssecOk: true }), q)).toBeNull();
    expect([q.edns, q.udpSize, q.dnssecOk, q.ednsVersion]).toEqual([true, 4096, true, 0]);
    expect(parseQuery(query("a.test", 1, { edns: 100 }), q)).toBeNull();
    expect(q.udpSize).toBe(512);
    expect(parseQuery(query("a.test", 1, { edns: 1232, version: 1 }), q)).toBe("badvers");
    expect(q.qname).toBe("a.test");
    const opt = [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0];
    const base = [...query("a.test", 1)];
    expect(parseQuery(new Uint8Array([...base.slice(0, 11), 2, ...base.slice(12), ...opt, ...opt]), q)).toBe("formerr");
    const notRoot = [1, 0x61, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0];
    expect(parseQuery(new Uint8Array([...base.slice(0, 11), 1, ...base.slice(12), ...notRoot]), q)).toBe("formerr");
    const badOpt = [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 3, 0, 1, 0];
    expect(parseQuery(new Uint8Array([...base.slice(0, 11), 1, ...base.slice(12), ...badOpt]), q)).toBe("formerr");
  });

  test("header problems: short, response, opcode, counts, trailing bytes", () => {
    const q = newQuery();
    const ok = query("a.test", 1);
    expect(parseQuery(ok.subarray(0, 11), q)).toBe("short");
    const resp = ok.slice();
    resp[2]! |= 0x80;
    expect(parseQuery(resp, q)).toBe("response");
    const notify = ok.slice();
    notify[2] = 4 << 3;
    expect(parseQuery(notify, q)).toBe("notimp");
    const two = ok.slice();
    two[5] = 2;
    expect(parseQuery(two, q)).toBe("formerr");
    const an = ok.slice();
    an[7] = 1;
    expect(parseQuery(an, q)).toBe("formerr");
    expect(parseQuery(new Uint8Array([...ok, 0]), q)).toBe("formerr");
    expect(parseQuery(ok.subarray(0, ok.length - 1), q)).toBe("formerr");
  });

  test("names: pointers backwards only, no loops, no header, ≤ 255 bytes, no reserved labels", () => {
    // 12: example.test, 26: www -> 12, 32: a -> 26
    const m = bytes(...new Array(12).fill(0), 7, "example", 4, "test", 0, 3, "www", 0xc0, 12, 1, "a", 0xc0, 26);
    const sink = { key: "", wire: new Uint8Array(255), len: 0 };
    expect(readName(m, 26, sink)).toBe(32);
    expect(sink.key).toBe("www.example.test");
    expect(readName(m, 32, sink)).toBe(36);
    expect(sink.key).toBe("a.www.example.test");
    expect(hex(sink.wire.subarray(0, sink.len))).toBe(hex(new Uint8Array(wireName("a.www.example.test"))));
    const fwd = bytes(...new Array(12).fill(0), 0xc0, 14, 1, "a", 0);
    expect(readName(fwd, 12, null)).toBe(-1); // forward pointer
    const self = bytes(...new Array(12).fill(0), 1, "a", 0xc0, 12);
    expect(readName(self, 12, null)).toBe(-1); // points at its own start: a loop
    expect(readName(bytes(...new Array(12).fill(0), 0xc0, 2), 12, null)).toBe(-1); // into the header
    expect(readName(bytes(...new Array(12).fill(0), 0x40, 0), 12, null)).toBe(-1); // reserved label type
    expect(readName(bytes(...new Array(12).fill(0), 3, "ab"), 12, null)).toBe(-1); // past the end
    const label = (n: number) => [n, ..."x".repeat(n)];
    const max = bytes(...new Array(12).fill(0), ...label(63), ...label(63), ...label(63), ...label(61), 0);
    expect(readName(max, 12, null)).toBe(12 + 255);
    const over = bytes(...new Array(12).fill(0), ...label(63), ...label(63), ...label(63), ...label(62), 0);
    expect(readName(over, 12, null)).toBe(-1);
    // escapes: a dot and a space inside a label never match a plain name
    const odd = bytes(...new Array(12).fill(0), 3, "a.B", 2, "c ", 0);
    expect(readName(odd, 12, sink)).toBe(20);
    expect(sink.key).toBe("a\\046b.c\\032");
  });

  test("writer: golden response with compression pointers", () => {
    const w = new DnsWriter();
    w.begin(0xbeef, 0x8500, 512);
    const wire = new Uint8Array(wireName("www.example.test"));
    expect(w.question(wire, wire.length, 1, 1)).toBe(true);
    expect(w.rr(ANSWER, dnsName("www.example.test"), 1, 1, 300, [bytes(10, 99, 0, 10)])).toBe(true);
    expect(
      w.rr(AUTHORITY, dnsName("example.test"), 2, 1, 300, [{ name: dnsName("ns1.example.test"), compress: true }]),
    ).toBe(true);
    const n = w.finish();
    expect(hex(w.buf.subarray(0, n))).toBe(
      "beef85000001000100010000" +
        "03777777076578616d706c650474657374000001" +
        "0001" +
        "c00c000100010000012c00040a63000a" +
        "c010000200010000012c0006036e7331c010",
    );
    const d = decode(w.buf.subarray(0, n));
    expect(answers(d)).toEqual(["www.example.test 300 1 10.99.0.10"]);
    expect(d.authority[0]!.data).toBe("ns1.example.test");
  });

  test("writer: a record that does not fit is not written; SRV-style names stay uncompressed", () => {
    const w = new DnsWriter();
    w.begin(1, 0x8000, 40);
    const wire = new Uint8Array(wireName("example.test"));
    w.question(wire, wire.length, 1, 1);
    const before = w.pos;
    expect(w.rr(ANSWER, dnsName("example.test"), 16, 1, 1, [new Uint8Array(30)])).toBe(false);
    expect(w.pos).toBe(before);
    expect(w.count(ANSWER)).toBe(0);
    // an RRset goes in whole or not at all: 2 of 3 records would fit
    const a = [[bytes(10, 0, 0, 1)], [bytes(10, 0, 0, 2)], [bytes(10, 0, 0, 3)]];
    w.begin(1, 0x8000, 12 + 18 + 2 * 16 + 8);
    w.question(wire, wire.length, 1, 1);
    const mark = w.pos;
    expect(w.rrset(ANSWER, dnsName("example.test"), 1, 60, a)).toBe(false);
    expect([w.pos, w.count(ANSWER)]).toEqual([mark, 0]);
    expect(w.rrset(ANSWER, dnsName("example.test"), 1, 60, a.slice(0, 2))).toBe(true);
    expect(w.count(ANSWER)).toBe(2);
    w.begin(1, 0x8000, 512);
    w.question(wire, wire.length, 33, 1);
    w.rr(ANSWER, dnsName("example.test"), 33, 1, 1, [
      new Uint8Array(6),
      { name: dnsName("example.test"), compress: false },
    ]);
    const n = w.finish();
    expect(hex(w.buf.subarray(n - 14, n))).toBe(hex(new Uint8Array(wireName("example.test"))));
  });

  test("FORMERR / NOTIMP responses: id, QR, opcode and RD echoed, rcode, no sections", () => {
    const r = new Responder([], false);
    expect(r.respond(bytes(0xab, 0xcd, 0x01, 0x00, 0, 9, 0, 9, 0, 9, 0, 9))).toBe("formerr");
    expect(hex(r.writer.buf.subarray(0, r.length))).toBe("abcd81010000000000000000");
    expect(r.respond(bytes(0xab, 0xcd, 0x29, 0x00, 0, 1, 0, 0, 0, 0, 0, 0))).toBe("notimp"); // opcode 5 (UPDATE)
    expect(hex(r.writer.buf.subarray(0, r.length))).toBe("abcda9040000000000000000");
    expect(r.respond(bytes(0xab, 0xcd, 0x01))).toBe("malformed");
    expect(r.length).toBe(0);
  });
});

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
    const f = newL4();
    expect(parseL4(r, f)).toBeNull();
    expect(checksumsOk(r, f)).toBe(true); // IPv4 header + UDP checksum incl. pseudo-header
    if (!v6) expect(checksumsOkV4(r)).toBe(true); // and by the NAT's independent code
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

  test("TCP to port 53 is reset at once; other ports of the address go to the next plugin", async () => {
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
    const rst = a.got[before]!;
    expect(checksumsOkV4(rst)).toBe(true);
    expect([rst[33], (rst[28]! << 24) | (rst[29]! << 16) | (rst[30]! << 8) | rst[31]!]).toEqual([0x14, 8]);
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
      "reset",
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
          const f = newL4();
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
