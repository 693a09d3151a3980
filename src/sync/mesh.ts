// Full-mesh sync backend (anytun's --sync-port / --sync-hosts, done safely): every server listens
// and dials every configured peer; links are authenticated and encrypted with the fleet key
// (link.ts). On a new link each side sends a snapshot of its store, then deltas as they happen.
// Records are applied last-writer-wins (store.ts) and never forwarded (full mesh).
//
// Rules: one link per peer node (when both dial, the link dialed by the lower node id stays);
// a link to ourselves (same instance id) is closed and that address no longer dialed; a peer
// with our node id but another instance is refused loudly (two servers must not share a sender
// id); dial retries back off 0.5 s → 10 s with jitter; a link silent for 3 heartbeats is closed;
// what a closed link taught is marked stale and expires after staleMs unless refreshed.
import { hostPortText } from "../net/addr.ts";
import { randomBytes } from "node:crypto";
import type { Socket, TCPSocketListener } from "bun";
import type { Logger } from "../log.ts";
import { unmapV4 } from "../net/addr.ts";
import type { Forwarder } from "../transport/link.ts";
import type { SyncStore } from "./store.ts";
import { DataChannel, type DataStats } from "./data.ts";
import { fleetKeyFrom, SyncLink, type LinkEvents } from "./link.ts";

/**
 * What the server needs of a sync backend: record replication (through the SyncStore it was
 * given), peer views, and the data channel between servers (Forwarder: sealed packets for a
 * client whose link another server holds; `onForwarded` receives those meant for our clients).
 */
export interface SyncBackend extends Forwarder {
  start(): Promise<void>;
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

/** Accepted connections that have not authenticated yet, at most (more are closed at once, counted). */
export const MAX_UNAUTHENTICATED = 16;

/** How long an authenticated peer with our sender id keeps this server not ready (it redials within). */
export const DUPLICATE_HOLD_MS = 30000;

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

export interface MeshOptions {
  node: number;
  key: string;
  listen?: { host: string; port: number } | undefined;
  peers: { host: string; port: number }[];
  heartbeatMs: number;
  staleMs: number;
  /** Open the data channel (UDP on the sync listen address, or any port); default off. */
  data?: boolean;
  /** The data channel's packet work per event-loop turn, ms (loopBudgetMs). */
  loopBudgetMs?: number;
}

interface Dialer {
  address: string;
  host: string;
  port: number;
  state: PeerView["state"];
  lastError: string | null;
  attempt: number;
  node: number | null;
  timer: ReturnType<typeof setTimeout> | null;
  ups: number;
  downs: number;
}

type SockData = { link?: SyncLink };

export class SyncMesh implements SyncBackend {
  readonly stats: SyncStats = {
    linkUps: 0,
    linkDowns: 0,
    selfLinks: 0,
    duplicateNodes: 0,
    authFailures: 0,
    expired: 0,
    refusedConnections: 0,
    handshakeFailures: 0,
    slowPeers: 0,
  };
  readonly instance = randomBytes(8).toString("hex");
  private readonly fleetKey: Uint8Array;
  private readonly links = new Set<SyncLink>();
  /** The one live link per peer node. */
  private readonly byNode = new Map<number, SyncLink>();
  private readonly dialers: Dialer[];
  private listener: TCPSocketListener<SockData> | null = null;
  private timers: ReturnType<typeof setInterval>[] = [];
  private stopped = false;
  /** Port actually bound (listen port 0 in tests). */
  listenPort = 0;
  /** The data channel's UDP port once open (undefined without one). */
  get dataPort(): number | undefined {
    return this.data?.port;
  }
  private readonly data: DataChannel | null;
  private markSource: ((mux: number) => [number, number][]) | null = null;
  private readonly startedAt = performance.now();
  /** Snapshots received since start (any peer's holds the fleet's merged marks). */
  private snapshots = 0;
  /** The last authenticated peer with our sender id. */
  private duplicate: { peer: string; at: number } | null = null;

  constructor(
    private readonly store: SyncStore,
    private readonly opts: MeshOptions,
    private readonly log: Logger,
  ) {
    this.fleetKey = fleetKeyFrom(opts.key);
    this.dialers = opts.peers.map((p) => ({
      address: hostPortText(p.host, p.port),
      host: p.host,
      port: p.port,
      state: "connecting",
      lastError: null,
      attempt: 0,
      node: null,
      timer: null,
      ups: 0,
      downs: 0,
    }));
    this.data = opts.data === true ? new DataChannel(this.fleetKey, opts.node, this.instance, opts.loopBudgetMs) : null;
    store.onPublish((rec) => {
      for (const l of this.byNode.values()) l.queue(rec);
    });
  }

  async start(): Promise<void> {
    const l = this.opts.listen;
    if (l) {
      this.listener = Bun.listen<SockData>({
        hostname: l.host,
        port: l.port,
        socket: this.handlers(false, null),
      });
      this.listenPort = this.listener.port;
    }
    if (this.data !== null) {
      try {
        await this.data.open(l?.host ?? "0.0.0.0", l ? this.listenPort : 0);
      } catch (e) {
        this.listener?.stop(true);
        throw new Error(
          `data channel (udp ${l?.host ?? "0.0.0.0"}:${l ? this.listenPort : 0}): ${(e as Error).message}`,
        );
      }
    }
    if (l)
      this.log.notice("sync listening", {
        address: `${l.host}:${this.listenPort}`,
        node: this.opts.node,
        dataPort: this.data?.port,
      });
    for (const d of this.dialers) this.dial(d);
    this.timers.push(
      setInterval(() => {
        const now = performance.now();
        for (const link of this.links) {
          if (link.state !== "up" && link.state !== "auth" && link.state !== "hello") continue;
          if (now - link.lastHeard > 3 * this.opts.heartbeatMs) link.close("peer silent for 3 heartbeats");
          else link.ping();
        }
      }, this.opts.heartbeatMs),
      setInterval(
        () => {
          const n = this.store.expire(this.opts.staleMs);
          if (n) {
            this.stats.expired += n;
            this.log.info("expired stale sync records", { records: n });
          }
        },
        Math.max(1000, Math.min(this.opts.staleMs / 4, 10000)),
      ),
    );
    for (const t of this.timers) (t as unknown as { unref?: () => void }).unref?.();
  }

  private handlers(dialed: boolean, dialer: Dialer | null) {
    const data = this.data;
    // dataPort is read when a link authenticates: the listener exists before the data channel is bound.
    const self = {
      node: this.opts.node,
      instance: this.instance,
      fleetKey: this.fleetKey,
      get dataPort() {
        return data?.port;
      },
    };
    const ev = this.events(dialer);
    return {
      open: (s: Socket<SockData>) => {
        if (!dialed && this.unauthenticated() >= MAX_UNAUTHENTICATED) {
          this.stats.refusedConnections++; // a flood of handshakes: the live links are unaffected
          s.data = {};
          s.end();
          return;
        }
        const remote = dialer?.address ?? `${s.remoteAddress}`;
        const link = new SyncLink(s, dialed, remote, self, ev);
        link.host = dialer?.host ?? unmapV4(s.remoteAddress);
        s.data = { link };
        this.links.add(link);
      },
      data: (s: Socket<SockData>, chunk: Uint8Array) => s.data.link?.onData(chunk),
      drain: (s: Socket<SockData>) => s.data.link?.onDrain(),
      close: (s: Socket<SockData>) => s.data.link?.close("connection closed"),
      error: (s: Socket<SockData>, e: Error | undefined) => s.data.link?.close(`socket error: ${e?.message ?? e}`),
      connectError: (_s: Socket<SockData>, e: Error | undefined) => {
        if (dialer) this.retry(dialer, `connect: ${e?.message ?? e}`);
      },
    };
  }

  private events(dialer: Dialer | null): LinkEvents {
    return {
      // Nothing in a hello is trusted: it comes before the fleet key is proven. Self links and
      // duplicate sender ids are judged here, once it is (a reflected hello cannot authenticate).
      up: (link) => {
        const node = link.peer!.node;
        if (link.peer!.instance === this.instance) {
          this.stats.selfLinks++;
          if (dialer) {
            dialer.state = "self";
            this.log.warn("sync peer is this server itself; not dialing it again", { address: dialer.address });
          }
          link.close("link to self");
          return;
        }
        if (dialer) dialer.node = node;
        if (node === this.opts.node) {
          // Proven by the fleet key: another server really has our sender id. Both sides see it
          // and both stay not ready (readiness) until it is fixed: their seqs and windows collide.
          this.stats.duplicateNodes++;
          this.duplicate = { peer: link.remote, at: performance.now() };
          this.log.error(
            "sync peer has our sender id: two servers must never share one (replay windows and sequence numbers would collide); not ready",
            { peer: link.remote, node },
          );
          if (dialer) dialer.state = "refused";
          link.close(`duplicate sender id ${node}`);
          return;
        }
        const existing = this.byNode.get(node);
        if (existing && existing !== link) {
          // Both sides dialed: keep the link dialed by the lower node id.
          const keepNew = (link.dialed ? this.opts.node : node) < (existing.dialed ? this.opts.node : node);
          const drop = keepNew ? existing : link;
          drop.close("duplicate link to the same peer");
          if (drop === link) return;
        }
        this.byNode.set(node, link);
        if (dialer) {
          dialer.state = "up";
          dialer.attempt = 0;
          dialer.lastError = null;
          dialer.ups++;
        }
        this.stats.linkUps++;
        if (link.peerDataPort > 0) this.data?.addPeer(node, link.host, link.peerDataPort, link.peer!.instance);
        this.log.notice("sync link up", { peer: link.remote, node, direction: link.dialed ? "dialed" : "accepted" });
        link.sendRecords(this.store.snapshot());
        link.sendSnapshotEnd();
      },
      records: (link, recs) => {
        if (this.byNode.get(link.peer!.node) !== link) return;
        const node = link.peer!.node;
        for (const r of recs) {
          // After its snapshot a peer sends only what it wrote itself: a delta in another node's
          // name is forged (a snapshot may carry every node's records).
          if (link.snapshotReceived && r.node !== node) {
            this.store.recordsRefused++;
            continue;
          }
          this.store.apply(r, link.id);
        }
      },
      snapshotDone: (link) => {
        this.snapshots++;
        this.log.info("sync snapshot received", { peer: link.remote, records: link.recordsIn });
      },
      marks: (mux) => this.markSource?.(mux) ?? [],
      closed: (link, reason) => {
        this.links.delete(link);
        if (link.closeKind === "handshake") this.stats.handshakeFailures++;
        else if (link.closeKind === "slow") this.stats.slowPeers++;
        const node = link.peer?.node;
        const wasUp = node !== undefined && this.byNode.get(node) === link;
        if (wasUp) {
          this.byNode.delete(node!);
          this.data?.removePeer(node!);
          this.store.linkDown(link.id);
          this.stats.linkDowns++;
          this.log.warn("sync link down", { peer: link.remote, node, reason });
        } else if (reason.startsWith("authentication")) {
          this.stats.authFailures++;
          this.log.error("sync link refused", { peer: link.remote, reason });
        }
        if (dialer) {
          if (wasUp) dialer.downs++;
          if (dialer.state !== "self" && dialer.state !== "refused") dialer.state = "down";
          this.retry(dialer, reason);
        }
      },
    };
  }

  private dial(d: Dialer): void {
    if (this.stopped || d.state === "self") return;
    // A live link to this peer's node (e.g. it dialed us) makes our own dial unnecessary.
    if (d.node !== null && this.byNode.has(d.node)) {
      d.state = "up";
      d.timer = setTimeout(() => {
        d.timer = null;
        this.dial(d);
      }, this.opts.heartbeatMs);
      return;
    }
    if (d.state !== "refused") d.state = "connecting";
    Bun.connect<SockData>({ hostname: d.host, port: d.port, socket: this.handlers(true, d) }).catch((e: Error) =>
      this.retry(d, `connect: ${e.message}`),
    );
  }

  private retry(d: Dialer, why: string): void {
    if (this.stopped || d.state === "self") return;
    if (d.timer !== null) return; // a retry is already scheduled
    d.lastError = why;
    const base = d.state === "refused" ? 10000 : Math.min(10000, 500 * 2 ** d.attempt);
    d.attempt++;
    const delay = base * (0.8 + Math.random() * 0.4);
    d.timer = setTimeout(() => {
      d.timer = null;
      this.dial(d);
    }, delay);
  }

  peers(): PeerView[] {
    const now = performance.now();
    const view = (link: SyncLink | undefined) =>
      link
        ? {
            lagSeconds: Math.round(now - link.lastHeard) / 1000,
            rttMs: link.rtt < 0 ? null : Math.round(link.rtt * 100) / 100,
            recordsIn: link.recordsIn,
            recordsOut: link.recordsOut,
            snapshotReceived: link.snapshotReceived,
          }
        : { lagSeconds: null, rttMs: null, recordsIn: 0, recordsOut: 0, snapshotReceived: false };
    const out: PeerView[] = this.dialers.map((d) => {
      const link = d.node === null ? undefined : this.byNode.get(d.node);
      return {
        address: d.address,
        node: d.node,
        state: link ? "up" : d.state === "up" ? "down" : d.state,
        direction: link ? (link.dialed ? "dialed" : "accepted") : null,
        lastError: d.lastError,
        ...view(link),
        ups: d.ups,
        downs: d.downs,
      };
    });
    // Peers that dialed us without being in our list.
    for (const [node, link] of this.byNode)
      if (!this.dialers.some((d) => d.node === node))
        out.push({
          address: link.remote,
          node,
          state: "up",
          direction: "accepted",
          lastError: null,
          ...view(link),
          ups: 1,
          downs: 0,
        });
    return out;
  }

  reachable(node: number): boolean {
    return this.data !== null && this.data.reachable(node);
  }

  forward(node: number, mux: number, pkt: Uint8Array): boolean {
    if (this.data === null) return false;
    return this.data.forward(node, mux, pkt);
  }

  /** Links that have not proven the fleet key yet. */
  private unauthenticated(): number {
    let n = 0;
    for (const l of this.links) if (l.state !== "up") n++;
    return n;
  }

  readiness(graceMs: number, started: boolean): string | null {
    const now = performance.now();
    const d = this.duplicate;
    if (d !== null && now - d.at < DUPLICATE_HOLD_MS)
      return `sender id ${this.opts.node} is also used by the sync peer at ${d.peer}`;
    if (started) return null; // once serving, a peer (re)connecting does not make it unready
    const waiting = [...this.byNode.values()].filter((l) => !l.snapshotReceived).map((l) => l.remote);
    if (waiting.length > 0) return `waiting for the replay marks (sync snapshot) of ${waiting.join(", ")}`;
    if (this.snapshots === 0 && now - this.startedAt < graceMs)
      return `waiting up to ${graceMs} ms for a sync peer's replay marks`;
    return null;
  }

  askMarks(node: number, mux: number, timeoutMs: number): Promise<[number, number][] | null> | null {
    const link = this.byNode.get(node);
    if (link === undefined || link.state !== "up") return null;
    return link.askMarks(mux, timeoutMs);
  }

  answerMarks(fn: (mux: number) => [number, number][]): void {
    this.markSource = fn;
  }

  onForwarded(fn: (from: number, mux: number, pkt: Uint8Array) => void): void {
    this.data?.deliver(fn);
  }

  get dataStats(): DataStats | null {
    this.data?.refresh();
    return this.data?.stats ?? null;
  }

  stop(): void {
    this.stopped = true;
    this.data?.close();
    for (const t of this.timers) clearInterval(t);
    for (const d of this.dialers) if (d.timer) clearTimeout(d.timer);
    for (const l of [...this.links]) l.close("stopping");
    this.listener?.stop(true);
  }
}
