// The server's door for the Noise suite (noise.listen): handshakes in (Responder, peers.ts), the
// transport keys they make handed to the client's session (noise/crypto.ts), and published to
// the fleet so any server of the anycast group continues the session.
//
//   table "nz", key "<index>": { c: client public key (base64), r: the client's index, t: wall-clock
//                                 ms of the handshake, st: the initiation's timestamp (decimal),
//                                 z: our send and receive keys, sealed per recipient server under
//                                 ephemeral keys (records.ts: forward secrecy against a fleet key
//                                 leaked later) }
//   table "nzk", key "<node>":  { p: that server's current ephemeral public key (records.ts) }
//   An "nz" record is written by the server that answered the initiation (the index's top 16 bits
//   are its sender id), again whenever another server's "nzk" key changes (a restart, a rotation:
//   so it can read them), and deleted REJECT_AFTER_MS after the handshake; every server also drops
//   keys of that age itself. They go only through the sync backend (sealed with the fleet key on
//   top; the mesh and the NATS backend keep them in memory, never on disk).
//
// Load: an initiation with a valid mac1 costs 4 DH; more than `loadPerSecond` of them in the last
// second puts the gate under load, and then only initiations with a valid mac2 (a cookie from a
// reply to their source address) reach the DH. Initiations with a bad mac1 cost nothing and do
// not count.
import { randomBytes } from "node:crypto";
import type { Conn } from "../state.ts";
import type { SyncTables } from "../sync/store.ts";
import type { KeyPair } from "./keys.ts";
import { Responder, REJECT_AFTER_MS, type Session } from "./peers.ts";
import { NoiseCrypto } from "./crypto.ts";
import { Windows } from "./transport.ts";
import { TYPE_INITIATION } from "./wire.ts";
import { KEYS_TABLE, keyRecord, RecordKeys, type SealedPart } from "./records.ts";

export const NOISE_TABLE = "nz";
/** How far in the future a synced record's time may be (clock skew between servers). */
const SKEW_MS = 30_000;

export interface GateOptions {
  key: KeyPair;
  senderId: number;
  maxSessions: number;
  /** Initiations with a valid mac1 per second above which cookies are asked for. */
  loadPerSecond: number;
  /** How often this server's record-sealing ephemeral key is renewed (records.ts). */
  recordKeyMs: number;
}

interface SessionRecord {
  c: string;
  r: number;
  t: number;
  st: string;
  z: SealedPart;
}

/** Drops of initiations that cost no DH (malformed, or a bad mac1): they do not count towards load. */
const FREE = new Set(["noise-mac1", "noise-short", "noise-type", "noise-length"]);

const b64 = (k: Uint8Array) => Buffer.from(k).toString("base64");
const isU32 = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff;

export class NoiseGate {
  readonly responder: Responder<string>;
  readonly counts = {
    handshakes: 0,
    cookieReplies: 0,
    adopted: 0,
    refusedRecords: 0,
    unreadableRecords: 0,
    republished: 0,
  };
  readonly recordKeys: RecordKeys;
  private byKey = new Map<string, Conn>();
  /** This process (a restart is a new instance: the others then publish their sessions to it again). */
  private readonly instance = Buffer.from(randomBytes(8)).toString("base64");
  /** The instance each other server's "nzk" record named last. */
  private readonly instances = new Map<number, unknown>();
  /** Initiations with a valid mac1 in the current and the previous second. */
  private second = 0;
  private thisSecond = 0;
  private lastSecond = 0;

  constructor(
    private readonly o: GateOptions,
    private readonly store: SyncTables,
    conns: readonly Conn[],
    private readonly clock: () => number = Date.now,
  ) {
    this.responder = new Responder<string>(
      {
        key: o.key,
        senderId: o.senderId,
        clientOf: (pub) => {
          const k = b64(pub);
          return this.byKey.has(k) ? k : undefined;
        },
        maxSessions: o.maxSessions,
      },
      clock(),
    );
    this.recordKeys = new RecordKeys(o.senderId, o.recordKeyMs, clock);
    this.clients(conns);
    store.validateBy(NOISE_TABLE, (v, k, node) => this.valid(v, k, node));
    store.validateBy(KEYS_TABLE, (v, k, node) => v === null || (k === String(node) && keyRecord(v) !== null));
    store.onChange(NOISE_TABLE, (k, v, origin, rec) => {
      if (origin === "local") return;
      if (v === null) this.forget(Number(k));
      else this.adopt(Number(k), v as SessionRecord, rec.node);
    });
    // a server that (re)started or joined can read our live sessions once they are sealed to it;
    // a key rotated by a running server needs nothing (it has the sessions already)
    store.onChange(KEYS_TABLE, (k, v, origin) => {
      if (origin !== "remote" || v === null) return;
      const node = Number(k);
      const inst = (v as { i?: unknown }).i;
      if (this.instances.get(node) === inst) return;
      this.instances.set(node, inst);
      const pub = keyRecord(v);
      if (pub !== null) this.republish(node, pub);
    });
    this.publishKey();
  }

  /** The client table changed (start, reload): Noise clients by public key; keys of sessions made before are kept. */
  clients(conns: readonly Conn[]): void {
    const m = new Map<string, Conn>();
    for (const c of conns) if (c.publicKey !== null) m.set(c.publicKey, c);
    this.byKey = m;
    for (const s of this.responder.sessions.values()) this.cryptoOf(s.client)?.add(keysOf(s));
  }

  /** The transport keys of client `pub`'s session (noise/crypto.ts), when it is configured. */
  private cryptoOf(pub: string): NoiseCrypto | null {
    const c = this.byKey.get(pub)?.crypto;
    return c instanceof NoiseCrypto ? c : null;
  }

  /** The client whose session index is `index` (NoiseReceiver's find). */
  find(index: number): Conn | undefined {
    const s = this.responder.sessions.get(index);
    return s === undefined ? undefined : this.byKey.get(s.client);
  }

  get underLoad(): boolean {
    this.tick();
    return this.thisSecond + this.lastSecond > this.o.loadPerSecond;
  }

  /**
   * A handshake packet (not type 4) from `source` ("address:port"): the packet to send back (a
   * response or a cookie reply), or null (dropped; Responder.counts and the MAC counts say why).
   */
  handshake(p: Uint8Array, source: string): Uint8Array | null {
    const now = this.clock();
    const r = this.responder.receive(p, source, this.underLoad, now);
    if (p[0] === TYPE_INITIATION && !(r.kind === "drop" && FREE.has(r.reason))) this.thisSecond++; // a valid mac1: it counts towards load
    if (r.kind === "reply") {
      this.counts.cookieReplies++;
      return r.packet;
    }
    if (r.kind !== "session") return null;
    const s = r.session;
    this.cryptoOf(s.client)?.add(keysOf(s));
    this.counts.handshakes++;
    this.publish(s);
    return r.packet ?? null;
  }

  /** Our session `s` as an "nz" record, its keys sealed to `recipients` (default: every server whose key we know). */
  private publish(s: Session<string>, recipients = this.recipients()): void {
    const secret = new Uint8Array(64);
    secret.set(s.sendKey, 0);
    secret.set(s.recvKey, 32);
    const key = String(s.local);
    const rec: SessionRecord = {
      c: s.client,
      r: s.remote,
      t: s.created,
      st: String(s.stamp ?? 0n),
      z: this.recordKeys.seal(secret, key, recipients),
    };
    this.store.set(NOISE_TABLE, key, rec);
  }

  private ours(s: Session<string>): boolean {
    return s.local >>> 16 === (this.o.senderId & 0xffff);
  }

  /** Node → its current ephemeral public key, for every other server whose "nzk" record is here. */
  private recipients(): Map<number, Uint8Array> {
    const out = new Map<number, Uint8Array>();
    for (const [k, v] of this.store.entries(KEYS_TABLE)) {
      const p = keyRecord(v);
      if (p !== null && Number(k) !== this.o.senderId) out.set(Number(k), p);
    }
    return out;
  }

  /**
   * Every live session we made, published again sealed to `node` only (a new instance there): the
   * others have them already and skip the new version; one DH per session.
   */
  private republish(node: number, pub: Uint8Array): void {
    const to = new Map([[node, pub]]);
    for (const s of this.responder.sessions.values())
      if (this.ours(s)) {
        this.publish(s, to);
        this.counts.republished++;
      }
  }

  private publishKey(): void {
    this.store.set(KEYS_TABLE, String(this.o.senderId), { p: this.recordKeys.publicKey, i: this.instance });
  }

  /** Forgets sessions past REJECT_AFTER_MS (call every few seconds): ours are deleted from the fleet too. */
  sweep(): void {
    const now = this.clock();
    if (this.recordKeys.rotate()) this.publishKey();
    for (const s of this.responder.sweep(now)) if (this.ours(s)) this.store.delete(NOISE_TABLE, String(s.local));
    for (const pub of this.byKey.keys()) this.cryptoOf(pub)?.sweep(now);
  }

  get sessions(): number {
    return this.responder.sessions.size;
  }

  private tick(): void {
    const sec = Math.floor(this.clock() / 1000);
    if (sec === this.second) return;
    this.lastSecond = sec === this.second + 1 ? this.thisSecond : 0;
    this.thisSecond = 0;
    this.second = sec;
  }

  /** A peer's "nz" record: its index is the origin's, the client is ours, the sealed part is there, the time is live. */
  private valid(v: unknown, k: string, node: number): boolean {
    if (v === null) return true;
    const i = Number(k);
    const r = v as Partial<SessionRecord>;
    const ok =
      /^\d+$/.test(k) &&
      isU32(i) &&
      i >>> 16 === (node & 0xffff) &&
      typeof v === "object" &&
      typeof r.c === "string" &&
      this.byKey.has(r.c) &&
      isU32(r.r) &&
      typeof r.z === "object" &&
      r.z !== null &&
      typeof r.t === "number" &&
      Math.abs(this.clock() - r.t) < REJECT_AFTER_MS + SKEW_MS &&
      r.t < this.clock() + SKEW_MS &&
      typeof r.st === "string" &&
      /^\d{1,30}$/.test(r.st);
    if (!ok) this.counts.refusedRecords++;
    return ok;
  }

  private adopt(local: number, r: SessionRecord, from: number): void {
    if (this.responder.sessions.has(local)) return; // republished: we have it
    const secret = this.recordKeys.open(r.z, String(local), from);
    if (secret === null || secret.length !== 64) {
      this.counts.unreadableRecords++; // sealed before our keys existed, or not for us
      return;
    }
    const s: Session<string> = {
      local,
      remote: r.r,
      client: r.c,
      sendKey: secret.slice(0, 32),
      recvKey: secret.slice(32),
      sendSeq: 0,
      windows: new Windows(), // unused: transport packets open in the client's session (crypto.ts)
      created: r.t,
      stamp: BigInt(r.st),
    };
    if (!this.responder.adopt(s)) return;
    this.counts.adopted++;
    this.cryptoOf(r.c)?.add(keysOf(s));
  }

  private forget(local: number): void {
    const s = this.responder.sessions.get(local);
    if (s === undefined) return;
    this.responder.drop(local);
    const c = this.cryptoOf(s.client);
    if (c !== null) c.keys = c.keys.filter((k) => k.local !== local);
  }
}

const keysOf = (s: Session<string>) => ({
  local: s.local,
  remote: s.remote,
  send: s.sendKey,
  recv: s.recvKey,
  created: s.created,
});
