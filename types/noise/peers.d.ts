import { type KeyPair } from "./keys.ts";
import { CookieChecker } from "./macs.ts";
import { Windows } from "./transport.ts";
/** WireGuard's timers and limits (whitepaper 6.1), in ms and messages. */
export declare const REKEY_AFTER_MS = 120000;
export declare const REJECT_AFTER_MS = 180000;
export declare const REKEY_AFTER_MESSAGES: number;
export declare const REJECT_AFTER_MESSAGES: number;
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
export type Result<C> = {
    kind: "reply";
    packet: Uint8Array;
} | {
    kind: "session";
    session: Session<C>;
    packet?: Uint8Array;
} | {
    kind: "data";
    session: Session<C>;
    plaintext: Uint8Array;
} | {
    kind: "drop";
    reason: string;
};
/** Seals `plaintext` on `session` as sender id `senderId` (a server's; 0 for a client). */
export declare function sendOn(session: Session, senderId: number, plaintext: Uint8Array): Uint8Array;
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
export declare class Responder<C> {
    private readonly o;
    readonly sessions: Map<number, Session<C>>;
    readonly macs: CookieChecker;
    readonly counts: {
        initiations: number;
        handshakeFailed: number;
        unknownClient: number;
        staleInitiation: number;
        sessionsFull: number;
        malformed: number;
        noSession: number;
        unexpected: number;
    };
    private readonly lastStamp;
    /** A client's sessions, oldest first (at most two). */
    private readonly byClient;
    private readonly random;
    constructor(o: ResponderOptions<C>, now: number);
    /** One datagram from `source` ("address:port"); `underLoad`: initiations need a cookie (mac2). */
    receive(p: Uint8Array, source: string, underLoad: boolean, now: number): Result<C>;
    /**
     * A session another server of the group made (its record, synced): kept as ours are, so its
     * packets open here; its initiation's timestamp raises the client's floor (a replay of that
     * initiation here is refused). False when it is known already or there is no room.
     */
    adopt(session: Session<C>): boolean;
    /** Forgets the session with index `local` (its record was deleted or expired); true when it was here. */
    drop(local: number): boolean;
    /** Forgets sessions older than REJECT_AFTER_MS (call every few seconds); the ones that went. */
    sweep(now: number): Session<C>[];
    private forget;
    /** A free index with this server's sender id in the top 16 bits. */
    private newIndex;
}
export declare class Initiator {
    private readonly key;
    private readonly serverPub;
    private readonly random;
    private hs;
    private local;
    private readonly jar;
    session: Session<null> | null;
    /** The session before the newest: it still receives what was in flight when the new one came. */
    previous: Session<null> | null;
    private lastInitiation;
    constructor(key: KeyPair, serverPub: Uint8Array, random?: (n: number) => Uint8Array);
    /** The keys of responses' mac1 (made to our static key). */
    private readonly ownMacs;
    /** A new initiation (a fresh ephemeral, index and timestamp). */
    initiation(now: number): Uint8Array;
    /** Time for a new handshake: the session is REKEY_AFTER_MS old or has sent REKEY_AFTER_MESSAGES. */
    rekeyDue(now: number): boolean;
    /** The same initiation sealed again (after a cookie reply: now with mac2). */
    resend(now: number): Uint8Array | null;
    receive(p: Uint8Array, now: number): Result<null> | {
        kind: "cookie";
    };
}
