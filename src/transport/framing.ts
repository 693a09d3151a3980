// SATP over a byte stream (TCP transports): each packet is preceded by its length.
//
//   offset size  field
//   0      2     n = packet length, u16 BE, 1..MAX_PACKET (anytun's 1600-byte limit)
//   2      n     one SATP packet (header, ciphertext, tag), as in a UDP datagram
//
// A zero or over-long length means the stream is not (or no longer) framed SATP: the reader
// reports an error and the connection is closed (and counted); there is no resynchronisation.
import { MAX_PACKET } from "../satp/codec.ts";

export const FRAME_HEADER = 2;

/** Prepends the length; returns a new buffer (the caller's stays untouched). */
export function frame(pkt: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + pkt.length);
  out[0] = pkt.length >>> 8;
  out[1] = pkt.length & 255;
  out.set(pkt, FRAME_HEADER);
  return out;
}

/** Incremental reader: push() chunks as they arrive, then take packets with next(). */
export class FrameReader {
  private buf = new Uint8Array(0);
  private off = 0;
  error: string | null = null;

  push(chunk: Uint8Array): void {
    if (this.error !== null) return;
    const rest = this.buf.length - this.off;
    const b = new Uint8Array(rest + chunk.length);
    b.set(this.buf.subarray(this.off));
    b.set(chunk, rest);
    this.buf = b;
    this.off = 0;
  }

  /** The next whole packet (a view valid until the next push), null when more bytes are needed. */
  next(): Uint8Array | null {
    if (this.error !== null) return null;
    const avail = this.buf.length - this.off;
    if (avail < FRAME_HEADER) return null;
    const n = (this.buf[this.off]! << 8) | this.buf[this.off + 1]!;
    if (n === 0 || n > MAX_PACKET) {
      this.error = `frame length ${n} not in 1..${MAX_PACKET}`;
      return null;
    }
    if (avail < FRAME_HEADER + n) return null;
    const pkt = this.buf.subarray(this.off + FRAME_HEADER, this.off + FRAME_HEADER + n);
    this.off += FRAME_HEADER + n;
    return pkt;
  }
}
