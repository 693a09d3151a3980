// Crypto settings of a SATP connection and the master key/salt they start from (SPEC §3, §4).
import { createHash } from "node:crypto";

export type Cipher = "null" | "aes-ctr" | "aes-ctr-128" | "aes-ctr-192" | "aes-ctr-256";
export type AuthAlgo = "null" | "sha1";
export type KdPrf = Cipher;
export type Role = "left" | "right";

export const CIPHERS: readonly Cipher[] = ["null", "aes-ctr", "aes-ctr-128", "aes-ctr-192", "aes-ctr-256"];
export const AUTH_ALGOS: readonly AuthAlgo[] = ["null", "sha1"];
export const ROLE_NAMES: Readonly<Record<string, Role>> = {
  left: "left",
  alice: "left",
  server: "left",
  right: "right",
  bob: "right",
  client: "right",
};

/** Key length in bytes of a cipher or KD-PRF name; 0 for null. */
export function keyBytes(c: Cipher): number {
  switch (c) {
    case "null":
      return 0;
    case "aes-ctr":
    case "aes-ctr-128":
      return 16;
    case "aes-ctr-192":
      return 24;
    case "aes-ctr-256":
      return 32;
  }
}

/** The settings both ends must agree on, after anytun's own adjustments (see `normalizeSuite`). */
export interface Suite {
  cipher: Cipher;
  auth: AuthAlgo;
  tagLength: number;
  kdPrf: KdPrf;
}

export interface SuiteNotes {
  suite: Suite;
  warnings: string[];
}

/**
 * anytun's adjustments: tag length clamped to 20 for sha1 and forced to 0 for null auth;
 * KD-PRF forced to null when cipher and auth are both null.
 */
export function normalizeSuite(s: Suite): SuiteNotes {
  const warnings: string[] = [];
  let { tagLength, kdPrf } = s;
  if (s.auth === "null") tagLength = 0;
  else if (tagLength > 20) {
    warnings.push(`sha1 auth algo can't generate tags of length ${tagLength}, using maximum tag length(20)`);
    tagLength = 20;
  }
  if (s.cipher === "null" && s.auth === "null") kdPrf = "null";
  else if (kdPrf === "null")
    warnings.push("kd-prf null with a real cipher or auth: every session key and salt is zero");
  if (s.cipher === "null" && s.auth !== "null")
    warnings.push("cipher null: payloads travel in clear (authenticated only)");
  if (s.auth === "null" && s.cipher !== "null") warnings.push("auth null: packets are not authenticated");
  return { suite: { cipher: s.cipher, auth: s.auth, tagLength, kdPrf }, warnings };
}

export const SALT_BYTES = 14;

export interface Master {
  key: Uint8Array;
  salt: Uint8Array;
}

/**
 * Master key and salt (SPEC §4): explicit hex wins; otherwise the key is the last
 * keyBytes(kdPrf) bytes of SHA-256(passphrase) and the salt the last 14 bytes of SHA-1(passphrase).
 * Throws an Error naming the problem when neither is given or a hex value has the wrong length
 * (anytun only logs that and runs with undefined keys).
 */
export function deriveMaster(
  kdPrf: KdPrf,
  opts: { passphrase?: string | undefined; keyHex?: string | undefined; saltHex?: string | undefined },
): Master {
  const kb = keyBytes(kdPrf);
  if (kb === 0) return { key: new Uint8Array(0), salt: new Uint8Array(SALT_BYTES) };
  let key: Uint8Array | undefined;
  let salt: Uint8Array | undefined;
  if (opts.keyHex !== undefined) {
    key = parseHex(opts.keyHex, "key");
    if (key.length !== kb)
      throw new Error(`key: ${key.length} bytes given, kd-prf ${kdPrf} needs ${kb} (${kb * 2} hex digits)`);
  }
  if (opts.saltHex !== undefined) {
    salt = parseHex(opts.saltHex, "salt");
    if (salt.length !== SALT_BYTES)
      throw new Error(`salt: ${salt.length} bytes given, needs ${SALT_BYTES} (28 hex digits)`);
  }
  if (key === undefined || salt === undefined) {
    if (opts.passphrase === undefined || opts.passphrase === "")
      throw new Error("no key material: give a passphrase, or both key and salt in hex");
    const p = Buffer.from(opts.passphrase, "utf8");
    key ??= new Uint8Array(
      createHash("sha256")
        .update(p)
        .digest()
        .subarray(32 - kb),
    );
    salt ??= new Uint8Array(
      createHash("sha1")
        .update(p)
        .digest()
        .subarray(20 - SALT_BYTES),
    );
  }
  return { key, salt };
}

export function parseHex(hex: string, what: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new Error(`${what}: not an even-length hex string`);
  return new Uint8Array(Buffer.from(hex, "hex"));
}
