// One SATP connection's state, and the one place a datagram becomes an authenticated payload
// (and a payload becomes a datagram) for every role: server, peer, relay client, the TCP
// clients, the tests and the fuzzers.
//
// Receive (`Receiver.open`, synchronous, no allocation but the payload view):
//   length >= HEADER_LEN ─► header (codec.readHeader) ─► session by mux ─► SatpCrypto.open (tag,
//   decrypt) ─► only now, the sender id's replay window (created after the tag checked out, at
//   most `maxSenders` per session, never evicted: an evicted window would accept its old packets
//   again) ─► payload type + inner.
// The result is a count (>= 0: plaintext bytes, 0 = keepalive) or one RX_* reason below, which
// `countRx` adds to a Drops table. RX_REPLAY is "authentic but old": stream readers must not
// resync on it (`authentic`).
//
// Send (`seal`): payload type + inner into a caller's buffer at HEADER_LEN, the send counter
// taken from the session (never reused, never past SEQ_LIMIT, and with a durable reservation
// (`reserveFrom`, satp/counter.ts) never past what is on disk), sealed in place. The buffer is the
// caller's (a UDP slot, a stream scratch); the session keeps no reference to it.
import type { Drops } from "../drops.ts";
import { HEADER_LEN, MAX_PACKET, readHeader, TYPE_LEN, type Header } from "./codec.ts";
import { OPEN_AUTH, OPEN_REPLAY, OPEN_SHORT, SEQ_LIMIT } from "./crypto.ts";
import type { Reservation } from "./counter.ts";
import { ReplayWindow } from "./replay.ts";

export const RX_SHORT = OPEN_SHORT;
export const RX_AUTH = OPEN_AUTH;
export const RX_REPLAY = OPEN_REPLAY;
/** The header's mux names no session here. */
export const RX_MUX = -4;
/** Authentic, but from one sender id more than the session keeps state for (maxSenders). */
export const RX_SENDERS = -5;
/** Not opened: the session's arrivals wait (`wait` set; the caller verifies and holds them). */
export const RX_WAIT = -6;

/** `seal` result of a crypto with no live key (the Noise suite before its handshake, noise/crypto.ts). */
export const SEAL_NOKEY = -4;

/**
 * What a session's packets are sealed and opened with: SATP's (satp/crypto.ts) or the Noise
 * suite's (noise/crypto.ts). `seal` finds payload type + inner at buf[HEADER_LEN, ...) and returns
 * the packet length or a SEAL_* code; `open` returns the plaintext length (into `plain`) or an
 * OPEN_* code, and never applies a window (the session does, after it).
 */
export interface SessionCrypto {
  readonly overhead: number;
  readonly plain: Uint8Array;
  seal(seq: number, senderId: number, mux: number, buf: Uint8Array, plainLen: number): number;
  open(pkt: Uint8Array, seq: number, senderId: number, mux: number, window: null): number;
}

/** Sender ids a session keeps replay windows for, unless configured otherwise (crypto.maxSenders). */
export const MAX_SENDERS = 64;

/** `seal` results below zero. */
export const SEAL_TOOBIG = -1; // type + inner + overhead would pass MAX_PACKET
export const SEAL_EXHAUSTED = -2; // 2^32 packets sent under this key
export const SEAL_NOSTATE = -3; // the next block of seqs could not be made durable (stateDir)

/** No durable reservation (tests, fuzzers, benches): every seq below SEQ_LIMIT, never extended. */
// Stryker disable next-line ObjectLiteral,ArrowFunction: equivalent — seal stops at SEQ_LIMIT before it would ask
const IN_MEMORY: Reservation = { start: 0, limit: SEQ_LIMIT, extend: () => SEQ_LIMIT };

export class SatpSession<K extends SessionCrypto = SessionCrypto> {
  /** Next send seq (never wraps: `seal` refuses at SEQ_LIMIT). */
  seq = 0;
  /** Seqs below this may be sent: SEQ_LIMIT, or the durable reservation's limit (satp/counter.ts). */
  private limit = SEQ_LIMIT;
  private reservation: Reservation = IN_MEMORY;
  /** Payload type of the last successful open (0 for a keepalive). */
  type = 0;
  /**
   * The last successful open was the newest packet seen from its sender id (here or, through
   * synced marks, anywhere): the only kind that may learn or move an endpoint.
   */
  newest = false;
  /**
   * Non-zero: `Receiver.open` hands this session's datagrams back unopened (RX_WAIT), its windows
   * untouched; the owner's reason and states (the server: a replay-mark query, state.ts).
   */
  wait = 0;
  /** Bumped by `resetWindows` (an operator's reset, replicated: see sync/replicate.ts). */
  epoch = 0;
  private readonly windowMap = new Map<number, ReplayWindow>();

  constructor(
    readonly crypto: K,
    readonly mux: number,
    /** Replay window per sender id; 0 = off (anytun's -w 0: only the newest seq is tracked). */
    readonly windowSize: number,
    /** Sender ids with state at most; packets from more are dropped (RX_SENDERS), never evicting. */
    readonly maxSenders = MAX_SENDERS,
  ) {}

  /**
   * The replay window for a sender id (created on first use, within maxSenders; size 0 keeps only
   * the high-water mark), or null when the cap is reached. Call only for an authenticated sender
   * (or a synced mark).
   */
  window(senderId: number): ReplayWindow | null {
    let w = this.windowMap.get(senderId);
    if (w === undefined) {
      if (this.windowMap.size >= this.maxSenders) return null;
      this.windowMap.set(senderId, (w = new ReplayWindow(this.windowSize)));
    }
    return w;
  }

  /** Replay windows by sender id (those started so far). */
  windows(): IterableIterator<[number, ReplayWindow]> {
    return this.windowMap.entries();
  }

  /**
   * Sends only seqs `r` has made durable, starting past everything an earlier run reserved (so no
   * (key, sender id, seq) goes out twice across restarts).
   */
  reserveFrom(r: Reservation): void {
    this.reservation = r;
    this.seq = Math.max(this.seq, r.start);
    this.limit = r.limit;
  }

  /**
   * Forgets every sender id's window and mark (a restarted legacy client starts again at seq 0):
   * only ever on an operator's authenticated request, never on a timer or a packet.
   */
  resetWindows(epoch = this.epoch + 1): void {
    this.windowMap.clear();
    this.epoch = epoch;
  }

  /** Carries another session's counters and windows over (a reload with the same keys). */
  carryOver(old: SatpSession): void {
    this.seq = Math.max(this.seq, old.seq);
    this.epoch = old.epoch;
    if (old.windowSize === this.windowSize) for (const [k, w] of old.windowMap) this.windowMap.set(k, w);
    else for (const [k, w] of old.windowMap) if (w.isStarted) this.window(k)?.advanceTo(w.max); // resized: the floor stays
  }

  /**
   * Opens `pkt` whose header the caller read into `h`. Returns the plaintext length (0 for a
   * keepalive) and sets `type`; or RX_SHORT / RX_AUTH / RX_REPLAY.
   */
  open(pkt: Uint8Array, h: Header): number {
    const n = this.crypto.open(pkt, h.seq, h.senderId, this.mux, null); // tag first: no state before it
    if (n < 0) return n;
    const w = this.window(h.senderId);
    if (w === null) return RX_SENDERS;
    if (!w.accept(h.seq)) return RX_REPLAY;
    this.newest = w.newest;
    const p = this.crypto.plain;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent — a keepalive's plain is empty and reads as 0
    this.type = n > 0 ? (p[0]! << 8) | p[1]! : 0;
    return n;
  }

  /** Checks `pkt`'s tag only (no window, no state): >= 0 authentic, else RX_SHORT / RX_AUTH. */
  verify(pkt: Uint8Array, h: Header): number {
    return this.crypto.open(pkt, h.seq, h.senderId, this.mux, null);
  }

  /** The inner packet of the last successful open: a view valid until the next open of any session. */
  inner(): Uint8Array {
    return this.crypto.plain.subarray(TYPE_LEN);
  }

  /**
   * Seals payload type `type` + `inner` into `buf` (header at 0) under the next seq, as sender
   * `senderId`; a keepalive is type 0 with an empty inner. Returns the datagram length, or
   * SEAL_TOOBIG / SEAL_EXHAUSTED / SEAL_NOSTATE (nothing consumed).
   */
  seal(buf: Uint8Array, senderId: number, type: number, inner: Uint8Array): number {
    const keepalive = type === 0 && inner.length === 0;
    const len = this.crypto.overhead + TYPE_LEN + inner.length;
    if (!keepalive && (len > MAX_PACKET || len > buf.length)) return SEAL_TOOBIG;
    if (this.seq >= this.limit) {
      if (this.seq >= SEQ_LIMIT) return SEAL_EXHAUSTED;
      if ((this.limit = this.reservation.extend(this.seq)) <= this.seq) return SEAL_NOSTATE;
    }
    if (keepalive) return this.crypto.seal(this.seq++, senderId, this.mux, buf, 0);
    buf[HEADER_LEN] = type >>> 8;
    buf[HEADER_LEN + 1] = type & 255;
    buf.set(inner, HEADER_LEN + TYPE_LEN);
    return this.crypto.seal(this.seq++, senderId, this.mux, buf, TYPE_LEN + inner.length);
  }
}

/** A receive prologue (SATP's below, the Noise suite's in noise/crypto.ts): the datapath's one entry. */
export interface SessionReceiver<S extends SatpSession = SatpSession> {
  readonly header: Header;
  session: S | undefined;
  /** What SatpSession.open returns, or RX_SHORT / RX_MUX / RX_WAIT. */
  open(buf: Uint8Array): number;
}

/** The receive prologue of every SATP role, with its scratch: header, session by mux (`find`), open. */
export class Receiver<S extends SatpSession = SatpSession> implements SessionReceiver<S> {
  /** The last datagram's header (when it was long enough). */
  // Stryker disable next-line ObjectLiteral: equivalent — readHeader sets every field before use
  readonly header: Header = { seq: 0, senderId: 0, mux: 0 };
  /** The session the last datagram's mux named (undefined: none). */
  session: S | undefined = undefined;

  constructor(private readonly find: (mux: number) => S | undefined) {}

  /** What SatpSession.open returns, or RX_SHORT / RX_MUX / RX_WAIT. */
  open(buf: Uint8Array): number {
    if (buf.length < HEADER_LEN) return RX_SHORT;
    readHeader(buf, this.header);
    const s = this.find(this.header.mux);
    this.session = s;
    if (s === undefined) return RX_MUX;
    if (s.wait !== 0) return RX_WAIT;
    return s.open(buf, this.header);
  }
}

/** The Receiver of a role with one connection: only `s`'s mux is ours. */
export function receiverFor<S extends SatpSession>(s: S): Receiver<S> {
  const mux = s.mux;
  return new Receiver((m) => (m === mux ? s : undefined));
}

/** Counts a negative `Receiver.open` result in `drops`. */
export function countRx(code: number, drops: Drops): void {
  if (code === RX_AUTH) drops.auth++;
  else if (code === RX_REPLAY) drops.replay++;
  else if (code === RX_SHORT) drops.short++;
  else if (code === RX_MUX) drops.mux++;
  else if (code === RX_SENDERS) drops.senders++;
}

/** True for results that prove the sender had the key (a stream reader keeps its framing). */
export function authentic(code: number): boolean {
  return code >= 0 || code === RX_REPLAY || code === RX_SENDERS;
}

/** A seal result below zero as a drop. */
export function countSeal(code: number, drops: Drops): void {
  if (code === SEAL_TOOBIG) drops.toobig++;
  else if (code === SEAL_EXHAUSTED) drops.exhausted++;
  else if (code === SEAL_NOSTATE) drops.nostate++;
  else if (code === SEAL_NOKEY) drops.nokey++;
}
