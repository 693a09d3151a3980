// IP address and prefix text <-> bytes. Pure; throws Error with a readable message on bad text.
import { isIPv4, isIPv6 } from "node:net";

/** 4 or 16 bytes for an IPv4 / IPv6 literal; null when `s` is neither. IPv4-mapped IPv6 stays 16 bytes. */
export function parseIp(s: string): Uint8Array | null {
  if (isIPv4(s)) return new Uint8Array(s.split(".").map(Number));
  if (!isIPv6(s)) return null;
  const out = new Uint8Array(16);
  let text = s;
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.indexOf(".", lastColon) > 0) {
    tail = text
      .slice(lastColon + 1)
      .split(".")
      .map(Number);
    text = text.slice(0, lastColon + 1) + "0:0";
  }
  const [head, rest] = text.split("::") as [string, string | undefined];
  const words = (p: string) => (p === "" ? [] : p.split(":").map((w) => parseInt(w, 16)));
  const h = words(head);
  const r = rest === undefined ? [] : words(rest);
  const all = rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  all.forEach((w, i) => {
    out[i * 2] = w >>> 8;
    out[i * 2 + 1] = w & 255;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // RFC 5952: compress the longest run (length >= 2) of zero words.
  let best = -1,
    bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === "0") j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return w.join(":");
  return `${w.slice(0, best).join(":")}::${w.slice(best + bestLen).join(":")}`;
}

/** "a.b.c.d" for an IPv4-mapped IPv6 text ("::ffff:a.b.c.d"), else `s` unchanged. */
export function unmapV4(s: string): string {
  return s.startsWith("::ffff:") && isIPv4(s.slice(7)) ? s.slice(7) : s;
}

export interface Prefix {
  addr: Uint8Array;
  len: number;
}

/** Parses "addr/len". With `strict`, host bits beyond len must be zero (as for a route). */
export function parseCidr(s: string, strict: boolean): Prefix {
  const slash = s.indexOf("/");
  if (slash < 0) throw new Error(`"${s}" is not address/prefix-length`);
  const addr = parseIp(s.slice(0, slash));
  if (!addr) throw new Error(`"${s.slice(0, slash)}" is not an IPv4 or IPv6 address`);
  const lenText = s.slice(slash + 1);
  const len = Number(lenText);
  const max = addr.length * 8;
  if (!/^\d{1,3}$/.test(lenText) || len > max) throw new Error(`prefix length "${lenText}" not in 0..${max}`);
  if (strict) {
    for (let bit = len; bit < max; bit++)
      if (addr[bit >>> 3]! & (0x80 >>> (bit & 7)))
        throw new Error(`"${s}" has host bits set beyond /${len} (did you mean ${formatIp(mask(addr, len))}/${len}?)`);
  }
  return { addr, len };
}

/** Copy of `addr` with the bits past `len` cleared. */
export function mask(addr: Uint8Array, len: number): Uint8Array {
  const out = addr.slice();
  for (let bit = len; bit < out.length * 8; bit++) out[bit >>> 3]! &= ~(0x80 >>> (bit & 7));
  return out;
}

export function formatPrefix(p: Prefix): string {
  return `${formatIp(p.addr)}/${p.len}`;
}

/** "host:port", with an IPv6 host in brackets ("[::1]:4444"). */
export function hostPortText(host: string, port: number | string): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
