// The DNS wire codec of plugins/dns/ (wire.ts parse, writer.ts, answer.ts Responder on raw
// messages), no root: golden bytes, header and name problems, EDNS, compression.
import { describe, expect, test } from "bun:test";
import { Responder } from "../plugins/dns/answer.ts";
import { newQuery, parseQuery, readName } from "../plugins/dns/wire.ts";
import { ANSWER, AUTHORITY, dnsName, DnsWriter } from "../plugins/dns/writer.ts";
import { answers, decode, query, wireName } from "./lib/dns.ts";
import { bytes, hex } from "./lib/util.ts";

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
