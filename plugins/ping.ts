/**
 * # ping
 *
 * Answers ICMP echo requests (IPv4 type 8, IPv6 type 128) sent through the tunnel to one of
 * `addresses`: the server itself replies, so a client can check the whole path — its TUN, the
 * SATP session, the server — with plain `ping`, before any other client or network is there.
 * The embedded default config (`bun relay.ts` with no config) serves 10.99.0.1 this way.
 * Everything else, and echo requests to other addresses, goes to the next plugin. The reply is
 * the request with source and destination swapped, type 0 / 129, and the checksum fixed; it goes
 * back to the client that asked (and counts `replies`). A request whose checksum is wrong is
 * dropped and counted (`ping-bad-checksum`).
 *
 * Options:
 *   addresses   IPv4 and/or IPv6 addresses answered here, required
 *
 * Example: { "use": "ping", "addresses": ["10.99.0.1"] } before { "use": "routes" }.
 */
import * as v from "valibot";
import { parseIp } from "../src/net/addr.ts";
import { checksum } from "../src/net/checksum.ts";
import { definePlugin, drop, NEXT } from "../src/pipeline.ts";

const BAD = drop("ping-bad-checksum");

export default definePlugin({
  name: "ping",
  options: v.strictObject({
    addresses: v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.check((s) => parseIp(s) !== null, "expected an IP address"),
        ),
      ),
      v.minLength(1, "give at least one address"),
    ),
  }),
  create(ctx, opts) {
    const v4 = new Set<number>();
    const v6: Uint8Array[] = [];
    for (const a of opts.addresses) {
      const b = parseIp(a)!;
      if (b.length === 4) v4.add(((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0);
      else v6.push(b);
    }
    const replies = ctx.counter("replies");
    const same16 = (p: Uint8Array, at: number, b: Uint8Array) => {
      for (let i = 0; i < 16; i++) if (p[at + i] !== b[i]) return false;
      return true;
    };
    return {
      handle(p) {
        const d = p.data;
        if (d.length >= 28 && d[0]! >> 4 === 4) {
          const ihl = (d[0]! & 15) * 4;
          if (d[9] !== 1 || d.length < ihl + 8 || d[ihl] !== 8 || d[ihl + 1] !== 0) return NEXT;
          if ((((d[6]! & 0x3f) << 8) | d[7]!) !== 0 || d[6]! & 0x20) return NEXT; // a fragment
          const dst = ((d[16]! << 24) | (d[17]! << 16) | (d[18]! << 8) | d[19]!) >>> 0;
          if (!v4.has(dst)) return NEXT;
          const total = Math.min(d.length, (d[2]! << 8) | d[3]!);
          if (checksum(d, ihl, total) !== 0) return BAD;
          const out = d.slice(0, total);
          out.copyWithin(12, 16, 20);
          out.set(d.subarray(12, 16), 16); // header checksum unchanged by the swap
          out[8] = 64;
          out[10] = out[11] = 0;
          const hc = checksum(out, 0, ihl);
          out[10] = hc >>> 8;
          out[11] = hc & 255;
          out[ihl] = 0;
          out[ihl + 2] = out[ihl + 3] = 0;
          const c = checksum(out, ihl, total);
          out[ihl + 2] = c >>> 8;
          out[ihl + 3] = c & 255;
          replies.inc();
          return { kind: "reply", data: out };
        }
        if (d.length >= 48 && d[0]! >> 4 === 6 && d[6] === 58 && d[40] === 128 && d[41] === 0) {
          if (!v6.some((a) => same16(d, 24, a))) return NEXT;
          const len = Math.min(d.length - 40, (d[4]! << 8) | d[5]!);
          const pseudo = (p: Uint8Array) => {
            // RFC 8200 8.1: source, destination, upper-layer length, next header 58
            let s = 0;
            for (let i = 8; i < 40; i += 2) s += (p[i]! << 8) | p[i + 1]!;
            return s + len + 58;
          };
          if (checksum(d, 40, 40 + len, pseudo(d)) !== 0) return BAD;
          const out = d.slice(0, 40 + len);
          out.copyWithin(8, 24, 40);
          out.set(d.subarray(8, 24), 24);
          out[7] = 64;
          out[40] = 129;
          out[42] = out[43] = 0;
          const c = checksum(out, 40, 40 + len, pseudo(out));
          out[42] = c >>> 8;
          out[43] = c & 255;
          replies.inc();
          return { kind: "reply", data: out };
        }
        return NEXT;
      },
      stop() {},
      describe: () => ({ addresses: opts.addresses }),
    };
  },
});
