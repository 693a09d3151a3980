// TCP MSS clamping (issue 19, path MTU): a client's SYN through the tunnel announces at most the
// MSS that fits the tunnel's inner MTU, so a connection never sends segments the path cannot
// carry. Pure function over a packet parsed into the IP view (net/ip.ts parseL4); the caller owns
// the packet, which is changed in place. Only a present MSS option is lowered (one is never
// added: it would grow the packet); the TCP checksum is fixed incrementally (RFC 1624 eqn. 3).
//
//   TCP  12 data offset (<<4)  13 flags (SYN 0x02)  16 checksum  20.. options
//   option  0 end  1 no-op  2 MSS (length 4, value u16 BE)  others: kind, length, data
import { adjustChecksum } from "./checksum.ts";
import { type IpView, PROTO_TCP } from "./ip.ts";

const SYN = 0x02;
const swap = (w: number) => ((w & 255) << 8) | (w >>> 8);

/** The MSS that fits an inner MTU: minus the IP and TCP headers (RFC 879 / RFC 8200). */
export const mssFor = (mtu: number, family: 4 | 6): number => mtu - (family === 4 ? 40 : 60);

/**
 * Lowers the MSS option of the SYN in `p` (parsed into `v`) to `max` when it is above; true when
 * it changed the packet. Anything that is not a SYN with a well-formed MSS option is left alone.
 */
export function clampMss(p: Uint8Array, v: IpView, max: number): boolean {
  if (v.proto !== PROTO_TCP || (v.kind & SYN) === 0) return false;
  const l4 = v.l4;
  for (let i = l4 + 20; i < v.payload;) {
    const kind = p[i]!;
    if (kind === 0) return false;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= v.payload) return false;
    const len = p[i + 1]!;
    if (len < 2 || i + len > v.payload) return false;
    if (kind === 2 && len === 4) {
      const old = (p[i + 2]! << 8) | p[i + 3]!;
      if (old <= max) return false;
      p[i + 2] = max >>> 8;
      p[i + 3] = max & 255;
      // a value at an odd offset from the TCP header counts byte-swapped in the sum (RFC 1071 2(B))
      const odd = ((i + 2 - l4) & 1) === 1;
      const c = adjustChecksum((p[l4 + 16]! << 8) | p[l4 + 17]!, odd ? swap(old) : old, odd ? swap(max) : max);
      p[l4 + 16] = c >>> 8;
      p[l4 + 17] = c & 255;
      return true;
    }
    i += len;
  }
  return false;
}
