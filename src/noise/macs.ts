// WireGuard's MAC1/MAC2 and cookie replies (WireGuard paper 5.4.4, 5.4.7), so a flood of
// initiations costs the responder no Diffie-Hellman and no state: with HMAC-SHA256 truncated to
// 16 bytes where WireGuard has keyed BLAKE2s, and AES-256-GCM where it has XChaCha20-Poly1305
// (node:crypto has neither of WireGuard's; the construction is the same).
//
//   mac1 = MAC(HASH("mac1----" || Spub_responder), msg[0, mac1))     anyone who knows the
//          server's public key can make it: it proves the sender aimed at this server
//   mac2 = MAC(cookie, msg[0, mac2))                                  only with a fresh cookie
//   cookie = MAC(secret, source address and port), the secret renewed every COOKIE_MS
//   cookie reply: nonce (12 random bytes) || AES-256-GCM(HASH("cookie--" || Spub), nonce,
//          cookie, ad = the mac1 of the message it answers)
//
// The responder checks mac1 before anything else (a bad one is dropped: no DH, nothing kept);
// under load it also wants mac2, and answers a message without a valid one with a cookie reply
// instead of a response (still no DH). Pure: the clock and the random source are passed in.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { MAC_LEN, MAC1_AT } from "./wire.ts";

/** How long a cookie secret (and a cookie a client holds) is good for. */
export const COOKIE_MS = 120_000;

const label = (l: string, pub: Uint8Array) => new Uint8Array(createHash("sha256").update(l).update(pub).digest());
const mac = (key: Uint8Array, data: Uint8Array) =>
  new Uint8Array(createHmac("sha256", key).update(data).digest().subarray(0, MAC_LEN));
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && timingSafeEqual(a, b);

/** The keys both sides derive from the responder's static public key. */
export class MacKeys {
  readonly mac1: Uint8Array;
  readonly cookie: Uint8Array;
  constructor(responderPub: Uint8Array) {
    this.mac1 = label("mac1----", responderPub);
    this.cookie = label("cookie--", responderPub);
  }
}

/** Fills mac1 (and mac2 when `cookie` is given, else zeros) of an initiation or response `msg`. */
export function seal(msg: Uint8Array, keys: MacKeys, cookie: Uint8Array | null): void {
  const at = MAC1_AT[msg[0] as 1 | 2];
  msg.set(mac(keys.mac1, msg.subarray(0, at)), at);
  msg.fill(0, at + MAC_LEN, at + 2 * MAC_LEN);
  if (cookie !== null) msg.set(mac(cookie, msg.subarray(0, at + MAC_LEN)), at + MAC_LEN);
}

/** Is the mac1 of `msg` (an initiation or response) right for the receiver whose keys are `keys`? */
export function mac1Ok(msg: Uint8Array, keys: MacKeys): boolean {
  const at = MAC1_AT[msg[0] as 1 | 2];
  return same(msg.subarray(at, at + MAC_LEN), mac(keys.mac1, msg.subarray(0, at)));
}

export type Admission = "ok" | "bad-mac1" | "cookie";

/** The responder's side: its secret, mac checks, and cookie replies. */
export class CookieChecker {
  private secret: Uint8Array;
  private since: number;
  /** Messages refused for mac1 (they cost nothing), cookie replies sent. */
  readonly counts = { badMac1: 0, cookiesSent: 0 };

  constructor(
    readonly keys: MacKeys,
    now: number,
    private readonly random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n)),
  ) {
    this.secret = this.random(32);
    this.since = now;
  }

  private cookieFor(source: string, now: number): Uint8Array {
    if (now - this.since >= COOKIE_MS) {
      this.secret = this.random(32);
      this.since = now;
    }
    return mac(this.secret, new TextEncoder().encode(source));
  }

  /**
   * May `msg` (an initiation or response, length checked by wire.ts decode) from `source`
   * ("address:port") go on to the handshake? Under load only with a valid mac2.
   */
  admit(msg: Uint8Array, source: string, underLoad: boolean, now: number): Admission {
    const at = MAC1_AT[msg[0] as 1 | 2];
    if (!mac1Ok(msg, this.keys)) {
      this.counts.badMac1++;
      return "bad-mac1";
    }
    if (!underLoad) return "ok";
    const want = mac(this.cookieFor(source, now), msg.subarray(0, at + MAC_LEN));
    return same(msg.subarray(at + MAC_LEN, at + 2 * MAC_LEN), want) ? "ok" : "cookie";
  }

  /** The body of a cookie reply to `msg` from `source`: nonce (12) and the encrypted cookie (32). */
  reply(msg: Uint8Array, source: string, now: number): { nonce: Uint8Array; cookie: Uint8Array } {
    const at = MAC1_AT[msg[0] as 1 | 2];
    const nonce = this.random(12);
    const c = createCipheriv("aes-256-gcm", this.keys.cookie, nonce);
    c.setAAD(msg.subarray(at, at + MAC_LEN));
    const body = Buffer.concat([c.update(this.cookieFor(source, now)), c.final(), c.getAuthTag()]);
    this.counts.cookiesSent++;
    return { nonce, cookie: new Uint8Array(body) };
  }
}

/** The initiator's side: the cookie it was given, for the mac2 of what it sends next. */
export class CookieJar {
  private cookie: Uint8Array | null = null;
  private at = 0;
  /** mac1 of the last message sent: a cookie reply must answer it. */
  private lastMac1: Uint8Array | null = null;

  constructor(readonly keys: MacKeys) {}

  /** Seals `msg` (mac1, and mac2 with a cookie younger than COOKIE_MS) and remembers its mac1. */
  seal(msg: Uint8Array, now: number): void {
    const fresh = this.cookie !== null && now - this.at < COOKIE_MS ? this.cookie : null;
    seal(msg, this.keys, fresh);
    const at = MAC1_AT[msg[0] as 1 | 2];
    this.lastMac1 = msg.slice(at, at + MAC_LEN);
  }

  /** Takes a cookie reply; false when it does not decrypt against the last message sent (forged, stale). */
  take(nonce: Uint8Array, encrypted: Uint8Array, now: number): boolean {
    if (this.lastMac1 === null || encrypted.length !== 32) return false;
    const d = createDecipheriv("aes-256-gcm", this.keys.cookie, nonce);
    d.setAAD(this.lastMac1);
    d.setAuthTag(encrypted.subarray(16));
    const body = d.update(encrypted.subarray(0, 16));
    try {
      d.final();
    } catch {
      return false;
    }
    this.cookie = new Uint8Array(body);
    this.at = now;
    return true;
  }
}
