// Prefix table: longest match over any prefix length, IPv4 and IPv6, checked against brute force.
import { expect, test } from "bun:test";
import { formatIp, parseCidr, parseIp } from "../src/net/addr.ts";
import { PrefixTable } from "../src/net/lpm.ts";

const ip = (s: string) => parseIp(s)!;
const look = (t: PrefixTable<string>, s: string) => {
  const b = ip(s);
  return t.lookup(b, 0, b.length === 4 ? 4 : 6);
};

test("non-octet prefixes ending at 255 (anytun hangs on these)", () => {
  const t = new PrefixTable<string>();
  t.set(parseCidr("198.51.100.128/25", true), "a");
  t.set(parseCidr("10.128.0.0/9", true), "b");
  t.set(parseCidr("0.0.0.0/0", true), "default");
  expect(look(t, "198.51.100.200")).toBe("a");
  expect(look(t, "198.51.100.127")).toBe("default");
  expect(look(t, "10.200.1.1")).toBe("b");
  expect(look(t, "10.127.1.1")).toBe("default");
});

test("longest wins, /32 and /128, IPv6", () => {
  const t = new PrefixTable<string>();
  t.set(parseCidr("10.0.0.0/8", true), "8");
  t.set(parseCidr("10.1.0.0/16", true), "16");
  t.set(parseCidr("10.1.2.3/32", true), "32");
  t.set(parseCidr("2001:db8::/32", true), "v6-32");
  t.set(parseCidr("2001:db8:0:1::/64", true), "v6-64");
  t.set(parseCidr("2001:db8:0:1::7/128", true), "v6-128");
  expect(look(t, "10.1.2.3")).toBe("32");
  expect(look(t, "10.1.2.4")).toBe("16");
  expect(look(t, "10.2.0.1")).toBe("8");
  expect(look(t, "11.0.0.1")).toBeUndefined();
  expect(look(t, "2001:db8:0:1::7")).toBe("v6-128");
  expect(look(t, "2001:db8:0:1::8")).toBe("v6-64");
  expect(look(t, "2001:db8:ffff::1")).toBe("v6-32");
  expect(look(t, "2001:db9::1")).toBeUndefined();
  expect(t.size).toBe(6);
  expect(t.entries().map((e) => e.prefix)).toEqual([
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.3/32",
    "2001:db8::/32",
    "2001:db8:0:1::/64",
    "2001:db8:0:1::7/128",
  ]);
});

test("random prefixes agree with a brute-force scan", () => {
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) & 0xffffff;
  const t = new PrefixTable<string>();
  const list: { a: number; len: number; v: string }[] = [];
  for (let i = 0; i < 300; i++) {
    const len = rnd() % 33;
    const a = len === 0 ? 0 : ((((rnd() << 8) | (rnd() & 255)) >>> 0) & (~0 << (32 - len))) >>> 0;
    const b = new Uint8Array([a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255]);
    const v = `${formatIp(b)}/${len}`;
    t.set({ addr: b, len }, v);
    list.push({ a, len, v });
  }
  for (let i = 0; i < 5000; i++) {
    const x = (((rnd() << 8) | (rnd() & 255)) >>> 0) ^ (i & 1 ? list[i % list.length]!.a : 0);
    let best: { len: number; v: string } | undefined;
    for (const p of list) {
      const m = p.len === 0 ? 0 : (~0 << (32 - p.len)) >>> 0;
      if ((x & m) >>> 0 === p.a && (!best || p.len >= best.len)) best = p;
    }
    const b = new Uint8Array([x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255]);
    expect(t.lookup(b, 0, 4)).toBe(best?.v);
  }
});

test("address text round trips", () => {
  for (const s of [
    "0.0.0.0",
    "255.255.255.255",
    "::",
    "::1",
    "2001:db8::1",
    "fe80::1:2:3:4",
    "1:2:3:4:5:6:7:8",
    "::ffff:192.0.2.1",
  ]) {
    const b = ip(s);
    expect(parseIp(formatIp(b))).toEqual(b);
  }
  expect(formatIp(ip("2001:0db8:0000:0000:0001:0000:0000:0001"))).toBe("2001:db8::1:0:0:1");
  expect(parseIp("1.2.3")).toBeNull();
});
