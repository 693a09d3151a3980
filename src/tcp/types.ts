// The userspace TCP endpoint's vocabulary (endpoint.ts): its states as RFC 9293 names them, its
// options, hooks, counters, the flow state a takeover starts from, and sequence-number
// arithmetic modulo 2^32.
export type TcpState =
  | "CLOSED"
  | "LISTEN"
  | "SYN-SENT"
  | "SYN-RECEIVED"
  | "ESTABLISHED"
  | "FIN-WAIT-1"
  | "FIN-WAIT-2"
  | "CLOSE-WAIT"
  | "CLOSING"
  | "LAST-ACK"
  | "TIME-WAIT";

export interface TcpOptions {
  localPort: number;
  remotePort: number;
  /** Initial send sequence number (the host picks it at random). */
  iss: number;
  /** Largest segment payload this side can receive (advertised in the SYN). Default 1460. */
  mss?: number;
  /** Receive buffer, bytes: the window offered and the out-of-order bytes held. Default 4 MiB. */
  receiveBuffer?: number;
  /** Send buffer, bytes: `write` refuses what does not fit. Default 4 MiB. */
  sendBuffer?: number;
  /** RFC 6298 2.4 says 1 s; Linux uses 200 ms. Default 200. */
  minRtoMs?: number;
  maxRtoMs?: number;
  /** TIME-WAIT length (2 MSL). Default 60000. */
  timeWaitMs?: number;
  /** Give up a flow after this long without any ACK progress while data is outstanding. Default 120000. */
  userTimeoutMs?: number;
  /** How long after adopt() ACKs beyond SND.NXT are accepted. Default 3000. */
  adoptGraceMs?: number;
}

export interface TcpHooks {
  /** In-order received bytes (a view valid during the call). */
  onData?: (data: Uint8Array) => void;
  /** ESTABLISHED reached (handshake done). */
  onEstablished?: () => void;
  /** The peer sent FIN (no more data will come). */
  onPeerClosed?: () => void;
  /** The endpoint reached CLOSED; `why` is "closed", "reset", "timeout" or "aborted". */
  onClosed?: (why: string) => void;
}

/** What a server syncs so another can take the flow over (see the header). */
export interface FlowState {
  iss: number;
  irs: number;
  /** Our send MSS (min of the peer's and ours). */
  mss: number;
  /** Shift applied to the peer's window field / to ours (0 when scaling is off). */
  sndShift: number;
  rcvShift: number;
  sndNxt: number;
  rcvNxt: number;
}

export interface TcpCounters {
  segmentsIn: number;
  segmentsOut: number;
  retransmits: number;
  timeouts: number;
  fastRetransmits: number;
  outOfOrder: number;
  /** Out-of-order segments refused because the reassembly bounds were reached (reassembly.ts). */
  outOfOrderRefused: number;
  duplicates: number;
  outOfWindow: number;
  challengeAcks: number;
  bytesIn: number;
  bytesOut: number;
}

/** a < b, a <= b modulo 2^32 (RFC 9293 3.4). */
export const lt = (a: number, b: number) => ((a - b) | 0) < 0;
export const le = (a: number, b: number) => ((a - b) | 0) <= 0;
/** a + n modulo 2^32. */
export const add = (a: number, n: number) => (a + n) >>> 0;
/** a - b as a signed 32-bit distance. */
export const diff = (a: number, b: number) => (a - b) | 0;
