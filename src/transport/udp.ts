// UDP transport: one Bun UDP socket, a synchronous receive callback, and batched sends.
// Sending: take `slot()`, fill it, `queue(len, port, address)`. Queued datagrams go out in one
// sendMany when 64 are queued or once per event-loop turn (setImmediate), whichever is first.
// A slot belongs to the caller between slot() and queue() and to the transport after; at most one
// slot is outstanding. Receive buffers are Bun's and fresh per datagram (safe to keep).
import { unmapV4 } from "../net/addr.ts";
import { openFds, setSocketBuffers, udpSocketFd } from "./sockopt.ts";

export const SLOT_BYTES = 2048;
const BATCH = 64;

export interface UdpStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
}

/** One datagram (or framed packet); may return false when it did not authenticate (TCP readers resync). */
export type OnDatagram = (buf: Uint8Array, port: number, address: string) => boolean | void;

export class UdpTransport {
  readonly stats: UdpStats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txErrors: 0 };
  private readonly slots: Uint8Array[] = [];
  private readonly batch: (Uint8Array | number | string)[] = [];
  private queued = 0;
  private armed = false;
  private closed = false;
  private readonly flushCb = () => {
    this.armed = false;
    this.flush();
  };

  private constructor(private readonly sock: Bun.udp.Socket<"buffer">) {
    for (let i = 0; i < BATCH; i++) this.slots.push(new Uint8Array(SLOT_BYTES));
  }

  /** Kernel socket buffer sizes after open (0 when they could not be read). */
  buffers = { receive: 0, send: 0 };

  /**
   * Binds hostname:port (port 0 = any). Addresses handed to onDatagram are unmapped
   * ("::ffff:a.b.c.d" → "a.b.c.d"). `buffers` asks for SO_RCVBUF/SO_SNDBUF sizes (best effort).
   */
  static async open(
    hostname: string,
    port: number,
    onDatagram: OnDatagram,
    onError: (e: Error) => void,
    buffers: { receive: number; send: number } = { receive: 0, send: 0 },
  ): Promise<UdpTransport> {
    let t: UdpTransport | undefined;
    const before = buffers.receive || buffers.send ? openFds() : null;
    const sock = await Bun.udpSocket({
      hostname,
      port,
      socket: {
        data(_s, buf, rport, raddr) {
          const st = t!.stats;
          st.rxPackets++;
          st.rxBytes += buf.length;
          onDatagram(buf, rport, raddr.startsWith("::ffff:") ? unmapV4(raddr) : raddr);
        },
        error(_s, e) {
          onError(e);
        },
      },
    });
    t = new UdpTransport(sock);
    if (before !== null) {
      const fd = udpSocketFd(sock.port, before);
      if (fd >= 0) t.buffers = setSocketBuffers(fd, buffers);
    }
    return t;
  }

  get address(): string {
    return this.sock.hostname;
  }
  get port(): number {
    return this.sock.port;
  }

  slot(): Uint8Array {
    if (this.queued === BATCH) this.flush();
    return this.slots[this.queued]!;
  }

  queue(len: number, port: number, address: string): void {
    const b = this.batch;
    b.push(this.slots[this.queued]!.subarray(0, len), port, address);
    this.queued++;
    this.stats.txBytes += len;
    if (this.queued === BATCH) this.flush();
    else if (!this.armed) {
      this.armed = true;
      setImmediate(this.flushCb);
    }
  }

  flush(): void {
    const n = this.queued;
    if (n === 0 || this.closed) return;
    let sent = 0;
    try {
      sent = this.sock.sendMany(this.batch);
    } catch {
      // ECONNREFUSED from an earlier ICMP error is thrown here even on an unconnected socket.
      sent = 0;
    }
    this.stats.txPackets += sent;
    this.stats.txErrors += n - sent;
    this.batch.length = 0;
    this.queued = 0;
  }

  close(): void {
    this.flush();
    this.closed = true;
    this.sock.close();
  }
}
