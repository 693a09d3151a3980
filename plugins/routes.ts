/**
 * # routes
 *
 * Tunnel mode: sends each inner packet to the client whose `routes` hold the longest prefix
 * covering its destination (IPv4 and IPv6, any prefix length). Broadcast and multicast
 * destinations fan out to several clients (never back to the sender):
 *
 * - 255.255.255.255, 224.0.0.0/4 and ff00::/8: every client with a route of that family;
 * - the broadcast address of a prefix in `networks` (e.g. 10.99.0.255 for 10.99.0.0/24):
 *   every client with a route inside that network.
 *
 * Learned routes (table "rt" of the synced store, set through the admin API's PUT /v1/routes on
 * any server) count too; a configured route for the same prefix wins.
 *
 * A destination no client covers goes to the next plugin (`noroute` drop at the end of the chain).
 *
 * Options:
 *   networks   list of tunnel subnets whose broadcast address fans out (default none)
 *
 * Example: { "use": "routes", "networks": ["10.99.0.0/24"] }
 */
import * as v from "valibot";
import { cidr, newIpView, parseIpHeader, u32At } from "../src/plugin-sdk.ts";
import { parseCidr, type Prefix } from "../src/net/addr.ts";
import { definePlugin, forward, NEXT, type Verdict } from "../src/pipeline.ts";
import type { Conn } from "../src/state.ts";

const cidr4net = cidr((p) => (p.addr.length !== 4 || p.len > 30 ? "expected an IPv4 network of /30 or shorter" : null));

function inside(inner: Prefix, outer: Prefix): boolean {
  if (inner.addr.length !== outer.addr.length || inner.len < outer.len) return false;
  for (let bit = 0; bit < outer.len; bit++) {
    const m = 0x80 >>> (bit & 7);
    if ((inner.addr[bit >>> 3]! & m) !== (outer.addr[bit >>> 3]! & m)) return false;
  }
  return true;
}

/** A fan-out group whose verdict excludes the sender; verdicts cached per sender. */
class FanOut {
  private readonly bySender = new Map<Conn, Verdict>();
  constructor(private readonly members: readonly Conn[]) {}
  verdict(from: Conn): Verdict {
    let vd = this.bySender.get(from);
    if (vd === undefined) this.bySender.set(from, (vd = forward(this.members.filter((c) => c !== from))));
    return vd;
  }
  get size(): number {
    return this.members.length;
  }
}

export default definePlugin({
  name: "routes",
  view: "routes",
  options: v.strictObject({ networks: v.optional(v.array(cidr4net), []) }),
  create(ctx, opts) {
    const networks = opts.networks.map((n) => parseCidr(n, true));
    // Unicast goes through the server's route index (configured + learned routes); the forward
    // verdict per client is cached so the hot path allocates nothing.
    const unicast = new WeakMap<Conn, Verdict>();
    let all4 = new FanOut([]);
    let all6 = new FanOut([]);
    let bcast = new Map<number, FanOut>(); // IPv4 broadcast address (u32) → group
    const view = newIpView(); // of the packet being handled

    const build = () => {
      const conns = ctx.conns.all();
      all4 = new FanOut(conns.filter((c) => c.routes.some((r) => r.addr.length === 4)));
      all6 = new FanOut(conns.filter((c) => c.routes.some((r) => r.addr.length === 16)));
      const b = new Map<number, FanOut>();
      for (const n of networks) {
        const base = u32At(n.addr, 0);
        const addr = (base | (0xffffffff >>> n.len)) >>> 0;
        b.set(addr, new FanOut(conns.filter((c) => c.routes.some((r) => inside(r, n)))));
      }
      bcast = b;
    };
    build();
    const off = ctx.conns.onChange(build);

    return {
      handle(p) {
        const d = p.data;
        if (parseIpHeader(d, view) !== null) return NEXT;
        if (view.family === 4) {
          const a = u32At(d, view.dstOff);
          if (a === 0xffffffff || a >>> 28 === 14) return all4.verdict(p.from);
          if (bcast.size > 0) {
            const g = bcast.get(a);
            if (g !== undefined) return g.verdict(p.from);
          }
        } else if (d[view.dstOff] === 0xff) return all6.verdict(p.from);
        const c = ctx.routes.lookupIn(d, view);
        if (c === undefined) return NEXT;
        let vd = unicast.get(c);
        if (vd === undefined) unicast.set(c, (vd = forward([c])));
        return vd;
      },
      stop() {
        off();
      },
      describe() {
        return { routes: ctx.routes.entries(), networks: opts.networks };
      },
    };
  },
});
