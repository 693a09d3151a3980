// What the server needs of a sync backend (the mesh here, another engine later): record
// replication through the SyncStore it was given, peer views and counters, the replay-mark
// request/reply, readiness, and the data channel between servers.
import type { Forwarder } from "../transport/link.ts";
import type { DataStats } from "./data.ts";

/** How long an authenticated peer with our sender id keeps this server not ready (it comes back within). */
export const DUPLICATE_HOLD_MS = 30000;

/**
 * What the server needs of a sync backend: record replication (through the SyncStore it was
 * given), peer views, and the data channel between servers (Forwarder: sealed packets for a
 * client whose link another server holds; `onForwarded` receives those meant for our clients).
 */
export interface SyncBackend extends Forwarder {
  /** Random per process: tells this server's records and links apart from another's with its node id. */
  readonly instance: string;
  start(): Promise<void>;
  /** What the backend is and its state, for /v1/peers (mesh: kind only; nats: connection, counters). */
  describe(): Record<string, unknown>;
  /** Reload: the fleet key to seal with and the others accepted (rotation); what used a dropped key ends. */
  setKeys(key: string, acceptKeys: readonly string[]): void;
  stop(): void;
  peers(): PeerView[];
  readonly stats: SyncStats;
  onForwarded(fn: (from: number, mux: number, pkt: Uint8Array) => void): void;
  readonly dataStats: DataStats | null;
  /**
   * Server `node`'s current replay marks of client `mux` ([sender id, epoch * 2^32 + seq]), one
   * round trip; resolves null after `timeoutMs` or when the link goes. Returns null at once when
   * there is no live link to `node` (nothing to wait for).
   */
  askMarks(node: number, mux: number, timeoutMs: number): Promise<[number, number][] | null> | null;
  /** What this server answers when a peer asks for its marks of `mux`. */
  answerMarks(fn: (mux: number) => [number, number][]): void;
  /**
   * Null when this server has the fleet's replay marks (a snapshot from every live link, and from
   * at least one peer unless `graceMs` passed since start with none) and no other server uses its
   * sender id; else why not. With `started` (it was ready once) only the sender id counts.
   */
  readiness(graceMs: number, started: boolean): string | null;
}

export interface SyncStats {
  linkUps: number;
  linkDowns: number;
  selfLinks: number;
  duplicateNodes: number;
  authFailures: number;
  expired: number;
  /** Accepted connections closed at once: MAX_UNAUTHENTICATED were already in their handshake. */
  refusedConnections: number;
  /** Links closed for breaking the pre-authentication rules (oversize frame, handshake deadline). */
  handshakeFailures: number;
  /** Links closed because the peer stopped reading (MAX_BACKLOG bytes unsent). */
  slowPeers: number;
}

export interface PeerView {
  address: string;
  node: number | null;
  state: "connecting" | "up" | "down" | "self" | "refused";
  direction: "dialed" | "accepted" | null;
  lastError: string | null;
  /** Seconds since the last frame from this peer (the sync lag bound while up). */
  lagSeconds: number | null;
  rttMs: number | null;
  recordsIn: number;
  recordsOut: number;
  snapshotReceived: boolean;
  ups: number;
  downs: number;
}

/**
 * The readiness rule both backends apply (SyncBackend.readiness): another server with our sender
 * id holds us not ready for DUPLICATE_HOLD_MS; once started nothing else does; before that, every
 * live peer's snapshot must be in (`waiting` names those missing), and with no snapshot at all we
 * wait `graceMs` from the start. `where` qualifies the waiting texts (e.g. " on nats").
 */
export function readinessOf(r: {
  node: number;
  duplicate: { at: number; peer: string } | null;
  started: boolean;
  waiting: readonly string[];
  snapshots: number;
  startedAt: number;
  graceMs: number;
  where?: string;
  graceWhere?: string;
}): string | null {
  const now = performance.now();
  const d = r.duplicate;
  if (d !== null && now - d.at < DUPLICATE_HOLD_MS)
    return `sender id ${r.node} is also used by the sync peer at ${d.peer}`;
  if (r.started) return null; // once serving, a peer (re)connecting does not make it unready
  if (r.waiting.length > 0)
    return `waiting for the replay marks (sync snapshot) of ${r.waiting.join(", ")}${r.where ?? ""}`;
  if (r.snapshots === 0 && now - r.startedAt < r.graceMs)
    return `waiting up to ${r.graceMs} ms for a sync peer's replay marks${r.graceWhere ?? ""}`;
  return null;
}
