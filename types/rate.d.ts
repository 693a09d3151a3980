import type { RateConfig } from "./config.ts";
export declare class RateLimit {
    readonly packetsPerSecond: number;
    readonly bytesPerSecond: number;
    private pktTokens;
    private byteTokens;
    private readonly pktCap;
    private readonly byteCap;
    private last;
    constructor(packetsPerSecond: number, bytesPerSecond: number, burstMs: number, now: number);
    /** Takes one packet of `len` bytes; false when either bucket is empty (nothing is taken then). */
    take(len: number, now: number): boolean;
}
/** The limit for a client from the defaults and its override; null when neither rate is set. */
export declare function rateFor(defaults: RateConfig, over: Partial<RateConfig> | undefined, now: number): RateLimit | null;
