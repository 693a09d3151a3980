export interface PortClaim {
    /** Config path that made the claim, for the message ("listen.0", "plugins.1 (relay)"). */
    what: string;
    /** IP literal; "0.0.0.0" or "::" for every address. Names are compared as written. */
    address: string;
    protos: readonly ("udp" | "tcp")[];
    from: number;
    to: number;
}
/** One message per overlapping pair, naming both. */
export declare function portOverlaps(claims: readonly PortClaim[]): string[];
