// Who is out there on the NATS subjects (nats.ts asks): the peer table of the NATS sync backend.
// A peer is a server instance heard within 3 heartbeats; a new or returning one is reported so
// the backend asks it for a snapshot; a lost one makes what it taught stale (store.linkDown). It
// also refuses replays (an instance's sequence only increases; an unknown instance must be
// stamped within MAX_SKEW_MS), spots another instance with our node id, and says when this server
// has the fleet's replay marks (readiness, the mesh's rule). At most MAX_PEERS peers and
// instances; more are ignored and counted.
import type { Logger } from "../log.ts";
import { readinessOf, type PeerView, type SyncStats } from "./backend.ts";
import { MAX_SKEW_MS, type Envelope } from "./nats-wire.ts";
import type { SyncStore } from "./store.ts";

export const MAX_PEERS = 1024;
/** Link ids of NATS peers in the store (`via`): this plus the node id, apart from the mesh's. */
const VIA = 1 << 20;

export interface Peer {
  node: number;
  instance: string;
  lastHeard: number;
  up: boolean;
  snapshotReceived: boolean;
  recordsIn: number;
  ups: number;
  downs: number;
  /** When a replay-mark query to it last timed out (performance.now()); 0 = never. */
  unansweredSince: number;
}

/** Why an envelope was not admitted. */
export type Refusal = "self" | "duplicate" | "replay" | "full";

export class NatsPeers {
  private readonly byNode = new Map<number, Peer>();
  /**
   * Highest sequence seen per instance, and when (Date.now()). An instance unheard for more than
   * MAX_SKEW_MS may be forgotten: an old envelope of it would fail the skew check anyway.
   */
  private readonly seqs = new Map<string, { seq: number; at: number }>();
  private readonly startedAt = performance.now();
  private duplicate: { at: number; peer: string } | null = null;
  snapshots = 0;

  constructor(
    private readonly node: number,
    private readonly instance: string,
    private readonly heartbeatMs: number,
    private readonly store: SyncStore,
    private readonly stats: SyncStats,
    private readonly log: Logger,
    /** A peer is up (new, back, or restarted): ask it for its snapshot. */
    private readonly onUp: (p: Peer) => void,
  ) {}

  static via(node: number): number {
    return VIA + node;
  }

  get(node: number): Peer | undefined {
    return this.byNode.get(node);
  }

  /** The peer an opened envelope comes from, up now; or why it is refused. */
  admit(e: Envelope): Peer | Refusal {
    if (e.node === this.node) {
      if (e.instance === this.instance) return "self";
      if (this.duplicate === null) this.log.error("another server uses this sender id", { instance: e.instance });
      this.stats.duplicateNodes++;
      this.duplicate = { at: performance.now(), peer: `instance ${e.instance} on nats` };
      return "duplicate";
    }
    const now = Date.now();
    const last = this.seqs.get(e.instance);
    if (last === undefined ? Math.abs(e.t - now) > MAX_SKEW_MS : e.seq <= last.seq) return "replay";
    if (last === undefined && this.seqs.size >= MAX_PEERS)
      for (const [i, x] of this.seqs) if (now - x.at > MAX_SKEW_MS) this.seqs.delete(i);
    let p = this.byNode.get(e.node);
    if ((last === undefined && this.seqs.size >= MAX_PEERS) || (p === undefined && this.byNode.size >= MAX_PEERS))
      return "full";
    if (last === undefined) this.seqs.set(e.instance, { seq: e.seq, at: now });
    else {
      last.seq = e.seq;
      last.at = now;
    }
    if (p === undefined) {
      p = {
        node: e.node,
        instance: e.instance,
        lastHeard: 0,
        up: false,
        snapshotReceived: false,
        recordsIn: 0,
        ups: 0,
        downs: 0,
        unansweredSince: 0,
      };
      this.byNode.set(e.node, p);
    }
    if (p.up && p.instance !== e.instance) this.lose(p, "restarted"); // a new process with that node id
    p.instance = e.instance;
    p.lastHeard = performance.now();
    if (!p.up) {
      p.up = true;
      p.ups++;
      p.snapshotReceived = false;
      this.stats.linkUps++;
      this.log.notice("sync peer up", { node: p.node, via: "nats" });
      this.onUp(p);
    }
    return p;
  }

  snapshotDone(p: Peer): void {
    if (p.snapshotReceived) return;
    p.snapshotReceived = true;
    this.snapshots++;
    this.log.info("sync snapshot received", { node: p.node, records: p.recordsIn, via: "nats" });
  }

  lose(p: Peer, why: string): void {
    if (!p.up) return;
    p.up = false;
    p.downs++;
    this.stats.linkDowns++;
    this.store.linkDown(NatsPeers.via(p.node));
    this.log.warn("sync peer down", { node: p.node, reason: why });
  }

  loseAll(why: string): void {
    for (const p of this.byNode.values()) this.lose(p, why);
  }

  /** Peers silent for 3 heartbeats are lost. */
  tick(now: number): void {
    for (const p of this.byNode.values())
      if (p.up && now - p.lastHeard > 3 * this.heartbeatMs) this.lose(p, "silent for 3 heartbeats");
  }

  views(recordsOut: number, lastError: string | null): PeerView[] {
    const now = performance.now();
    return [...this.byNode.values()].map((p) => ({
      address: `nats node ${p.node}`,
      node: p.node,
      state: p.up ? "up" : "down",
      direction: null,
      lastError,
      lagSeconds: p.up ? (now - p.lastHeard) / 1000 : null,
      rttMs: null,
      recordsIn: p.recordsIn,
      recordsOut,
      snapshotReceived: p.snapshotReceived,
      ups: p.ups,
      downs: p.downs,
    }));
  }

  readiness(graceMs: number, started: boolean, connected: boolean): string | null {
    return readinessOf({
      node: this.node,
      duplicate: this.duplicate,
      started,
      waiting: [...this.byNode.values()].filter((p) => p.up && !p.snapshotReceived).map((p) => `node ${p.node}`),
      snapshots: this.snapshots,
      startedAt: this.startedAt,
      graceMs,
      where: " on nats",
      graceWhere: ` (nats ${connected ? "connected" : "not connected"})`,
    });
  }
}
