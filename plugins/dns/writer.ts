// Writing DNS responses (the format is the table at the top of wire.ts): names with compression,
// records all-or-nothing against a size limit.
import { CLASS_IN, TYPE, wireKey } from "./wire.ts";

/** A name for writing: labels (bytes) and the key of each suffix (for compression). */
export interface DnsName {
  /** The key of the whole name ("" = root). */
  readonly key: string;
  readonly labels: readonly Uint8Array[];
  /** suffixes[i] = key of labels[i..]. */
  readonly suffixes: readonly string[];
}

/**
 * A DnsName from a key made of letters, digits, "-", "_" and "." separators (as config names
 * are, after validation). Throws on an empty label or a label over 63 bytes (config time only).
 */
export function dnsName(key: string): DnsName {
  const parts = key === "" ? [] : key.split(".");
  const labels = parts.map((p) => {
    if (p.length === 0 || p.length > 63) throw new Error(`bad label in "${key}"`);
    return new TextEncoder().encode(p);
  });
  return { key, labels, suffixes: parts.map((_, i) => parts.slice(i).join(".")) };
}

/** A piece of rdata: bytes as they are, or a name (compressed where `compress` allows). */
export type RDataPart = Uint8Array | { readonly name: DnsName; readonly compress: boolean };

/** Sections a record can go into (index into the header counts: 6 + 2*(section-1)). */
export const ANSWER = 1;
export const AUTHORITY = 2;
export const ADDITIONAL = 3;

/**
 * Writes one response into its own buffer. Every write is all-or-nothing against the current
 * limit: a record that does not fit is not written (and its compression entries are forgotten);
 * the method says so by returning false. Compression pointers are only made to offsets < 0x4000.
 */
export class DnsWriter {
  readonly buf: Uint8Array;
  pos = 0;
  limit = 0;
  private readonly offsets = new Map<string, number>();
  private readonly added: string[] = [];
  private readonly counts = [0, 0, 0, 0];
  private overflow = false;

  /** `size` is capped at 8192 bytes (so a mark's count of compression entries stays < 0x1000). */
  constructor(size = 4096) {
    this.buf = new Uint8Array(Math.min(size, 8192));
  }

  /** Starts a message: header with `id`, `flags`, all counts 0; at most `limit` bytes in total. */
  begin(id: number, flags: number, limit: number): void {
    this.limit = Math.min(limit, this.buf.length);
    this.pos = 0;
    this.offsets.clear();
    this.added.length = 0;
    this.counts.fill(0);
    this.overflow = false;
    this.u16(id);
    this.u16(flags);
    this.u16(0);
    this.u16(0);
    this.u16(0);
    this.u16(0);
  }

  /** Changes the RCODE and flags (the header's bytes 2..3). */
  setFlags(flags: number): void {
    this.buf[2] = flags >>> 8;
    this.buf[3] = flags & 255;
  }

  get flags(): number {
    return (this.buf[2]! << 8) | this.buf[3]!;
  }

  /** Current length and compression state, for `rollback`. */
  mark(): number {
    return this.pos * 0x1000 + this.added.length; // each entry took ≥ 2 bytes, so there are < 0x1000
  }

  /** Forgets everything written after `mark()` (record counts are the caller's to keep right). */
  rollback(mark: number): void {
    this.pos = Math.floor(mark / 0x1000);
    const n = mark % 0x1000;
    while (this.added.length > n) this.offsets.delete(this.added.pop()!);
    this.overflow = false;
  }

  private room(n: number): boolean {
    if (this.overflow || this.pos + n > this.limit) {
      this.overflow = true;
      return false;
    }
    return true;
  }

  private u8(v: number): void {
    if (this.room(1)) this.buf[this.pos++] = v;
  }

  private u16(v: number): void {
    if (this.room(2)) {
      this.buf[this.pos++] = v >>> 8;
      this.buf[this.pos++] = v & 255;
    }
  }

  private u32(v: number): void {
    this.u16(Math.floor(v / 0x10000) & 0xffff);
    this.u16(v & 0xffff);
  }

  private bytes(b: Uint8Array): void {
    if (this.room(b.length)) {
      this.buf.set(b, this.pos);
      this.pos += b.length;
    }
  }

  private remember(key: string, at: number): void {
    if (at < 0x4000 && !this.offsets.has(key)) {
      this.offsets.set(key, at);
      this.added.push(key);
    }
  }

  /** Writes a name, as a pointer to an earlier copy of a suffix when `compress`. */
  private name(n: DnsName, compress: boolean): void {
    const labels = n.labels;
    for (let i = 0; i < labels.length; i++) {
      const key = n.suffixes[i]!;
      if (compress) {
        const at = this.offsets.get(key);
        if (at !== undefined) {
          this.u16(0xc000 | at);
          return;
        }
      }
      this.remember(key, this.pos);
      this.u8(labels[i]!.length);
      this.bytes(labels[i]!);
    }
    this.u8(0);
  }

  /** The question: the name copied as the query had it (case kept), type and class. */
  question(wire: Uint8Array, len: number, type: number, cls: number): boolean {
    const m = this.mark();
    const at = this.pos;
    this.bytes(wire.subarray(0, len));
    this.u16(type);
    this.u16(cls);
    if (this.overflow) {
      this.rollback(m);
      return false;
    }
    // every suffix of the question name can be pointed to
    for (let o = at; o < at + len;) {
      const l = this.buf[o]!;
      if (l === 0) break;
      this.remember(wireKey(this.buf.subarray(0, at + len), o), o);
      o += 1 + l;
    }
    this.counts[0]!++;
    return true;
  }

  /** One resource record in `section` (ANSWER, AUTHORITY, ADDITIONAL); false if it did not fit. */
  rr(section: number, owner: DnsName, type: number, cls: number, ttl: number, rdata: readonly RDataPart[]): boolean {
    const m = this.mark();
    this.name(owner, true);
    this.u16(type);
    this.u16(cls);
    this.u32(ttl);
    const lenAt = this.pos;
    this.u16(0);
    for (const part of rdata) {
      if (part instanceof Uint8Array) this.bytes(part);
      else this.name(part.name, part.compress);
    }
    if (this.overflow) {
      this.rollback(m);
      return false;
    }
    const rdlen = this.pos - lenAt - 2;
    this.buf[lenAt] = rdlen >>> 8;
    this.buf[lenAt + 1] = rdlen & 255;
    this.counts[section]!++;
    return true;
  }

  /** A whole RRset (one record per rdata) in `section`, or nothing of it when it does not fit. */
  rrset(
    section: number,
    owner: DnsName,
    type: number,
    ttl: number,
    rdatas: readonly (readonly RDataPart[])[],
  ): boolean {
    const m = this.mark();
    const count = this.counts[section]!;
    for (const rd of rdatas)
      if (!this.rr(section, owner, type, CLASS_IN, ttl, rd)) {
        this.rollback(m);
        this.counts[section] = count;
        return false;
      }
    return true;
  }

  /** The OPT RR (EDNS0): our payload size, extended rcode bits, DO, no options. */
  opt(payload: number, extRcode: number, dnssecOk: boolean): boolean {
    const m = this.mark();
    this.u8(0);
    this.u16(TYPE.OPT);
    this.u16(payload);
    this.u8(extRcode);
    this.u8(0); // version 0
    this.u16(dnssecOk ? 0x8000 : 0);
    this.u16(0);
    if (this.overflow) {
      this.rollback(m);
      return false;
    }
    this.counts[ADDITIONAL]!++;
    return true;
  }

  /** Number of records written so far in a section (0 = question). */
  count(section: number): number {
    return this.counts[section]!;
  }

  /** Drops every record after the question (e.g. for a truncated response). */
  clearRecords(questionEnd: number): void {
    this.rollback(questionEnd);
    this.counts[1] = this.counts[2] = this.counts[3] = 0;
  }

  /** Writes the counts into the header; returns the message length (the message is buf[0, length)). */
  finish(): number {
    for (let i = 0; i < 4; i++) {
      this.buf[4 + 2 * i] = this.counts[i]! >>> 8;
      this.buf[5 + 2 * i] = this.counts[i]! & 255;
    }
    return this.pos;
  }
}
