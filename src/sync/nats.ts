// NATS sync backend (sync.backend "nats"): the servers of one anycast group meet on NATS subjects
// instead of dialing each other. Every message is a sealed envelope (nats-wire.ts), so NATS
// carries the fleet's state without being able to read or forge it.
//
//   <prefix>.all        everyone: heartbeats ({k:"hb"}, every heartbeatMs) and the records this
//                       server wrote (deltas, {k:"rec"}, batched per event-loop turn)
//   <prefix>.to.<node>  one server: snapshot requests ({k:"sq"}) and the snapshot's chunks
//                       ({k:"rec"} ..., then {k:"snap"}), replay-mark requests and answers
//                       ({k:"mq"} / {k:"ma"}), and the data channel (sealed SATP packets)
//
// Why core subjects, no JetStream: what changes at packet rate (endpoint moves, replay marks
// every hwmIntervalMs) must not cost a Raft write per change; measured on this VM, core NATS
// carried 100,000 16-byte messages in 0.26 s from Bun, a JetStream KV watch saw 10,000 puts in
// 0.2 s — the same order, but every KV put is a replicated write. A server that joins (or comes
// back after NATS or a peer was lost) asks every peer it hears for a snapshot, as a mesh link
// does on connect, so it gets the whole state at once; expiry stays ours (store.ts). Not yet:
// persistence in a KV bucket for a whole-fleet restart (the mesh has none either).
//
// Rules as the mesh's: a peer is up while heard (any envelope) within 3 heartbeats; what it
// taught goes stale when it is lost, or when NATS is; after its snapshot a peer's deltas must be
// in its own name; an envelope that does not open (another key, a forgery, another subject) is
// counted (authFailures) and dropped; a replayed one (its instance's sequence not increasing, or
// an unknown instance stamped > 30 s off) too. Another instance with our node id is a duplicate:
// not ready for DUPLICATE_HOLD_MS. The NATS client reconnects with backoff by itself.
import { randomBytes } from "node:crypto";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../log.ts";
import type { PeerView, SyncBackend, SyncStats } from "./backend.ts";
import type { DataStats } from "./data.ts";
import { connectOptions, newNatsState, type NatsBackendOptions, type NatsState } from "./nats-connect.ts";
import { NatsPeers, type Peer } from "./nats-peers.ts";

export type { NatsBackendOptions, NatsState };
import { dataBody, envelopeKey, jsonBody, KIND_DATA, KIND_JSON, open, seal, type NatsMessage } from "./nats-wire.ts";
import type { SyncRecord, SyncStore } from "./store.ts";
import { fleetKeysFrom, MAX_MARK_QUERIES, RECORDS_PER_FRAME } from "./wire.ts";

export class NatsBackend implements SyncBackend {
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
  readonly state: NatsState = newNatsState();

  private readonly data: DataStats = {
    sent: 0,
    received: 0,
    unreachable: 0,
    sendErrors: 0,
    short: 0,
    foreign: 0,
    auth: 0,
    replay: 0,
    overload: 0,
  };
  private readonly instanceBytes = randomBytes(8);
  readonly instance = this.instanceBytes.toString("hex");
  /** Envelope keys: the sealing one first, then the others accepted (fleet key rotation). */
  private keys: Uint8Array[];
  private readonly peers_: NatsPeers;
  private nc: NatsConnection | null = null;
  private seq = 0;
  private pending: SyncRecord[] = [];
  private flushQueued = false;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private markSource: ((mux: number) => [number, number][]) | null = null;
  private forwarded: ((from: number, mux: number, pkt: Uint8Array) => void) | null = null;
  private readonly queries = new Map<number, (m: [number, number][] | null) => void>();
  private nextQuery = 1;
  private stopped = false;

  constructor(
    private readonly store: SyncStore,
    private readonly opts: NatsBackendOptions,
    private readonly log: Logger,
  ) {
    this.keys = fleetKeysFrom(opts.key, opts.acceptKeys).map(envelopeKey);
    this.peers_ = new NatsPeers(opts.node, this.instance, opts.heartbeatMs, store, this.stats, log, (p) =>
      this.sendMessage(p.node, { k: "sq" }),
    );
    store.onPublish((rec) => {
      this.pending.push(rec);
      if (!this.flushQueued) {
        this.flushQueued = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private subject(to: number | "all"): string {
    return to === "all" ? `${this.opts.prefix}.all` : `${this.opts.prefix}.to.${to}`;
  }

  /** Connects in the background (start does not wait for NATS: the relay forwards without it). */
  async start(): Promise<void> {
    const options = connectOptions(this.opts);
    this.timers.push(
      setInterval(() => this.tick(), this.opts.heartbeatMs),
      setInterval(
        () => {
          const n = this.store.expire(this.opts.staleMs);
          if (n) this.stats.expired += n;
        },
        Math.max(1000, Math.min(this.opts.staleMs / 4, 30000)),
      ),
    );
    for (const t of this.timers) (t as unknown as { unref?: () => void }).unref?.();
    void this.run(options);
  }

  /**
   * Connects, and connects again whenever the connection ends for good (the client's own
   * reconnects cover the rest), with backoff 0.5 s → 5 s; what NATS said last is lastError and
   * is logged when it changes (a wrong password is said, not retried in silence).
   */
  private async run(options: ConnectionOptions): Promise<void> {
    let delay = 500;
    while (!this.stopped) {
      let nc: NatsConnection;
      try {
        nc = await connect(options);
      } catch (e) {
        const why = (e as Error).message;
        if (why !== this.state.lastError) this.log.error("nats: cannot connect; retrying", { error: why });
        this.state.lastError = why;
        await Bun.sleep(delay * (0.8 + Math.random() * 0.4));
        delay = Math.min(5000, delay * 2);
        continue;
      }
      delay = 500;
      if (this.stopped) return void nc.close().catch(() => {});
      await this.serve(nc);
      const err = await nc.closed();
      if (err) this.state.lastError = err.message;
      if (this.nc === nc) {
        this.nc = null;
        this.connected(false);
      }
    }
  }

  /** One connection, until it ends: subscriptions, heartbeats, and its status events. */
  private async serve(nc: NatsConnection): Promise<void> {
    this.nc = nc;
    this.state.lastError = null;
    this.connected(true);
    const handle = (subject: string) => (err: Error | null, m: { data: Uint8Array }) => {
      if (err === null) this.receive(subject, m.data);
    };
    nc.subscribe(this.subject("all"), { callback: handle(this.subject("all")) });
    nc.subscribe(this.subject(this.opts.node), { callback: handle(this.subject(this.opts.node)) });
    this.heartbeat();
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        this.state.disconnects++;
        this.connected(false);
        this.log.warn("nats: disconnected; forwarding goes on with what this server has");
      } else if (s.type === "reconnect") {
        this.state.reconnects++;
        this.connected(true);
        this.log.notice("nats: reconnected", { server: this.state.server });
        this.heartbeat();
      } else if (s.type === "error") this.state.lastError = String((s as { error?: unknown }).error ?? "error");
    }
  }

  private connected(up: boolean): void {
    this.state.connected = up;
    this.state.server = up ? (this.nc?.getServer() ?? null) : null;
    // Lost NATS: every peer is lost with it (what they taught goes stale; a snapshot resyncs).
    if (!up) this.peers_.loseAll("nats disconnected");
  }

  private send(to: number | "all", kind: number, body: Uint8Array): boolean {
    const nc = this.nc;
    if (nc === null || !this.state.connected) return false;
    const subject = this.subject(to);
    try {
      nc.publish(
        subject,
        seal(
          this.keys[0]!,
          subject,
          { node: this.opts.node, instance: this.instanceBytes, seq: ++this.seq },
          kind,
          body,
        ),
      );
      return true;
    } catch (e) {
      this.state.lastError = (e as Error).message;
      return false;
    }
  }

  private sendMessage(to: number | "all", m: NatsMessage): boolean {
    return this.send(to, KIND_JSON, jsonBody(m));
  }

  private sendRecords(to: number | "all", recs: Iterable<SyncRecord>): number {
    let n = 0;
    let batch: [string, string, unknown, number, number][] = [];
    const out = () => {
      if (batch.length > 0 && this.sendMessage(to, { k: "rec", r: batch })) n += batch.length;
      batch = [];
    };
    for (const r of recs) {
      batch.push([r.table, r.key, r.value, r.t, r.node]);
      if (batch.length >= RECORDS_PER_FRAME) out();
    }
    out();
    return n;
  }

  private flush(): void {
    this.flushQueued = false;
    const recs = this.pending;
    this.pending = [];
    const n = this.sendRecords("all", recs);
    this.state.recordsOut += n;
    this.store.recordsOut += n;
  }

  private heartbeat(): void {
    this.sendMessage("all", { k: "hb" });
  }

  private tick(): void {
    this.heartbeat();
    this.peers_.tick(performance.now());
  }

  /** An envelope from NATS: opened, checked against replays, then handled by kind. */
  private receive(subject: string, data: Uint8Array): void {
    const e = open(this.keys, subject, data);
    if (e === null) {
      this.stats.authFailures++;
      return;
    }
    this.state.envelopesIn++;
    const p = this.peers_.admit(e);
    if (typeof p === "string") {
      if (p === "replay") {
        this.state.replays++;
        if (e.kind === KIND_DATA) this.data.replay++;
      } else if (p === "full") this.state.foreign++;
      return;
    }
    if (e.kind === KIND_DATA) {
      this.data.received++;
      this.forwarded?.(e.node, e.mux, e.pkt!);
      return;
    }
    this.handle(p, e.msg!, subject === this.subject("all"));
  }

  private handle(p: Peer, m: NatsMessage, broadcast: boolean): void {
    switch (m.k) {
      case "hb":
        return;
      case "sq": {
        const n = this.sendRecords(p.node, this.store.snapshot());
        this.store.recordsOut += n;
        this.sendMessage(p.node, { k: "snap" });
        return;
      }
      case "rec":
        for (const [table, key, value, t, node] of m.r) {
          // Deltas (on .all) are what the sender wrote itself; a snapshot may carry every node's.
          if (broadcast && node !== p.node) {
            this.store.recordsRefused++;
            continue;
          }
          p.recordsIn++;
          this.store.apply({ table, key, value, t, node }, NatsPeers.via(p.node));
        }
        return;
      case "snap":
        if (!broadcast) this.peers_.snapshotDone(p);
        return;
      case "mq":
        if (!broadcast) this.sendMessage(p.node, { k: "ma", id: m.id, m: this.markSource?.(m.mux) ?? [] });
        return;
      case "ma": {
        const done = this.queries.get(m.id);
        if (!broadcast && done !== undefined) {
          this.queries.delete(m.id);
          done(m.m);
        }
        return;
      }
      default:
        return; // a mesh-only message (auth, ping) has no meaning here
    }
  }

  /** Reload: the fleet keys now (the first seals). */
  setKeys(key: string, acceptKeys: readonly string[]): void {
    this.keys = fleetKeysFrom(key, acceptKeys).map(envelopeKey);
  }

  describe(): Record<string, unknown> {
    return { ...this.state, prefix: this.opts.prefix, servers: this.opts.servers };
  }

  peers(): PeerView[] {
    return this.peers_.views(
      this.state.recordsOut,
      this.state.connected ? null : (this.state.lastError ?? "nats disconnected"),
    );
  }

  readiness(graceMs: number, started: boolean): string | null {
    return this.peers_.readiness(graceMs, started, this.state.connected);
  }

  askMarks(node: number, mux: number, timeoutMs: number): Promise<[number, number][] | null> | null {
    const p = this.peers_.get(node);
    if (p === undefined || !p.up || this.queries.size >= MAX_MARK_QUERIES) return null;
    // A peer that let a query time out and has not been heard since is likely gone (killed: NATS
    // has no link to see close): do not wait for it again, as the mesh does not for a closed link.
    if (p.unansweredSince !== 0 && p.lastHeard <= p.unansweredSince) return null;
    const id = this.nextQuery++;
    if (!this.sendMessage(node, { k: "mq", id, mux })) return null;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.queries.delete(id);
        p.unansweredSince = performance.now();
        resolve(null);
      }, timeoutMs);
      this.queries.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }

  answerMarks(fn: (mux: number) => [number, number][]): void {
    this.markSource = fn;
  }

  reachable(node: number): boolean {
    return this.peers_.get(node)?.up === true && this.state.connected;
  }

  forward(node: number, mux: number, pkt: Uint8Array): boolean {
    if (!this.reachable(node) || !this.send(node, KIND_DATA, dataBody(mux, pkt))) {
      this.data.unreachable++;
      return false;
    }
    this.data.sent++;
    return true;
  }

  onForwarded(fn: (from: number, mux: number, pkt: Uint8Array) => void): void {
    this.forwarded = fn;
  }

  get dataStats(): DataStats {
    return this.data;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const done of this.queries.values()) done(null);
    this.queries.clear();
    if (this.pending.length > 0) this.flush();
    const nc = this.nc;
    this.nc = null;
    this.state.connected = false;
    // flush() is rejected when the connection is down already: nothing to wait for then
    if (nc !== null)
      void nc
        .flush()
        .catch(() => {})
        .finally(() => nc.close().catch(() => {}));
  }
}
