// What the server replicates through the sync store, and how records map onto its tables:
//
//   table "ep",  key "<mux>":      { a: address, p: port, l: listener name or "tcp" (Link.record),
//                                    s: sender id of the server that last served the client — for
//                                    "tcp", the server holding the client's stream: the others
//                                    reach the client through it (transport/link.ts RemoteLink) }
//   table "hwm", key "<mux>/<sid>": highest seq a server accepted from (mux, sender id), published
//                                    every hwmIntervalMs while it moves (replay protection across
//                                    servers, staleness bounded by that interval); merged by
//                                    maximum, never by clock, never expired (store.ts mergeBy)
//   table "rt",  key "<prefix>":    { mux } learned routes (admin API; read by the routes plugin)
//
// Local changes become records; remote records change the tables but are never re-published.
import type { Conn, ConnTable } from "../state.ts";
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
      conn.servedBy = r.s;
      conn.endpoint = linkFor(r, conn.mux);
      if (conn.endpoint !== null) this.adopted(conn);
    });
    store.mergeBy(
      "hwm",
      (incoming, current) => typeof incoming === "number" && (typeof current !== "number" || incoming > current),
    );
    store.onChange("hwm", (key, value, origin) => {
      if (origin !== "remote" || typeof value !== "number") return;
      const [mux, sid] = key.split("/").map(Number) as [number, number];
      const w = conns.get(mux)?.window(sid);
      if (w) {
        w.advanceTo(value);
        this.published.set(key, w.max);
      }
    });
    // Clients configured after their endpoint was synced (reload) pick it up.
    conns.onChange(() => {
      for (const c of conns.all()) if (c.endpoint === null) this.adoptEndpoint(c);
    });
  }

  start(): void {
    for (const c of this.conns.all()) if (c.endpoint === null) this.adoptEndpoint(c);
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

  private adoptEndpoint(c: Conn): void {
    const r = this.store.get("ep", String(c.mux)) as EndpointRecord | undefined;
    if (r === undefined) return;
    c.endpoint = this.linkFor(r, c.mux);
    c.servedBy = r.s;
    if (c.endpoint !== null) this.adopted(c);
  }

  private publishHighWaterMarks(): void {
    for (const c of this.conns.all())
      for (const [sid, w] of c.windows()) {
        const key = `${c.mux}/${sid}`;
        if (this.published.get(key) === w.max) continue;
        this.published.set(key, w.max);
        this.store.set("hwm", key, w.max);
      }
  }
}
