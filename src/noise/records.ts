// Forward secrecy for the fleet's Noise session records (gate.ts, table "nz"). A session record
// carries transport keys; the sync backend seals everything with the fleet key, which is static
// (a config value), so traffic recorded between servers plus a fleet key leaked later would open
// every session ever published. Hence the keys inside a record are sealed again, per recipient
// server, under X25519 keys that live only in memory:
//
//   every server: an ephemeral X25519 pair, renewed every `rotateMs`; its public key is in the
//   synced table "nzk" (key: the server's node id); the private key of the previous period is kept
//   one more period (records in flight), then forgotten.
//   a record's secret part: AES-256-GCM under a random content key; the content key wrapped for
//   each server whose "nzk" key the writer knows, under SHA-256(label || X25519(writer's
//   ephemeral, recipient's ephemeral)) — { e: writer's ephemeral public key, x: sealed part,
//   to: { "<node>": wrapped content key } }.
//
// So a fleet key leaked later opens no record older than two periods. A server that restarts has
// new keys: the writers publish their live sessions again, sealed to it, when its "nzk" record
// arrives (gate.ts). Pure but for the clock and randomness passed in.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { dh, generateKeyPair, KEY_LEN, type KeyPair } from "./keys.ts";

export const KEYS_TABLE = "nzk";
const TAG = 16;
const NONCE = 12;

export interface SealedPart {
  /** The writer's ephemeral public key (base64). */
  e: string;
  /** nonce || ciphertext || tag of the secret part, under the content key (base64). */
  x: string;
  /** Per recipient node: nonce || wrapped content key || tag (base64). */
  to: Record<string, string>;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const unb64 = (t: unknown): Uint8Array | null =>
  typeof t === "string" && t.length <= 4096 ? new Uint8Array(Buffer.from(t, "base64")) : null;

function gcmSeal(key: Uint8Array, plain: Uint8Array, ad: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(ad);
  return new Uint8Array(Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]));
}
function gcmOpen(key: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | null {
  if (sealed.length < NONCE + TAG) return null;
  const d = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, NONCE));
  d.setAAD(ad);
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return new Uint8Array(Buffer.concat([d.update(sealed.subarray(NONCE, sealed.length - TAG)), d.final()]));
  } catch {
    return null;
  }
}
/** The wrapping key between two ephemeral keys for (writer, recipient), bound to the record's key. */
function wrapKey(shared: Uint8Array, from: number, to: number, record: string): Uint8Array {
  return new Uint8Array(
    createHash("sha256").update(`anytun-relay nz record v1\0${from}\0${to}\0${record}\0`).update(shared).digest(),
  );
}

export class RecordKeys {
  private current: KeyPair;
  private previous: KeyPair | null = null;
  private since: number;
  /** Opens that failed (sealed before our keys, or not for us): the record cannot be adopted. */
  unreadable = 0;

  constructor(
    readonly node: number,
    readonly rotateMs: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.current = generateKeyPair();
    this.since = clock();
  }

  /** Our current ephemeral public key (base64), what "nzk" carries. */
  get publicKey(): string {
    return b64(this.current.pub);
  }

  /** Renews the pair once `rotateMs` passed (the previous is kept one period); true when it did. */
  rotate(): boolean {
    if (this.clock() - this.since < this.rotateMs) return false;
    this.previous = this.current;
    this.current = generateKeyPair();
    this.since = this.clock();
    return true;
  }

  /** Seals `secret` of the record `record` for every recipient (node → its ephemeral public key). */
  seal(secret: Uint8Array, record: string, recipients: ReadonlyMap<number, Uint8Array>): SealedPart {
    const ck = randomBytes(KEY_LEN);
    const ad = new TextEncoder().encode(record);
    const to: Record<string, string> = {};
    for (const [node, pub] of recipients) {
      const shared = dh(this.current, pub);
      if (shared === null) continue;
      to[String(node)] = b64(gcmSeal(wrapKey(shared, this.node, node, record), ck, ad));
    }
    return { e: this.publicKey, x: b64(gcmSeal(ck, secret, ad)), to };
  }

  /** The secret part of record `record` written by `from`, if it was sealed for us; else null (counted). */
  open(part: unknown, record: string, from: number): Uint8Array | null {
    const p = part as Partial<SealedPart> | null;
    const e = unb64(p?.e);
    const x = unb64(p?.x);
    const mine =
      typeof p?.to === "object" && p.to !== null ? unb64((p.to as Record<string, unknown>)[String(this.node)]) : null;
    if (e === null || e.length !== KEY_LEN || x === null || mine === null) return this.fail();
    const ad = new TextEncoder().encode(record);
    for (const k of this.previous === null ? [this.current] : [this.current, this.previous]) {
      const shared = dh(k, e);
      if (shared === null) continue;
      const ck = gcmOpen(wrapKey(shared, from, this.node, record), mine, ad);
      if (ck === null) continue;
      const secret = gcmOpen(ck, x, ad);
      return secret ?? this.fail();
    }
    return this.fail();
  }

  private fail(): null {
    this.unreadable++;
    return null;
  }
}

/** An "nzk" value: the public key's bytes, or null when it is not one. */
export function keyRecord(v: unknown): Uint8Array | null {
  const p = unb64((v as { p?: unknown } | null)?.p);
  return p !== null && p.length === KEY_LEN ? p : null;
}
