/** How long a cookie secret (and a cookie a client holds) is good for. */
export declare const COOKIE_MS = 120000;
/** The keys both sides derive from the responder's static public key. */
export declare class MacKeys {
    readonly mac1: Uint8Array;
    readonly cookie: Uint8Array;
    constructor(responderPub: Uint8Array);
}
/** Fills mac1 (and mac2 when `cookie` is given, else zeros) of an initiation or response `msg`. */
export declare function seal(msg: Uint8Array, keys: MacKeys, cookie: Uint8Array | null): void;
/** Is the mac1 of `msg` (an initiation or response) right for the receiver whose keys are `keys`? */
export declare function mac1Ok(msg: Uint8Array, keys: MacKeys): boolean;
export type Admission = "ok" | "bad-mac1" | "cookie";
/** The responder's side: its secret, mac checks, and cookie replies. */
export declare class CookieChecker {
    readonly keys: MacKeys;
    private readonly random;
    private secret;
    private since;
    /** Messages refused for mac1 (they cost nothing), cookie replies sent. */
    readonly counts: {
        badMac1: number;
        cookiesSent: number;
    };
    constructor(keys: MacKeys, now: number, random?: (n: number) => Uint8Array);
    private cookieFor;
    /**
     * May `msg` (an initiation or response, length checked by wire.ts decode) from `source`
     * ("address:port") go on to the handshake? Under load only with a valid mac2.
     */
    admit(msg: Uint8Array, source: string, underLoad: boolean, now: number): Admission;
    /** The body of a cookie reply to `msg` from `source`: nonce (12) and the encrypted cookie (32). */
    reply(msg: Uint8Array, source: string, now: number): {
        nonce: Uint8Array;
        cookie: Uint8Array;
    };
}
/** The initiator's side: the cookie it was given, for the mac2 of what it sends next. */
export declare class CookieJar {
    readonly keys: MacKeys;
    private cookie;
    private at;
    /** mac1 of the last message sent: a cookie reply must answer it. */
    private lastMac1;
    constructor(keys: MacKeys);
    /** Seals `msg` (mac1, and mac2 with a cookie younger than COOKIE_MS) and remembers its mac1. */
    seal(msg: Uint8Array, now: number): void;
    /** Takes a cookie reply; false when it does not decrypt against the last message sent (forged, stale). */
    take(nonce: Uint8Array, encrypted: Uint8Array, now: number): boolean;
}
