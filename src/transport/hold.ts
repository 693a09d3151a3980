// Packets for a client whose tcp-anycast flow is not (or no longer) on this server wait here for
// the client's next segment to bring the flow over (src/transport/tcp-anycast.ts), instead of
// being dropped: at most `holdMs` each and `holdBytes` in all, oldest first. The queue copies
// what it keeps; `release` hands the packets back in order to the server's send path.
import type { Conn } from "../state.ts";

export class HoldQueue {
  private readonly holding = new Set<Conn>();
  private bytes = 0;
  delivered = 0;
  expired = 0;
  /** Packets refused because holdBytes was reached. */
  refused = 0;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly limits: () => { holdMs: number; holdBytes: number }) {}

  /** Sweeps expired packets every 100 ms until stop(). */
  start(): void {
    this.timer = setInterval(() => {
      const now = performance.now();
      for (const c of [...this.holding]) this.expire(c, now);
    }, 100);
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Keeps a copy of `inner` for `to`; false when the byte limit is reached. */
  hold(to: Conn, type: number, inner: Uint8Array): boolean {
    const now = performance.now();
    this.expire(to, now);
    if (this.bytes + inner.length > this.limits().holdBytes) {
      this.refused++;
      return false;
    }
    to.held.push({ type, data: inner.slice(), at: now });
    this.bytes += inner.length;
    this.holding.add(to);
    return true;
  }

  /** The client's flow is here now: `send` each waiting packet, oldest first. */
  release(c: Conn, send: (type: number, data: Uint8Array) => boolean): void {
    this.expire(c, performance.now());
    const q = c.held;
    c.held = [];
    this.holding.delete(c);
    for (const h of q) {
      this.bytes -= h.data.length;
      if (send(h.type, h.data)) this.delivered++;
    }
  }

  private expire(c: Conn, now: number): void {
    const limit = now - this.limits().holdMs;
    let n = 0;
    while (n < c.held.length && c.held[n]!.at < limit) this.bytes -= c.held[n++]!.data.length;
    if (n > 0) {
      c.held.splice(0, n);
      this.expired += n;
    }
    if (c.held.length === 0) this.holding.delete(c);
  }
}
