// The Noise suite as a session's crypto (satp/session.ts SessionCrypto): a client's transport
// keys from its handshakes (at most KEEP_KEYS: the newest seals, older ones still open what was in
// flight), AES-256-GCM in place, and the receive prologue for type-4 packets (NoiseReceiver). With
// this, a Noise client is a SatpSession like any other, and everything above the session — replay
// windows per sender id, durable send counters, endpoint learning by the newest packet, the
// fleet's replay marks, holds, plugins — is the same code for both protocols.
//
// Sequence numbers: the session's (SatpSession.seq), continuous across handshakes and restarts
// (durable reservations, satp/counter.ts), so (sender id, seq) is never used twice by a sender
// whatever key it is under; the counter on the wire is sender id << 48 | seq (wire.ts), the GCM
// nonce is that counter (Noise 12.3), the 16-byte header is the associated data. A counter whose
// seq is past 2^32 is never sent by us and is refused.
//
// Buffers: `seal` gets payload type + inner at SATP's offset 8 (SatpSession.seal writes it there)
// and moves it to 16 in place; `plain` is a view of scratch shared by every NoiseCrypto, valid
// until the next successful open (a refused one leaves it as it was).
//
// Library (config cryptoLibrary, as SATP's): libcrypto's AES-256-GCM through bun:ffi, its
// contexts keeping the key between packets, or node:crypto's cipher object per packet; the one in
// effect when the NoiseCrypto was made.
import { createCipheriv, createDecipheriv } from "node:crypto";
import { cryptoLibrary } from "../satp/crypto.ts";
import { gcm, type NativeGcm } from "../satp/libcrypto.ts";
import { HEADER_LEN as SATP_HEADER, MAX_PACKET, TYPE_LEN } from "../satp/codec.ts";
import { OPEN_AUTH, OPEN_SHORT } from "../satp/crypto.ts";
import {
  RX_MUX,
  RX_SHORT,
  RX_WAIT,
  SEAL_NOKEY,
  type SatpSession,
  type SessionCrypto,
  type SessionReceiver,
} from "../satp/session.ts";
import type { Header } from "../satp/codec.ts";
import { TAG_LEN } from "./handshake.ts";
import { REJECT_AFTER_MS } from "./peers.ts";
import { TYPE_TRANSPORT } from "./wire.ts";

export const NOISE_HEADER = 16;
/** Transport keys a session keeps: the newest and the two before it (in flight across a rekey). */
export const KEEP_KEYS = 3;

/** One handshake's transport keys. `local` names them in packets to us; `remote` in ours to the other side. */
export interface TransportKeys {
  readonly local: number;
  readonly remote: number;
  readonly send: Uint8Array;
  readonly recv: Uint8Array;
  /** Wall-clock ms (Date.now) when the handshake completed: keys die REJECT_AFTER_MS later. */
  readonly created: number;
}

const PLAIN = new Uint8Array(MAX_PACKET);
// libcrypto decrypts before the tag is known, so into the buffer that is not `plain` (what a
// refused packet leaves there is never shown); a good open shows it and swaps (both libraries).
let spare = new Uint8Array(MAX_PACKET);
let shown = PLAIN;
const NONCE = new Uint8Array(12);

const u32le = (p: Uint8Array, o: number) => (p[o]! | (p[o + 1]! << 8) | (p[o + 2]! << 16) | (p[o + 3]! << 24)) >>> 0;
const put32le = (p: Uint8Array, o: number, v: number) => {
  p[o] = v & 255;
  p[o + 1] = (v >>> 8) & 255;
  p[o + 2] = (v >>> 16) & 255;
  p[o + 3] = v >>> 24;
};

/** The GCM nonce of the counter at p[8, 16) (little-endian on the wire, big-endian in the nonce). */
function nonceAt(p: Uint8Array): Uint8Array {
  const n = NONCE;
  n[0] = n[1] = n[2] = n[3] = 0;
  for (let i = 0; i < 8; i++) n[4 + i] = p[15 - i]!;
  return n;
}

export class NoiseCrypto implements SessionCrypto {
  /** Bytes a sealed packet adds to payload type + inner (header + tag). */
  readonly overhead = NOISE_HEADER + TAG_LEN;
  plain: Uint8Array = PLAIN.subarray(0, 0);
  /** Oldest first; the last one seals. */
  keys: TransportKeys[] = [];
  /** libcrypto's contexts, or null for node:crypto. */
  private readonly native: { seal: NativeGcm; open: NativeGcm } | null;

  constructor(private readonly clock: () => number = Date.now) {
    this.native = cryptoLibrary() === "openssl" ? gcm() : null;
  }

  /** Takes the keys of a new handshake (a duplicate `local` replaces nothing); the oldest beyond KEEP_KEYS go. */
  add(k: TransportKeys): boolean {
    if (this.keys.some((x) => x.local === k.local)) return false;
    this.keys.push(k);
    this.keys.sort((a, b) => a.created - b.created);
    while (this.keys.length > KEEP_KEYS) this.keys.shift();
    return true;
  }

  /** Forgets keys past REJECT_AFTER_MS; returns the `local` indexes that went. */
  sweep(now = this.clock()): number[] {
    const gone = this.keys.filter((k) => now - k.created >= REJECT_AFTER_MS).map((k) => k.local);
    if (gone.length > 0) this.keys = this.keys.filter((k) => now - k.created < REJECT_AFTER_MS);
    return gone;
  }

  /** The keys that seal now, or null. */
  current(now = this.clock()): TransportKeys | null {
    const k = this.keys[this.keys.length - 1];
    return k !== undefined && now - k.created < REJECT_AFTER_MS ? k : null;
  }

  /** Seals buf[8, 8+plainLen) (payload type + inner) as a type-4 packet at buf[0]; its length, or SEAL_NOKEY. */
  seal(seq: number, senderId: number, _mux: number, buf: Uint8Array, plainLen: number): number {
    const k = this.current();
    if (k === null) return SEAL_NOKEY;
    if (plainLen > 0) buf.copyWithin(NOISE_HEADER, SATP_HEADER, SATP_HEADER + plainLen);
    buf[0] = TYPE_TRANSPORT;
    buf[1] = buf[2] = buf[3] = 0;
    put32le(buf, 4, k.remote);
    put32le(buf, 8, seq >>> 0);
    put32le(buf, 12, ((senderId & 0xffff) * 65536) >>> 0); // counter bits 32..47 (seq < 2^32) are 0
    const end = NOISE_HEADER + plainLen;
    if (this.native !== null) {
      // the body in place, the tag straight after it (buf has room: the caller's contract)
      const body = plainLen > 0 ? buf.subarray(NOISE_HEADER, end) : buf;
      this.native.seal.seal(k.send, nonceAt(buf), buf, NOISE_HEADER, body, plainLen, buf, end);
      return end + TAG_LEN;
    }
    const c = createCipheriv("aes-256-gcm", k.send, nonceAt(buf));
    c.setAAD(buf.subarray(0, NOISE_HEADER));
    if (plainLen > 0) buf.set(c.update(buf.subarray(NOISE_HEADER, end)), NOISE_HEADER);
    c.final();
    buf.set(c.getAuthTag(), end);
    return end + TAG_LEN;
  }

  /**
   * Opens type-4 packet `pkt` (NoiseReceiver has read its counter into seq and senderId): the
   * plaintext length (0 for a keepalive) with the plaintext in `plain`, or OPEN_SHORT / OPEN_AUTH
   * (no key of this session's has its receiver index, the key is past REJECT_AFTER_MS, or the tag
   * is wrong). No window here: SatpSession.open applies it after this.
   */
  open(pkt: Uint8Array, _seq: number, _senderId: number, _mux: number, _window: null): number {
    const len = pkt.length;
    if (len < NOISE_HEADER + TAG_LEN || len > MAX_PACKET + NOISE_HEADER) return OPEN_SHORT;
    const idx = u32le(pkt, 4);
    const keys = this.keys;
    let k: TransportKeys | undefined;
    for (let i = keys.length - 1; i >= 0; i--) if (keys[i]!.local === idx) k = keys[i];
    if (k === undefined) return OPEN_AUTH;
    if (this.clock() - k.created >= REJECT_AFTER_MS) return OPEN_AUTH;
    const end = len - TAG_LEN;
    const n = end - NOISE_HEADER;
    if (this.native !== null) {
      const body = n > 0 ? pkt.subarray(NOISE_HEADER, end) : pkt;
      const out = spare;
      if (!this.native.open.open(k.recv, nonceAt(pkt), pkt, NOISE_HEADER, body, n, out, pkt, end)) return OPEN_AUTH;
      spare = shown;
      shown = out;
      this.plain = out.subarray(0, n <= TYPE_LEN ? 0 : n);
      return n <= TYPE_LEN ? 0 : n;
    }
    const d = createDecipheriv("aes-256-gcm", k.recv, nonceAt(pkt));
    d.setAAD(pkt.subarray(0, NOISE_HEADER));
    d.setAuthTag(pkt.subarray(end));
    const body = d.update(pkt.subarray(NOISE_HEADER, end));
    try {
      d.final();
    } catch {
      return OPEN_AUTH;
    }
    if (n <= TYPE_LEN) {
      this.plain = PLAIN.subarray(0, 0);
      return 0;
    }
    const out = spare;
    out.set(body);
    spare = shown;
    shown = out;
    this.plain = out.subarray(0, n);
    return n;
  }
}

/**
 * The receive prologue for type-4 packets: receiver index → session (`find`), the counter as the
 * session's (sender id, seq) header, then SatpSession.open. What is not a transport packet, or
 * names no session, never reaches a key.
 */
export class NoiseReceiver<S extends SatpSession> implements SessionReceiver<S> {
  readonly header: Header = { seq: 0, senderId: 0, mux: 0 };
  session: S | undefined = undefined;

  constructor(private readonly find: (index: number) => S | undefined) {}

  open(buf: Uint8Array): number {
    this.session = undefined;
    if (
      buf.length < NOISE_HEADER + TAG_LEN ||
      buf[0] !== TYPE_TRANSPORT ||
      buf[1] !== 0 ||
      buf[2] !== 0 ||
      buf[3] !== 0
    )
      return RX_SHORT;
    const hi = u32le(buf, 12);
    if ((hi & 0xffff) !== 0) return OPEN_AUTH; // a seq past 2^32: never sent by a sender of ours
    const s = this.find(u32le(buf, 4));
    this.session = s;
    if (s === undefined) return RX_MUX;
    const h = this.header;
    h.seq = u32le(buf, 8);
    h.senderId = hi >>> 16;
    h.mux = s.mux;
    if (s.wait !== 0) return RX_WAIT;
    return s.open(buf, h);
  }
}

/** The Noise receiver of a role with one session (the peer role): only `s`'s own indexes name it. */
export function noiseReceiverFor<S extends SatpSession<NoiseCrypto>>(s: S): NoiseReceiver<S> {
  return new NoiseReceiver((i) => (s.crypto.keys.some((k) => k.local === i) ? s : undefined));
}
