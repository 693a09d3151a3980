import type { Drops } from "../drops.ts";
import { type Header } from "./codec.ts";
import type { Reservation } from "./counter.ts";
import { ReplayWindow } from "./replay.ts";
export declare const RX_SHORT = -1;
export declare const RX_AUTH = -2;
export declare const RX_REPLAY = -3;
/** The header's mux names no session here. */
export declare const RX_MUX = -4;
/** Authentic, but from one sender id more than the session keeps state for (maxSenders). */
export declare const RX_SENDERS = -5;
/** Not opened: the session's arrivals wait (`wait` set; the caller verifies and holds them). */
export declare const RX_WAIT = -6;
/** `seal` result of a crypto with no live key (the Noise suite before its handshake, noise/crypto.ts). */
export declare const SEAL_NOKEY = -4;
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
export declare const MAX_SENDERS = 64;
/** `seal` results below zero. */
export declare const SEAL_TOOBIG = -1;
export declare const SEAL_EXHAUSTED = -2;
export declare const SEAL_NOSTATE = -3;
export declare class SatpSession<K extends SessionCrypto = SessionCrypto> {
    readonly crypto: K;
    readonly mux: number;
    /** Replay window per sender id; 0 = off (anytun's -w 0: only the newest seq is tracked). */
    readonly windowSize: number;
    /** Sender ids with state at most; packets from more are dropped (RX_SENDERS), never evicting. */
    readonly maxSenders: number;
    /** Next send seq (never wraps: `seal` refuses at SEQ_LIMIT). */
    seq: number;
    /** Seqs below this may be sent: SEQ_LIMIT, or the durable reservation's limit (satp/counter.ts). */
    private limit;
    private reservation;
    /** Payload type of the last successful open (0 for a keepalive). */
    type: number;
    /**
     * The last successful open was the newest packet seen from its sender id (here or, through
     * synced marks, anywhere): the only kind that may learn or move an endpoint.
     */
    newest: boolean;
    /**
     * Non-zero: `Receiver.open` hands this session's datagrams back unopened (RX_WAIT), its windows
     * untouched; the owner's reason and states (the server: a replay-mark query, state.ts).
     */
    wait: number;
    /** Bumped by `resetWindows` (an operator's reset, replicated: see sync/replicate.ts). */
    epoch: number;
    private readonly windowMap;
    constructor(crypto: K, mux: number, 
    /** Replay window per sender id; 0 = off (anytun's -w 0: only the newest seq is tracked). */
    windowSize: number, 
    /** Sender ids with state at most; packets from more are dropped (RX_SENDERS), never evicting. */
    maxSenders?: number);
    /**
     * The replay window for a sender id (created on first use, within maxSenders; size 0 keeps only
     * the high-water mark), or null when the cap is reached. Call only for an authenticated sender
     * (or a synced mark).
     */
    window(senderId: number): ReplayWindow | null;
    /** Replay windows by sender id (those started so far). */
    windows(): IterableIterator<[number, ReplayWindow]>;
    /**
     * Sends only seqs `r` has made durable, starting past everything an earlier run reserved (so no
     * (key, sender id, seq) goes out twice across restarts).
     */
    reserveFrom(r: Reservation): void;
    /**
     * Forgets every sender id's window and mark (a restarted legacy client starts again at seq 0):
     * only ever on an operator's authenticated request, never on a timer or a packet.
     */
    resetWindows(epoch?: number): void;
    /** Carries another session's counters and windows over (a reload with the same keys). */
    carryOver(old: SatpSession): void;
    /**
     * Opens `pkt` whose header the caller read into `h`. Returns the plaintext length (0 for a
     * keepalive) and sets `type`; or RX_SHORT / RX_AUTH / RX_REPLAY.
     */
    open(pkt: Uint8Array, h: Header): number;
    /** Checks `pkt`'s tag only (no window, no state): >= 0 authentic, else RX_SHORT / RX_AUTH. */
    verify(pkt: Uint8Array, h: Header): number;
    /** The inner packet of the last successful open: a view valid until the next open of any session. */
    inner(): Uint8Array;
    /**
     * Seals payload type `type` + `inner` into `buf` (header at 0) under the next seq, as sender
     * `senderId`; a keepalive is type 0 with an empty inner. Returns the datagram length, or
     * SEAL_TOOBIG / SEAL_EXHAUSTED / SEAL_NOSTATE (nothing consumed).
     */
    seal(buf: Uint8Array, senderId: number, type: number, inner: Uint8Array): number;
}
/** A receive prologue (SATP's below, the Noise suite's in noise/crypto.ts): the datapath's one entry. */
export interface SessionReceiver<S extends SatpSession = SatpSession> {
    readonly header: Header;
    session: S | undefined;
    /** What SatpSession.open returns, or RX_SHORT / RX_MUX / RX_WAIT. */
    open(buf: Uint8Array): number;
}
/** The receive prologue of every SATP role, with its scratch: header, session by mux (`find`), open. */
export declare class Receiver<S extends SatpSession = SatpSession> implements SessionReceiver<S> {
    private readonly find;
    /** The last datagram's header (when it was long enough). */
    readonly header: Header;
    /** The session the last datagram's mux named (undefined: none). */
    session: S | undefined;
    constructor(find: (mux: number) => S | undefined);
    /** What SatpSession.open returns, or RX_SHORT / RX_MUX / RX_WAIT. */
    open(buf: Uint8Array): number;
}
/** The Receiver of a role with one connection: only `s`'s mux is ours. */
export declare function receiverFor<S extends SatpSession>(s: S): Receiver<S>;
/** Counts a negative `Receiver.open` result in `drops`. */
export declare function countRx(code: number, drops: Drops): void;
/** True for results that prove the sender had the key (a stream reader keeps its framing). */
export declare function authentic(code: number): boolean;
/** A seal result below zero as a drop. */
export declare function countSeal(code: number, drops: Drops): void;
