// Replay marks across servers: what one server accepted from a (client, sender id) is a replay at
// every other. Through the sync store (store.ts), merged by maximum (never by clock, never stale,
// never expired):
//
//   table "hwm", key "<mux>/<sid>": epoch * 2^32 + the highest seq this server accepted from (mux,
//                                    sender id), published every hwmIntervalMs while it moves (the
//                                    bound on staleness; a moved client's first packets ask the
//                                    previous server directly instead: datapath.ts `arrive`)
//   table "rst", key "<mux>":       the client's reset epoch (an operator's POST
//                                    /v1/clients/:mux/reset). A higher epoch clears every
//                                    server's windows for that client, and every mark of an older
//                                    epoch loses to any mark of the new one
//
// A mark only ever raises a window (ReplayWindow.advanceTo); windows are made for marks as for
// authenticated packets (within crypto.maxSenders).
import type { Conn, ConnTable } from "../state.ts";
import type { SyncStore } from "./store.ts";

const EPOCH = 2 ** 32;

/** The mark of a window: its epoch in the high part, its highest seq in the low 32 bits. */
export const markOf = (epoch: number, seq: number): number => epoch * EPOCH + seq;

/** Merge rule of both tables: a number wins over anything that is not a larger number. */
export const byMax = (incoming: unknown, current: unknown): boolean =>
  typeof incoming === "number" && (typeof current !== "number" || incoming > current);

export class ReplayMarks {
  /** What was last published (or learned) per "<mux>/<sid>": unchanged windows are not re-sent. */
  private readonly published = new Map<string, number>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly store: SyncStore,
    private readonly conns: ConnTable,
    private readonly intervalMs: number,
  ) {
    store.mergeBy("hwm", byMax);
    store.mergeBy("rst", byMax);
    store.onChange("hwm", (key, value, origin) => {
      if (origin !== "remote" || typeof value !== "number") return;
      const [mux, sid] = key.split("/").map(Number) as [number, number];
      const c = conns.get(mux);
      if (c !== undefined) this.apply(c, sid, value);
    });
    store.onChange("rst", (key, value, origin) => {
      if (origin !== "remote" || typeof value !== "number") return;
      const c = conns.get(Number(key));
      if (c !== undefined && value > c.epoch) this.resetTo(c, value);
    });
    // Clients configured after the snapshot (reload) pick up what the store holds.
    conns.onChange(() => this.adopt(conns.all().filter((c) => c.windows().next().done === true)));
  }

  start(): void {
    this.adopt(this.conns.all());
    this.timer = setInterval(() => this.publish(), this.intervalMs);
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
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

  /** This server's current marks of client `mux`: [sender id, mark] (what a peer asks for after a flip). */
  marksOf(mux: number): [number, number][] {
    const c = this.conns.get(mux);
    if (c === undefined) return [];
    const out: [number, number][] = [];
    for (const [sid, w] of c.windows()) if (w.isStarted) out.push([sid, markOf(c.epoch, w.max)]);
    return out;
  }

  /** Marks another server answered for `c` (as if synced). */
  applyMarks(c: Conn, marks: readonly [number, number][]): void {
    for (const [sid, value] of marks) this.apply(c, sid, value);
  }

  /** Publishes every window whose mark moved since the last time (the timer calls it). */
  publish(): void {
    for (const c of this.conns.all())
      for (const [sid, w] of c.windows()) {
        if (!w.isStarted) continue;
        const key = `${c.mux}/${sid}`;
        const mark = markOf(c.epoch, w.max);
        if (this.published.get(key) === mark) continue;
        this.published.set(key, mark);
        this.store.set("hwm", key, mark);
      }
  }

  private resetTo(c: Conn, epoch: number): void {
    c.resetWindows(epoch);
    const prefix = `${c.mux}/`;
    for (const k of this.published.keys()) if (k.startsWith(prefix)) this.published.delete(k);
  }

  /** A mark for (c, sid): a newer epoch resets first, an older one is ignored. */
  private apply(c: Conn, sid: number, value: number): void {
    const epoch = Math.floor(value / EPOCH);
    if (epoch < c.epoch) return;
    if (epoch > c.epoch) this.resetTo(c, epoch);
    const w = c.window(sid);
    if (w === null) return;
    w.advanceTo(value % EPOCH);
    this.published.set(`${c.mux}/${sid}`, markOf(c.epoch, w.max));
  }

  /** What the store already holds for `these` clients (configured after the snapshot, or at start). */
  private adopt(these: readonly Conn[]): void {
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
      if (c !== undefined && typeof value === "number") this.apply(c, sid, value);
    }
  }
}
