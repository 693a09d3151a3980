// What the server replicates through the sync store, and how records map onto its tables:
//
//   table "ep",  key "<mux>":      { a: address, p: port, l: listener name or "tcp" (Link.record),
//                                    s: sender id of the server that last served the client — for
//                                    "tcp", the server holding the client's stream: the others
//                                    reach the client through it (transport/link.ts RemoteLink) }
//   tables "hwm", "rst":            replay marks and reset epochs (marks.ts)
//   table "rt",  key "<prefix>":    { mux } learned routes (admin API; read by the routes plugin)
//
// Local changes become records; remote records change the tables but are never re-published.
import { routeConflict } from "../routing.ts";
import { parseCidr, parseIp } from "../net/addr.ts";
import { MARKS_ASK, type Conn, type ConnTable } from "../state.ts";
import type { Link } from "../transport/link.ts";
import { ReplayMarks } from "./marks.ts";
import type { SyncStore } from "./store.ts";

export interface EndpointRecord {
  a: string;
  p: number;
  l: string;
  s: number;
}

const isInt = (x: unknown, lo: number, hi: number) => Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi;

/** An "ep" record from a peer: client mux as key, an IP literal, a port, a short listener name, a sender id. */
export function isEndpointRecord(v: unknown, key: string): boolean {
  const r = v as Partial<EndpointRecord>;
  return (
    isInt(Number(key), 0, 65535) &&
    /^\d+$/.test(key) &&
    typeof v === "object" &&
    typeof r.a === "string" &&
    parseIp(r.a) !== null &&
    isInt(r.p, 0, 65535) &&
    typeof r.l === "string" &&
    r.l.length <= 64 &&
    isInt(r.s, -1, 65535)
  );
}

/** An "rt" record: a prefix as key, { mux }. */
export function isRouteRecord(v: unknown, key: string): boolean {
  try {
    parseCidr(key, true);
  } catch {
    return false;
  }
  return typeof v === "object" && isInt((v as { mux?: unknown }).mux, 0, 65535);
}

/** The link a record gives client `mux` here (a UDP listener's, or the data channel to the owner), or null. */
export type LinkForRecord = (rec: EndpointRecord, mux: number) => Link | null;

export class Replication {
  /** Replay marks and reset epochs (marks.ts). */
  readonly marks: ReplayMarks;

  constructor(
    private readonly store: SyncStore,
    private readonly conns: ConnTable,
    private readonly linkFor: LinkForRecord,
    /** A record gave `conn` a link: what waits for it may go now. */
    private readonly adopted: (conn: Conn) => void,
    hwmIntervalMs: number,
  ) {
    store.validateBy("ep", isEndpointRecord);
    // A learned route from a peer is checked against our client table too: it may not reach into
    // another client's configured prefix (counted refused; the admin PUT answers 409 for the same).
    store.validateBy(
      "rt",
      (v, key) =>
        isRouteRecord(v, key) && routeConflict(conns, parseCidr(key, true), (v as { mux: number }).mux) === null,
    );
    store.onChange("ep", (key, value, origin) => {
      if (origin === "local") return;
      const conn = conns.get(Number(key));
      if (conn === undefined) return;
      if (value === null) {
        conn.endpoint = null; // expired: learned from a peer that is gone, never confirmed here
        return;
      }
      this.take(conn, value as EndpointRecord);
    });
    // Clients configured after their endpoint was synced (reload) pick it up.
    conns.onChange(() => {
      for (const c of conns.all()) if (c.endpoint === null) this.adoptEndpoint(c);
    });
    this.marks = new ReplayMarks(store, conns, hwmIntervalMs);
  }

  start(): void {
    for (const c of this.conns.all()) if (c.endpoint === null) this.adoptEndpoint(c);
    this.marks.start();
  }

  stop(): void {
    this.marks.stop();
  }

  /** The receive path learned or confirmed where `conn` is (called only on a change). */
  endpointChanged(conn: Conn): void {
    const ep = conn.endpoint!;
    const rec: EndpointRecord = { a: ep.address, p: ep.port, l: ep.record, s: conn.servedBy };
    this.store.set("ep", String(conn.mux), rec);
  }

  private adoptEndpoint(c: Conn): void {
    const r = this.store.get("ep", String(c.mux)) as EndpointRecord | undefined;
    if (r !== undefined) this.take(c, r);
  }

  /** A synced endpoint record for `c`. */
  private take(c: Conn, r: EndpointRecord): void {
    // Another server serves the client now: if a route brings it here, its first packets wait
    // for that server's current replay marks (datapath.ts `arrive`).
    if (r.s !== this.store.node && r.s >= 0 && c.wait === 0) c.wait = MARKS_ASK;
    c.servedBy = r.s;
    c.endpoint = this.linkFor(r, c.mux);
    if (c.endpoint !== null) this.adopted(c);
  }
}
