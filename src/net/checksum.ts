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

/** Folded one's-complement sum of p[from, to) added to `initial`; 0..0xffff. */
export function sum16(p: Uint8Array, from: number, to: number, initial = 0): number {
  let s = initial;
  let i = from;
  // four words per step: half the loop overhead (this runs over every TCP segment merged, net/tso.ts)
  for (; i + 7 < to; i += 8)
    s +=
      ((p[i]! << 8) | p[i + 1]!) +
      ((p[i + 2]! << 8) | p[i + 3]!) +
      ((p[i + 4]! << 8) | p[i + 5]!) +
      ((p[i + 6]! << 8) | p[i + 7]!);
  for (; i + 1 < to; i += 2) s += (p[i]! << 8) | p[i + 1]!;
  if (i < to) s += p[i]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
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
