// Named drop reasons, counted per reason on the hot path (never an exception, never a log line).
export const DROP_REASONS = [
  "short", // datagram shorter than header + tag, or longer than 1600 bytes
  "toobig", // inner packet too large to seal into a 1600-byte SATP packet
  "mux", // header mux matches no connection
  "auth", // authentication tag mismatch
  "replay", // replay window said no
  "senders", // authentic, but from more sender ids than a connection keeps state for
  "type", // payload type does not fit the device (tun: IPv4/IPv6, tap: Ethernet)
  "noendpoint", // peer endpoint not known yet
  "noroute", // inner destination not covered by any route
  "spoofed", // inner source not covered by the sending client's routes (sourceCheck)
  "badinner", // packet from the device that is not IPv4/IPv6 on a tun
  "exhausted", // 2^32 packets sent under this key: refusing to reuse a seq
  "nostate", // the send counter's next block could not be written to stateDir: refusing to risk a reused seq
  "tunwrite", // device write failed
  "udpsend", // UDP send failed or the socket buffer was full
  "wait", // held for another server's replay marks, but the hold queue was full (hold.bytes) or off
  "ratelimit", // authentic, but past the client's packets/s or bytes/s (rateLimit)
  "notready", // arrived before the server had the fleet's replay marks (sync snapshot or grace)
  "overload", // arrived after loopBudgetMs of packet work in one event-loop turn (load shedding)
] as const;

export type DropReason = (typeof DROP_REASONS)[number];
export type Drops = Record<DropReason, number>;

export function newDrops(): Drops {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Drops;
}
