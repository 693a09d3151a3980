// One sync link over TCP between two servers of an anycast group. Wire format:
//
//   hello (clear, each side sends it first; 31 bytes)
//     0   4  magic "ATRS"
//     4   1  version = 1
//     5   2  node id (the server's sender id), u16 BE
//     7   8  instance id (random per process: tells a link to ourselves apart)
//     15 16  nonce (random per link)
//   then sealed frames, each
//     0   4  n = length of the rest, u32 BE, 16 < n <= MAX_FRAME
//     4   n  AES-256-GCM ciphertext || 16-byte tag; GCM nonce = 0x00000000 || u64 BE frame counter
//            of that direction (starts at 0, never reused); keys per direction:
//            HKDF-SHA256(fleet key, salt = dialer nonce || acceptor nonce,
//                        info = "anytun-relay sync v1 d2a" | "... a2d"), 32 bytes
//   frame plaintext = JSON message:
//     {k:"auth", node, instance, peerNode, peerInstance, dp?}  first frame each way: proves the fleet
//                                                         key and binds both hellos; dp = the UDP port
//                                                         of the sender's data channel (data.ts), if any
//     {k:"rec", r:[[table, key, value, t, node], ...]}    records (snapshot, then deltas)
//     {k:"snap"}                                          end of the initial snapshot
//     {k:"ping", ts} / {k:"pong", ts}                     heartbeat; a link silent for 3 heartbeats is dead
//
// Anything malformed (bad magic or version, a tag that does not verify, a length out of range,
// JSON that is not a known message) closes the link with a reason; nothing throws to the caller.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import type { SyncRecord } from "./store.ts";

export const HELLO_LEN = 31;
export const MAX_FRAME = 16 << 20;
/** Before the fleet key is proven a frame is the authentication message only: a few hundred bytes. */
export const MAX_PREAUTH_FRAME = 4096;
/** Hello and authentication must be done within this (else the link closes). */
export const HANDSHAKE_MS = 5000;
/** Bytes a link may hold for a peer that does not read (then it is closed, counted slowPeers). */
export const MAX_BACKLOG = 32 << 20;
const MAGIC = [0x41, 0x54, 0x52, 0x53]; // "ATRS"
const VERSION = 1;
/** Records per sealed frame; big snapshots go out in several frames. */
const RECORDS_PER_FRAME = 2000;

export interface Hello {
  node: number;
  instance: string; // hex
  nonce: Uint8Array;
}

export function encodeHello(h: Hello): Uint8Array {
  const b = new Uint8Array(HELLO_LEN);
  b.set(MAGIC, 0);
  b[4] = VERSION;
  b[5] = h.node >>> 8;
  b[6] = h.node & 255;
  b.set(Buffer.from(h.instance, "hex").subarray(0, 8), 7);
  b.set(h.nonce.subarray(0, 16), 15);
  return b;
}

/** Parses a hello; returns an error string for anything else. */
export function decodeHello(b: Uint8Array): Hello | string {
  if (b.length < HELLO_LEN) return "short hello";
  if (b[0] !== MAGIC[0] || b[1] !== MAGIC[1] || b[2] !== MAGIC[2] || b[3] !== MAGIC[3])
    return "not an anytun-relay sync peer";
  if (b[4] !== VERSION) return `sync protocol version ${b[4]} (we speak ${VERSION})`;
  return {
    node: (b[5]! << 8) | b[6]!,
    instance: Buffer.from(b.subarray(7, 15)).toString("hex"),
    nonce: b.slice(15, 31),
  };
}

export function deriveKeys(fleetKey: Uint8Array, dialerNonce: Uint8Array, acceptorNonce: Uint8Array) {
  const salt = Buffer.concat([dialerNonce, acceptorNonce]);
  const k = (info: string) => new Uint8Array(hkdfSync("sha256", fleetKey, salt, `anytun-relay sync v1 ${info}`, 32));
  return { d2a: k("d2a"), a2d: k("a2d") };
}

function gcmNonce(counter: number): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, BigInt(counter));
  return n;
}

export function sealFrame(key: Uint8Array, counter: number, plain: Uint8Array): Uint8Array {
  const c = createCipheriv("aes-256-gcm", key, gcmNonce(counter));
  const body = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** Decrypts a frame body (without its length prefix); null when the tag does not verify. */
export function openFrame(key: Uint8Array, counter: number, body: Uint8Array): Uint8Array | null {
  if (body.length <= 16) return null;
  try {
    const d = createDecipheriv("aes-256-gcm", key, gcmNonce(counter));
    d.setAuthTag(body.subarray(body.length - 16));
    return new Uint8Array(Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]));
  } catch {
    return null;
  }
}

export type Message =
  | { k: "auth"; node: number; instance: string; peerNode: number; peerInstance: string; dp?: number }
  | { k: "rec"; r: [string, string, unknown, number, number][] }
  | { k: "snap" }
  | { k: "ping"; ts: number }
  | { k: "pong"; ts: number }
  | { k: "mq"; id: number; mux: number }
  | { k: "ma"; id: number; m: [number, number][] };

/** Replay-mark requests a link keeps open at most (more are answered null at once). */
export const MAX_MARK_QUERIES = 4096;
const isU16 = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 65535;
const isId = (x: unknown) => Number.isInteger(x) && (x as number) > 0 && (x as number) <= 2 ** 32;

export function parseMessage(plain: Uint8Array): Message | null {
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder().decode(plain));
  } catch {
    return null;
  }
  if (typeof m !== "object" || m === null) return null;
  const o = m as Record<string, unknown>;
  switch (o.k) {
    case "auth":
      return typeof o.node === "number" &&
        typeof o.instance === "string" &&
        typeof o.peerNode === "number" &&
        typeof o.peerInstance === "string" &&
        (o.dp === undefined || (Number.isInteger(o.dp) && (o.dp as number) > 0 && (o.dp as number) < 65536))
        ? (o as Message)
        : null;
    case "rec":
      return Array.isArray(o.r) &&
        o.r.every(
          (x) =>
            Array.isArray(x) &&
            x.length === 5 &&
            typeof x[0] === "string" &&
            typeof x[1] === "string" &&
            typeof x[3] === "number" &&
            typeof x[4] === "number",
        )
        ? (o as Message)
        : null;
    case "snap":
      return { k: "snap" };
    case "ping":
    case "pong":
      return typeof o.ts === "number" ? (o as Message) : null;
    case "mq":
      return isId(o.id) && isU16(o.mux) ? { k: "mq", id: o.id as number, mux: o.mux as number } : null;
    case "ma":
      return isId(o.id) &&
        Array.isArray(o.m) &&
        o.m.length <= 65536 &&
        o.m.every(
          (x) =>
            Array.isArray(x) && x.length === 2 && isU16(x[0]) && Number.isSafeInteger(x[1]) && (x[1] as number) >= 0,
        )
        ? { k: "ma", id: o.id as number, m: o.m as [number, number][] }
        : null;
    default:
      return null;
  }
}

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
  framesOut = 0;
  recordsIn = 0;
  recordsOut = 0;
  snapshotReceived = false;
  /** The peer's IP as we reach it (for its data channel; set by the mesh). */
  host = "";
  /** UDP port of the peer's data channel (from its authentication message); 0 = none. */
  peerDataPort = 0;
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
    private readonly self: { node: number; instance: string; fleetKey: Uint8Array; dataPort?: number },
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
        const keys = this.dialed
          ? deriveKeys(this.self.fleetKey, this.nonce, h.nonce)
          : deriveKeys(this.self.fleetKey, h.nonce, this.nonce);
        this.sendKey = this.dialed ? keys.d2a : keys.a2d;
        this.recvKey = this.dialed ? keys.a2d : keys.d2a;
        this.state = "auth";
        this.sendMessage({
          k: "auth",
          node: this.self.node,
          instance: this.self.instance,
          peerNode: h.node,
          peerInstance: h.instance,
          ...(this.self.dataPort ? { dp: this.self.dataPort } : {}),
        });
        continue;
      }
      if (this.inBuf.length < 4) return;
      const n = new DataView(this.inBuf.buffer, this.inBuf.byteOffset).getUint32(0);
      if (n <= 16 || n > MAX_FRAME) return this.close(`frame length ${n} out of range`);
      if (this.state !== "up" && n > MAX_PREAUTH_FRAME)
        return this.close(`frame before authentication of ${n} bytes (at most ${MAX_PREAUTH_FRAME})`, "handshake");
      if (this.inBuf.length < 4 + n) return;
      const body = this.inBuf.subarray(4, 4 + n);
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

/** The fleet key from config: 64 hex digits, or a passphrase (>= 16 characters) hashed with SHA-256. */
export function fleetKeyFrom(text: string): Uint8Array {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return new Uint8Array(Buffer.from(text, "hex"));
  return new Uint8Array(new Bun.CryptoHasher("sha256").update(`anytun-relay fleet key\0${text}`).digest());
}
