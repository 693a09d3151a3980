// X25519 keys for the Noise suite (RFC 7748 through node:crypto): raw 32-byte keys in, raw out,
// and the text form `wg genkey` / `wg pubkey` use (base64 of the 32 bytes), so operators handle
// them the same way. node:crypto takes raw keys only wrapped in DER: PKCS#8 for a private key,
// SPKI for a public one (the fixed prefixes below, RFC 8410).
import { createPrivateKey, createPublicKey, diffieHellman, randomBytes, type KeyObject } from "node:crypto";
import { readFileSync, statSync } from "node:fs";

const PKCS8 = Buffer.from("302e020100300506032b656e04220420", "hex");
const SPKI = Buffer.from("302a300506032b656e032100", "hex");

export const KEY_LEN = 32;

/** Diffie-Hellman operations done by this process (the flood tests count them). */
export const dhOps = { count: 0 };

export interface KeyPair {
  readonly priv: Uint8Array;
  readonly pub: Uint8Array;
  /** The private key as node:crypto holds it (made once). */
  readonly key: KeyObject;
}

/** The key pair of a raw 32-byte private key (clamped by X25519 itself, RFC 7748 5). */
export function keyPair(priv: Uint8Array): KeyPair {
  if (priv.length !== KEY_LEN) throw new Error(`an X25519 private key is ${KEY_LEN} bytes, not ${priv.length}`);
  const key = createPrivateKey({ key: Buffer.concat([PKCS8, priv]), format: "der", type: "pkcs8" });
  const pub = new Uint8Array(createPublicKey(key).export({ format: "der", type: "spki" }).subarray(SPKI.length));
  return { priv: Uint8Array.from(priv), pub, key };
}

export function generateKeyPair(): KeyPair {
  return keyPair(randomBytes(KEY_LEN));
}

/**
 * X25519(priv, pub): the 32-byte shared secret, or null when `pub` is not a usable public key
 * (wrong length, or a low-order point whose result is all zeros, RFC 7748 6.1).
 */
export function dh(self: KeyPair, pub: Uint8Array): Uint8Array | null {
  if (pub.length !== KEY_LEN) return null;
  dhOps.count++;
  let out: Buffer;
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI, pub]), format: "der", type: "spki" });
    out = diffieHellman({ privateKey: self.key, publicKey });
  } catch {
    return null; // node:crypto refuses some points outright
  }
  let any = 0;
  for (const b of out) any |= b;
  return any === 0 ? null : new Uint8Array(out);
}

/** A key as text: base64 of its 32 bytes (as wg). */
export const keyText = (k: Uint8Array): string => Buffer.from(k).toString("base64");

/** A key from its text form; throws naming what is wrong. */
export function parseKey(text: string, what = "key"): Uint8Array {
  const t = text.trim();
  const b = Buffer.from(t, "base64");
  if (b.length !== KEY_LEN || keyText(b) !== t)
    throw new Error(`${what}: expected 44 characters of base64 (32 bytes), as wg genkey prints`);
  return new Uint8Array(b);
}

/**
 * The key pair of a private key file (`relay.ts genkey` output); `loose`: group or others may read
 * it (the caller warns). Throws naming the file, what is wrong and the fix.
 */
export function readKeyFile(path: string, what: string): { key: KeyPair; loose: boolean } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(
      `${what} ${path}: cannot read it (${(e as Error).message}); make one with: relay.ts genkey > ${path}`,
    );
  }
  const key = keyPair(parseKey(text, `${what} ${path}`));
  let loose = false;
  try {
    loose = (statSync(path).mode & 0o077) !== 0;
  } catch {
    // read just now; a delete since changes nothing here
  }
  return { key, loose };
}
