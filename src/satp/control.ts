// Control messages: SATP payload type 0x88B5 (anytun never sends it), authenticated and encrypted
// like data. Plaintext after the 2-byte payload type:
//
//   offset size  field
//   0      1     version = 1
//   1      1     message type (below)
//   2      2     request id, u16 BE (an answer repeats the id of its request)
//   4      2     n = length of the TLV area, u16 BE
//   6      n     TLVs: type u8, length u8, value[length]; unknown TLV types are skipped
//
//   message types                          TLVs
//   1  RELAY_ALLOCATE   client → server    PEER_ADDR, PEER_PORT, LIFETIME (optional)
//   2  RELAY_ALLOCATED  server → client    RELAY_PORT, LIFETIME, PEER_ADDR, PEER_PORT
//   3  RELAY_REFRESH    client → server    RELAY_PORT, LIFETIME (0 = release)
//   4  RELAY_REFRESHED  server → client    RELAY_PORT, LIFETIME
//   5  KEEPALIVE_REQ    client → server    INTERVAL_MS   (room for the TCP transports)
//   6  KEEPALIVE_ACK    server → client    INTERVAL_MS
//   7  ROUTE_ANNOUNCE   either             PREFIX (repeatable)
//   8  REDIRECT         server → client    UNICAST_ADDR, UNICAST_PORT, TOKEN, LIFETIME
//   9  INIT             client → server    (none: "where do I stream?") | TOKEN (on the unicast connection)
//   10 INIT_OK          server → client    LIFETIME (the token was accepted)
//   255 ERROR           server → client    ERROR_CODE, ERROR_TEXT
//
//   TLV types: 1 PEER_ADDR (4 or 16 bytes)  2 PEER_PORT (2)  3 LIFETIME seconds (4)  4 RELAY_PORT (2)
//              5 INTERVAL_MS (4)  6 PREFIX (1 length + 4/16 address bytes)  7 UNICAST_ADDR (4/16)
//              8 UNICAST_PORT (2)  9 TOKEN (16)  10 ERROR_CODE (2)  11 ERROR_TEXT (UTF-8, <= 255)
//
// decodeControl checks every length once and returns null for anything malformed; it never throws.

export const CONTROL_VERSION = 1;
export const CTL_HEADER = 6;

export const MSG = {
  RELAY_ALLOCATE: 1,
  RELAY_ALLOCATED: 2,
  RELAY_REFRESH: 3,
  RELAY_REFRESHED: 4,
  KEEPALIVE_REQ: 5,
  KEEPALIVE_ACK: 6,
  ROUTE_ANNOUNCE: 7,
  REDIRECT: 8,
  INIT: 9,
  INIT_OK: 10,
  ERROR: 255,
} as const;

export const TLV = {
  PEER_ADDR: 1,
  PEER_PORT: 2,
  LIFETIME: 3,
  RELAY_PORT: 4,
  INTERVAL_MS: 5,
  PREFIX: 6,
  UNICAST_ADDR: 7,
  UNICAST_PORT: 8,
  TOKEN: 9,
  ERROR_CODE: 10,
  ERROR_TEXT: 11,
} as const;

export const ERR = { REFUSED: 1, QUOTA: 2, NO_PORTS: 3, UNKNOWN: 4, MALFORMED: 5 } as const;

export interface ControlMessage {
  type: number;
  id: number;
  /** TLVs in order (a type may repeat). */
  tlvs: { t: number; v: Uint8Array }[];
}

export function encodeControl(m: ControlMessage): Uint8Array {
  let n = 0;
  for (const x of m.tlvs) {
    if (x.v.length > 255) throw new RangeError(`TLV ${x.t} longer than 255 bytes`);
    n += 2 + x.v.length;
  }
  if (n > 0xffff) throw new RangeError("control message too long");
  const b = new Uint8Array(CTL_HEADER + n);
  b[0] = CONTROL_VERSION;
  b[1] = m.type;
  b[2] = m.id >>> 8;
  b[3] = m.id & 255;
  b[4] = n >>> 8;
  b[5] = n & 255;
  let o = CTL_HEADER;
  for (const x of m.tlvs) {
    b[o] = x.t;
    b[o + 1] = x.v.length;
    b.set(x.v, o + 2);
    o += 2 + x.v.length;
  }
  return b;
}

export function decodeControl(b: Uint8Array): ControlMessage | null {
  if (b.length < CTL_HEADER || b[0] !== CONTROL_VERSION) return null;
  const n = (b[4]! << 8) | b[5]!;
  if (CTL_HEADER + n > b.length) return null;
  const tlvs: ControlMessage["tlvs"] = [];
  let o = CTL_HEADER;
  const end = CTL_HEADER + n;
  while (o < end) {
    if (o + 2 > end) return null;
    const len = b[o + 1]!;
    if (o + 2 + len > end) return null;
    tlvs.push({ t: b[o]!, v: b.slice(o + 2, o + 2 + len) });
    o += 2 + len;
  }
  return { type: b[1]!, id: (b[2]! << 8) | b[3]!, tlvs };
}

export function tlv(m: ControlMessage, t: number): Uint8Array | undefined {
  return m.tlvs.find((x) => x.t === t)?.v;
}
export function u16(v: Uint8Array | undefined): number | undefined {
  return v !== undefined && v.length === 2 ? (v[0]! << 8) | v[1]! : undefined;
}
export function u32(v: Uint8Array | undefined): number | undefined {
  return v !== undefined && v.length === 4 ? ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0 : undefined;
}
export const be16 = (x: number) => new Uint8Array([x >>> 8, x & 255]);
export const be32 = (x: number) => new Uint8Array([x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255]);
