// Port slices: a range of ports (NAT external ports, relay ports) is cut into `count` slices and
// every member of the anycast group (each worker of each server) allocates only from its own, so
// two members never hand out one port at the same moment (a binding is synced only after it was
// made). Which member has which slice is itself a synced table, "slice":
//
//   key "<pool>/<node>"  value {i: slice index}   written only by that node (validateBy)
//
// A member claims its preferred slice (distinct per member for the usual fleet: plan.ts gives
// worker i of server S the preference S * workers + i) unless it sees another member claiming it;
// when two claim one slice, the lower node id keeps it and the other moves to the lowest slice
// nobody claims, and publishes that. A claim of a server that is gone expires with its other
// records (sync.staleSeconds); a restarted member finds its own claim in the fleet's snapshot.
// With more members than slices, the last ones share the least claimed slice (logged): ports are
// still checked against every synced binding before use, so sharing costs only the race.
import type { Fields } from "../log.ts";
import type { SyncTables } from "./store.ts";

const TABLE = "slice";
/** Slices a pool may be cut into at most. */
export const MAX_SLICES = 4096;

export class PortSlices {
  private current: number;
  private warned = false;
  private readonly off: () => void;
  /** Times this member moved to another slice (a conflict). */
  moves = 0;

  constructor(
    private readonly store: SyncTables,
    private readonly pool: string,
    readonly count: number,
    private readonly node: number,
    preferred: number,
    private readonly log: ((msg: string, fields: Fields) => void) | null = null,
  ) {
    // One rule for every pool of the table: a node writes only its own claims.
    store.validateBy(
      TABLE,
      (v, key, origin) =>
        key.endsWith(`/${origin}`) &&
        typeof v === "object" &&
        v !== null &&
        Number.isInteger((v as { i: unknown }).i) &&
        (v as { i: number }).i >= 0 &&
        (v as { i: number }).i < MAX_SLICES,
    );
    const own = store.get(TABLE, this.key(node)) as { i: number } | undefined;
    const want = own !== undefined && own.i < count ? own.i : ((preferred % count) + count) % count;
    this.current = this.contested(want) ? this.free() : want;
    this.publish();
    this.off = store.onChange(TABLE, (key, _value, origin) => {
      if (origin === "local" || !key.startsWith(`${pool}/`)) return;
      if (this.contested(this.current)) {
        const from = this.current;
        this.current = this.free();
        if (this.current !== from) {
          this.moves++;
          this.publish();
          this.log?.("port slice claimed by a member with a lower node id: moved", {
            pool,
            from,
            to: this.current,
          });
        }
      }
    });
  }

  get index(): number {
    return this.current;
  }

  /** Ports of the current slice within [lo, hi]: its first port and size. */
  within(lo: number, hi: number): { start: number; size: number } {
    const size = Math.floor((hi - lo + 1) / this.count);
    return { start: lo + this.current * size, size };
  }

  stop(): void {
    this.off();
  }

  private key(node: number): string {
    return `${this.pool}/${node}`;
  }

  /** Slice index → the claiming nodes (others than us). */
  private claims(): Map<number, number[]> {
    const out = new Map<number, number[]>();
    const prefix = `${this.pool}/`;
    for (const [k, v] of this.store.entries(TABLE)) {
      if (!k.startsWith(prefix)) continue;
      const node = Number(k.slice(prefix.length));
      if (node === this.node) continue;
      const i = (v as { i: number }).i;
      if (i >= this.count) continue; // cut differently there (a config change in flight)
      const list = out.get(i);
      if (list) list.push(node);
      else out.set(i, [node]);
    }
    return out;
  }

  /** True when a member with a lower node id claims slice `i`. */
  private contested(i: number): boolean {
    return (this.claims().get(i) ?? []).some((n) => n < this.node);
  }

  /** The lowest slice nobody else claims; else the one the fewest claim (shared, logged once). */
  private free(): number {
    const claims = this.claims();
    for (let i = 0; i < this.count; i++) if (!claims.has(i)) return i;
    let best = 0;
    for (let i = 1; i < this.count; i++) if ((claims.get(i)?.length ?? 0) < (claims.get(best)?.length ?? 0)) best = i;
    if (!this.warned) {
      this.warned = true;
      this.log?.("more members than port slices: sharing one (raise the plugin's `slices`)", {
        pool: this.pool,
        slice: best,
        with: claims.get(best)?.join(","),
      });
    }
    return best;
  }

  private publish(): void {
    this.store.set(TABLE, this.key(this.node), { i: this.current });
  }
}
