// SYN cookies (RFC 4987 3.6) for full anycast TCP: a SYN costs no state, its SYN-ACK's ISS
// carries what the final ACK needs, and the flow is made only when that ACK proves the cookie.
// The secret is derived from the fleet key, so the SYN and the final ACK may reach different
// servers of the anycast group; it rotates with the wall clock every SLOT_MS (each slot's key is
// HMAC(secret, slot)), and a cookie is good in its own slot and the two next to it, so servers
// whose clocks differ by less than a slot agree and a cookie lives 2-3 slots (2-3 minutes).
//
// ISS (32 bits):  bits 31-30  slot mod 4
//                 bits 29-28  MSS index into MSS_TABLE (the largest entry <= the peer's MSS)
//                 bits 27-24  the peer's window shift + 1, or 0 when it offered none
//                 bits 23-0   MAC: HMAC-SHA256(slot key, addresses, ports, peer ISN, bits 31-24)
// A blind attacker completing a handshake must guess 24 bits per try. Timestamps are never
// offered (endpoint.ts), so nothing else of the SYN is needed; SACK is not done either.
import { createHmac } from "node:crypto";

export const SLOT_MS = 64_000;
export const MSS_TABLE = [536, 1300, 1440, 1460] as const;

export interface CookieOptions {
  /** The peer's MSS (the table entry at or below it is used) and window shift, from its SYN. */
  mss: number;
  wscale: number | undefined;
}

export interface Tuple {
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
}

export class SynCookies {
  private readonly keys = new Map<number, Buffer>();

  constructor(
    private readonly secret: Uint8Array,
    /** Wall clock, ms (injected in tests; servers compare slots, so it must be the real time). */
    private readonly clock: () => number = Date.now,
  ) {}

  /** The ISS for a SYN from `t` with sequence number `isn`. */
  make(t: Tuple, isn: number, o: CookieOptions): number {
    const slot = Math.floor(this.clock() / SLOT_MS);
    let m = MSS_TABLE.length - 1;
    while (m > 0 && MSS_TABLE[m]! > o.mss) m--;
    const ws = o.wscale === undefined ? 0 : Math.min(o.wscale, 14) + 1;
    const top = ((slot & 3) << 6) | (m << 4) | ws;
    return ((top << 24) | this.mac(slot, t, isn, top)) >>> 0;
  }

  /** The options a final ACK's cookie (its ACK - 1) carries, or null when it is not ours or too old. */
  check(t: Tuple, isn: number, cookie: number): CookieOptions | null {
    const top = cookie >>> 24;
    const now = Math.floor(this.clock() / SLOT_MS);
    for (const slot of [now, now - 1, now + 1]) {
      if ((slot & 3) !== top >>> 6) continue;
      if (this.mac(slot, t, isn, top) !== (cookie & 0xffffff)) return null;
      const ws = top & 15;
      return { mss: MSS_TABLE[(top >>> 4) & 3]!, wscale: ws === 0 ? undefined : ws - 1 };
    }
    return null;
  }

  private mac(slot: number, t: Tuple, isn: number, top: number): number {
    let k = this.keys.get(slot);
    if (k === undefined) {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(BigInt(slot));
      k = createHmac("sha256", this.secret).update(b).digest();
      if (this.keys.size >= 4) this.keys.delete(this.keys.keys().next().value!);
      this.keys.set(slot, k);
    }
    const h = createHmac("sha256", k);
    h.update(t.src);
    h.update(t.dst);
    const b = Buffer.alloc(9);
    b.writeUInt16BE(t.srcPort, 0);
    b.writeUInt16BE(t.dstPort, 2);
    b.writeUInt32BE(isn >>> 0, 4);
    b[8] = top;
    const d = h.update(b).digest();
    return (d[0]! << 16) | (d[1]! << 8) | d[2]!;
  }
}
