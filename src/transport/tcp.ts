// SATP over TCP (framing.ts), both ends: one FramedConn per TCP connection. Packets written in
// one event-loop turn go out in one socket write (BUN-NOTES: ~15× fewer syscalls); a peer that
// stops reading is cut off once `maxBacklog` bytes are waiting. Received packets are handed to
// `onPacket` as views valid only during the call. On a server a FramedConn is a tcp-unicast
// client's Link and Ingress at once (link.ts): it is its own way back.
import type { Socket, TCPSocketListener } from "bun";
import { frame, FrameReader } from "./framing.ts";
import type { Ingress, Link } from "./link.ts";

export interface TcpStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
}

let nextId = 1;

/** Receives one SATP packet; returns false when it did not authenticate (lenient readers resync). */
export type OnStreamPacket<C> = (c: C, pkt: Uint8Array) => boolean | void;

export class FramedConn implements Link, Ingress {
  readonly id = nextId++;
  readonly stats: TcpStats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 };
  private readonly reader: FrameReader;
  private out: Uint8Array[] = [];
  private pending: Uint8Array | null = null;
  private armed = false;
  closed = false;
  /** Set by the server once the client presented a valid redirect token on this connection. */
  tokenOk = false;
  readonly kind = "tcp-unicast";
  readonly record = "tcp";
  readonly local = true;
  readonly listener = -1;
  readonly via = this;
  private static readonly scratch = new Uint8Array(2048);

  constructor(
    private readonly sock: Socket<unknown>,
    readonly remoteAddress: string,
    readonly remotePort: number,
    private readonly onPacket: OnStreamPacket<FramedConn>,
    private readonly onClose: (c: FramedConn, why: string) => void,
    lenient = false,
    plausible: ((b: Uint8Array, at: number) => boolean) | null = null,
    private readonly maxBacklog = 4 << 20,
  ) {
    this.reader = new FrameReader(lenient, plausible);
  }

  /** Lenient readers: bytes skipped and resyncs (a stream that moved between servers). */
  get resync(): { skipped: number; resyncs: number } {
    return { skipped: this.reader.skipped, resyncs: this.reader.resyncs };
  }

  onData(chunk: Uint8Array): void {
    if (this.closed) return;
    this.stats.bytesIn += chunk.length;
    this.reader.push(chunk);
    for (let p = this.reader.next(); p !== null; p = this.reader.next()) {
      this.stats.framesIn++;
      if (this.onPacket(this, p) === false) this.reader.reject();
      if (this.closed) return;
    }
    if (this.reader.error !== null) this.close(this.reader.error);
  }

  // Link and Ingress (server side).
  get address(): string {
    return this.remoteAddress;
  }
  get port(): number {
    return this.remotePort;
  }
  get usable(): boolean {
    return !this.closed;
  }
  get dataAllowed(): boolean {
    return this.tokenOk;
  }
  grantData(): void {
    this.tokenOk = true;
  }
  link(): Link {
    return this;
  }
  slot(): Uint8Array {
    return FramedConn.scratch;
  }
  send(len: number): boolean {
    return this.sendPacket(FramedConn.scratch.subarray(0, len));
  }

  /** Queues one SATP packet (copied); false when the connection is closed or backed up. */
  sendPacket(pkt: Uint8Array): boolean {
    if (this.closed) return false;
    if (this.backlog() > this.maxBacklog) {
      this.close("peer not reading (send backlog full)");
      return false;
    }
    this.out.push(frame(pkt));
    this.stats.framesOut++;
    if (!this.armed) {
      this.armed = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  private backlog(): number {
    let n = this.pending?.length ?? 0;
    for (const b of this.out) n += b.length;
    return n;
  }

  private flush(): void {
    this.armed = false;
    if (this.closed || this.out.length === 0 || this.pending !== null) return;
    const parts = this.out;
    this.out = [];
    let n = 0;
    for (const p of parts) n += p.length;
    const all = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    this.write(all);
  }

  private write(b: Uint8Array): void {
    const n = this.sock.write(b);
    this.stats.bytesOut += Math.max(0, n);
    if (n < b.length) this.pending = b.subarray(Math.max(0, n));
  }

  onDrain(): void {
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    this.write(p);
    if (this.pending === null && this.out.length) this.flush();
  }

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.sock.end();
    } catch {
      // already gone
    }
    this.onClose(this, why);
  }
}

type Data = { conn?: FramedConn };

/** Listens for framed SATP on host:port. */
export function listenFramed(
  host: string,
  port: number,
  onPacket: OnStreamPacket<FramedConn>,
  onOpen: (c: FramedConn) => void,
  onClose: (c: FramedConn, why: string) => void,
  reusePort = false,
): TCPSocketListener<Data> {
  return Bun.listen<Data>({
    hostname: host,
    port,
    ...(reusePort ? { reusePort: true } : {}),
    socket: {
      open(s) {
        const c = new FramedConn(
          s as Socket<unknown>,
          s.remoteAddress,
          (s as unknown as { remotePort?: number }).remotePort ?? 0,
          onPacket,
          onClose,
        );
        s.data = { conn: c };
        onOpen(c);
      },
      data: (s, chunk) => s.data.conn?.onData(chunk),
      drain: (s) => s.data.conn?.onDrain(),
      close: (s) => s.data.conn?.close("connection closed"),
      error: (s, e) => s.data.conn?.close(`socket error: ${e?.message ?? e}`),
    },
  });
}

/** Dials host:port; resolves with the connection once open (rejects on failure). */
export function dialFramed(
  host: string,
  port: number,
  onPacket: OnStreamPacket<FramedConn>,
  onClose: (c: FramedConn, why: string) => void,
  lenient = false,
  plausible: ((b: Uint8Array, at: number) => boolean) | null = null,
): Promise<FramedConn> {
  return new Promise((resolve, reject) => {
    Bun.connect<Data>({
      hostname: host,
      port,
      socket: {
        open(s) {
          const c = new FramedConn(s as Socket<unknown>, host, port, onPacket, onClose, lenient, plausible);
          s.data = { conn: c };
          resolve(c);
        },
        data: (s, chunk) => s.data.conn?.onData(chunk),
        drain: (s) => s.data.conn?.onDrain(),
        close: (s) => s.data.conn?.close("connection closed"),
        error: (s, e) => s.data.conn?.close(`socket error: ${e?.message ?? e}`),
        connectError: (_s, e) => reject(e),
      },
    }).catch(reject);
  });
}
