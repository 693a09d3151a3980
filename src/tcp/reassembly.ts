// Out-of-order reassembly for the userspace TCP endpoint (RFC 9293 3.10.7.4, "seventh, process
// the segment text"): bytes the peer sent beyond RCV.NXT, held until the hole before them fills.
//
// Anyone who can reach a captured port reaches this without any SATP key, so every bound holds
// against a hostile sender:
//   - the caller trims each segment to the receive window [RCV.NXT, RCV.NXT + window) first;
//   - overlapping bytes are kept once (the first copy wins; RFC 9293 3.10.7.4 leaves the choice
//     open), so the bytes held never exceed the window however many segments overlap;
//   - at most `maxRanges` disjoint ranges (holes) and `maxChunks` stored pieces: a segment that
//     would need more is refused whole (counted by the caller; the sender retransmits it), so the
//     memory per flow is at most the window plus maxChunks small headers, and every insert is a
//     binary search plus a splice over at most maxRanges entries.
// Adjacent pieces join one range (a list of chunks, no copy), so ordinary reordering after one
// loss is one range however many segments follow the hole.
//
// Contracts: `insert` copies what it keeps (the segment's buffer is the caller's); chunks from
// `popReady` are owned by the caller from then on. Sequence numbers compare modulo 2^32; every
// held byte lies within 2^31 of RCV.NXT (the window is at most 2^30).

const lt = (a: number, b: number) => ((a - b) | 0) < 0;
const le = (a: number, b: number) => ((a - b) | 0) <= 0;
const add = (a: number, n: number) => (a + n) >>> 0;
const diff = (a: number, b: number) => (a - b) | 0;

interface Range {
  seq: number;
  end: number;
  chunks: Uint8Array[];
}

export type InsertResult = "held" | "duplicate" | "full";

export class Reassembly {
  private ranges: Range[] = [];
  private chunkCount = 0;
  /** Bytes held (never more than the window the caller trims to). */
  bytes = 0;
  /** Sequence number of the peer's FIN once an out-of-order FIN was seen, else -1. */
  finSeq = -1;

  constructor(
    private readonly maxRanges = 64,
    private readonly maxChunks = 4096,
  ) {}

  get size(): number {
    return this.ranges.length;
  }

  get empty(): boolean {
    return this.ranges.length === 0 && this.finSeq === -1;
  }

  clear(): void {
    this.ranges = [];
    this.chunkCount = 0;
    this.bytes = 0;
    this.finSeq = -1;
  }

  /** Holds the bytes of [seq, seq + data.length) not held yet, and the FIN after them when `fin`. */
  insert(seq: number, data: Uint8Array, fin: boolean): InsertResult {
    const end = add(seq, data.length);
    if (this.finSeq !== -1 && lt(this.finSeq, end)) return "duplicate"; // beyond the FIN: not data
    const rs = this.ranges;
    // First range that ends after `seq` (the ranges are sorted and disjoint).
    let lo = 0;
    let hi = rs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (le(rs[mid]!.end, seq)) lo = mid + 1;
      else hi = mid;
    }
    const first = lo;
    // Uncovered pieces of [seq, end), each lying in one gap between held ranges.
    const pieces: { from: number; to: number; joinLeft: boolean; joinRight: boolean }[] = [];
    let cursor = seq;
    let leftEnd = first > 0 ? rs[first - 1]!.end : -1;
    let j = first;
    for (; j < rs.length && lt(rs[j]!.seq, end); j++) {
      const r = rs[j]!;
      if (lt(cursor, r.seq)) pieces.push({ from: cursor, to: r.seq, joinLeft: cursor === leftEnd, joinRight: true });
      if (lt(cursor, r.end)) cursor = r.end;
      leftEnd = r.end;
    }
    if (lt(cursor, end))
      pieces.push({
        from: cursor,
        to: end,
        joinLeft: cursor === leftEnd,
        joinRight: j < rs.length && rs[j]!.seq === end,
      });
    if (pieces.length === 0) {
      if (!fin || this.finSeq !== -1) return "duplicate";
      this.finSeq = end;
      return "held";
    }
    let rangesAfter = rs.length;
    for (const p of pieces) rangesAfter += (p.joinLeft ? 0 : 1) + (p.joinRight ? 0 : 1) - 1;
    if (rangesAfter > this.maxRanges || this.chunkCount + pieces.length > this.maxChunks) return "full";
    // Apply from the right so indices to the left stay valid.
    for (let k = pieces.length - 1; k >= 0; k--) {
      const p = pieces[k]!;
      const at = diff(p.from, seq);
      const chunk = data.slice(at, at + diff(p.to, p.from));
      this.bytes += chunk.length;
      this.chunkCount++;
      this.place(p.from, p.to, chunk);
    }
    if (fin && this.finSeq === -1) this.finSeq = end;
    return "held";
  }

  /** Puts one uncovered piece in its gap, joining the ranges it touches. */
  private place(from: number, to: number, chunk: Uint8Array): void {
    const rs = this.ranges;
    let i = 0;
    let hi = rs.length;
    while (i < hi) {
      const mid = (i + hi) >>> 1;
      if (lt(rs[mid]!.seq, from)) i = mid + 1;
      else hi = mid;
    }
    const left = i > 0 && rs[i - 1]!.end === from ? rs[i - 1]! : null;
    const right = i < rs.length && rs[i]!.seq === to ? rs[i]! : null;
    if (left !== null && right !== null) {
      left.chunks.push(chunk, ...right.chunks);
      left.end = right.end;
      rs.splice(i, 1);
    } else if (left !== null) {
      left.chunks.push(chunk);
      left.end = to;
    } else if (right !== null) {
      right.chunks.unshift(chunk);
      right.seq = from;
    } else rs.splice(i, 0, { seq: from, end: to, chunks: [chunk] });
  }

  /**
   * Removes the held bytes that RCV.NXT `rcvNxt` has reached and returns those beyond it, in
   * order, starting exactly at rcvNxt (null when the next held byte lies beyond a hole). The
   * caller delivers them, advances RCV.NXT and asks again.
   */
  popReady(rcvNxt: number): Uint8Array[] | null {
    const rs = this.ranges;
    while (rs.length > 0 && le(rs[0]!.seq, rcvNxt)) {
      const r = rs.shift()!;
      this.chunkCount -= r.chunks.length;
      let cut = diff(rcvNxt, r.seq);
      const out: Uint8Array[] = [];
      for (const c of r.chunks) {
        this.bytes -= c.length;
        if (cut >= c.length) cut -= c.length;
        else {
          out.push(cut > 0 ? c.subarray(cut) : c);
          cut = 0;
        }
      }
      if (out.length > 0) return out;
    }
    return null;
  }
}
