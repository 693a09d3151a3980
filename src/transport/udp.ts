// UDP transport: one socket of our own (mmsg.ts: recvmmsg batches, UDP_GRO), a synchronous
// receive callback, and batched sends (batch.ts). Sending a sealed packet: take `slot()`, fill
// it, `queue(len, port, address)`. A slot belongs to the caller between slot() and queue() and to
// the transport after; at most one slot is outstanding. A received datagram is a view into the
// process's receive ring, valid during the callback only: copy it to keep it (a SendBatch may
// queue it as it is: mmsg.ts flushes those before the ring is refilled).
//
// On a server each listener is an `UdpIngress` (the seam of link.ts): a client heard on it gets
// an `UdpLink` (listener + address + port) as its endpoint.
import { BATCH, SendBatch } from "./batch.ts";
import type { Ingress, Link } from "./link.ts";
import { BatchUdp } from "./mmsg.ts";
import { steerByMux, type UdpTuning } from "./sockopt.ts";

export const SLOT_BYTES = 2048;

export interface UdpStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  /** Datagrams whose receive callback threw (a bug): each one dropped, the socket kept reading. */
  rxCallbackErrors: number;
  /** Messages that came as one UDP GRO run of several datagrams (each datagram counts in rxPackets). */
  rxGroRuns: number;
}

/** One datagram (or framed packet); may return false when it did not authenticate (TCP readers resync). */
export type OnDatagram = (buf: Uint8Array, port: number, address: string) => boolean | void;

export class UdpTransport {
  private readonly rx = { packets: 0, bytes: 0, callbackErrors: 0 };
  private readonly slots: Uint8Array[] = [];
  /** Sends, batched (and through UDP GSO when tuning asked for it and the kernel has it). */
  readonly out: SendBatch;
  private closed = false;

  private constructor(private readonly sock: BatchUdp) {
    for (let i = 0; i < BATCH; i++) this.slots.push(new Uint8Array(SLOT_BYTES));
    this.out = new SendBatch(sock, sock.gso);
  }

  /** Kernel socket buffer sizes after open (0 when they could not be read). */
  get buffers(): { receive: number; send: number } {
    return this.sock.buffers;
  }
  /** Workers: the kernel steers datagrams to workers by mux (steerByMux); false = by its hash. */
  steered = false;

  /**
   * Binds hostname:port (port 0 = any; hostname an IP literal). Addresses handed to onDatagram
   * are unmapped ("::ffff:a.b.c.d" → "a.b.c.d"). `tuning` asks for SO_RCVBUF/SO_SNDBUF sizes,
   * UDP GSO and GRO (best effort: `buffers` and `out.gso` tell what was set). Bind errors carry
   * the errno's name as `code` (net/bind.ts).
   */
  static async open(
    hostname: string,
    port: number,
    onDatagram: OnDatagram,
    onError: (e: Error) => void,
    tuning: UdpTuning = { buffers: { receive: 0, send: 0 }, gso: false },
    /** SO_REUSEPORT (workers share the port). */
    reusePort = false,
    /** Workers: datagrams go to the group's socket mux % steerMux (sockopt.ts steerByMux); 0 = off. */
    steerMux = 0,
  ): Promise<UdpTransport> {
    let t: UdpTransport | undefined;
    const sock = BatchUdp.open({
      host: hostname,
      port,
      reusePort,
      tuning,
      onDatagram(buf, rport, raddr) {
        const rx = t!.rx;
        rx.packets++;
        rx.bytes += buf.length;
        try {
          onDatagram(buf, rport, raddr);
        } catch (e) {
          // a bug on the receive path: this datagram is a counted drop; the socket keeps reading
          if (rx.callbackErrors++ < 10) onError(e instanceof Error ? e : new Error(String(e)));
        }
      },
      onDrained: () => t?.out.flush(),
    });
    t = new UdpTransport(sock);
    if (steerMux > 1) t.steered = steerByMux(sock.fd, steerMux);
    return t;
  }

  get stats(): UdpStats {
    const o = this.out;
    return {
      rxPackets: this.rx.packets,
      rxBytes: this.rx.bytes,
      txPackets: o.sent,
      txBytes: o.bytes,
      txErrors: o.failed,
      rxCallbackErrors: this.rx.callbackErrors,
      rxGroRuns: this.sock.stats.groRuns,
    };
  }

  get address(): string {
    return this.sock.host;
  }
  get port(): number {
    return this.sock.port;
  }

  slot(): Uint8Array {
    if (this.out.pending === BATCH) this.out.flush();
    return this.slots[this.out.pending]!;
  }

  queue(len: number, port: number, address: string): void {
    this.out.queue(this.slots[this.out.pending]!.subarray(0, len), port, address);
  }

  flush(): void {
    this.out.flush();
  }

  close(): void {
    if (this.closed) return;
    this.out.close();
    this.closed = true;
    this.sock.close();
  }
}

/** A server's UDP listener as an ingress: clients heard on it are answered from it. */
export class UdpIngress implements Ingress {
  readonly dataAllowed = true;
  constructor(
    readonly udp: UdpTransport,
    readonly name: string,
    /** Index among the server's listeners (Packet.listener for plugins). */
    readonly listener: number,
    /** A noise.listen socket: its packets are the Noise suite's (link.ts Ingress.noise). */
    readonly noise = false,
  ) {}
  link(address: string, port: number): Link {
    return new UdpLink(this, address, port);
  }
}

export class UdpLink implements Link {
  readonly kind = "udp";
  readonly local = true;
  readonly usable = true;
  readonly dataAllowed = true;
  constructor(
    readonly via: UdpIngress,
    readonly address: string,
    readonly port: number,
  ) {}
  get record(): string {
    return this.via.name;
  }
  slot(): Uint8Array {
    return this.via.udp.slot();
  }
  send(len: number): boolean {
    this.via.udp.queue(len, this.port, this.address);
    return true;
  }
}
