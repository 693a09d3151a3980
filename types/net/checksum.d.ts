/** Folded one's-complement sum of p[from, to) added to `initial`; 0..0xffff. */
export declare function sum16(p: Uint8Array, from: number, to: number, initial?: number): number;
/** A sum of 16-bit words folded to 0..0xffff (one's-complement carries added back). */
export declare function fold(s: number): number;
/** The checksum field value for p[from, to) (field zeroed) plus `initial`. */
export declare function checksum(p: Uint8Array, from: number, to: number, initial?: number): number;
/**
 * The checksum field value after one 16-bit word it covers changed from `oldWord` to `newWord`
 * (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')). A word at an odd offset counts byte-swapped
 * (RFC 1071 2(B)): pass both words swapped.
 */
export declare function adjustChecksum(sum: number, oldWord: number, newWord: number): number;
