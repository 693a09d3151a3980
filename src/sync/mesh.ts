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
import { randomBytes } from "node:crypto";
import type { Socket, TCPSocketListener } from "bun";
import type { Logger } from "../log.ts";
import { unmapV4 } from "../net/addr.ts";
import type { SyncStore } from "./store.ts";
import { DataChannel, type DataStats } from "./data.ts";
import { readinessOf, type PeerView, type SyncBackend, type SyncStats } from "./backend.ts";
import { newDialer, peerViews, scheduleRetry, type Dialer } from "./dialer.ts";
import { SyncLink, type LinkEvents } from "./link.ts";
import { fleetKeysFrom } from "./wire.ts";

/** Accepted connections that have not authenticated yet, at most (more are closed at once, counted). */
export const MAX_UNAUTHENTICATED = 16;

export interface MeshOptions {
  node: number;
  key: string;
  /** Other fleet keys accepted too (rotation: the next key before it is the key, the last after). */
  acceptKeys?: readonly string[];
  listen?: { host: string; port: number } | undefined;
  peers: { host: string; port: number }[];
  heartbeatMs: number;
  staleMs: number;
  /** Open the data channel (UDP on the sync listen address, or any port); default off. */
  data?: boolean;
  /** The data channel's packet work per event-loop turn, ms (loopBudgetMs). */
  loopBudgetMs?: number;
  /**
   * Workers: the sync ports of every worker of this server (ours included), told to each peer we
   * link with; a peer we dialed tells us its own, and we dial those on the same host too, so one
   * configured address per server makes the full mesh of every worker of the fleet.
   */
  siblings?: number[];
  /** The host this server's siblings are dialed at (their lists are known here, not learned). */
  siblingHost?: string;
}

/** Peers (configured and learned from siblings lists) a mesh dials at most. */
export const MAX_DIALERS = 1024;

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
  /** The fleet keys: the one links authenticate with first, then the others accepted (rotation). */
  private fleetKeys: Uint8Array[];
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
    this.fleetKeys = fleetKeysFrom(opts.key, opts.acceptKeys);
    this.dialers = opts.peers.map((p) => newDialer(p.host, p.port));
    this.data =
      opts.data === true ? new DataChannel(this.fleetKeys, opts.node, this.instance, opts.loopBudgetMs) : null;
    store.onPublish((rec) => {
      for (const l of this.byNode.values()) l.queue(rec);
    });
  }

  /**
   * A peer we dialed (so its address is one we were configured with, or learned the same way)
   * named its worker siblings: dial each on the same host, once. Authenticated input only.
   */
  private learnSiblings(d: Dialer, ports: readonly number[]): void {
    if (d.host === this.opts.siblingHost) return;
    for (const port of ports) {
      if (this.dialers.length >= MAX_DIALERS) return;
      if (this.dialers.some((x) => x.host === d.host && x.port === port)) continue;
      const n = newDialer(d.host, port);
      this.dialers.push(n);
      this.log.info("sync peer's worker sibling learned", { address: n.address, via: d.address });
      this.dial(n);
    }
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
      fleetKeys: () => this.fleetKeys,
      get keyIndex() {
        return dialer?.keyIndex ?? 0;
      },
      get dataPort() {
        return data?.port;
      },
      siblings: this.opts.siblings,
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
        if (dialer && link.peerSiblings.length > 0 && !this.stopped) this.learnSiblings(dialer, link.peerSiblings);
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
        // key rotation: a dial refused during authentication tries the next accepted key next time
        if (dialer && !wasUp && link.closedInAuth) dialer.keyIndex++;
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
    if (!this.stopped) scheduleRetry(d, why, () => this.dial(d));
  }

  describe(): Record<string, unknown> {
    return { kind: "mesh", listenPort: this.listenPort ?? null, dialers: this.dialers.length };
  }

  peers(): PeerView[] {
    return peerViews(this.dialers, this.byNode, performance.now());
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
    return readinessOf({
      node: this.opts.node,
      duplicate: this.duplicate,
      started,
      waiting: [...this.byNode.values()].filter((l) => !l.snapshotReceived).map((l) => l.remote),
      snapshots: this.snapshots,
      startedAt: this.startedAt,
      graceMs,
    });
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

  /** Reload: the fleet keys now (the first to authenticate with); links under a dropped key close. */
  setKeys(key: string, acceptKeys: readonly string[]): void {
    this.fleetKeys = fleetKeysFrom(key, acceptKeys);
    const hex = new Set(this.fleetKeys.map((k) => Buffer.from(k).toString("hex")));
    this.data?.setKeys(this.fleetKeys);
    for (const l of [...this.links])
      if (l.fleetKey !== null && !hex.has(Buffer.from(l.fleetKey).toString("hex")))
        l.close("fleet key no longer accepted");
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
