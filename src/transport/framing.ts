// SATP over a byte stream (TCP transports): each packet is preceded by its length.
//
//   offset size  field
//   0      2     n = packet length, u16 BE, 1..MAX_PACKET (anytun's 1600-byte limit)
//   2      n     one SATP packet (header, ciphertext, tag), as in a UDP datagram
//
// Strict reader (tcp-unicast: a kernel TCP stream end to end): a zero or over-long length means
// the stream is not framed SATP; the reader reports an error and the connection is closed (and
// counted). Lenient reader (tcp-anycast: a stream that may have moved between servers mid-frame,
// see src/tcp/endpoint.ts on takeover): a bad length, or a frame the consumer rejects because it
// does not authenticate, starts a resynchronisation: the reader moves one byte past the start of
// the bad frame and tries again, until a frame authenticates. Skipped bytes and resyncs are
// counted; a forged frame cannot stop it (it must authenticate to be accepted). While scanning,
// a candidate must also pass `plausible` on its first bytes (the SATP header: our mux), so a
// random length in the skipped bytes rarely makes the reader wait for a frame that is not there.
import { MAX_PACKET } from "../satp/codec.ts";

export const FRAME_HEADER = 2;
/** Bytes of a candidate frame the `plausible` check may read (the SATP header). */
export const PLAUSIBLE_BYTES = 8;

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
  private last = -1; // offset of the frame next() returned last, until the next push
  private scanning = false;
  error: string | null = null;
  /** Lenient mode: bytes skipped while resynchronising, and how often that started. */
  skipped = 0;
  resyncs = 0;

  constructor(
    private readonly lenient = false,
    /** Scanning only: a cheap check of a candidate's first PLAUSIBLE_BYTES bytes at `at`. */
    private readonly plausible: ((b: Uint8Array, at: number) => boolean) | null = null,
  ) {}

  push(chunk: Uint8Array): void {
    if (this.error !== null) return;
    this.last = -1;
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
    if (this.last >= 0) this.scanning = false; // the previous frame was not rejected
    for (;;) {
      const avail = this.buf.length - this.off;
      if (avail < FRAME_HEADER) return null;
      const n = (this.buf[this.off]! << 8) | this.buf[this.off + 1]!;
      if (n === 0 || n > MAX_PACKET) {
        if (!this.lenient) {
          this.error = `frame length ${n} not in 1..${MAX_PACKET}`;
          return null;
        }
        this.skip();
        continue;
      }
      if (this.scanning && this.plausible !== null) {
        if (avail < FRAME_HEADER + PLAUSIBLE_BYTES) return null;
        if (n < PLAUSIBLE_BYTES || !this.plausible(this.buf, this.off + FRAME_HEADER)) {
          this.skip();
          continue;
        }
      }
      if (avail < FRAME_HEADER + n) return null;
      const pkt = this.buf.subarray(this.off + FRAME_HEADER, this.off + FRAME_HEADER + n);
      this.last = this.off;
      this.off += FRAME_HEADER + n;
      return pkt;
    }
  }

  /** Lenient mode: the frame next() just returned did not authenticate; resynchronise. */
  reject(): void {
    if (!this.lenient || this.last < 0) return;
    this.off = this.last;
    this.last = -1;
    this.skip();
  }

  private skip(): void {
    if (!this.scanning) {
      this.scanning = true;
      this.resyncs++;
    }
    this.off++;
    this.skipped++;
  }
}
