// The server's unicast route index: longest-prefix match of an inner destination over every
// client's configured routes and the learned routes (synced table "rt"; a configured route wins
// for the same prefix, and a learned route overlapping another client's configured one is
// ignored: routeConflict). Rebuilt when the client table or the learned routes change; lookups
// allocate nothing. The routes plugin and packets coming back from server-side devices (local,
// nat) resolve their client here.
import { parseCidr, type Prefix } from "./net/addr.ts";
import { type IpView, newIpView, parseIpHeader } from "./net/ip.ts";
import { PrefixTable } from "./net/lpm.ts";
import type { Conn, ConnTable } from "./state.ts";
import type { SyncStore } from "./sync/store.ts";

export class RouteIndex {
  private table = new PrefixTable<Conn>();
  private readonly listeners: (() => void)[] = [];
  /** Scratch view of the packet being looked up (filled per call; nothing kept). */
  private readonly view = newIpView();
  learned = 0;
  badLearned = 0;

  constructor(
    private readonly conns: ConnTable,
    private readonly store: SyncStore,
  ) {
    this.rebuild();
    conns.onChange(() => this.rebuild());
    store.onChange("rt", () => this.rebuild());
  }

  /** The client whose route covers the destination of IP packet `pkt`; undefined if none. */
  lookup(pkt: Uint8Array): Conn | undefined {
    const v = this.view;
    return parseIpHeader(pkt, v) === null ? this.table.lookup(pkt, v.dstOff, v.family) : undefined;
  }

  /** As lookup, for a packet the caller has already parsed into `v` (parseIpHeader or parseL4). */
  lookupIn(pkt: Uint8Array, v: IpView): Conn | undefined {
    return this.table.lookup(pkt, v.dstOff, v.family);
  }

  /** The client whose route covers the source of IP packet `pkt` (who may send from it); undefined if none. */
  sourceOwner(pkt: Uint8Array): Conn | undefined {
    const v = this.view;
    return parseIpHeader(pkt, v) === null ? this.table.lookup(pkt, v.srcOff, v.family) : undefined;
  }

  entries(): { prefix: string; mux: number }[] {
    return this.table.entries().map((e) => ({ prefix: e.prefix, mux: e.value.mux }));
  }

  /** Calls `fn` after every rebuild (after the table has changed). */
  onRebuild(fn: () => void): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private rebuild(): void {
    const t = new PrefixTable<Conn>();
    let learned = 0,
      bad = 0;
    for (const [prefix, value] of this.store.entries("rt")) {
      const c = this.conns.get((value as { mux: number }).mux);
      if (c === undefined) continue;
      try {
        const p = parseCidr(prefix, true);
        // A learned route never takes traffic from another client's configured prefix (a
        // reload may have configured one after the route was learned).
        if (routeConflict(this.conns, p, c.mux) !== null) bad++;
        else {
          t.set(p, c);
          learned++;
        }
      } catch {
        bad++;
      }
    }
    for (const c of this.conns.all()) for (const r of c.routes) t.set(r, c);
    this.table = t;
    this.learned = learned;
    this.badLearned = bad;
    for (const fn of this.listeners) fn();
  }
}

/**
 * The other client whose configured route overlaps `p` (inside it or covering it), which a
 * learned route for client `mux` may therefore not take; null when there is none.
 */
export function routeConflict(conns: ConnTable, p: Prefix, mux: number): Conn | null {
  for (const c of conns.all()) {
    if (c.mux === mux) continue;
    for (const r of c.routes) if (overlap(r, p)) return c;
  }
  return null;
}

function overlap(a: Prefix, b: Prefix): boolean {
  if (a.addr.length !== b.addr.length) return false;
  const len = Math.min(a.len, b.len);
  for (let bit = 0; bit < len; bit++) {
    const m = 0x80 >>> (bit & 7);
    if ((a.addr[bit >>> 3]! & m) !== (b.addr[bit >>> 3]! & m)) return false;
  }
  return true;
}
