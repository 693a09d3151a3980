// One sync link over TCP between two servers of an anycast group: the link's state machine
// (hello, authentication, records, snapshot, heartbeats, replay-mark queries, backpressure)
// over the wire of wire.ts, whose header comment has the frame format. Anything malformed
// closes the link with a reason; nothing throws to the caller.
import { randomBytes } from "node:crypto";
import type { SyncRecord } from "./store.ts";
import {
  decodeHello,
  deriveKeys,
  encodeHello,
  HANDSHAKE_MS,
  HELLO_LEN,
  MAX_BACKLOG,
  MAX_FRAME,
  MAX_MARK_QUERIES,
  MAX_PREAUTH_FRAME,
  openFrame,
  parseMessage,
  RECORDS_PER_FRAME,
  sealFrame,
  type Hello,
  type Message,
} from "./wire.ts";
export type LinkState = "hello" | "auth" | "up" | "closed";

export interface LinkEvents {
  up(link: SyncLink): void;
  records(link: SyncLink, recs: SyncRecord[]): void;
  snapshotDone(link: SyncLink): void;
  closed(link: SyncLink, reason: string): void;
  /** The peer asks for this server's current replay marks of client `mux`: [sender id, mark]. */
  marks?(mux: number): [number, number][];
}

/** Minimal view of a Bun TCP socket (so tests can drive a link without one). */
export interface ByteSocket {
  write(data: Uint8Array): number;
  end(): void;
}

let nextId = 1;

/** One side of a link. The owner feeds it bytes (`onData`) and calls `onDrain` when the socket drains. */
export class SyncLink {
  readonly id = nextId++;
  state: LinkState = "hello";
  peer: Hello | null = null;
  closeReason = "";
  lastHeard = performance.now();
  rtt = -1;
  framesIn = 0;
  /** Messages of a kind this version does not know (a newer peer's): ignored. */
  unknownMessages = 0;
  framesOut = 0;
  recordsIn = 0;
  recordsOut = 0;
  snapshotReceived = false;
  /** The peer's IP as we reach it (for its data channel; set by the mesh). */
  host = "";
  /** UDP port of the peer's data channel (from its authentication message); 0 = none. */
  peerDataPort = 0;
  /** Sync ports of the peer's worker siblings (its authentication message's `w`). */
  peerSiblings: number[] = [];
  private readonly nonce = new Uint8Array(randomBytes(16));
  private inBuf: Uint8Array = new Uint8Array(0);
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private sendKey: Uint8Array | null = null;
  private recvKey: Uint8Array | null = null;
  private sendCtr = 0;
  private recvCtr = 0;
  private queued: SyncRecord[] = [];
  private flushArmed = false;
  private readonly markQueries = new Map<number, (m: [number, number][] | null) => void>();
  private nextQuery = 1;

  constructor(
    private readonly sock: ByteSocket,
    readonly dialed: boolean,
    readonly remote: string,
    private readonly self: {
      node: number;
      instance: string;
      /** The fleet keys accepted now, the one to send with first (key rotation: several). */
      fleetKeys: () => readonly Uint8Array[];
      /** Dialed links: which of fleetKeys to authenticate with (the mesh tries the next after a failure). */
      keyIndex?: number;
      dataPort?: number;
      siblings?: readonly number[];
    },
    private readonly ev: LinkEvents,
  ) {
    this.write(encodeHello({ node: self.node, instance: self.instance, nonce: this.nonce }));
    this.deadline = setTimeout(() => {
      if (this.state !== "up") this.close("handshake deadline", "handshake");
    }, HANDSHAKE_MS);
    (this.deadline as unknown as { unref?: () => void }).unref?.();
  }

  private deadline: ReturnType<typeof setTimeout>;

  /** Why the link was closed, when it was a rule it broke (the mesh counts these). */
  closeKind: "handshake" | "slow" | null = null;

  onData(chunk: Uint8Array): void {
    if (this.state === "closed") return;
    this.lastHeard = performance.now();
    this.inBuf = this.inBuf.length === 0 ? chunk.slice() : concat(this.inBuf, chunk);
    for (;;) {
      if ((this.state as LinkState) === "closed") return; // a handler may have closed it
      if (this.state === "hello") {
        if (this.inBuf.length < HELLO_LEN) return;
        const h = decodeHello(this.inBuf);
        this.inBuf = this.inBuf.slice(HELLO_LEN);
        if (typeof h === "string") return this.close(h);
        this.peer = h; // trusted only once the authentication message matches it (`handle`)
        this.state = "auth";
        // The dialer proves a fleet key first; the acceptor answers under the key that opened it
        // (key rotation: it may accept several), so it sends its own only then (`firstFrame`).
        if (this.dialed) {
          const fk = this.self.fleetKeys();
          this.fleetKey = fk[(this.self.keyIndex ?? 0) % fk.length]!;
          const keys = deriveKeys(this.fleetKey, this.nonce, h.nonce);
          this.sendKey = keys.d2a;
          this.recvKey = keys.a2d;
          this.sendAuth();
        }
        continue;
      }
      if (this.inBuf.length < 4) return;
      const n = new DataView(this.inBuf.buffer, this.inBuf.byteOffset).getUint32(0);
      if (n <= 16 || n > MAX_FRAME) return this.close(`frame length ${n} out of range`);
      if (this.state !== "up" && n > MAX_PREAUTH_FRAME)
        return this.close(`frame before authentication of ${n} bytes (at most ${MAX_PREAUTH_FRAME})`, "handshake");
      if (this.inBuf.length < 4 + n) return;
      const body = this.inBuf.subarray(4, 4 + n);
      if (this.recvKey === null && !this.firstFrame(body))
        return this.close("authentication failed (different fleet key?)");
      const plain = openFrame(this.recvKey!, this.recvCtr++, body);
      this.inBuf = this.inBuf.slice(4 + n);
      if (plain === null)
        return this.close(
          this.state === "auth" ? "authentication failed (different fleet key?)" : "frame failed authentication",
        );
      const m = parseMessage(plain);
      if (m === null) return this.close("malformed message");
      this.framesIn++;
      this.handle(m);
    }
  }

  /** Acceptor: the fleet key the dialer's first frame opens under becomes the link's; false when none does. */
  private firstFrame(body: Uint8Array): boolean {
    for (const fk of this.self.fleetKeys()) {
      const keys = deriveKeys(fk, this.peer!.nonce, this.nonce);
      if (openFrame(keys.d2a, 0, body) === null) continue;
      this.sendKey = keys.a2d;
      this.recvKey = keys.d2a;
      this.fleetKey = fk;
      this.sendAuth();
      return true;
    }
    return false;
  }

  /** Closed after the hellos, before the fleet key was proven both ways (a key mismatch, likely). */
  closedInAuth = false;

  /** The fleet key this link authenticated with (a reload that drops it closes the link). */
  fleetKey: Uint8Array | null = null;

  private sendAuth(): void {
    const h = this.peer!;
    this.sendMessage({
      k: "auth",
      node: this.self.node,
      instance: this.self.instance,
      peerNode: h.node,
      peerInstance: h.instance,
      ...(this.self.dataPort ? { dp: this.self.dataPort } : {}),
      ...(this.self.siblings?.length ? { w: [...this.self.siblings] } : {}),
    });
  }

  private handle(m: Message): void {
    if (this.state === "auth") {
      const p = this.peer!;
      if (
        m.k !== "auth" ||
        m.node !== p.node ||
        m.instance !== p.instance ||
        m.peerNode !== this.self.node ||
        m.peerInstance !== this.self.instance
      )
        return this.close("authentication message does not match the hellos");
      this.peerDataPort = m.dp ?? 0;
      this.peerSiblings = m.w ?? [];
      this.state = "up";
      clearTimeout(this.deadline);
      this.ev.up(this);
      return;
    }
    switch (m.k) {
      case "rec": {
        const recs = m.r.map(([table, key, value, t, node]) => ({ table, key, value: value ?? null, t, node }));
        this.recordsIn += recs.length;
        this.ev.records(this, recs);
        return;
      }
      case "snap":
        this.snapshotReceived = true;
        this.ev.snapshotDone(this);
        return;
      case "ping":
        this.sendMessage({ k: "pong", ts: m.ts });
        return;
      case "pong":
        this.rtt = performance.now() - m.ts;
        return;
      case "auth":
        return this.close("unexpected second authentication");
      case "mq":
        this.sendMessage({ k: "ma", id: m.id, m: this.ev.marks?.(m.mux) ?? [] });
        return;
      case "ma": {
        const done = this.markQueries.get(m.id);
        if (done === undefined) return; // answered after we gave up, or never asked: ignored
        this.markQueries.delete(m.id);
        done(m.m);
        return;
      }
      case "other":
        this.unknownMessages++; // a later version's message kind: ignored (rolling upgrades)
        return;
    }
  }

  /**
   * Asks the peer for its current replay marks of client `mux` (one round trip); null when the
   * link closes first, `timeoutMs` passes, or too many queries are open.
   */
  askMarks(mux: number, timeoutMs: number): Promise<[number, number][] | null> {
    if (this.state !== "up" || this.markQueries.size >= MAX_MARK_QUERIES) return Promise.resolve(null);
    const id = this.nextQuery;
    this.nextQuery = this.nextQuery >= 2 ** 32 ? 1 : this.nextQuery + 1;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.markQueries.delete(id);
        resolve(null);
      }, timeoutMs);
      this.markQueries.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.sendMessage({ k: "mq", id, mux });
    });
  }

  /** Queues records; they go out together once per event-loop turn. */
  queue(rec: SyncRecord): void {
    if (this.state !== "up") return;
    this.queued.push(rec);
    if (!this.flushArmed) {
      this.flushArmed = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends records now (used for the snapshot), in frames of up to RECORDS_PER_FRAME. */
  sendRecords(recs: Iterable<SyncRecord>): void {
    let batch: SyncRecord[] = [];
    for (const r of recs) {
      batch.push(r);
      if (batch.length === RECORDS_PER_FRAME) {
        this.sendBatch(batch);
        batch = [];
      }
    }
    if (batch.length) this.sendBatch(batch);
  }

  sendSnapshotEnd(): void {
    this.sendMessage({ k: "snap" });
  }

  ping(): void {
    if (this.state === "up") this.sendMessage({ k: "ping", ts: performance.now() });
  }

  private flush(): void {
    this.flushArmed = false;
    const q = this.queued;
    this.queued = [];
    if (q.length && this.state === "up") this.sendRecords(q);
  }

  private sendBatch(recs: SyncRecord[]): void {
    this.recordsOut += recs.length;
    this.sendMessage({ k: "rec", r: recs.map((r) => [r.table, r.key, r.value, r.t, r.node]) });
  }

  private sendMessage(m: Message): void {
    if (this.state === "closed" || this.sendKey === null) return;
    this.framesOut++;
    this.write(sealFrame(this.sendKey, this.sendCtr++, new TextEncoder().encode(JSON.stringify(m))));
  }

  private write(b: Uint8Array): void {
    if (this.state === "closed") return;
    if (this.pending.length) {
      this.pending.push(b);
      this.pendingBytes += b.length;
      // A peer that stops reading must not grow our memory: drop it; it resyncs by snapshot.
      if (this.pendingBytes > MAX_BACKLOG) this.close(`peer too slow: over ${MAX_BACKLOG} bytes unsent`, "slow");
      return;
    }
    const n = this.sock.write(b);
    if (n < b.length) {
      const rest = b.subarray(Math.max(0, n));
      this.pending.push(rest);
      this.pendingBytes += rest.length;
    }
  }

  /** The socket can take more: write what is pending. */
  onDrain(): void {
    while (this.pending.length) {
      const b = this.pending[0]!;
      const n = Math.max(0, this.sock.write(b));
      this.pendingBytes -= Math.min(n, b.length);
      if (n < b.length) {
        this.pending[0] = b.subarray(n);
        return;
      }
      this.pending.shift();
    }
  }

  /** Bytes waiting for the socket (a slow or dead peer shows here). */
  get backlog(): number {
    return this.pendingBytes;
  }

  close(reason: string, kind: "handshake" | "slow" | null = null): void {
    if (this.state === "closed") return;
    this.closedInAuth = this.state === "auth";
    this.state = "closed";
    this.closeReason = reason;
    this.closeKind = kind;
    clearTimeout(this.deadline);
    for (const done of this.markQueries.values()) done(null);
    this.markQueries.clear();
    try {
      this.sock.end();
    } catch {
      // already gone
    }
    this.ev.closed(this, reason);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
