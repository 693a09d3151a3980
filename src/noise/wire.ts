// The Noise suite's packets on its own UDP port (noise.listen): WireGuard's layout (four message
// types, little-endian indexes), with our AES-256-GCM Noise and HMAC-SHA256 MACs. Pure codecs:
// one length check per type, fields at named offsets, views into the caller's buffer.
//
//   1 initiation (148 B)  0 type=1  1-3 zero  4 sender index  8 ephemeral (32)
//                          40 static, encrypted (32+16)  88 timestamp, encrypted (12+16)
//                          116 mac1 (16)  132 mac2 (16)
//   2 response (92 B)     0 type=2  1-3 zero  4 sender index  8 receiver index  12 ephemeral (32)
//                          44 empty, encrypted (16)  60 mac1 (16)  76 mac2 (16)
//   3 cookie reply (64 B) 0 type=3  1-3 zero  4 receiver index  8 nonce (12)
//                          20 cookie, encrypted (16+16)
//   4 transport (32+ B)   0 type=4  1-3 zero  4 receiver index  8 counter (8)  16 ciphertext (+16)
//
// The transport counter (little-endian u64) is the AES-GCM nonce's counter; its top 16 bits are
// the sending server's sender id (a client's are 0), so two servers of an anycast group never use
// one nonce with one key, and the receiver keeps one replay window per (session, sender id).
// Indexes are little-endian u32 (WireGuard's); a server's carry its sender id in the top 16 bits
// (which server made the session, for one that has not got its record yet).

export const TYPE_INITIATION = 1;
export const TYPE_RESPONSE = 2;
export const TYPE_COOKIE = 3;
export const TYPE_TRANSPORT = 4;

export const INITIATION_LEN = 148;
export const RESPONSE_LEN = 92;
export const COOKIE_LEN = 64;
export const TRANSPORT_MIN = 32;
export const MAC_LEN = 16;

/** Where mac1 starts in an initiation / response (mac2 follows it; both cover what precedes). */
export const MAC1_AT = { [TYPE_INITIATION]: 116, [TYPE_RESPONSE]: 60 } as const;

export type Decoded =
  | { type: 1; sender: number; noise: Uint8Array }
  | { type: 2; sender: number; receiver: number; noise: Uint8Array }
  | { type: 3; receiver: number; nonce: Uint8Array; cookie: Uint8Array }
  | { type: 4; receiver: number; counter: bigint; ciphertext: Uint8Array };

const u32le = (p: Uint8Array, o: number) => (p[o]! | (p[o + 1]! << 8) | (p[o + 2]! << 16) | (p[o + 3]! << 24)) >>> 0;
const put32le = (p: Uint8Array, o: number, v: number) => {
  p[o] = v & 255;
  p[o + 1] = (v >>> 8) & 255;
  p[o + 2] = (v >>> 16) & 255;
  p[o + 3] = v >>> 24;
};

/** The packet's fields (views into `p`), or why it is not one: "short", "type", "length". */
export function decode(p: Uint8Array): Decoded | "short" | "type" | "length" {
  if (p.length < 4) return "short";
  if (p[1] !== 0 || p[2] !== 0 || p[3] !== 0) return "type";
  switch (p[0]) {
    case TYPE_INITIATION:
      if (p.length !== INITIATION_LEN) return "length";
      return { type: 1, sender: u32le(p, 4), noise: p.subarray(8, 116) };
    case TYPE_RESPONSE:
      if (p.length !== RESPONSE_LEN) return "length";
      return { type: 2, sender: u32le(p, 4), receiver: u32le(p, 8), noise: p.subarray(12, 60) };
    case TYPE_COOKIE:
      if (p.length !== COOKIE_LEN) return "length";
      return { type: 3, receiver: u32le(p, 4), nonce: p.subarray(8, 20), cookie: p.subarray(20, 52) };
    case TYPE_TRANSPORT:
      if (p.length < TRANSPORT_MIN) return "length";
      return {
        type: 4,
        receiver: u32le(p, 4),
        counter: new DataView(p.buffer, p.byteOffset + 8, 8).getBigUint64(0, true),
        ciphertext: p.subarray(16),
      };
    default:
      return "type";
  }
}

/** An initiation around Noise message 1 (108 bytes); the MACs are zero until macs.ts fills them. */
export function encodeInitiation(sender: number, noise: Uint8Array): Uint8Array {
  if (noise.length !== 108) throw new Error(`initiation: Noise message 1 is 108 bytes here, not ${noise.length}`);
  const p = new Uint8Array(INITIATION_LEN);
  p[0] = TYPE_INITIATION;
  put32le(p, 4, sender);
  p.set(noise, 8);
  return p;
}

/** A response around Noise message 2 (48 bytes). */
export function encodeResponse(sender: number, receiver: number, noise: Uint8Array): Uint8Array {
  if (noise.length !== 48) throw new Error(`response: Noise message 2 is 48 bytes here, not ${noise.length}`);
  const p = new Uint8Array(RESPONSE_LEN);
  p[0] = TYPE_RESPONSE;
  put32le(p, 4, sender);
  put32le(p, 8, receiver);
  p.set(noise, 12);
  return p;
}

export function encodeCookie(receiver: number, nonce: Uint8Array, cookie: Uint8Array): Uint8Array {
  const p = new Uint8Array(COOKIE_LEN);
  p[0] = TYPE_COOKIE;
  put32le(p, 4, receiver);
  p.set(nonce, 8);
  p.set(cookie, 20);
  return p;
}

/** The transport header for `receiver` and `counter` (ciphertext follows at 16). */
export function writeTransportHeader(p: Uint8Array, receiver: number, counter: bigint): void {
  p[0] = TYPE_TRANSPORT;
  p[1] = p[2] = p[3] = 0;
  put32le(p, 4, receiver);
  new DataView(p.buffer, p.byteOffset + 8, 8).setBigUint64(0, counter, true);
}

/** A transport counter: sender id in the top 16 bits, the sequence below (48 bits). */
export const counterOf = (senderId: number, seq: bigint): bigint => (BigInt(senderId & 0xffff) << 48n) | seq;
export const senderOfCounter = (c: bigint): number => Number(c >> 48n);
export const seqOfCounter = (c: bigint): bigint => c & 0xffffffffffffn;
