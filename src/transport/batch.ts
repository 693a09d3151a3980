// The one send batcher for UDP: queue(buf, port, address) now, one sendMany per event-loop turn
// (setImmediate) or every BATCH datagrams, whichever is first; with a GsoSender (gso.ts, config
// udpGso) one sendmmsg whose runs of like datagrams the kernel carries as one packet each. The caller must not change `buf`
// until the batch is flushed (`pending` tells how many are waiting; UdpTransport reuses slot i
// only after a flush). A received datagram (a view into mmsg.ts's ring) may be queued as it is:
// every pending batch is flushed before the ring is refilled. Counts what the kernel took and refused.

import type { GsoSender } from "./gso.ts";

export const BATCH = 64;

/** Batches with datagrams queued: flushed by `flushPending` before a receive ring is refilled (mmsg.ts). */
const pendingBatches = new Set<SendBatch>();

/**
 * Flushes every batch that has datagrams queued. mmsg.ts calls it before each receive call, so
 * no queued datagram is a view into ring memory that the call overwrites.
 */
export function flushPending(): void {
  if (pendingBatches.size === 0) return;
  for (const b of pendingBatches) b.flush();
}

export class SendBatch {
  private readonly items: (Uint8Array | number | string)[] = [];
  /** Datagrams queued and not flushed yet. */
  pending = 0;
  sent = 0;
  failed = 0;
  bytes = 0;
  private armed = false;
  private closed = false;
  private readonly flushCb = () => {
    this.armed = false;
    this.flush();
  };

  constructor(
    private readonly sock: { sendMany(packets: readonly (Uint8Array | number | string)[]): number },
    /** Sends through UDP GSO when set (it gives the batch back, -1, once GSO is off). */
    public gso: GsoSender | null = null,
  ) {}

  queue(buf: Uint8Array, port: number, address: string): void {
    this.items.push(buf, port, address);
    this.bytes += buf.length;
    if (++this.pending >= BATCH) this.flush();
    else if (!this.armed) {
      this.armed = true;
      pendingBatches.add(this);
      setImmediate(this.flushCb);
    }
  }

  flush(): void {
    pendingBatches.delete(this);
    const n = this.pending;
    if (n === 0 || this.closed) return;
    let sent = this.gso !== null ? this.gso.send(this.items, n) : -1;
    if (sent < 0)
      try {
        sent = this.sock.sendMany(this.items);
      } catch {
        sent = 0; // ECONNREFUSED from an earlier ICMP error is thrown here, even on an unconnected socket
      }
    this.sent += sent;
    this.failed += n - sent;
    this.items.length = 0;
    this.pending = 0;
  }

  /** Flushes what is queued; later queues are dropped silently (the socket is going away). */
  close(): void {
    this.flush();
    this.closed = true;
  }
}
