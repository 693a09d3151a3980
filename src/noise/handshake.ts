// The Noise IK handshake (The Noise Protocol Framework, revision 34) for
// Noise_IK_25519_AESGCM_SHA256 and its psk2 variant: pure (keys and ephemerals passed in, no
// clock, no I/O), tested against the cacophony vectors (test/noise-vectors.test.ts).
//
//   IK:        <- s                       (the responder's static key is known beforehand)
//              ...
//              -> e, es, s, ss            message 1: 32 e.pub | 48 enc(s.pub) | enc(payload)
//              <- e, ee, se               message 2: 32 e.pub | enc(payload)
//   IKpsk2:    the same with `psk` after `se` (and, as in every psk pattern, `e` also MixKey(e.pub))
//
// Functions (section 4 and 5): AESGCM with the nonce 32 zero bits || n as 64-bit big-endian
// (12.3), SHA-256, HMAC-SHA256 HKDF (4.3), a protocol name of up to 32 bytes zero-padded as the
// initial hash. A failed decryption leaves the state unusable (null is returned; start over).
import { createCipheriv, createDecipheriv, createHash, createHmac } from "node:crypto";
import { dh, KEY_LEN, type KeyPair } from "./keys.ts";

export const TAG_LEN = 16;
const EMPTY = new Uint8Array(0);

const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const hmac = (key: Uint8Array, ...parts: Uint8Array[]): Uint8Array => {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

/** HKDF(ck, ikm) of section 4.3: two or three 32-byte outputs. */
export function hkdf(ck: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[] {
  const temp = hmac(ck, ikm);
  const o1 = hmac(temp, Uint8Array.of(1));
  const o2 = hmac(temp, o1, Uint8Array.of(2));
  return n === 2 ? [o1, o2] : [o1, o2, hmac(temp, o2, Uint8Array.of(3))];
}

/** The 12-byte AESGCM nonce for counter n (section 12.3). */
export function nonceOf(n: bigint, out = new Uint8Array(12)): Uint8Array {
  new DataView(out.buffer, out.byteOffset, 12).setBigUint64(4, n);
  return out;
}

/** A CipherState (section 5.1): a key (or none) and its nonce counter. */
export class CipherState {
  n = 0n;
  constructor(public k: Uint8Array | null = null) {}

  encrypt(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.k === null) return Uint8Array.from(plaintext);
    const c = createCipheriv("aes-256-gcm", this.k, nonceOf(this.n++));
    c.setAAD(ad);
    const body = c.update(plaintext);
    c.final();
    const out = new Uint8Array(body.length + TAG_LEN);
    out.set(body);
    out.set(c.getAuthTag(), body.length);
    return out;
  }

  /** The plaintext, or null when the tag does not verify (the nonce is not used up then). */
  decrypt(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    if (this.k === null) return Uint8Array.from(ciphertext);
    if (ciphertext.length < TAG_LEN) return null;
    const d = createDecipheriv("aes-256-gcm", this.k, nonceOf(this.n));
    d.setAAD(ad);
    d.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LEN));
    const body = d.update(ciphertext.subarray(0, ciphertext.length - TAG_LEN));
    try {
      d.final();
    } catch {
      return null;
    }
    this.n++;
    return new Uint8Array(body);
  }
}

/** The SymmetricState of section 5.2. */
class SymmetricState {
  ck: Uint8Array;
  h: Uint8Array;
  readonly cipher = new CipherState();

  constructor(protocolName: string) {
    const name = new TextEncoder().encode(protocolName);
    this.h = name.length <= 32 ? Uint8Array.from({ length: 32 }, (_, i) => name[i] ?? 0) : sha256(name);
    this.ck = this.h;
  }
  mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf(this.ck, ikm, 2) as [Uint8Array, Uint8Array];
    this.ck = ck;
    this.cipher.k = k;
    this.cipher.n = 0n;
  }
  mixHash(data: Uint8Array): void {
    this.h = sha256(this.h, data);
  }
  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, h, k] = hkdf(this.ck, ikm, 3) as [Uint8Array, Uint8Array, Uint8Array];
    this.ck = ck;
    this.mixHash(h);
    this.cipher.k = k;
    this.cipher.n = 0n;
  }
  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const c = this.cipher.encrypt(this.h, plaintext);
    this.mixHash(c);
    return c;
  }
  decryptAndHash(ciphertext: Uint8Array): Uint8Array | null {
    const p = this.cipher.decrypt(this.h, ciphertext);
    if (p !== null) this.mixHash(ciphertext);
    return p;
  }
}

export const PROTOCOL = "Noise_IK_25519_AESGCM_SHA256";
export const PROTOCOL_PSK2 = "Noise_IKpsk2_25519_AESGCM_SHA256";

export interface HandshakeOptions {
  /** This side's static key pair. */
  s: KeyPair;
  /** Initiator: the responder's static public key (IK's pre-message). */
  rs?: Uint8Array;
  prologue?: Uint8Array;
  /** A 32-byte pre-shared key: the psk2 variant. */
  psk?: Uint8Array;
  /** The ephemeral key pair (tests; normally made fresh by the caller for each handshake). */
  e: KeyPair;
}

/** One IK handshake, either side; messages 1 and 2, then split() into the transport ciphers. */
export class HandshakeIK {
  private readonly ss: SymmetricState;
  private readonly s: KeyPair;
  private readonly e: KeyPair;
  private readonly psk: Uint8Array | null;
  /** The other side's static key (the initiator's, once message 1 is read by the responder). */
  rs: Uint8Array | null;
  private re: Uint8Array | null = null;
  private step = 0; // messages done
  private failed = false;

  constructor(
    readonly initiator: boolean,
    o: HandshakeOptions,
  ) {
    if (o.psk !== undefined && o.psk.length !== 32) throw new Error("a Noise psk is 32 bytes");
    this.psk = o.psk ?? null;
    this.ss = new SymmetricState(this.psk === null ? PROTOCOL : PROTOCOL_PSK2);
    this.s = o.s;
    this.e = o.e;
    this.rs = o.rs ?? null;
    if (initiator && this.rs === null) throw new Error("IK: the initiator needs the responder's static key");
    this.ss.mixHash(o.prologue ?? EMPTY);
    this.ss.mixHash(initiator ? this.rs! : this.s.pub); // <- s
  }

  /** The handshake hash (channel binding), final once both messages are done. */
  get hash(): Uint8Array {
    return this.ss.h;
  }
  get done(): boolean {
    return this.step === 2;
  }

  private mixE(pub: Uint8Array): void {
    this.ss.mixHash(pub);
    if (this.psk !== null) this.ss.mixKey(pub);
  }
  private mixDh(self: KeyPair, pub: Uint8Array): boolean {
    const k = dh(self, pub);
    if (k === null) return false;
    this.ss.mixKey(k);
    return true;
  }

  /** Writes the next message (1 as initiator, 2 as responder) carrying `payload`. */
  writeMessage(payload: Uint8Array): Uint8Array {
    if (this.failed || this.step !== (this.initiator ? 0 : 1)) throw new Error("noise: no message to write now");
    const parts: Uint8Array[] = [this.e.pub];
    this.mixE(this.e.pub);
    if (this.initiator) {
      if (!this.mixDh(this.e, this.rs!)) throw new Error("noise: bad responder key"); // es
      parts.push(this.ss.encryptAndHash(this.s.pub)); // s
      if (!this.mixDh(this.s, this.rs!)) throw new Error("noise: bad responder key"); // ss
    } else {
      if (!this.mixDh(this.e, this.re!)) throw new Error("noise: bad initiator key"); // ee
      if (!this.mixDh(this.e, this.rs!)) throw new Error("noise: bad initiator key"); // se
      if (this.psk !== null) this.ss.mixKeyAndHash(this.psk);
    }
    parts.push(this.ss.encryptAndHash(payload));
    this.step++;
    return new Uint8Array(Buffer.concat(parts));
  }

  /** Reads the next message; its payload, or null when it does not verify (the handshake is then dead). */
  readMessage(msg: Uint8Array): Uint8Array | null {
    if (this.failed || this.step !== (this.initiator ? 1 : 0)) return null;
    const min = KEY_LEN + (this.initiator ? 0 : KEY_LEN + TAG_LEN) + TAG_LEN;
    if (msg.length < min) return this.fail();
    const re = msg.slice(0, KEY_LEN);
    this.re = re;
    this.mixE(re);
    let at = KEY_LEN;
    if (!this.initiator) {
      if (!this.mixDh(this.s, re)) return this.fail(); // es
      const rs = this.ss.decryptAndHash(msg.subarray(at, at + KEY_LEN + TAG_LEN)); // s
      if (rs === null) return this.fail();
      this.rs = rs;
      at += KEY_LEN + TAG_LEN;
      if (!this.mixDh(this.s, rs)) return this.fail(); // ss
    } else {
      if (!this.mixDh(this.e, re)) return this.fail(); // ee
      if (!this.mixDh(this.s, re)) return this.fail(); // se
      if (this.psk !== null) this.ss.mixKeyAndHash(this.psk);
    }
    const payload = this.ss.decryptAndHash(msg.subarray(at));
    if (payload === null) return this.fail();
    this.step++;
    return payload;
  }

  /** The transport ciphers (section 5.2 Split): what this side sends with, and receives with. */
  split(): { send: CipherState; recv: CipherState } {
    if (!this.done) throw new Error("noise: split before the handshake is done");
    const [k1, k2] = hkdf(this.ss.ck, EMPTY, 2) as [Uint8Array, Uint8Array];
    const [send, recv] = this.initiator ? [k1, k2] : [k2, k1];
    return { send: new CipherState(send), recv: new CipherState(recv) };
  }

  private fail(): null {
    this.failed = true;
    return null;
  }
}
