// Batches sends on an unconnected Bun UDP socket: queue(buf, port, address) now, one sendMany per
// event-loop turn (or every 64 datagrams). The caller must not reuse `buf` after queueing it
// (Bun's receive buffers are fresh per datagram, so relaying them as they are is safe).
// Returns how many datagrams the kernel refused, for the caller's counters.

const MAX = 64;

export class SendBatch {
  private readonly items: (Uint8Array | number | string)[] = [];
  private count = 0;
  private armed = false;
  failed = 0;
  private readonly flushCb = () => {
    this.armed = false;
    this.flush();
  };

  constructor(private readonly sock: { sendMany(packets: readonly (Uint8Array | number | string)[]): number }) {}

  queue(buf: Uint8Array, port: number, address: string): void {
    this.items.push(buf, port, address);
    if (++this.count >= MAX) this.flush();
    else if (!this.armed) {
      this.armed = true;
      setImmediate(this.flushCb);
    }
  }

  flush(): void {
    if (this.count === 0) return;
    let sent = 0;
    try {
      sent = this.sock.sendMany(this.items);
    } catch {
      sent = 0; // ECONNREFUSED from an earlier ICMP error is thrown here
    }
    this.failed += this.count - sent;
    this.items.length = 0;
    this.count = 0;
  }
}
