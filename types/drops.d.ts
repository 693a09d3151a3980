export declare const DROP_REASONS: readonly ["short", "toobig", "mux", "auth", "replay", "senders", "type", "noendpoint", "noroute", "spoofed", "badinner", "exhausted", "nostate", "tunwrite", "udpsend", "wait", "ratelimit", "notready", "overload"];
export type DropReason = (typeof DROP_REASONS)[number];
export type Drops = Record<DropReason, number>;
export declare function newDrops(): Drops;
