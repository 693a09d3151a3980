// Named drop reasons, counted per reason on the hot path (never an exception, never a log line).
// The one table of the core's reasons; plugins' reasons are the names they give `drop()`
// (pipeline.ts), each starting with the plugin's name ("nat-refused"), counted next to these and
// shown the same way (relay_drops_total{reason}, `status`).
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
  "nokey", // Noise suite: no live transport key to seal with (no handshake yet, or it expired)
  "tunwrite", // device write failed
  "udpsend", // UDP send failed or the socket buffer was full
  "wait", // held for another server's replay marks, but the hold queue was full (hold.bytes) or off
  "ratelimit", // authentic, but past the client's packets/s or bytes/s (rateLimit)
  "notready", // arrived before the server had the fleet's replay marks (sync snapshot or grace)
  "overload", // arrived after loopBudgetMs of packet work in one event-loop turn (load shedding)
  "tcp-no-token", // data on a tcp-unicast connection before an INIT with a valid token
  "tcp-framing", // a tcp-unicast connection sent a frame length out of range (closed)
  "tcp-pending-full", // a tcp-unicast connection beyond tcp.maxPending without a token (closed)
  "tcp-pending-bytes", // a connection without a token sent more than tcp.pendingBytes (closed)
  "tcp-pending-timeout", // a connection without a token for tcp.pendingMs (closed)
  "control-malformed", // an authentic control message (0x88B5) that does not decode
  "forward-nolink", // a packet another server forwarded for a client whose link is not here
  "plugin-error", // a plugin threw on this packet (a bug; logged at most 10 times)
] as const;

export type DropReason = (typeof DROP_REASONS)[number];
export type Drops = Record<DropReason, number>;

export function newDrops(): Drops {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Drops;
}
