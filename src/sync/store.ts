// The replicated tables. Every record is (table, key) → value with a version (t, node): wall-clock
// milliseconds and the writer's node id (its sender id); a record with a higher version wins
// (last writer wins, ties broken by node id), so every node converges on the same value whatever
// the order deltas arrive in. A local write is stamped later than the record it replaces, so what a
// node writes after seeing a record wins over it even when that record's writer's clock runs ahead. A delete is a record with value null (a tombstone, kept like any
// record so an older write cannot bring the key back).
//
// Records learned over a link remember it. When that link goes down they are marked stale; a
// stale record that nothing refreshes within `staleMs` is dropped (tombstones too), so what a
// lost peer taught is not trusted forever. Local writes are never stale.
//
// A table may instead merge by value (`mergeBy`): a record replaces another (or is the first)
// only when the merge says its value wins, whatever the clocks say, and such a table is never marked stale nor
// expired. Replay high-water marks ("hwm") merge by maximum: a server whose clock runs ahead
// cannot pin a lower mark over the fleet's, and a lost peer's mark stays a floor.
//
// Tables are plain strings (e.g. "ep" client endpoints, "hwm" replay high-water marks, "rt"
// learned routes); values are JSON-serialisable. Not safe to share across threads.

export interface Version {
  t: number;
  node: number;
}

export interface SyncRecord {
  table: string;
  key: string;
  value: unknown; // null = deleted
  t: number;
  node: number;
}

interface Entry {
  rec: SyncRecord;
  /** Link id the record came from; 0 = local. */
  via: number;
  /** performance.now() when the link it came from went down; 0 = fresh. */
  staleSince: number;
}

export type ChangeOrigin = "local" | "remote" | "expired";
export type ChangeListener = (key: string, value: unknown, origin: ChangeOrigin, rec: SyncRecord) => void;

/** What plugins and other rooms may use of the store. */
export type SyncTables = Pick<SyncStore, "get" | "set" | "delete" | "entries" | "onChange" | "validateBy">;

export function newer(a: Version, b: Version): boolean {
  return a.t > b.t || (a.t === b.t && a.node > b.node);
}

export class SyncStore {
  private readonly tables = new Map<string, Map<string, Entry>>();
  private readonly listeners = new Map<string, ChangeListener[]>();
  private readonly outbox: ((rec: SyncRecord) => void)[] = [];
  /** Tables merged by value: wins(incoming, current) true when incoming replaces current. */
  private readonly merges = new Map<string, (incoming: unknown, current: unknown) => boolean>();
  private lastT = 0;
  recordsIn = 0;
  recordsApplied = 0;
  recordsOut = 0;
  /** Records refused before they could win: wrong shape for their table, or stamped too far ahead. */
  recordsRefused = 0;
  /** Shape checks per table (`validateBy`): a record whose value fails is refused. */
  private readonly shapes = new Map<string, (value: unknown, key: string, node: number) => boolean>();
  /** How far ahead of our clock a last-writer-wins record may be stamped (else refused). */
  maxSkewMs = 60_000;

  constructor(
    readonly node: number,
    private readonly now: () => number = Date.now,
  ) {}

  private table(name: string): Map<string, Entry> {
    let t = this.tables.get(name);
    if (t === undefined) this.tables.set(name, (t = new Map()));
    return t;
  }

  get(table: string, key: string): unknown {
    const e = this.tables.get(table)?.get(key);
    return e === undefined ? undefined : (e.rec.value ?? undefined);
  }

  version(table: string, key: string): Version | undefined {
    const e = this.tables.get(table)?.get(key);
    return e && { t: e.rec.t, node: e.rec.node };
  }

  /** Live (non-deleted) entries of a table. */
  entries(table: string): [string, unknown][] {
    const out: [string, unknown][] = [];
    for (const [k, e] of this.tables.get(table) ?? []) if (e.rec.value !== null) out.push([k, e.rec.value]);
    return out;
  }

  /** Records per table, and how many are stale. */
  counts(): Record<string, { live: number; stale: number }> {
    const out: Record<string, { live: number; stale: number }> = {};
    for (const [name, t] of this.tables) {
      let live = 0,
        stale = 0;
      for (const e of t.values()) {
        if (e.rec.value !== null) live++;
        if (e.staleSince !== 0) stale++;
      }
      out[name] = { live, stale };
    }
    return out;
  }

  /** Calls `fn` after every change of `table` (local writes included); returns an unsubscribe function. */
  onChange(table: string, fn: ChangeListener): () => void {
    const l = this.listeners.get(table);
    if (l) l.push(fn);
    else this.listeners.set(table, [fn]);
    return () => {
      const list = this.listeners.get(table);
      const i = list ? list.indexOf(fn) : -1;
      if (i >= 0) list!.splice(i, 1);
    };
  }

  /** Makes `table` merge by value (see the header); call before records arrive. */
  mergeBy(table: string, wins: (incoming: unknown, current: unknown) => boolean): void {
    this.merges.set(table, wins);
  }

  /**
   * Records of `table` from links must have a value `ok` accepts (null, a delete, always passes);
   * others are refused and counted. `node` is the record's origin (the server that wrote it), so
   * a table can hold a peer to records in its own name. Register before records arrive.
   */
  validateBy(table: string, ok: (value: unknown, key: string, node: number) => boolean): void {
    this.shapes.set(table, ok);
  }

  /** Where local writes go (the sync backend publishes them). */
  onPublish(fn: (rec: SyncRecord) => void): void {
    this.outbox.push(fn);
  }

  /**
   * A local write; value null deletes. Versions are strictly increasing per node. In a merged
   * table a value that does not win over the current one (or over nothing, for the first) changes
   * nothing: the current record (or null) is returned and nothing is published.
   */
  set(table: string, key: string, value: unknown): SyncRecord | null {
    const wins = this.merges.get(table);
    if (wins !== undefined) {
      const cur = this.tables.get(table)?.get(key);
      if (!wins(value ?? null, cur?.rec.value)) return cur?.rec ?? null;
    }
    let t = this.now();
    if (t <= this.lastT) t = this.lastT + 1e-3; // same millisecond: still newer than our last write
    // A write made after seeing a record replaces it whatever the clocks say (its writer's clock
    // may run ahead, up to the skew apply accepts): later here is later everywhere.
    const seen = this.tables.get(table)?.get(key)?.rec.t;
    if (seen !== undefined && t <= seen) t = seen + 1e-3;
    this.lastT = t;
    const rec: SyncRecord = { table, key, value: value ?? null, t, node: this.node };
    this.table(table).set(key, { rec, via: 0, staleSince: 0 });
    this.emit(rec, "local");
    for (const fn of this.outbox) fn(rec);
    this.recordsOut++;
    return rec;
  }

  delete(table: string, key: string): void {
    if (this.tables.get(table)?.has(key)) this.set(table, key, null);
  }

  /** A record from link `via`. Returns true when it won (was newer) and was applied. */
  apply(rec: SyncRecord, via: number): boolean {
    this.recordsIn++;
    const shape = this.shapes.get(rec.table);
    const wins = this.merges.get(rec.table);
    if (
      !Number.isFinite(rec.t) ||
      !Number.isInteger(rec.node) ||
      (shape !== undefined && rec.value !== null && !shape(rec.value, rec.key, rec.node)) ||
      // a record stamped in the future would win over every later write (LWW tables only: merged
      // tables ignore time, and marks must converge whatever the clocks)
      (wins === undefined && rec.t > this.now() + this.maxSkewMs)
    ) {
      this.recordsRefused++;
      return false;
    }
    const t = this.table(rec.table);
    const cur = t.get(rec.key);
    if (wins !== undefined) {
      if (!wins(rec.value, cur?.rec.value)) return false; // the first record must pass the rule too
    } else if (cur !== undefined && !newer(rec, cur.rec)) {
      // The same version again (e.g. a snapshot after reconnect) refreshes a stale entry.
      if (cur.rec.t === rec.t && cur.rec.node === rec.node && cur.staleSince !== 0) {
        cur.staleSince = 0;
        cur.via = via;
      }
      return false;
    }
    if (rec.t > this.lastT && rec.node === this.node) this.lastT = rec.t; // our own write, seen back after a restart
    t.set(rec.key, { rec, via, staleSince: 0 });
    this.recordsApplied++;
    this.emit(rec, "remote");
    return true;
  }

  /** Every record (tombstones included), for a snapshot to a new link. */
  *snapshot(): Generator<SyncRecord> {
    for (const t of this.tables.values()) for (const e of t.values()) if (e.staleSince === 0) yield e.rec;
  }

  /** Marks what link `via` taught as stale (the link went down); merged tables never go stale. */
  linkDown(via: number): void {
    const now = performance.now();
    for (const [name, t] of this.tables) {
      if (this.merges.has(name)) continue;
      for (const e of t.values()) if (e.via === via && e.staleSince === 0) e.staleSince = now;
    }
  }

  /** Drops stale records older than `staleMs`; returns how many went. */
  expire(staleMs: number): number {
    const now = performance.now();
    let n = 0;
    for (const t of this.tables.values())
      for (const [k, e] of t) {
        if (e.staleSince === 0 || now - e.staleSince < staleMs) continue;
        t.delete(k);
        n++;
        if (e.rec.value !== null) this.emit({ ...e.rec, value: null }, "expired");
      }
    return n;
  }

  private emit(rec: SyncRecord, origin: ChangeOrigin): void {
    const l = this.listeners.get(rec.table);
    if (l) for (const fn of l) fn(rec.key, rec.value, origin, rec);
  }
}
