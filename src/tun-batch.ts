// Batched writes to a TUN opened with IFF_VNET_HDR (tun.ts `batch`): every write carries a
// virtio_net_hdr; `queue` copies the packet into an arena written once per event-loop turn (or
// when full), a run of one UDP flow (net/uso.ts) or of one TCP connection's segments (net/tso.ts)
// as ONE packet the kernel cuts back, the rest one by one. The caller's buffer is free when
// `queue` returns. A kernel that refuses UDP runs (before 6.2) gets UDP packets one by one from
// the first refusal on; TCP runs likewise. Counts go to the device's TunStats.
import { ptr, type Pointer } from "bun:ffi";
import { libc, putPtr } from "./libc.ts";
import { MAX_RUN, runLength, runPrefix, VNET_HDR } from "./net/uso.ts";
import { tcpRunLength, tcpRunPrefix } from "./net/tso.ts";

/** The device's write counters (tun.ts TunStats), updated in place. */
interface TxStats {
  txPackets: number;
  txBytes: number;
  txErrors: number;
}

const ARENA = 1 << 18; // queued packet bytes per turn (then written at once)
const QUEUED = 256;

/** Writes to a TUN opened with IFF_VNET_HDR: each carries the header; `queue` batches runs. */
export class BatchWriter {
  /** Runs (UDP or TCP) written as one packet; runs refused (then written one by one, and no more runs of that protocol). */
  readonly runs = { written: 0, refused: 0 };
  private udpRunsOff = false;
  private tcpRunsOff = false;
  private readonly arena = new Uint8Array(ARENA);
  private used = 0;
  private readonly pending: Uint8Array[] = [];
  private armed = false;
  private readonly zero = new Uint8Array(VNET_HDR);
  private readonly prefix = new Uint8Array(VNET_HDR + 40 + 60); // IPv6 + the longest TCP header
  private readonly iov = new Uint32Array((MAX_RUN + 1) * 4);
  private readonly iovPtr = ptr(this.iov);
  private readonly flushCb = (): void => {
    this.armed = false;
    this.flush();
  };

  private readonly c = libc()!; // loaded by openTun before any device exists
  private closed = false;

  constructor(
    private readonly fd: number,
    private readonly stats: TxStats,
  ) {}

  /** iovec `at` (16 bytes: base pointer, length) in `iov`. */
  private static put(iov: Uint32Array, at: number, p: number, len: number): void {
    putPtr(iov, at * 4, p);
    iov[at * 4 + 2] = len;
    iov[at * 4 + 3] = 0;
  }

  /** writev of iovecs [0, count); true when the kernel took all `bytes`. */
  private writev(count: number, bytes: number): boolean {
    return this.c.writev(this.fd, this.iovPtr as Pointer, count) === bytes;
  }

  /** One packet now (the caller has checked it is not empty and the device open). */
  write(pkt: Uint8Array): boolean {
    BatchWriter.put(this.iov, 0, ptr(this.zero), VNET_HDR);
    BatchWriter.put(this.iov, 1, ptr(pkt), pkt.length);
    if (!this.writev(2, VNET_HDR + pkt.length)) {
      this.stats.txErrors++;
      return false;
    }
    this.stats.txPackets++;
    this.stats.txBytes += pkt.length;
    return true;
  }

  queue(pkt: Uint8Array): boolean {
    if (this.closed || pkt.length === 0 || pkt.length > 65535) {
      this.stats.txErrors++;
      return false;
    }
    if (this.used + pkt.length > ARENA || this.pending.length === QUEUED) this.flush();
    const copy = this.arena.subarray(this.used, this.used + pkt.length);
    copy.set(pkt);
    this.used += pkt.length;
    this.pending.push(copy);
    if (!this.armed) {
      this.armed = true;
      setImmediate(this.flushCb);
    }
    return true;
  }

  /** Writes what is queued: runs as one packet each, the rest one by one. */
  flush(): void {
    const q = this.pending;
    const n = q.length;
    for (let i = 0; i < n;) {
      const udp = this.udpRunsOff ? 1 : runLength(q, i, n);
      const tcp = udp === 1 && !this.tcpRunsOff;
      const k = tcp ? tcpRunLength(q, i, n) : udp;
      if (k > 1 && this.writeRun(q, i, k, tcp)) {
        this.runs.written++;
        i += k;
        continue;
      }
      for (let j = i; j < i + k; j++) this.write(q[j]!);
      i += k;
    }
    q.length = 0;
    this.used = 0;
  }

  private writeRun(q: readonly Uint8Array[], i: number, k: number, tcp: boolean): boolean {
    const head = tcp ? tcpRunPrefix(this.prefix, q, i, k) : runPrefix(this.prefix, q, i, k);
    const h = head - VNET_HDR;
    BatchWriter.put(this.iov, 0, ptr(this.prefix), head);
    let total = 0; // the packets' own bytes
    for (let j = 0; j < k; j++) {
      const p = q[i + j]!;
      BatchWriter.put(this.iov, j + 1, ptr(p) + h, p.length - h);
      total += p.length;
    }
    if (!this.writev(k + 1, head + total - k * h)) {
      // a kernel that refuses this gso_type (UDP_L4 before 6.2): that protocol one by one from now on
      this.runs.refused++;
      if (tcp) this.tcpRunsOff = true;
      else this.udpRunsOff = true;
      return false;
    }
    this.stats.txPackets += k;
    this.stats.txBytes += total;
    return true;
  }

  /** Writes what is queued; later queues are refused. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }
}
