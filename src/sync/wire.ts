// The sync link's wire (link.ts runs it): hello, keys, sealed frames and messages. Format:
//
//   hello (clear, each side sends it first; 31 bytes)
//     0   4  magic "ATRS"
//     4   1  version = 1
//     5   2  node id (the server's sender id), u16 BE
//     7   8  instance id (random per process: tells a link to ourselves apart)
//     15 16  nonce (random per link)
//   then sealed frames, each
//     0   4  n = length of the rest, u32 BE, 16 < n <= MAX_FRAME
//     4   n  AES-256-GCM ciphertext || 16-byte tag; GCM nonce = 0x00000000 || u64 BE frame counter
//            of that direction (starts at 0, never reused); keys per direction:
//            HKDF-SHA256(fleet key, salt = dialer nonce || acceptor nonce,
//                        info = "anytun-relay sync v1 d2a" | "... a2d"), 32 bytes
//   frame plaintext = JSON message:
//     {k:"auth", node, instance, peerNode, peerInstance, dp?, w?}  first frame each way: proves the
//                                                         fleet key and binds both hellos; dp = the UDP
//                                                         port of the sender's data channel (data.ts), if
//                                                         any; w = the sync ports of the sender's worker
//                                                         siblings on its host (at most MAX_SIBLINGS)
//     {k:"rec", r:[[table, key, value, t, node], ...]}    records (snapshot, then deltas)
//     {k:"snap"}                                          end of the initial snapshot
//     {k:"ping", ts} / {k:"pong", ts}                     heartbeat; a link silent for 3 heartbeats is dead
//
// Anything malformed (bad magic or version, a tag that does not verify, a length out of range,
// JSON that is not a known message) closes the link with a reason; nothing throws to the caller.
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";

export const HELLO_LEN = 31;
export const MAX_FRAME = 16 << 20;
/** Before the fleet key is proven a frame is the authentication message only: a few hundred bytes. */
export const MAX_PREAUTH_FRAME = 4096;
/** Hello and authentication must be done within this (else the link closes). */
export const HANDSHAKE_MS = 5000;
/** Bytes a link may hold for a peer that does not read (then it is closed, counted slowPeers). */
export const MAX_BACKLOG = 32 << 20;
const MAGIC = [0x41, 0x54, 0x52, 0x53]; // "ATRS"
/**
 * The wire version this server speaks. Rolling upgrades: a hello of the previous or the next
 * version is accepted (a fleet upgrades one PoP at a time, no flag day); so is a message of a
 * kind this version does not know ({k: "other"}: ignored, counted), and unknown fields in known
 * messages are ignored. A version further away is refused, saying which.
 */
export const VERSION = 1;
const MIN_VERSION = Math.max(1, VERSION - 1);
/** Records per sealed frame; big snapshots go out in several frames. */
export const RECORDS_PER_FRAME = 2000;

export interface Hello {
  node: number;
  instance: string; // hex
  nonce: Uint8Array;
}

export function encodeHello(h: Hello): Uint8Array {
  const b = new Uint8Array(HELLO_LEN);
  b.set(MAGIC, 0);
  b[4] = VERSION;
  b[5] = h.node >>> 8;
  b[6] = h.node & 255;
  b.set(Buffer.from(h.instance, "hex").subarray(0, 8), 7);
  b.set(h.nonce.subarray(0, 16), 15);
  return b;
}

/** Parses a hello; returns an error string for anything else. */
export function decodeHello(b: Uint8Array): Hello | string {
  if (b.length < HELLO_LEN) return "short hello";
  if (b[0] !== MAGIC[0] || b[1] !== MAGIC[1] || b[2] !== MAGIC[2] || b[3] !== MAGIC[3])
    return "not an anytun-relay sync peer";
  if (b[4]! < MIN_VERSION || b[4]! > VERSION + 1)
    return `sync protocol version ${b[4]} (we speak ${VERSION}, and take ${MIN_VERSION}-${VERSION + 1})`;
  return {
    node: (b[5]! << 8) | b[6]!,
    instance: Buffer.from(b.subarray(7, 15)).toString("hex"),
    nonce: b.slice(15, 31),
  };
}

export function deriveKeys(fleetKey: Uint8Array, dialerNonce: Uint8Array, acceptorNonce: Uint8Array) {
  const salt = Buffer.concat([dialerNonce, acceptorNonce]);
  const k = (info: string) => new Uint8Array(hkdfSync("sha256", fleetKey, salt, `anytun-relay sync v1 ${info}`, 32));
  return { d2a: k("d2a"), a2d: k("a2d") };
}

function gcmNonce(counter: number): Uint8Array {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setBigUint64(4, BigInt(counter));
  return n;
}

export function sealFrame(key: Uint8Array, counter: number, plain: Uint8Array): Uint8Array {
  const c = createCipheriv("aes-256-gcm", key, gcmNonce(counter));
  const body = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** Decrypts a frame body (without its length prefix); null when the tag does not verify. */
export function openFrame(key: Uint8Array, counter: number, body: Uint8Array): Uint8Array | null {
  if (body.length <= 16) return null;
  try {
    const d = createDecipheriv("aes-256-gcm", key, gcmNonce(counter));
    d.setAuthTag(body.subarray(body.length - 16));
    return new Uint8Array(Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]));
  } catch {
    return null;
  }
}

export type Message =
  | { k: "auth"; node: number; instance: string; peerNode: number; peerInstance: string; dp?: number; w?: number[] }
  | { k: "rec"; r: [string, string, unknown, number, number][] }
  | { k: "snap" }
  | { k: "ping"; ts: number }
  | { k: "pong"; ts: number }
  | { k: "mq"; id: number; mux: number }
  | { k: "ma"; id: number; m: [number, number][] }
  /** A kind a later version added: ignored (rolling upgrades). */
  | { k: "other" };

/** Worker siblings' sync ports an authentication message may name. */
export const MAX_SIBLINGS = 256;

/** Replay-mark requests a link keeps open at most (more are answered null at once). */
export const MAX_MARK_QUERIES = 4096;
const isU16 = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 65535;
const isId = (x: unknown) => Number.isInteger(x) && (x as number) > 0 && (x as number) <= 2 ** 32;

export function parseMessage(plain: Uint8Array): Message | null {
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder().decode(plain));
  } catch {
    return null;
  }
  if (typeof m !== "object" || m === null) return null;
  const o = m as Record<string, unknown>;
  switch (o.k) {
    case "auth":
      return typeof o.node === "number" &&
        typeof o.instance === "string" &&
        typeof o.peerNode === "number" &&
        typeof o.peerInstance === "string" &&
        (o.dp === undefined || (Number.isInteger(o.dp) && (o.dp as number) > 0 && (o.dp as number) < 65536)) &&
        (o.w === undefined ||
          (Array.isArray(o.w) &&
            o.w.length <= MAX_SIBLINGS &&
            o.w.every((p) => Number.isInteger(p) && (p as number) > 0 && (p as number) < 65536)))
        ? (o as Message)
        : null;
    case "rec":
      return Array.isArray(o.r) &&
        o.r.every(
          (x) =>
            Array.isArray(x) &&
            x.length === 5 &&
            typeof x[0] === "string" &&
            typeof x[1] === "string" &&
            typeof x[3] === "number" &&
            typeof x[4] === "number",
        )
        ? (o as Message)
        : null;
    case "snap":
      return { k: "snap" };
    case "ping":
    case "pong":
      return typeof o.ts === "number" ? (o as Message) : null;
    case "mq":
      return isId(o.id) && isU16(o.mux) ? { k: "mq", id: o.id as number, mux: o.mux as number } : null;
    case "ma":
      return isId(o.id) &&
        Array.isArray(o.m) &&
        o.m.length <= 65536 &&
        o.m.every(
          (x) =>
            Array.isArray(x) && x.length === 2 && isU16(x[0]) && Number.isSafeInteger(x[1]) && (x[1] as number) >= 0,
        )
        ? { k: "ma", id: o.id as number, m: o.m as [number, number][] }
        : null;
    default:
      // a kind from another version of the protocol (a short name, as ours): ignored, not refused
      return typeof o.k === "string" && /^[a-z][a-z0-9]{0,15}$/.test(o.k) ? { k: "other" } : null;
  }
}

/** The fleet key from config: 64 hex digits, or a passphrase (>= 16 characters) hashed with SHA-256. */
export function fleetKeyFrom(text: string): Uint8Array {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return new Uint8Array(Buffer.from(text, "hex"));
  return new Uint8Array(new Bun.CryptoHasher("sha256").update(`anytun-relay fleet key\0${text}`).digest());
}

/** The fleet keys a server holds: `key` (sealed and authenticated with first), then the others accepted. */
export const fleetKeysFrom = (key: string, acceptKeys: readonly string[] = []): Uint8Array[] =>
  [key, ...acceptKeys].map(fleetKeyFrom);
