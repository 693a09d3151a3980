import { type Master, type Role, type Suite } from "./suite.ts";
import type { ReplayWindow } from "./replay.ts";
/** u32 labels: first 4 bytes of SHA-1 of "1".."6" (SPEC §5). A host seals with its own role's labels. */
export declare const LABELS: Readonly<Record<Role, {
    enc: number;
    salt: number;
    auth: number;
}>>;
export declare const AUTH_KEY_BYTES = 20;
/** `open` results below zero. */
export declare const OPEN_SHORT = -1;
export declare const OPEN_AUTH = -2;
export declare const OPEN_REPLAY = -3;
/** After this many packets under one master key the sender stops instead of wrapping seq to 0. */
export declare const SEQ_LIMIT = 4294967296;
export type CryptoLibrary = "auto" | "openssl" | "node";
/**
 * Which library SatpCrypto objects made from now on use. "auto": libcrypto when it loads, else
 * node:crypto; "openssl" throws (naming why) when libcrypto does not load. Returns the one in effect.
 */
export declare function setCryptoLibrary(want: CryptoLibrary): "openssl" | "node";
export declare function cryptoLibrary(): "openssl" | "node";
/** What runs, for people: libcrypto's version ("OpenSSL 3.0.x …") or "node:crypto". */
export declare function cryptoLibraryName(): string;
export declare class SatpCrypto {
    readonly suite: Suite;
    readonly role: Role;
    /** Bytes a sealed packet adds to its plaintext (header + tag). */
    readonly overhead: number;
    private readonly out;
    private readonly inb;
    private readonly ctrName;
    private readonly nativeCtr;
    private readonly iv;
    /**
     * Plaintext (payload type + inner packet) of the last successful `open`: a view of scratch
     * shared by all SatpCrypto instances, valid until the next `open` of any of them.
     */
    plain: Uint8Array;
    /** True when this object uses libcrypto (see setCryptoLibrary). */
    readonly native: boolean;
    /** `suite` goes through normalizeSuite (tag clamped to 0..20, null auth → no tag) so no caller can seal junk. */
    constructor(suite: Suite, master: Master, role: Role);
    /**
     * Seals in place. `buf[8, 8+plainLen)` holds payload type + inner packet; the header is written
     * at 0 and the tag after the ciphertext. `buf` needs room for 8 + plainLen + tagLength bytes.
     * Returns the packet length. The caller guarantees 0 <= seq < SEQ_LIMIT and never reuses a seq.
     */
    seal(seq: number, senderId: number, mux: number, buf: Uint8Array, plainLen: number): number;
    /**
     * Verifies, replay-checks (when `window` is given) and decrypts `pkt`, whose header `seq`,
     * `senderId`, `mux` the caller has read. Returns the plaintext length (0: an authenticated
     * keepalive with no payload type; anytun treats payloads of <= 2 bytes alike) with the plaintext in
     * `this.plain`, or OPEN_SHORT / OPEN_AUTH / OPEN_REPLAY. Never throws on packet content.
     */
    open(pkt: Uint8Array, seq: number, senderId: number, mux: number, window: ReplayWindow | null): number;
    /** dst[0, src.length) = src ^ keystream; dst may be src. */
    private ctr;
}
