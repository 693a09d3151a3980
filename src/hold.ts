// The one hold queue: packets for a client that cannot be sent yet wait here instead of being
// dropped, for every "not yet" case — a client whose tcp-anycast flow is not (or no longer) on
// this server until its next segment brings the flow over, a client whose link went away
// (stream closed, the server holding it unreachable) until it is heard again. The queue owns
// copies of what it keeps: at most `hold.ms` each, `hold.bytes` in all (refused past that,
// counted); `release` hands them back oldest first when the client's endpoint is learned here.
// Arrivals wait here too (`holdIn` / `releaseIn`, same limits): authenticated packets from a
// client that another server served last, until that server's replay marks are in (datapath.ts).
//
// Timers: one sweep every SWEEP_MS drops what is older than hold.ms (also checked on every hold
// and release, so the sweep only bounds memory for clients that never come back).
import type { Conn } from "./state.ts";
import type { Ingress } from "./transport/link.ts";

export const SWEEP_MS = 100;

interface Held {
  type: number;
  data: Uint8Array;
  at: number;
  /** Arrivals only: where the datagram came from. */
  via?: Ingress;
  address?: string;
  port?: number;
}

/** What an arrival is handed back with. */
export type Arrival = (pkt: Uint8Array, via: Ingress, address: string, port: number) => void;

export interface HoldLimits {
  ms: number;
  bytes: number;
}

export class HoldQueue {
  /** Outbound by client; arrivals by the client's `arrivals` key (one byte budget for both). */
  private readonly queues = new Map<object, Held[]>();
  private bytes = 0;
  delivered = 0;
  expired = 0;
  /** Packets refused because hold.bytes was reached (or holding is off). */
  refused = 0;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly limits: () => HoldLimits) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      const now = performance.now();
      for (const c of [...this.queues.keys()]) this.expire(c, now);
    }, SWEEP_MS);
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.queues.clear();
    this.bytes = 0;
  }

  has(c: Conn): boolean {
    return this.queues.has(c);
  }

  /** Keeps a copy of `inner` for `to`; false when holding is off or the byte limit is reached. */
  hold(to: Conn, type: number, inner: Uint8Array): boolean {
    return this.keep(to, type, inner);
  }

  /** Keeps a copy of an arrived datagram for `c` (its `arrivals` queue); false as `hold`. */
  holdIn(c: Conn, pkt: Uint8Array, via: Ingress, address: string, port: number): boolean {
    if (!this.keep(c.arrivals, 0, pkt)) return false;
    const q = this.queues.get(c.arrivals)!;
    const h = q[q.length - 1]!;
    h.via = via;
    h.address = address;
    h.port = port;
    return true;
  }

  /** Hands `c`'s held arrivals back to `fn`, oldest first (expired ones are gone). */
  releaseIn(c: Conn, fn: Arrival): void {
    for (const h of this.take(c.arrivals)) {
      this.delivered++;
      fn(h.data, h.via!, h.address!, h.port!);
    }
  }

  /** What waits under `key` and has not expired, removed from the queue (and its bytes from the budget). */
  private take(key: object): Held[] {
    this.expire(key, performance.now());
    const q = this.queues.get(key);
    if (q === undefined) return [];
    this.queues.delete(key);
    for (const h of q) this.bytes -= h.data.length;
    return q;
  }

  private keep(to: object, type: number, inner: Uint8Array): boolean {
    const lim = this.limits();
    if (lim.ms <= 0) return false;
    const now = performance.now();
    this.expire(to, now);
    if (this.bytes + inner.length > lim.bytes) {
      this.refused++;
      return false;
    }
    let q = this.queues.get(to);
    if (q === undefined) this.queues.set(to, (q = []));
    q.push({ type, data: inner.slice(), at: now });
    this.bytes += inner.length;
    return true;
  }

  /** The client can be reached now: `send` each waiting packet, oldest first. */
  release(c: Conn, send: (type: number, data: Uint8Array) => boolean): void {
    for (const h of this.take(c)) if (send(h.type, h.data)) this.delivered++;
  }

  private expire(c: object, now: number): void {
    const q = this.queues.get(c);
    if (q === undefined) return;
    const limit = now - this.limits().ms;
    let n = 0;
    while (n < q.length && q[n]!.at < limit) this.bytes -= q[n++]!.data.length;
    if (n > 0) {
      q.splice(0, n);
      this.expired += n;
    }
    if (q.length === 0) this.queues.delete(c);
  }
}
