// Per-packet SATP crypto as anytun 0.3.8 does it (SPEC §5–§7): session keys derived from the
// packet's seq by an AES-CTR PRF under the master key, AES-CTR payload encryption, HMAC-SHA1 tag
// (rightmost t bytes). One `SatpCrypto` per connection; not shared between connections.
//
// Cost per packet: the PRF's 4–5 counter blocks go through ONE long-lived AES-ECB context (CTR
// keystream = ECB of the counter blocks, so no cipher object per packet for the key schedule of
// the master key); then AES-CTR under the session key and one HMAC.
//
// Two libraries give the same bytes (config cryptoLibrary, `setCryptoLibrary`): OpenSSL 3's
// libcrypto through bun:ffi (./libcrypto.ts: contexts re-keyed in place, no object per packet;
// about 1.4 µs per 1400-byte seal against 2.6) and node:crypto (a cipher object, a Buffer and a
// hasher per packet). A SatpCrypto keeps the library that was in effect when it was made.
import { createCipheriv, type Cipheriv } from "node:crypto";
import { aes, hmacSha1, libcryptoError, libcryptoVersion, loadLibcrypto, type NativeAes } from "./libcrypto.ts";
import { HEADER_LEN, MAX_PACKET, TYPE_LEN, writeHeader } from "./codec.ts";
import { keyBytes, normalizeSuite, SALT_BYTES, type Master, type Role, type Suite } from "./suite.ts";
import type { ReplayWindow } from "./replay.ts";

/** u32 labels: first 4 bytes of SHA-1 of "1".."6" (SPEC §5). A host seals with its own role's labels. */
export const LABELS: Readonly<Record<Role, { enc: number; salt: number; auth: number }>> = {
  left: { enc: 0x356a192b, salt: 0x77de68da, auth: 0xac3478d6 },
  right: { enc: 0xda4b9237, salt: 0x1b645389, auth: 0xc1dfd96e },
};

export const AUTH_KEY_BYTES = 20;

/** `open` results below zero. */
export const OPEN_SHORT = -1; // shorter than header + tag, or longer than MAX_PACKET
export const OPEN_AUTH = -2; // tag mismatch
export const OPEN_REPLAY = -3; // replay window said no

/** After this many packets under one master key the sender stops instead of wrapping seq to 0. */
export const SEQ_LIMIT = 0x1_0000_0000;

// Scratch shared by every SatpCrypto (all calls are synchronous on one thread): the received
// packet is copied into IN once so the views for HMAC and cipher are cheap; PLAIN receives the
// decrypted payload; MAC the digest.
const IN = new Uint8Array(MAX_PACKET);
const PLAIN = new Uint8Array(MAX_PACKET);
const MAC = new Uint8Array(64); // digest(into) wants room for any hash; SHA-1 fills bytes 0..19
const KS = new Uint8Array(256); // the PRF's ECB output (libcrypto)

export type CryptoLibrary = "auto" | "openssl" | "node";
let native: boolean | undefined; // undefined: "auto", resolved by the first SatpCrypto

/**
 * Which library SatpCrypto objects made from now on use. "auto": libcrypto when it loads, else
 * node:crypto; "openssl" throws (naming why) when libcrypto does not load. Returns the one in effect.
 */
export function setCryptoLibrary(want: CryptoLibrary): "openssl" | "node" {
  if (want === "node") native = false;
  else if (loadLibcrypto() !== null) native = true;
  else if (want === "openssl") throw new Error(`cryptoLibrary "openssl": libcrypto did not load (${libcryptoError()})`);
  else native = false;
  return native ? "openssl" : "node";
}

export function cryptoLibrary(): "openssl" | "node" {
  if (native === undefined) return setCryptoLibrary("auto");
  return native ? "openssl" : "node";
}

/** What runs, for people: libcrypto's version ("OpenSSL 3.0.x …") or "node:crypto". */
export function cryptoLibraryName(): string {
  return cryptoLibrary() === "openssl" ? libcryptoVersion() : "node:crypto";
}

class Prf {
  // Counter-block templates for one direction: [enc blocks][salt block][auth block 0][auth block 1].
  private readonly tmpl: Uint8Array;
  private readonly encBlocks: number;
  private readonly ecb: Cipheriv | null;
  private readonly nativeEcb: NativeAes | null;
  private readonly masterKey: Uint8Array;
  // Session values of the last derive(), owned here and overwritten by the next derive().
  readonly encKey: Uint8Array;
  readonly salt = new Uint8Array(SALT_BYTES);
  readonly authKey = new Uint8Array(AUTH_KEY_BYTES);

  constructor(
    master: Master,
    kdBytes: number,
    encKeyBytes: number,
    labels: { enc: number; salt: number; auth: number },
    useNative: boolean,
  ) {
    this.encBlocks = Math.ceil(encKeyBytes / 16);
    this.encKey = new Uint8Array(encKeyBytes);
    const n = this.encBlocks + 3;
    this.tmpl = new Uint8Array(n * 16);
    const put = (block: number, label: number, counter: number) => {
      const o = block * 16;
      this.tmpl.set(master.salt, o);
      this.tmpl[o + 6]! ^= label >>> 24;
      this.tmpl[o + 7]! ^= label >>> 16;
      this.tmpl[o + 8]! ^= label >>> 8;
      this.tmpl[o + 9]! ^= label;
      this.tmpl[o + 15] = counter; // CTR increment of the 128-bit block; bytes 14..15 start at 0
    };
    for (let i = 0; i < this.encBlocks; i++) put(i, labels.enc, i);
    put(this.encBlocks, labels.salt, 0);
    put(this.encBlocks + 1, labels.auth, 0);
    put(this.encBlocks + 2, labels.auth, 1);
    this.nativeEcb = kdBytes !== 0 && useNative ? aes(kdBytes, "ECB") : null;
    this.masterKey = Uint8Array.from(master.key);
    if (kdBytes === 0 || this.nativeEcb !== null) this.ecb = null;
    else {
      this.ecb = createCipheriv(`aes-${kdBytes * 8}-ecb`, master.key, null);
      this.ecb.setAutoPadding(false);
    }
  }

  /** Session enc key, salt and auth key for `seq` into this.encKey/salt/authKey. */
  derive(seq: number): void {
    const native = this.nativeEcb;
    if (this.ecb === null && native === null) return; // kd-prf null: all zero, set once
    const t = this.tmpl;
    const s0 = seq >>> 24,
      s1 = (seq >>> 16) & 255,
      s2 = (seq >>> 8) & 255,
      s3 = seq & 255;
    // XOR seq into bytes 10..13 of every block, run ECB, XOR it back out (template stays clean).
    for (let o = 0; o < t.length; o += 16) {
      t[o + 10]! ^= s0;
      t[o + 11]! ^= s1;
      t[o + 12]! ^= s2;
      t[o + 13]! ^= s3;
    }
    let ks: Uint8Array;
    if (native !== null) native.ecbBlocks(this.masterKey, t, (ks = KS), t.length);
    else ks = this.ecb!.update(t);
    for (let o = 0; o < t.length; o += 16) {
      t[o + 10]! ^= s0;
      t[o + 11]! ^= s1;
      t[o + 12]! ^= s2;
      t[o + 13]! ^= s3;
    }
    // Copied out byte by byte: a subarray of the fresh native output would cost more (JSC
    // materialises an ArrayBuffer for it), and these arrays are reused for every packet.
    const k = this.encKey,
      salt = this.salt,
      a = this.authKey;
    const e = this.encBlocks * 16;
    for (let i = 0; i < k.length; i++) k[i] = ks[i]!;
    for (let i = 0; i < SALT_BYTES; i++) salt[i] = ks[e + i]!;
    for (let i = 0; i < AUTH_KEY_BYTES; i++) a[i] = ks[e + 16 + i]!;
  }
}

export class SatpCrypto {
  readonly suite: Suite;
  readonly role: Role;
  /** Bytes a sealed packet adds to its plaintext (header + tag). */
  readonly overhead: number;
  private readonly out: Prf;
  private readonly inb: Prf;
  private readonly ctrName: string;
  private readonly nativeCtr: NativeAes | null;
  private readonly iv = new Uint8Array(16);
  /**
   * Plaintext (payload type + inner packet) of the last successful `open`: a view of scratch
   * shared by all SatpCrypto instances, valid until the next `open` of any of them.
   */
  plain: Uint8Array = new Uint8Array(0);
  /** True when this object uses libcrypto (see setCryptoLibrary). */
  readonly native: boolean;

  /** `suite` goes through normalizeSuite (tag clamped to 0..20, null auth → no tag) so no caller can seal junk. */
  constructor(suite: Suite, master: Master, role: Role) {
    if (!Number.isInteger(suite.tagLength) || suite.tagLength < 0)
      throw new Error(`tag length ${suite.tagLength}: expected 0..20`);
    suite = normalizeSuite(suite).suite;
    this.suite = suite;
    this.role = role;
    this.overhead = HEADER_LEN + suite.tagLength;
    const kd = keyBytes(suite.kdPrf);
    const ek = keyBytes(suite.cipher);
    if (kd !== 0 && master.key.length !== kd)
      throw new Error(`master key is ${master.key.length} bytes, kd-prf ${suite.kdPrf} needs ${kd}`);
    if (master.salt.length !== SALT_BYTES)
      throw new Error(`master salt is ${master.salt.length} bytes, needs ${SALT_BYTES}`);
    const other: Role = role === "left" ? "right" : "left";
    const useNative = cryptoLibrary() === "openssl";
    this.out = new Prf(master, kd, ek, LABELS[role], useNative);
    this.inb = new Prf(master, kd, ek, LABELS[other], useNative);
    this.ctrName = ek === 0 ? "" : `aes-${ek * 8}-ctr`;
    this.nativeCtr = ek !== 0 && useNative ? aes(ek, "CTR") : null;
    this.native = useNative;
  }

  /**
   * Seals in place. `buf[8, 8+plainLen)` holds payload type + inner packet; the header is written
   * at 0 and the tag after the ciphertext. `buf` needs room for 8 + plainLen + tagLength bytes.
   * Returns the packet length. The caller guarantees 0 <= seq < SEQ_LIMIT and never reuses a seq.
   */
  seal(seq: number, senderId: number, mux: number, buf: Uint8Array, plainLen: number): number {
    const p = this.out;
    p.derive(seq);
    writeHeader(seq, senderId, mux, buf);
    const end = HEADER_LEN + plainLen;
    if (this.ctrName !== "") {
      const body = buf.subarray(HEADER_LEN, end);
      this.ctr(p, seq, senderId, mux, body, body);
    }
    const t = this.suite.tagLength;
    if (t > 0) {
      if (this.native) hmacSha1(p.authKey, buf, end, MAC);
      else new Bun.CryptoHasher("sha1", p.authKey).update(buf.subarray(0, end)).digest(MAC);
      for (let i = 0; i < t; i++) buf[end + i] = MAC[20 - t + i]!;
    }
    return end + t;
  }

  /**
   * Verifies, replay-checks (when `window` is given) and decrypts `pkt`, whose header `seq`,
   * `senderId`, `mux` the caller has read. Returns the plaintext length (0: an authenticated
   * keepalive with no payload type; anytun treats payloads of <= 2 bytes alike) with the plaintext in
   * `this.plain`, or OPEN_SHORT / OPEN_AUTH / OPEN_REPLAY. Never throws on packet content.
   */
  open(pkt: Uint8Array, seq: number, senderId: number, mux: number, window: ReplayWindow | null): number {
    const t = this.suite.tagLength;
    const len = pkt.length;
    if (len < HEADER_LEN + t || len > MAX_PACKET) return OPEN_SHORT;
    const p = this.inb;
    p.derive(seq);
    const end = len - t;
    // libcrypto reads the packet where it is; node:crypto's views are cheaper on a copy.
    const b = this.native ? pkt : IN;
    if (!this.native) b.set(pkt);
    if (t > 0) {
      if (this.native) hmacSha1(p.authKey, b, end, MAC);
      else new Bun.CryptoHasher("sha1", p.authKey).update(b.subarray(0, end)).digest(MAC);
      let diff = 0;
      for (let i = 0; i < t; i++) diff |= MAC[20 - t + i]! ^ b[end + i]!;
      if (diff !== 0) return OPEN_AUTH;
    }
    if (window !== null && !window.accept(seq)) return OPEN_REPLAY;
    const n = end - HEADER_LEN;
    if (n <= TYPE_LEN) {
      this.plain = PLAIN.subarray(0, 0);
      return 0;
    }
    if (this.ctrName === "") PLAIN.set(b.subarray(HEADER_LEN, end));
    else this.ctr(p, seq, senderId, mux, b.subarray(HEADER_LEN, end), PLAIN);
    this.plain = PLAIN.subarray(0, n);
    return n;
  }

  /** dst[0, src.length) = src ^ keystream; dst may be src. */
  private ctr(p: Prf, seq: number, senderId: number, mux: number, src: Uint8Array, dst: Uint8Array): void {
    const iv = this.iv;
    const s = p.salt;
    iv.set(s, 0);
    iv[4]! ^= mux >>> 8;
    iv[5]! ^= mux & 255;
    iv[6]! ^= senderId >>> 8;
    iv[7]! ^= senderId & 255;
    iv[10]! ^= seq >>> 24;
    iv[11]! ^= (seq >>> 16) & 255;
    iv[12]! ^= (seq >>> 8) & 255;
    iv[13]! ^= seq & 255;
    iv[14] = 0;
    iv[15] = 0;
    const n = this.nativeCtr;
    if (n !== null) n.ctr(p.encKey, iv, src, dst, src.length);
    else createCipheriv(this.ctrName, p.encKey, iv).update(src).copy(dst, 0);
  }
}
