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
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly store: SyncStore,
    private readonly conns: ConnTable,
    private readonly intervalMs: number,
  ) {
    // byMax admits numbers only, so every value the handlers see is one.
    store.mergeBy("hwm", byMax);
    store.mergeBy("rst", byMax);
    store.onChange("hwm", (key, value, origin) => {
      // Stryker disable next-line ConditionalExpression: equivalent — our own mark is our window's max already
      if (origin !== "remote") return;
      const [mux, sid] = key.split("/").map(Number) as [number, number];
      const c = conns.get(mux);
      if (c !== undefined) this.apply(c, sid, value as number);
    });
    store.onChange("rst", (key, value, origin) => {
      // Stryker disable next-line ConditionalExpression: equivalent — a local reset has set the epoch already
      if (origin !== "remote") return;
      const c = conns.get(Number(key));
      if (c !== undefined && (value as number) > c.epoch) c.resetWindows(value as number);
    });
    // Clients configured after the snapshot (reload) pick up what the store holds (carried-over
    // clients have it already: applying it again changes nothing).
    conns.onChange(() => this.adopt());
  }

  start(): void {
    this.adopt();
    this.timer = setInterval(() => this.publish(), this.intervalMs);
    // Stryker disable next-line OptionalChaining: equivalent under Bun (timers have unref)
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  stop(): void {
    clearInterval(this.timer ?? undefined);
    this.timer = null;
  }

  /**
   * An operator's reset of `conn`'s replay state (a restarted legacy client): every server of the
   * group forgets its windows for this client, and marks of the old epoch no longer count.
   */
  reset(conn: Conn): number {
    conn.resetWindows(conn.epoch + 1);
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

  /** Publishes every window's mark; the store keeps (and sends) only those that moved (byMax). */
  publish(): void {
    for (const c of this.conns.all())
      for (const [sid, w] of c.windows())
        if (w.isStarted) this.store.set("hwm", `${c.mux}/${sid}`, markOf(c.epoch, w.max));
  }

  /** A mark for (c, sid): a newer epoch resets first, an older one is ignored. */
  private apply(c: Conn, sid: number, value: number): void {
    const epoch = Math.floor(value / EPOCH);
    if (epoch < c.epoch) return;
    if (epoch > c.epoch) c.resetWindows(epoch);
    c.window(sid)?.advanceTo(value % EPOCH);
  }

  /** What the store holds, applied to the clients of the table (at start and after a reload). */
  private adopt(): void {
    for (const [key, e] of this.store.entries("rst")) {
      const c = this.conns.get(Number(key));
      if (c !== undefined && (e as number) > c.epoch) c.resetWindows(e as number);
    }
    for (const [key, value] of this.store.entries("hwm")) {
      const [mux, sid] = key.split("/").map(Number) as [number, number];
      const c = this.conns.get(mux);
      if (c !== undefined) this.apply(c, sid, value as number);
    }
  }
}
