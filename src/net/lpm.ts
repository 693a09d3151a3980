// Longest-prefix match over IPv4 and IPv6 prefixes of any length (a binary trie per family; no
// octet tricks, so /25 at .128 or /9 work — anytun hangs on those). Lookups read an address
// straight from a packet buffer (its offset and family from the IP view, net/ip.ts) and allocate
// nothing.
import { formatPrefix, type Prefix } from "./addr.ts";

interface Node<T> {
  c0: Node<T> | null;
  c1: Node<T> | null;
  has: boolean;
  value: T | undefined;
}

const node = <T>(): Node<T> => ({ c0: null, c1: null, has: false, value: undefined });

export class PrefixTable<T> {
  private readonly roots: { 4: Node<T>; 6: Node<T> } = { 4: node<T>(), 6: node<T>() };
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds or replaces the value for a prefix (host bits beyond len are ignored). */
  set(p: Prefix, value: T): void {
    let n = this.roots[p.addr.length === 4 ? 4 : 6];
    for (let bit = 0; bit < p.len; bit++) {
      const one = (p.addr[bit >>> 3]! & (0x80 >>> (bit & 7))) !== 0;
      const next = one ? n.c1 : n.c0;
      if (next) n = next;
      else {
        const created = node<T>();
        if (one) n.c1 = created;
        else n.c0 = created;
        n = created;
      }
    }
    if (!n.has) this.count++;
    n.has = true;
    n.value = value;
  }

  /** Value of the longest prefix covering the `family` address at buf[off..]; undefined if none. */
  lookup(buf: Uint8Array, off: number, family: 4 | 6): T | undefined {
    let n: Node<T> | null = this.roots[family];
    let best: T | undefined = undefined;
    const bits = family === 4 ? 32 : 128;
    for (let bit = 0; n !== null; bit++) {
      if (n.has) best = n.value;
      if (bit === bits) break;
      n = (buf[off + (bit >>> 3)]! & (0x80 >>> (bit & 7))) !== 0 ? n.c1 : n.c0;
    }
    return best;
  }

  /** Every prefix with its value, shortest first (for views and sync). */
  entries(): { prefix: string; value: T }[] {
    const out: { prefix: string; len: number; value: T }[] = [];
    const walk = (n: Node<T>, bytes: Uint8Array, depth: number) => {
      if (n.has)
        out.push({ prefix: formatPrefix({ addr: bytes.slice(), len: depth }), len: depth, value: n.value as T });
      if (n.c0) walk(n.c0, bytes, depth + 1);
      if (n.c1) {
        bytes[depth >>> 3]! |= 0x80 >>> (depth & 7);
        walk(n.c1, bytes, depth + 1);
        bytes[depth >>> 3]! &= ~(0x80 >>> (depth & 7));
      }
    };
    walk(this.roots[4], new Uint8Array(4), 0);
    walk(this.roots[6], new Uint8Array(16), 0);
    return out.sort((a, b) => a.len - b.len).map(({ prefix, value }) => ({ prefix, value }));
  }
}
