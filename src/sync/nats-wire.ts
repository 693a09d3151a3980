// The sealed envelope every NATS message of the sync backend travels in (nats.ts sends them).
// NATS sees subjects and sizes, nothing else: a NATS operator or a leaked NATS credential can
// neither read a record nor forge one, nor move a message to another subject.
//
//   envelope = nonce (12, random) || AES-256-GCM(plaintext) || tag (16)
//              key  = HKDF-SHA256(fleet key, salt = "", info = "anytun-relay sync nats v1"), 32 bytes
//              AAD  = the subject it is published on
//   plaintext
//     0   1  version = 1
//     1   1  kind: 1 = a JSON message (body: wire.ts Message, or {k:"hb"} / {k:"sq"}), 2 = data
//     2   2  node id of the sender (its sender id), u16 BE
//     4   8  instance id of the sender (random per process)
//     12  8  sequence number of the sender's instance, u64 BE, +1 per envelope (never reused)
//     20  8  the sender's wall clock when sealed, ms, u64 BE
//     28  .. body; data (kind 2): mux u16 BE || a sealed SATP packet for that client
//
// open() returns null for anything that does not verify or parse; the caller counts it. Replays
// are refused by the receiver (nats.ts): the sequence of an instance only increases, and an
// instance it has not seen must be stamped within MAX_SKEW_MS of its clock.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { parseMessage, type Message } from "./wire.ts";

export const VERSION = 1;
export const KIND_JSON = 1;
export const KIND_DATA = 2;
const HEAD = 28;
const NONCE = 12;
const TAG = 16;
/** How far from our clock an envelope of an unknown instance may be stamped. */
export const MAX_SKEW_MS = 30000;

export type NatsMessage = Message | { k: "hb" } | { k: "sq" };

export interface Envelope {
  node: number;
  instance: string;
  seq: number;
  t: number;
  kind: number;
  /** kind 1 */
  msg: NatsMessage | null;
  /** kind 2 */
  mux: number;
  pkt: Uint8Array | null;
}

export function envelopeKey(fleetKey: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", fleetKey, new Uint8Array(0), "anytun-relay sync nats v1", 32));
}

const enc = new TextEncoder();

/** Seals `body` (kind 1: a message, JSON-encoded here; kind 2: mux + packet) for `subject`. */
export function seal(
  key: Uint8Array,
  subject: string,
  from: { node: number; instance: Uint8Array; seq: number },
  kind: number,
  body: Uint8Array,
): Uint8Array {
  const plain = new Uint8Array(HEAD + body.length);
  const dv = new DataView(plain.buffer);
  plain[0] = VERSION;
  plain[1] = kind;
  dv.setUint16(2, from.node);
  plain.set(from.instance.subarray(0, 8), 4);
  dv.setBigUint64(12, BigInt(from.seq));
  dv.setBigUint64(20, BigInt(Date.now()));
  plain.set(body, HEAD);
  const nonce = randomBytes(NONCE);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(enc.encode(subject));
  const ct = c.update(plain);
  c.final();
  const out = new Uint8Array(NONCE + ct.length + TAG);
  out.set(nonce, 0);
  out.set(ct, NONCE);
  out.set(c.getAuthTag(), NONCE + ct.length);
  return out;
}

export const jsonBody = (m: NatsMessage): Uint8Array => enc.encode(JSON.stringify(m));

export function dataBody(mux: number, pkt: Uint8Array): Uint8Array {
  const b = new Uint8Array(2 + pkt.length);
  b[0] = mux >>> 8;
  b[1] = mux & 255;
  b.set(pkt, 2);
  return b;
}

/**
 * The envelope `data` received on `subject`, or null when it does not verify under any of `keys`
 * (the fleet keys accepted: several while one is rotated) or does not parse.
 */
export function open(keys: readonly Uint8Array[], subject: string, data: Uint8Array): Envelope | null {
  if (data.length < NONCE + HEAD + TAG) return null;
  let plain: Uint8Array | null = null;
  for (const key of keys)
    try {
      const d = createDecipheriv("aes-256-gcm", key, data.subarray(0, NONCE));
      d.setAAD(enc.encode(subject));
      d.setAuthTag(data.subarray(data.length - TAG));
      plain = new Uint8Array(Buffer.concat([d.update(data.subarray(NONCE, data.length - TAG)), d.final()]));
      break;
    } catch {
      // another accepted key, or not ours
    }
  if (plain === null) return null;
  if (plain[0]! < 1 || plain[0]! > VERSION + 1) return null; // the next version's envelopes too (rolling upgrades)
  const dv = new DataView(plain.buffer, plain.byteOffset, plain.length);
  const e: Envelope = {
    node: dv.getUint16(2),
    instance: Buffer.from(plain.subarray(4, 12)).toString("hex"),
    seq: Number(dv.getBigUint64(12)),
    t: Number(dv.getBigUint64(20)),
    kind: plain[1]!,
    msg: null,
    mux: 0,
    pkt: null,
  };
  const body = plain.subarray(HEAD);
  if (e.kind === KIND_JSON) {
    e.msg = parseNatsMessage(body);
    return e.msg === null ? null : e;
  }
  if (e.kind === KIND_DATA && body.length > 2) {
    e.mux = (body[0]! << 8) | body[1]!;
    e.pkt = body.subarray(2);
    return e;
  }
  return null;
}

function parseNatsMessage(body: Uint8Array): NatsMessage | null {
  if (body.length < 64) {
    const s = new TextDecoder().decode(body);
    if (s === '{"k":"hb"}') return { k: "hb" };
    if (s === '{"k":"sq"}') return { k: "sq" };
  }
  return parseMessage(body);
}
