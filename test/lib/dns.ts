// A test-side DNS encoder/decoder, written independently of plugins/dns/ (RFC 1035 from the
// text, no compression on the way out): the DNS tests build queries and read answers with it.
import { TYPE } from "../../plugins/dns/wire.ts";
import { formatIp } from "../../src/net/addr.ts";
import { hex } from "./util.ts";

/** Wire form of a dotted name (no compression). */
export function wireName(name: string): number[] {
  const out: number[] = [];
  for (const l of name.split(".").filter((x) => x !== "")) out.push(l.length, ...new TextEncoder().encode(l));
  out.push(0);
  return out;
}

export interface QueryOpts {
  id?: number;
  rd?: boolean;
  cls?: number;
  /** EDNS payload size; no OPT when undefined. */
  edns?: number;
  version?: number;
  dnssecOk?: boolean;
}

/** A query message built by hand. */
export function query(name: string, type: number, o: QueryOpts = {}): Uint8Array {
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

export interface Rr {
  name: string;
  type: number;
  cls: number;
  ttl: number;
  data: string;
  /** rdata as sent. */
  raw: Uint8Array;
}

export interface Msg {
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
export function decode(m: Uint8Array): Msg {
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

export const answers = (m: Msg) => m.answer.map((r) => `${r.name} ${r.ttl} ${r.type} ${r.data}`);
