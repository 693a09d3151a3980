// DNS wire format (RFC 1035, 2181, 3596, 2782, 6891): parse a query, write a response. Pure code
// over Uint8Array; nothing here throws on any input (a malformed message gets an error code).
//
//   Header    0 id  2 flags  4 qdcount  6 ancount  8 nscount  10 arcount          (12 bytes)
//             flags: QR 0x8000 | opcode 0x7800 (>> 11) | AA 0x0400 | TC 0x0200 | RD 0x0100 |
//                    RA 0x0080 | Z 0x0040 | AD 0x0020 | CD 0x0010 | RCODE 0x000f
//   Question  name  +0 type  +2 class
//   RR        name  +0 type  +2 class  +4 ttl (u32)  +8 rdlength  +10 rdata
//   Name      labels (length byte 1..63, then that many bytes) ending in a 0 byte, or ending in
//             a pointer: 2 bytes 0b11 + 14-bit offset from the message start, where the rest of
//             the name is. At most 255 bytes uncompressed. Length bytes 0b01…/0b10… are reserved.
//   OPT RR    (EDNS0, additional section, at most one) name 0 (root), type 41, class = the
//             sender's UDP payload size, ttl = extended rcode (8) | version (8) | DO (1) | Z (15),
//             rdata = options (code 2, length 2, data)
//
// Reading names: pointers must point strictly backwards (before the labels that hold them) and
// not into the header, so a pointer loop cannot exist and every read ends; labels past 255 bytes
// in total are an error.
//
// Names as text ("keys"): labels lowercased (ASCII) and joined by "."; the root is "". Bytes
// outside 0x21..0x7e and the characters "." and "\" inside a label are written \DDD (decimal),
// so a key maps to exactly one name, and a key made of letters, digits, "-" and "_" never
// needs an escape.

export const HEADER_LEN = 12;

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;
export const CLASS_IN = 1;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

export const QR = 0x8000;
export const AA = 0x0400;
export const TC = 0x0200;
export const RD = 0x0100;
export const CD = 0x0010;

/** The largest uncompressed name on the wire. */
export const MAX_NAME = 255;

/** A parsed query (reused between calls; see parseQuery). */
export interface Query {
  id: number;
  flags: number;
  opcode: number;
  /** Question name as a key (lowercase; see the comment at the top). */
  qname: string;
  /** Question name on the wire, uncompressed, in the sender's case: qnameWire[0, qnameLen). */
  qnameWire: Uint8Array;
  qnameLen: number;
  qtype: number;
  qclass: number;
  /** An OPT RR was present. */
  edns: boolean;
  /** The sender's UDP payload size (raised to 512), 512 without EDNS. */
  udpSize: number;
  ednsVersion: number;
  /** The DNSSEC OK bit (copied into the response's OPT, RFC 3225). */
  dnssecOk: boolean;
}

export const newQuery = (): Query => ({
  id: 0,
  flags: 0,
  opcode: 0,
  qname: "",
  qnameWire: new Uint8Array(MAX_NAME),
  qnameLen: 0,
  qtype: 0,
  qclass: 0,
  edns: false,
  udpSize: 512,
  ednsVersion: 0,
  dnssecOk: false,
});

/**
 * Why parseQuery refused a message:
 * - "short": fewer than 12 bytes, no header to answer to;
 * - "response": QR is set (never answered: answering responses can loop);
 * - "notimp": an opcode other than QUERY (0);
 * - "formerr": counts other than 1 question / 0 answer / 0 authority, a bad name, a section
 *   running past the end, two OPT RRs or one not at the root, bad EDNS options, trailing bytes;
 * - "badvers": an EDNS version other than 0 (everything else was fine and is filled in).
 */
export type QueryError = "short" | "response" | "notimp" | "formerr" | "badvers";

const u16 = (m: Uint8Array, o: number) => (m[o]! << 8) | m[o + 1]!;

/** Appends the key text of label m[o, o+len) to `key`. */
function labelKey(key: string, m: Uint8Array, o: number, len: number): string {
  let s = key.length > 0 ? key + "." : key;
  for (let i = o; i < o + len; i++) {
    let c = m[i]!;
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c) s += String.fromCharCode(c);
    else s += "\\" + (c < 10 ? "00" : c < 100 ? "0" : "") + c;
  }
  return s;
}

/** Where readName puts a name it reads (when given one). */
interface NameSink {
  key: string;
  wire: Uint8Array;
  len: number;
}

/**
 * Reads the name at m[off..]; returns the offset just past it in the message (past the first
 * pointer if any) or -1 when it is malformed. With `sink`, its key and uncompressed wire form.
 */
export function readName(m: Uint8Array, off: number, sink: NameSink | null): number {
  let pos = off;
  let limit = off; // a pointer must point below this
  let after = -1;
  let total = 1; // the final 0
  if (sink !== null) {
    sink.key = "";
    sink.len = 0;
  }
  for (;;) {
    if (pos >= m.length) return -1;
    const len = m[pos]!;
    if (len === 0) {
      if (sink !== null) sink.wire[sink.len++] = 0;
      return after < 0 ? pos + 1 : after;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= m.length) return -1;
      const target = ((len & 0x3f) << 8) | m[pos + 1]!;
      if (after < 0) after = pos + 2;
      if (target < HEADER_LEN || target >= limit) return -1;
      limit = target;
      pos = target;
      continue;
    }
    if (kind !== 0) return -1;
    total += len + 1;
    if (total > MAX_NAME || pos + 1 + len > m.length) return -1;
    if (sink !== null) {
      sink.key = labelKey(sink.key, m, pos + 1, len);
      sink.wire.set(m.subarray(pos, pos + 1 + len), sink.len);
      sink.len += len + 1;
    }
    pos += 1 + len;
  }
}

/** The key of the uncompressed name at w[off..] (as written by readName's sink). */
export function wireKey(w: Uint8Array, off: number): string {
  let key = "";
  for (let pos = off; pos < w.length;) {
    const len = w[pos]!;
    if (len === 0 || len > 63 || pos + 1 + len > w.length) break;
    key = labelKey(key, w, pos + 1, len);
    pos += 1 + len;
  }
  return key;
}

/** Checks EDNS options in m[from, to): each code(2) length(2) data, tiling the range exactly. */
function optionsOk(m: Uint8Array, from: number, to: number): boolean {
  let pos = from;
  while (pos < to) {
    if (to - pos < 4) return false;
    pos += 4 + u16(m, pos + 2);
  }
  return pos === to;
}

/**
 * Parses a query message into `q`; null when it is a well-formed standard query. The header
 * fields (id, flags, opcode) are filled in whenever the message has 12 bytes, so an error
 * response can echo them. On "badvers" the question and EDNS fields are filled in too.
 */
export function parseQuery(m: Uint8Array, q: Query): QueryError | null {
  if (m.length < HEADER_LEN) return "short";
  const flags = u16(m, 2);
  q.id = u16(m, 0);
  q.flags = flags;
  q.opcode = (flags >>> 11) & 15;
  q.edns = false;
  q.udpSize = 512;
  q.ednsVersion = 0;
  q.dnssecOk = false;
  q.qnameLen = 0;
  q.qname = "";
  if (flags & QR) return "response";
  if (q.opcode !== 0) return "notimp";
  if (u16(m, 4) !== 1 || u16(m, 6) !== 0 || u16(m, 8) !== 0) return "formerr";
  const sink: NameSink = { key: "", wire: q.qnameWire, len: 0 };
  let pos = readName(m, HEADER_LEN, sink);
  if (pos < 0 || m.length - pos < 4) return "formerr";
  q.qname = sink.key;
  q.qnameLen = sink.len;
  q.qtype = u16(m, pos);
  q.qclass = u16(m, pos + 2);
  pos += 4;
  let ar = u16(m, 10);
  let version = 0;
  while (ar-- > 0) {
    const start = pos;
    pos = readName(m, pos, null);
    if (pos < 0 || m.length - pos < 10) return "formerr";
    const type = u16(m, pos);
    const rdlen = u16(m, pos + 8);
    const rdata = pos + 10;
    if (m.length - rdata < rdlen) return "formerr";
    if (type === TYPE.OPT) {
      if (q.edns || m[start] !== 0 || !optionsOk(m, rdata, rdata + rdlen)) return "formerr";
      q.edns = true;
      q.udpSize = Math.max(512, u16(m, pos + 2));
      version = m[pos + 5]!;
      q.ednsVersion = version;
      q.dnssecOk = (m[pos + 6]! & 0x80) !== 0;
    }
    pos = rdata + rdlen;
  }
  if (pos !== m.length) return "formerr";
  return version !== 0 ? "badvers" : null;
}
