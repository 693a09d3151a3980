// SATP packet layout (anytun 0.3.8 wire format; see README "Protocol").
//
//   offset  size  field
//   0       4     seq_nr     u32 BE, sender's per-connection counter (never wraps here: see crypto.ts)
//   4       2     sender_id  u16 BE, the sending host's id inside an anycast group
//   6       2     mux        u16 BE, connection id
//   8       n     payload    ENC( payload_type u16 BE || inner packet ), AES-CTR so len(ENC(x)) = len(x)
//   8+n     t     auth tag   rightmost t bytes of HMAC-SHA1(header || payload), t = 0..20
//
// Payload types (first plaintext word):
//
//   0x0800  IPv4 packet          tun device, IP version nibble 4
//   0x86DD  IPv6 packet          tun device, IP version nibble 6
//   0x6558  Ethernet frame       tap device
//   0x88B5  control message      ours only (anytun never sends it); format in src/satp/control.ts
//
// An authenticated packet whose payload is at most 2 bytes is a keepalive: it moves the peer's
// endpoint and carries nothing (anytun 0.3.8 behaviour, SPEC §9 step 8).
// Datagrams longer than MAX_PACKET are not SATP as anytun speaks it and are dropped.

export const OFF_SEQ = 0;
export const OFF_SENDER = 4;
export const OFF_MUX = 6;
export const HEADER_LEN = 8;
export const TYPE_LEN = 2;
export const MAX_PACKET = 1600;
export const MAX_TAG = 20;

export const PT_IPV4 = 0x0800;
export const PT_IPV6 = 0x86dd;
export const PT_ETHERNET = 0x6558;
export const PT_CONTROL = 0x88b5;

export interface Header {
  seq: number;
  senderId: number;
  mux: number;
}

/** Reads the clear header. The caller has checked `b.length >= HEADER_LEN` and owns `out`. */
export function readHeader(b: Uint8Array, out: Header): void {
  out.seq = ((b[OFF_SEQ]! << 24) | (b[OFF_SEQ + 1]! << 16) | (b[OFF_SEQ + 2]! << 8) | b[OFF_SEQ + 3]!) >>> 0;
  out.senderId = (b[OFF_SENDER]! << 8) | b[OFF_SENDER + 1]!;
  out.mux = (b[OFF_MUX]! << 8) | b[OFF_MUX + 1]!;
}

/** Writes the header into `b[0..8)`; returns HEADER_LEN. */
export function writeHeader(seq: number, senderId: number, mux: number, b: Uint8Array): number {
  b[OFF_SEQ] = seq >>> 24;
  b[OFF_SEQ + 1] = seq >>> 16;
  b[OFF_SEQ + 2] = seq >>> 8;
  b[OFF_SEQ + 3] = seq;
  b[OFF_SENDER] = senderId >>> 8;
  b[OFF_SENDER + 1] = senderId;
  b[OFF_MUX] = mux >>> 8;
  b[OFF_MUX + 1] = mux;
  return HEADER_LEN;
}

/** Mux of a datagram without a full header parse; -1 when too short. */
export function peekMux(b: Uint8Array): number {
  return b.length < HEADER_LEN ? -1 : (b[OFF_MUX]! << 8) | b[OFF_MUX + 1]!;
}

/**
 * Payload type for an inner packet read from a device: tap frames are Ethernet, tun packets are
 * typed by their IP version nibble. Returns 0 for a tun packet that is neither IPv4 nor IPv6
 * (anytun would send it with a stale type; we drop it).
 */
export function payloadTypeOf(inner: Uint8Array, tap: boolean): number {
  if (tap) return PT_ETHERNET;
  if (inner.length === 0) return 0;
  const v = inner[0]! >>> 4;
  return v === 4 ? PT_IPV4 : v === 6 ? PT_IPV6 : 0;
}

/** True when a device of the given kind may receive a packet of this payload type. */
export function typeFitsDevice(type: number, tap: boolean): boolean {
  return tap ? type === PT_ETHERNET : type === PT_IPV4 || type === PT_IPV6;
}
