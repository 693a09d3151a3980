// What the server replicates through the sync store, and how records map onto its tables:
//
//   table "ep",  key "<mux>":      { a: address, p: port, l: listener name or "tcp" (Link.record),
//                                    s: sender id of the server that last served the client — for
//                                    "tcp", the server holding the client's stream: the others
//                                    reach the client through it (transport/link.ts RemoteLink) }
//   table "hwm", key "<mux>/<sid>": epoch * 2^32 + the highest seq a server accepted from (mux,
//                                    sender id), published every hwmIntervalMs while it moves
//                                    (replay protection across servers, staleness bounded by that
//                                    interval); merged by maximum, never by clock, never expired
//                                    (store.ts mergeBy)
//   table "rst", key "<mux>":       the client's reset epoch (an operator's POST
//                                    /v1/clients/:mux/reset); merged by maximum. A higher epoch
//                                    clears every server's windows for that client, and every
//                                    mark of an older epoch loses to any mark of the new one
//   table "rt",  key "<prefix>":    { mux } learned routes (admin API; read by the routes plugin)
//
// Local changes become records; remote records change the tables but are never re-published.
import { MARKS_ASK, type Conn, type ConnTable } from "../state.ts";
import type { Link } from "../transport/link.ts";
import type { SyncStore } from "./store.ts";

export interface EndpointRecord {
  a: string;
  p: number;
  l: string;
  s: number;
}

/** The link a record gives client `mux` here (a UDP listener's, or the data channel to the owner), or null. */
export type LinkForRecord = (rec: EndpointRecord, mux: number) => Link | null;

export class Replication {
  private readonly published = new Map<string, number>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly store: SyncStore,
    private readonly conns: ConnTable,
    private readonly linkFor: LinkForRecord,
    /** A record gave `conn` a link: what waits for it may go now. */
    private readonly adopted: (conn: Conn) => void,
    private readonly hwmIntervalMs: number,
  ) {
    store.onChange("ep", (key, value, origin) => {
      if (origin === "local") return;
      const conn = conns.get(Number(key));
      if (conn === undefined) return;
      if (value === null) {
        conn.endpoint = null; // expired: learned from a peer that is gone, never confirmed here
        return;
      }
      const r = value as EndpointRecord;
      // Another server serves the client now: if a route brings it back here, its first packets
      // wait for that server's current marks (datapath.ts `arrive`).
      if (r.s !== store.node && r.s >= 0 && conn.wait === 0) conn.wait = MARKS_ASK;
      conn.servedBy = r.s;
      conn.endpoint = linkFor(r, conn.mux);
      if (conn.endpoint !== null) this.adopted(conn);
    });
    const byMax = (incoming: unknown, current: unknown) =>
      typeof incoming === "number" && (typeof current !== "number" || incoming > current);
    store.mergeBy("hwm", byMax);
    store.mergeBy("rst", byMax);
    store.onChange("hwm", (key, value, origin) => {
      if (origin !== "remote" || typeof value !== "number") return;
      const [mux, sid] = key.split("/").map(Number) as [number, number];
      const c = conns.get(mux);
      if (c !== undefined) this.applyMark(c, sid, value);
    });
    store.onChange("rst", (key, value, origin) => {
      if (origin !== "remote" || typeof value !== "number") return;
      const c = conns.get(Number(key));
      if (c !== undefined && value > c.epoch) this.resetTo(c, value);
    });
    // Clients configured after their endpoint was synced (reload) pick it up, and their marks.
    conns.onChange(() => {
      for (const c of conns.all()) if (c.endpoint === null) this.adoptEndpoint(c);
      this.adoptMarks(conns.all().filter((c) => c.windows().next().done === true));
    });
  }

  start(): void {
    for (const c of this.conns.all()) if (c.endpoint === null) this.adoptEndpoint(c);
    this.adoptMarks(this.conns.all());
    this.timer = setInterval(() => this.publishHighWaterMarks(), this.hwmIntervalMs);
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The receive path learned or confirmed where `conn` is (called only on a change). */
  endpointChanged(conn: Conn): void {
    const ep = conn.endpoint!;
    const rec: EndpointRecord = { a: ep.address, p: ep.port, l: ep.record, s: conn.servedBy };
    this.store.set("ep", String(conn.mux), rec);
  }

  /**
   * An operator's reset of `conn`'s replay state (a restarted legacy client): every server of the
   * group forgets its windows for this client, and marks of the old epoch no longer count.
   */
  reset(conn: Conn): number {
    this.resetTo(conn, conn.epoch + 1);
    this.store.set("rst", String(conn.mux), conn.epoch);
    return conn.epoch;
  }

  private resetTo(c: Conn, epoch: number): void {
    c.resetWindows(epoch);
    const prefix = `${c.mux}/`;
    for (const k of this.published.keys()) if (k.startsWith(prefix)) this.published.delete(k);
  }

  /** This server's current marks of client `mux` (what a peer asks for after a route flip). */
  marksOf(mux: number): [number, number][] {
    const c = this.conns.get(mux);
    if (c === undefined) return [];
    const out: [number, number][] = [];
    for (const [sid, w] of c.windows()) if (w.isStarted) out.push([sid, c.epoch * 2 ** 32 + w.max]);
    return out;
  }

  /** Marks another server answered for `c` (as if synced). */
  applyMarks(c: Conn, marks: readonly [number, number][]): void {
    for (const [sid, value] of marks) this.applyMark(c, sid, value);
  }

  /** A mark (epoch * 2^32 + seq) for (c, sid): a newer epoch resets first, an older one is ignored. */
  private applyMark(c: Conn, sid: number, value: number): void {
    const epoch = Math.floor(value / 2 ** 32);
    if (epoch < c.epoch) return;
    if (epoch > c.epoch) this.resetTo(c, epoch);
    const w = c.window(sid);
    if (w === null) return;
    w.advanceTo(value % 2 ** 32);
    this.published.set(`${c.mux}/${sid}`, c.epoch * 2 ** 32 + w.max);
  }

  /** What the store already holds for `these` clients (configured after the snapshot, or at start). */
  private adoptMarks(these: readonly Conn[]): void {
    if (these.length === 0) return;
    const want = new Set(these);
    const mine = (mux: number) => {
      const c = this.conns.get(mux);
      return c !== undefined && want.has(c) ? c : undefined;
    };
    for (const [key, e] of this.store.entries("rst")) {
      const c = mine(Number(key));
      if (c !== undefined && typeof e === "number" && e > c.epoch) this.resetTo(c, e);
    }
    for (const [key, value] of this.store.entries("hwm")) {
      const [mux, sid] = key.split("/").map(Number) as [number, number];
      const c = mine(mux);
      if (c !== undefined && typeof value === "number") this.applyMark(c, sid, value);
    }
  }

  private adoptEndpoint(c: Conn): void {
    const r = this.store.get("ep", String(c.mux)) as EndpointRecord | undefined;
    if (r === undefined) return;
    c.endpoint = this.linkFor(r, c.mux);
    if (r.s !== this.store.node && r.s >= 0 && c.wait === 0) c.wait = MARKS_ASK;
    c.servedBy = r.s;
    if (c.endpoint !== null) this.adopted(c);
  }

  private publishHighWaterMarks(): void {
    for (const c of this.conns.all())
      for (const [sid, w] of c.windows()) {
        if (!w.isStarted) continue;
        const key = `${c.mux}/${sid}`;
        const mark = c.epoch * 2 ** 32 + w.max;
        if (this.published.get(key) === mark) continue;
        this.published.set(key, mark);
        this.store.set("hwm", key, mark);
      }
  }
}
