// The internet checksum (RFC 1071): the one's-complement sum of big-endian 16-bit words, an odd
// last byte padded with zero. Pure functions over Uint8Array; they never throw and read nothing
// outside [from, to).
//
//   sum16(p, from, to, initial)     folded 16-bit sum of p[from, to) plus `initial` (any
//                                   non-negative integer, e.g. a pseudo-header sum), not complemented
//   checksum(p, from, to, initial)  ~sum16(...) & 0xffff: the value to store in a checksum field
//                                   (that field must be zero while summing)
//   adjustChecksum(sum, old, new)   the field after one covered word changed (RFC 1624)
//
// A header or segment verifies when sum16 over it, checksum field included, is 0xffff.

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const WIDE = 64; // from this many bytes on, whole 32-bit words are summed through a Uint32Array view

/** Folded one's-complement sum of p[from, to) added to `initial`; 0..0xffff. */
export function sum16(p: Uint8Array, from: number, to: number, initial = 0): number {
  if (to - from >= WIDE && LITTLE_ENDIAN) {
    // to a 4-byte boundary of the buffer by whole 16-bit words (an even lead keeps the word
    // lanes); an odd lead takes the byte-by-byte path below
    const lead = (4 - ((p.byteOffset + from) & 3)) & 3;
    if ((lead & 1) === 0) return wide(p, from, lead, to, initial);
  }
  let s = initial;
  let i = from;
  // four words per step: half the loop overhead
  for (; i + 7 < to; i += 8)
    s +=
      ((p[i]! << 8) | p[i + 1]!) +
      ((p[i + 2]! << 8) | p[i + 3]!) +
      ((p[i + 4]! << 8) | p[i + 5]!) +
      ((p[i + 6]! << 8) | p[i + 7]!);
  for (; i + 1 < to; i += 2) s += (p[i]! << 8) | p[i + 1]!;
  if (i < to) s += p[i]! << 8;
  return fold(s);
}

/** A sum of 16-bit words folded to 0..0xffff (one's-complement carries added back). */
export function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/**
 * sum16 with the aligned middle read as little-endian 32-bit words: their sum folds to the sum
 * of little-endian 16-bit words, which is the big-endian sum byte-swapped (RFC 1071 2(B)).
 */
function wide(p: Uint8Array, from: number, lead: number, to: number, initial: number): number {
  const start = from + lead;
  const words = (to - start) >> 2;
  const w = new Uint32Array(p.buffer, p.byteOffset + start, words);
  let t = 0; // < 2^48 for any length a Uint8Array of a packet has
  let k = 0;
  for (; k + 3 < words; k += 4) t += w[k]! + w[k + 1]! + w[k + 2]! + w[k + 3]!;
  for (; k < words; k++) t += w[k]!;
  t = fold(t);
  const swapped = ((t & 0xff) << 8) | (t >> 8);
  const head = lead === 0 ? 0 : (p[from]! << 8) | p[from + 1]!;
  const end = start + words * 4; // an even distance from `from`: the tail keeps the word lanes
  let tail = 0;
  let i = end;
  for (; i + 1 < to; i += 2) tail += (p[i]! << 8) | p[i + 1]!;
  if (i < to) tail += p[i]! << 8;
  return fold(initial + head + swapped + tail);
}

/** The checksum field value for p[from, to) (field zeroed) plus `initial`. */
export function checksum(p: Uint8Array, from: number, to: number, initial = 0): number {
  return ~sum16(p, from, to, initial) & 0xffff;
}

/**
 * The checksum field value after one 16-bit word it covers changed from `oldWord` to `newWord`
 * (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')). A word at an odd offset counts byte-swapped
 * (RFC 1071 2(B)): pass both words swapped.
 */
export function adjustChecksum(sum: number, oldWord: number, newWord: number): number {
  let s = (~sum & 0xffff) + (~oldWord & 0xffff) + newWord;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
