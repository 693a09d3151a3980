// The Noise suite's transport data (wire.ts type 4) and the replay rule for it. AES-256-GCM with
// the handshake's per-direction key; nonce = 32 zero bits || the packet's 64-bit counter (Noise
// 12.3), whose top 16 bits are the sending server's sender id (wire.ts), so servers sharing a
// session never reuse a nonce; the 16-byte header is the associated data, so index and counter
// cannot be changed. The receiver keeps one window per sender id (at most MAX_SENDERS), fed only
// authenticated packets. Pure functions and classes over Uint8Array.
import { createCipheriv, createDecipheriv } from "node:crypto";
import { nonceOf, TAG_LEN } from "./handshake.ts";
import { counterOf, senderOfCounter, seqOfCounter, writeTransportHeader } from "./wire.ts";

export const HEADER_LEN = 16;
/** Sender ids whose windows one session keeps (a client talks to a handful of servers). */
export const MAX_SENDERS = 16;
/** Sequence numbers a sender may use under one key (48 bits: then a rekey). */
export const MAX_SEQ = 2 ** 48 - 1;

/** A sliding window over 48-bit sequence numbers (RFC 6479's idea, one bit per seq). */
export class SeqWindow {
  max = -1;
  private readonly bits: Uint32Array;
  constructor(readonly size = 2048) {
    this.bits = new Uint32Array(size >>> 5);
  }
  private bit(seq: number): [number, number] {
    const i = seq % this.size;
    return [i >>> 5, 1 << (i & 31)];
  }
  /** Marks `seq` seen; false when it is a replay or older than the window. */
  accept(seq: number): boolean {
    if (seq > this.max) {
      const from = Math.max(this.max + 1, seq - this.size + 1);
      for (let q = from; q < seq; q++) {
        const [w, b] = this.bit(q);
        this.bits[w]! &= ~b;
      }
      const [w, b] = this.bit(seq);
      this.bits[w]! |= b;
      this.max = seq;
      return true;
    }
    if (seq <= this.max - this.size) return false;
    const [w, b] = this.bit(seq);
    if (this.bits[w]! & b) return false;
    this.bits[w]! |= b;
    return true;
  }
}

/** Seals `plaintext` for `receiver` under `key` with counter (senderId, seq): a whole type-4 packet. */
export function sealTransport(
  key: Uint8Array,
  receiver: number,
  senderId: number,
  seq: number,
  plaintext: Uint8Array,
): Uint8Array {
  if (seq > MAX_SEQ) throw new Error("noise: sequence space of this key used up (rekey)");
  const counter = counterOf(senderId, BigInt(seq));
  const out = new Uint8Array(HEADER_LEN + plaintext.length + TAG_LEN);
  writeTransportHeader(out, receiver, counter);
  const c = createCipheriv("aes-256-gcm", key, nonceOf(counter));
  c.setAAD(out.subarray(0, HEADER_LEN));
  out.set(c.update(plaintext), HEADER_LEN);
  c.final();
  out.set(c.getAuthTag(), HEADER_LEN + plaintext.length);
  return out;
}

/** Opens a type-4 packet `p` (counter already decoded) under `key`: the plaintext, or null. */
export function openTransport(key: Uint8Array, p: Uint8Array, counter: bigint): Uint8Array | null {
  if (p.length < HEADER_LEN + TAG_LEN) return null;
  const d = createDecipheriv("aes-256-gcm", key, nonceOf(counter));
  d.setAAD(p.subarray(0, HEADER_LEN));
  d.setAuthTag(p.subarray(p.length - TAG_LEN));
  const body = d.update(p.subarray(HEADER_LEN, p.length - TAG_LEN));
  try {
    d.final();
  } catch {
    return null;
  }
  return new Uint8Array(body);
}

/** The receive side of one session: windows per sender id, bounded. */
export class Windows {
  private readonly bySender = new Map<number, SeqWindow>();
  /** Authenticated packets refused: replays, and senders beyond MAX_SENDERS. */
  readonly refused = { replay: 0, senders: 0 };

  /** After authentication: is (sender id, seq) of `counter` new? */
  accept(counter: bigint): boolean {
    const sender = senderOfCounter(counter);
    let w = this.bySender.get(sender);
    if (w === undefined) {
      if (this.bySender.size >= MAX_SENDERS) {
        this.refused.senders++;
        return false;
      }
      this.bySender.set(sender, (w = new SeqWindow()));
    }
    if (!w.accept(Number(seqOfCounter(counter)))) {
      this.refused.replay++;
      return false;
    }
    return true;
  }
}
