import { type SatpSession, type SessionCrypto, type SessionReceiver } from "../satp/session.ts";
import type { Header } from "../satp/codec.ts";
export declare const NOISE_HEADER = 16;
/** Transport keys a session keeps: the newest and the two before it (in flight across a rekey). */
export declare const KEEP_KEYS = 3;
/** One handshake's transport keys. `local` names them in packets to us; `remote` in ours to the other side. */
export interface TransportKeys {
    readonly local: number;
    readonly remote: number;
    readonly send: Uint8Array;
    readonly recv: Uint8Array;
    /** Wall-clock ms (Date.now) when the handshake completed: keys die REJECT_AFTER_MS later. */
    readonly created: number;
}
export declare class NoiseCrypto implements SessionCrypto {
    private readonly clock;
    /** Bytes a sealed packet adds to payload type + inner (header + tag). */
    readonly overhead: number;
    plain: Uint8Array;
    /** Oldest first; the last one seals. */
    keys: TransportKeys[];
    /** libcrypto's contexts, or null for node:crypto. */
    private readonly native;
    constructor(clock?: () => number);
    /** Takes the keys of a new handshake (a duplicate `local` replaces nothing); the oldest beyond KEEP_KEYS go. */
    add(k: TransportKeys): boolean;
    /** Forgets keys past REJECT_AFTER_MS; returns the `local` indexes that went. */
    sweep(now?: number): number[];
    /** The keys that seal now, or null. */
    current(now?: number): TransportKeys | null;
    /** Seals buf[8, 8+plainLen) (payload type + inner) as a type-4 packet at buf[0]; its length, or SEAL_NOKEY. */
    seal(seq: number, senderId: number, _mux: number, buf: Uint8Array, plainLen: number): number;
    /**
     * Opens type-4 packet `pkt` (NoiseReceiver has read its counter into seq and senderId): the
     * plaintext length (0 for a keepalive) with the plaintext in `plain`, or OPEN_SHORT / OPEN_AUTH
     * (no key of this session's has its receiver index, the key is past REJECT_AFTER_MS, or the tag
     * is wrong). No window here: SatpSession.open applies it after this.
     */
    open(pkt: Uint8Array, _seq: number, _senderId: number, _mux: number, _window: null): number;
}
/**
 * The receive prologue for type-4 packets: receiver index → session (`find`), the counter as the
 * session's (sender id, seq) header, then SatpSession.open. What is not a transport packet, or
 * names no session, never reaches a key.
 */
export declare class NoiseReceiver<S extends SatpSession> implements SessionReceiver<S> {
    private readonly find;
    readonly header: Header;
    session: S | undefined;
    constructor(find: (index: number) => S | undefined);
    open(buf: Uint8Array): number;
}
/** The Noise receiver of a role with one session (the peer role): only `s`'s own indexes name it. */
export declare function noiseReceiverFor<S extends SatpSession<NoiseCrypto>>(s: S): NoiseReceiver<S>;
