// Both ends of the Noise suite over wire.ts packets, pure (clock, load and randomness passed in):
// the Initiator (a client) and the Responder (a server). A session is the pair of transport keys
// the handshake split into, the two indexes, a send sequence and the receive windows.
//
// Responder rules, in order, for an initiation (nothing is kept and no DH is done before the
// third): (1) the wire length (wire.ts), (2) mac1 (macs.ts; a bad one is dropped), (3) under load
// mac2, else a cookie reply, (4) the handshake (2 DH to read message 1, 2 to write message 2),
// (5) the initiator's static key must be a configured client's, (6) its timestamp must be newer
// than the last accepted from that client (a replayed initiation is refused, WireGuard's rule),
// (7) a session slot (at most maxSessions; a client holds at most two, its newest and the one
// before, which still carries what was in flight). Transport packets: the session by receiver
// index, its age (WireGuard's timers: no data on a session older than REJECT_AFTER_MS), then
// authentication and the window of the counter's sender id. sweep() forgets expired sessions; the
// initiator starts a new handshake once rekeyDue (REKEY_AFTER_MS or REKEY_AFTER_MESSAGES).
import { randomBytes } from "node:crypto";
import { HandshakeIK } from "./handshake.ts";
import { generateKeyPair, type KeyPair } from "./keys.ts";
import { CookieChecker, CookieJar, mac1Ok, MacKeys, seal } from "./macs.ts";
import { openTransport, sealTransport, Windows } from "./transport.ts";
import * as wire from "./wire.ts";

/** WireGuard's timers and limits (whitepaper 6.1), in ms and messages. */
export const REKEY_AFTER_MS = 120_000;
export const REJECT_AFTER_MS = 180_000;
export const REKEY_AFTER_MESSAGES = 2 ** 44;
export const REJECT_AFTER_MESSAGES = 2 ** 48 - 2 ** 13;

export interface Session<C = unknown> {
  /** Our index (receivers name the session by it) and the other side's. */
  readonly local: number;
  readonly remote: number;
  readonly client: C;
  readonly sendKey: Uint8Array;
  readonly recvKey: Uint8Array;
  sendSeq: number;
  readonly windows: Windows;
  readonly created: number;
  /** A responder's: the timestamp of the initiation that made it (a replay of it is refused). */
  readonly stamp?: bigint;
}

export type Result<C> =
  | { kind: "reply"; packet: Uint8Array }
  | { kind: "session"; session: Session<C>; packet?: Uint8Array }
  | { kind: "data"; session: Session<C>; plaintext: Uint8Array }
  | { kind: "drop"; reason: string };

/** Seals `plaintext` on `session` as sender id `senderId` (a server's; 0 for a client). */
export function sendOn(session: Session, senderId: number, plaintext: Uint8Array): Uint8Array {
  if (session.sendSeq >= REJECT_AFTER_MESSAGES) throw new Error("noise: session used up (rekey)");
  return sealTransport(session.sendKey, session.remote, senderId, session.sendSeq++, plaintext);
}

function receiveOn<C>(session: Session<C>, p: Uint8Array, counter: bigint, now: number): Result<C> {
  if (now - session.created >= REJECT_AFTER_MS) return { kind: "drop", reason: "noise-expired" };
  const plaintext = openTransport(session.recvKey, p, counter);
  if (plaintext === null) return { kind: "drop", reason: "noise-auth" };
  if (!session.windows.accept(counter)) return { kind: "drop", reason: "noise-replay" };
  return { kind: "data", session, plaintext };
}

/** Initiations made by this process (the timestamp's low part: two in one microsecond still differ). */
let stamps = 0;
/**
 * The 12-byte timestamp payload of an initiation: microseconds since 1970 (u64) and this
 * process's initiation count (u32), big-endian; the responder takes only increasing ones.
 */
function timestamp(): Uint8Array {
  const t = new Uint8Array(12);
  const v = new DataView(t.buffer);
  v.setBigUint64(0, BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000)));
  v.setUint32(8, stamps++ >>> 0);
  return t;
}
const stampValue = (t: Uint8Array) => {
  const v = new DataView(t.buffer, t.byteOffset, 12);
  return (v.getBigUint64(0) << 32n) | BigInt(v.getUint32(8));
};

export interface ResponderOptions<C> {
  /** The group's responder static key pair. */
  key: KeyPair;
  /** This server's sender id: the top 16 bits of its session indexes and of its transport counters. */
  senderId: number;
  /** The configured client with this static public key, or undefined. */
  clientOf: (pub: Uint8Array) => C | undefined;
  maxSessions: number;
  random?: (n: number) => Uint8Array;
}

export class Responder<C> {
  readonly sessions = new Map<number, Session<C>>();
  readonly macs: CookieChecker;
  readonly counts = {
    initiations: 0,
    handshakeFailed: 0,
    unknownClient: 0,
    staleInitiation: 0,
    sessionsFull: 0,
    malformed: 0,
    noSession: 0,
    unexpected: 0,
  };
  private readonly lastStamp = new Map<C, bigint>();
  /** A client's sessions, oldest first (at most two). */
  private readonly byClient = new Map<C, Session<C>[]>();
  private readonly random: (n: number) => Uint8Array;

  constructor(
    private readonly o: ResponderOptions<C>,
    now: number,
  ) {
    this.random = o.random ?? ((n) => new Uint8Array(randomBytes(n)));
    this.macs = new CookieChecker(new MacKeys(o.key.pub), now, this.random);
  }

  /** One datagram from `source` ("address:port"); `underLoad`: initiations need a cookie (mac2). */
  receive(p: Uint8Array, source: string, underLoad: boolean, now: number): Result<C> {
    const m = wire.decode(p);
    if (typeof m === "string") {
      this.counts.malformed++;
      return { kind: "drop", reason: `noise-${m}` };
    }
    if (m.type === wire.TYPE_TRANSPORT) {
      const s = this.sessions.get(m.receiver);
      if (s === undefined) {
        this.counts.noSession++;
        return { kind: "drop", reason: "noise-no-session" };
      }
      return receiveOn(s, p, m.counter, now);
    }
    if (m.type !== wire.TYPE_INITIATION) {
      this.counts.unexpected++; // a response or cookie reply sent to a server
      return { kind: "drop", reason: "noise-unexpected" };
    }
    const admitted = this.macs.admit(p, source, underLoad, now);
    if (admitted === "bad-mac1") return { kind: "drop", reason: "noise-mac1" };
    if (admitted === "cookie") {
      const r = this.macs.reply(p, source, now);
      return { kind: "reply", packet: wire.encodeCookie(m.sender, r.nonce, r.cookie) };
    }
    this.counts.initiations++;
    const hs = new HandshakeIK(false, { s: this.o.key, e: generateKeyPair() });
    const stamp = hs.readMessage(m.noise);
    if (stamp === null || stamp.length !== 12) {
      this.counts.handshakeFailed++;
      return { kind: "drop", reason: "noise-handshake" };
    }
    const client = this.o.clientOf(hs.rs!);
    if (client === undefined) {
      this.counts.unknownClient++;
      return { kind: "drop", reason: "noise-unknown-client" };
    }
    const t = stampValue(stamp);
    if (t <= (this.lastStamp.get(client) ?? -1n)) {
      this.counts.staleInitiation++;
      return { kind: "drop", reason: "noise-stale-initiation" };
    }
    const mine = this.byClient.get(client) ?? [];
    if (mine.length >= 2) this.forget(mine.shift()!); // the newest and the one before stay
    if (this.sessions.size >= this.o.maxSessions) {
      this.counts.sessionsFull++;
      return { kind: "drop", reason: "noise-sessions-full" };
    }
    this.lastStamp.set(client, t);
    const local = this.newIndex();
    const response = wire.encodeResponse(local, m.sender, hs.writeMessage(new Uint8Array(0)));
    seal(response, new MacKeys(hs.rs!), null); // mac1 to the initiator's key (a response needs no cookie)
    const { send, recv } = hs.split();
    const session: Session<C> = {
      local,
      remote: m.sender,
      client,
      sendKey: send.k!,
      recvKey: recv.k!,
      sendSeq: 0,
      windows: new Windows(),
      created: now,
      stamp: t,
    };
    this.sessions.set(local, session);
    mine.push(session);
    this.byClient.set(client, mine);
    return { kind: "session", session, packet: response };
  }

  /**
   * A session another server of the group made (its record, synced): kept as ours are, so its
   * packets open here; its initiation's timestamp raises the client's floor (a replay of that
   * initiation here is refused). False when it is known already or there is no room.
   */
  adopt(session: Session<C>): boolean {
    const stamp = session.stamp ?? 0n;
    if (this.sessions.has(session.local)) return false;
    if (stamp > (this.lastStamp.get(session.client) ?? -1n)) this.lastStamp.set(session.client, stamp);
    const mine = this.byClient.get(session.client) ?? [];
    if (mine.length >= 2) this.forget(mine.shift()!);
    if (this.sessions.size >= this.o.maxSessions) {
      this.counts.sessionsFull++;
      return false;
    }
    this.sessions.set(session.local, session);
    mine.push(session);
    this.byClient.set(session.client, mine);
    return true;
  }

  /** Forgets the session with index `local` (its record was deleted or expired); true when it was here. */
  drop(local: number): boolean {
    const s = this.sessions.get(local);
    if (s === undefined) return false;
    this.forget(s);
    return true;
  }

  /** Forgets sessions older than REJECT_AFTER_MS (call every few seconds); the ones that went. */
  sweep(now: number): Session<C>[] {
    const gone: Session<C>[] = [];
    for (const s of [...this.sessions.values()])
      if (now - s.created >= REJECT_AFTER_MS) {
        this.forget(s);
        gone.push(s);
      }
    return gone;
  }

  private forget(s: Session<C>): void {
    this.sessions.delete(s.local);
    const mine = this.byClient.get(s.client);
    if (mine === undefined) return;
    const i = mine.indexOf(s);
    if (i >= 0) mine.splice(i, 1);
    if (mine.length === 0) this.byClient.delete(s.client);
  }

  /** A free index with this server's sender id in the top 16 bits. */
  private newIndex(): number {
    for (;;) {
      const r = this.random(2);
      const i = ((this.o.senderId & 0xffff) * 65536 + ((r[0]! << 8) | r[1]!)) >>> 0;
      if (!this.sessions.has(i)) return i;
    }
  }
}

export class Initiator {
  private hs: HandshakeIK | null = null;
  private local = 0;
  private readonly jar: CookieJar;
  session: Session<null> | null = null;
  /** The session before the newest: it still receives what was in flight when the new one came. */
  previous: Session<null> | null = null;
  private lastInitiation: Uint8Array | null = null;

  constructor(
    private readonly key: KeyPair,
    private readonly serverPub: Uint8Array,
    private readonly random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n)),
  ) {
    this.jar = new CookieJar(new MacKeys(serverPub));
    this.ownMacs = new MacKeys(key.pub);
  }
  /** The keys of responses' mac1 (made to our static key). */
  private readonly ownMacs: MacKeys;

  /** A new initiation (a fresh ephemeral, index and timestamp). */
  initiation(now: number): Uint8Array {
    this.hs = new HandshakeIK(true, { s: this.key, e: generateKeyPair(), rs: this.serverPub });
    const r = this.random(4);
    this.local = ((r[0]! << 24) | (r[1]! << 16) | (r[2]! << 8) | r[3]!) >>> 0;
    const p = wire.encodeInitiation(this.local, this.hs.writeMessage(timestamp()));
    this.jar.seal(p, now);
    this.lastInitiation = p;
    return p;
  }

  /** Time for a new handshake: the session is REKEY_AFTER_MS old or has sent REKEY_AFTER_MESSAGES. */
  rekeyDue(now: number): boolean {
    const s = this.session;
    return s === null || now - s.created >= REKEY_AFTER_MS || s.sendSeq >= REKEY_AFTER_MESSAGES;
  }

  /** The same initiation sealed again (after a cookie reply: now with mac2). */
  resend(now: number): Uint8Array | null {
    if (this.lastInitiation === null) return null;
    this.jar.seal(this.lastInitiation, now);
    return this.lastInitiation;
  }

  receive(p: Uint8Array, now: number): Result<null> | { kind: "cookie" } {
    const m = wire.decode(p);
    if (typeof m === "string") return { kind: "drop", reason: `noise-${m}` };
    if (m.type === wire.TYPE_TRANSPORT) {
      const s =
        this.session?.local === m.receiver ? this.session : this.previous?.local === m.receiver ? this.previous : null;
      if (s === null) return { kind: "drop", reason: "noise-no-session" };
      return receiveOn(s, p, m.counter, now);
    }
    if (m.type === wire.TYPE_COOKIE) {
      if (m.receiver !== this.local || !this.jar.take(m.nonce, m.cookie, now))
        return { kind: "drop", reason: "noise-cookie" };
      return { kind: "cookie" };
    }
    if (m.type !== wire.TYPE_RESPONSE || this.hs === null || m.receiver !== this.local)
      return { kind: "drop", reason: "noise-unexpected" };
    if (!mac1Ok(p, this.ownMacs)) return { kind: "drop", reason: "noise-mac1" };
    if (this.hs.readMessage(m.noise) === null) {
      this.hs = null;
      return { kind: "drop", reason: "noise-handshake" };
    }
    const { send, recv } = this.hs.split();
    this.hs = null;
    this.previous = this.session;
    this.session = {
      local: this.local,
      remote: m.sender,
      client: null,
      sendKey: send.k!,
      recvKey: recv.k!,
      sendSeq: 0,
      windows: new Windows(),
      created: now,
    };
    return { kind: "session", session: this.session };
  }
}
