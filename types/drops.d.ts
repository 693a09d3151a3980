export declare const DROP_REASONS: readonly ["short", "toobig", "mux", "auth", "replay", "senders", "type", "noendpoint", "noroute", "spoofed", "badinner", "exhausted", "nostate", "nokey", "tunwrite", "udpsend", "wait", "ratelimit", "notready", "overload", "tcp-no-token", "tcp-framing", "tcp-pending-full", "tcp-pending-bytes", "tcp-pending-timeout", "control-malformed", "forward-nolink", "plugin-error"];
export type DropReason = (typeof DROP_REASONS)[number];
export type Drops = Record<DropReason, number>;
export declare function newDrops(): Drops;
