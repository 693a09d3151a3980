import { type ClientConfig, type CryptoConfig, type RateConfig } from "./config.ts";
import { type RateLimit } from "./rate.ts";
import { type Prefix } from "./net/addr.ts";
import { type CounterFile } from "./satp/counter.ts";
import { SatpCrypto } from "./satp/crypto.ts";
import { NoiseCrypto } from "./noise/crypto.ts";
import { SatpSession } from "./satp/session.ts";
import type { Link } from "./transport/link.ts";
export declare const MARKS_ASK = 1;
export declare const MARKS_ASKED = 2;
/**
 * A client: its session (SATP's crypto, or the Noise suite's transport keys; replay windows, send
 * counter) plus what the server knows of it.
 */
export declare class Conn extends SatpSession<SatpCrypto | NoiseCrypto> {
    /** "satp" (the default, anytun's protocol) or "noise" (the client's packets come on noise.listen). */
    readonly protocol: "satp" | "noise";
    /** A Noise client's static public key (wg base64); null for SATP. */
    readonly publicKey: string | null;
    readonly name: string;
    readonly routes: readonly Prefix[];
    /** Identity of the key material and suite; equal fingerprints → session state may carry over. */
    readonly fingerprint: string;
    /** What makes this client's keystream besides the sender id (a hash; satp/counter.ts). */
    readonly counterKey: readonly (string | number | Uint8Array)[];
    /** Where the client's packets go (transport/link.ts); set only by an authenticated packet or a synced record. */
    endpoint: Link | null;
    rxPackets: number;
    rxBytes: number;
    txPackets: number;
    txBytes: number;
    lastSeen: number;
    /** Sender id of the server that served this client last (synced); -1 = none yet. */
    servedBy: number;
    /** Packets that arrived here while another server had served the client last (a route moved it). */
    movedIn: number;
    /** The client's rate limit (rate.ts); null: none. */
    rate: RateLimit | null;
    /** The hold queue's key for this client's arrivals (hold.ts). */
    readonly arrivals: {};
    constructor(c: ClientConfig, defaults: CryptoConfig);
    /** The suite's description for views: SATP's cipher choices, or the Noise protocol name. */
    get suite(): object | string;
    /**
     * Takes over the session state of the same client from before a reload (a Noise client's
     * transport keys are the gate's to hand over: noise/gate.ts `clients`).
     */
    adopt(old: Conn): void;
}
export declare class ConnTable {
    /** Indexed by mux: the receive path's one lookup. */
    private readonly byMux;
    private list;
    private readonly listeners;
    /** Durable send counters (the server's state file) and the sender id they are kept for; null: in memory. */
    counters: {
        file: CounterFile;
        senderId: number;
    } | null;
    get(mux: number): Conn | undefined;
    all(): readonly Conn[];
    get size(): number;
    /** Calls `fn` after every replace(); returns an unsubscribe function. */
    onChange(fn: () => void): () => void;
    /**
     * Replaces every entry with connections built from `clients` (all built, and their send counters
     * reserved on disk, before any is swapped in, so an error leaves the table untouched). Returns
     * what changed.
     */
    replace(clients: readonly ClientConfig[], defaults: CryptoConfig, rates?: RateConfig): {
        added: number;
        removed: number;
        kept: number;
        rekeyed: number;
    };
}
