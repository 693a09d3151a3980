// A UDP socket of our own through bun:ffi, for the paths that only move datagrams (relay ports,
// the relay client): receives with recvmmsg, up to RING datagrams per call, without a Buffer or
// an address string per datagram, and with UDP_GRO (udp(7), Linux ≥ 5.0) a run the sender sent
// with GSO arrives as one message, cut here into views. Sends go through GsoSender (gso.ts),
// runs on or off. Readiness comes from poller.ts.
//
// Contracts:
// - `onDatagram(buf, port, address)` gets each datagram as a view into a receive ring shared by
//   every BatchUdp of the process: valid until `onDrained` returns, which is called after every
//   receive call. Views queued in a SendBatch (batch.ts) are safe: every pending batch is flushed
//   before the ring is refilled; anything else that keeps one must copy it.
// - `address` is the text form (IPv4 dotted, an IPv4-mapped IPv6 source unmapped), cached per
//   source, so comparing it with a string kept from before is cheap.
// - `close` is idempotent; after it no callback runs and the fd is closed.
//
// struct layouts (LP64 Linux): mmsghdr 64 B (msghdr 56 B | msg_len u32 @56); msghdr: name ptr @0
// | namelen u32 @8 | iov ptr @16 | iovlen u64 @24 | control ptr @32 | controllen u64 @40 | flags
// i32 @48; cmsghdr 16 B: len u64 | level i32 | type i32, then data (UDP_GRO: int gso_size).
import { ptr, type Pointer } from "bun:ffi";
import { errno, libc, putPtr } from "../libc.ts";
import { formatIp, parseIp } from "../net/addr.ts";
import { flushPending } from "./batch.ts";
import { GsoSender, gsoAvailable } from "./gso.ts";
import { watch } from "./poller.ts";
import { setSocketBuffers, type UdpTuning } from "./sockopt.ts";

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEPORT = 15;
const SOL_UDP = 17;
const UDP_GRO = 104;
const MSG_DONTWAIT = 0x40;
const MSG_TRUNC = 0x20;
const EAGAIN = 11;
const EINTR = 4;
const ECONNREFUSED = 111;

/** Messages per receive call, and receive calls per socket per poller turn. */
const RING = 64;
const CALLS_PER_TURN = 4;
const SLOT = 65536; // a datagram, or a GRO run: at most 64 KiB
const NAME = 28;
const CTRL = 32;
const MAX_NAMES = 4096;

// The ring: one per process (drains run one at a time on the main thread).
let ring: {
  data: Uint8Array;
  mmsg: Uint32Array;
  /** The messages' iovecs: referenced from `mmsg` by address, so kept alive here. */
  iov: Uint32Array;
  names: Uint8Array;
  ctrl: DataView;
  mmsgPtr: Pointer;
} | null = null;

function theRing(): NonNullable<typeof ring> {
  if (ring !== null) return ring;
  const data = new Uint8Array(RING * SLOT);
  const mmsg = new Uint32Array((RING * 64) / 4);
  const iov = new Uint32Array((RING * 16) / 4);
  const names = new Uint8Array(RING * NAME);
  const ctrl = new Uint8Array(RING * CTRL);
  const [d, v, n, c] = [ptr(data), ptr(iov), ptr(names), ptr(ctrl)];
  for (let i = 0; i < RING; i++) {
    putPtr(iov, i * 4, d + i * SLOT);
    iov[i * 4 + 2] = SLOT;
    putPtr(mmsg, i * 16, n + i * NAME);
    putPtr(mmsg, i * 16 + 4, v + i * 16);
    mmsg[i * 16 + 6] = 1;
    putPtr(mmsg, i * 16 + 8, c + i * CTRL);
  }
  ring = { data, mmsg, iov, names, ctrl: new DataView(ctrl.buffer), mmsgPtr: ptr(mmsg) };
  return ring;
}

export interface BatchUdpOptions {
  /** IP literal to bind ("0.0.0.0", "::" for both families, or one address). */
  host: string;
  port: number;
  reusePort?: boolean;
  /** Buffers, GSO for sends, GRO for receives. */
  tuning?: UdpTuning;
  onDatagram(buf: Uint8Array, port: number, address: string): void;
  /** After each receive call's datagrams: flush what holds views into the ring. */
  onDrained?(): void;
}

export interface BatchUdpStats {
  received: number;
  /** Messages that carried a GRO run of more than one datagram. */
  groRuns: number;
  /** Datagrams longer than a receive slot (cannot happen with UDP's 65507-byte limit). */
  truncated: number;
  errors: number;
  /** Datagrams whose onDatagram threw (a bug): dropped, the others still delivered. */
  callbackErrors: number;
}

const ERRNO: Record<number, [string, string]> = {
  98: ["EADDRINUSE", "address in use"],
  99: ["EADDRNOTAVAIL", "address not available on this host"],
  13: ["EACCES", "permission denied"],
  1: ["EPERM", "permission denied"],
  97: ["EAFNOSUPPORT", "address family not supported"],
};

/** An Error with the errno's name as `code` (net/bind.ts explains it to the operator). */
const bindError = (host: string, port: number, e: number) => {
  const [code, text] = ERRNO[e] ?? [`errno ${e}`, "bind failed"];
  return Object.assign(
    new Error(`cannot bind udp ${host.includes(":") ? `[${host}]` : host}:${port}: ${text} (${code})`),
    ERRNO[e] ? { code } : {},
  );
};

export class BatchUdp {
  readonly stats: BatchUdpStats = { received: 0, groRuns: 0, truncated: 0, errors: 0, callbackErrors: 0 };
  /** The bound address as given, and port (the kernel's pick when asked for 0). */
  readonly host: string;
  readonly port: number;
  /** GSO sends (null when off or unavailable); `sendMany` goes one message per datagram. */
  readonly gso: GsoSender | null;
  /** Kernel buffer sizes after tuning (0: not set). */
  readonly buffers: { receive: number; send: number };
  private readonly plain: GsoSender;
  private readonly unwatch: () => void;
  private readonly names4 = new Map<number, string>();
  private last6 = new Uint8Array(16);
  private last6Text = "";
  private closed = false;

  private constructor(
    readonly fd: number,
    private readonly o: BatchUdpOptions,
  ) {
    const c = libc()!;
    const sa = new Uint8Array(NAME);
    const len = new Uint32Array([NAME]);
    c.getsockname(fd, sa, len);
    this.host = o.host;
    this.port = (sa[2]! << 8) | sa[3]!;
    const t = o.tuning;
    this.buffers =
      t && (t.buffers.receive || t.buffers.send) ? setSocketBuffers(fd, t.buffers) : { receive: 0, send: 0 };
    if (t?.gro) c.setsockopt(fd, SOL_UDP, UDP_GRO, new Int32Array([1]), 4); // best effort: an old kernel just does not coalesce
    this.gso = t?.gso && gsoAvailable(fd) ? new GsoSender(fd) : null;
    this.plain = new GsoSender(fd, false);
    this.unwatch = watch(fd, () => this.drain());
  }

  static open(o: BatchUdpOptions): BatchUdp {
    const c = libc();
    if (c === null) throw new Error("cannot load the C library: batched UDP sockets need Linux with glibc or musl");
    const ip = parseIp(o.host);
    if (ip === null) throw new Error(`cannot bind udp ${o.host}: not an IP address`);
    const family = ip.length === 4 ? AF_INET : AF_INET6;
    const fd = c.socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw bindError(o.host, o.port, errno());
    const sa = new Uint8Array(NAME);
    sa[0] = family;
    sa[2] = o.port >> 8;
    sa[3] = o.port & 255;
    sa.set(ip, family === AF_INET ? 4 : 8);
    if (o.reusePort) c.setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, new Int32Array([1]), 4);
    if (c.bind(fd, sa, family === AF_INET ? 16 : 28) !== 0) {
      const e = errno();
      c.close(fd);
      throw bindError(o.host, o.port, e);
    }
    try {
      return new BatchUdp(fd, o);
    } catch (e) {
      c.close(fd);
      throw e;
    }
  }

  /** The source's text form, cached (IPv4 by its 32 bits, IPv6 the last one seen). */
  private source(names: Uint8Array, at: number): string {
    let v4 = -1;
    if (names[at] === AF_INET) v4 = at + 4;
    else if (
      names[at + 8] === 0 &&
      names[at + 9] === 0 &&
      names[at + 10] === 0 &&
      names[at + 11] === 0 &&
      names[at + 12] === 0 &&
      names[at + 13] === 0 &&
      names[at + 14] === 0 &&
      names[at + 15] === 0 &&
      names[at + 16] === 0 &&
      names[at + 17] === 0 &&
      names[at + 18] === 255 &&
      names[at + 19] === 255
    )
      v4 = at + 20;
    if (v4 >= 0) {
      const key = ((names[v4]! << 24) | (names[v4 + 1]! << 16) | (names[v4 + 2]! << 8) | names[v4 + 3]!) >>> 0;
      let s = this.names4.get(key);
      if (s === undefined) {
        if (this.names4.size >= MAX_NAMES) this.names4.clear();
        s = `${names[v4]}.${names[v4 + 1]}.${names[v4 + 2]}.${names[v4 + 3]}`;
        this.names4.set(key, s);
      }
      return s;
    }
    const a = names.subarray(at + 8, at + 24);
    let same = true;
    for (let i = 0; i < 16; i++)
      if (a[i] !== this.last6[i]) {
        same = false;
        break;
      }
    if (!same || this.last6Text === "") {
      this.last6.set(a);
      this.last6Text = formatIp(a);
    }
    return this.last6Text;
  }

  /** True when it stopped at CALLS_PER_TURN full receive calls (more is likely queued). */
  private drain(): boolean {
    const c = libc()!;
    const r = theRing();
    const m32 = r.mmsg;
    const names = r.names;
    const data = r.data;
    const on = this.o.onDatagram;
    const st = this.stats;
    for (let call = 0; call < CALLS_PER_TURN && !this.closed; call++) {
      flushPending(); // what is queued may be views into the ring: sent before it is refilled
      for (let i = 0; i < RING; i++) {
        m32[i * 16 + 2] = NAME;
        m32[i * 16 + 10] = CTRL;
        m32[i * 16 + 11] = 0;
      }
      const n = c.recvmmsg(this.fd, r.mmsgPtr, RING, MSG_DONTWAIT, null);
      if (n < 0) {
        const e = errno();
        if (e === EINTR || e === ECONNREFUSED) continue; // ECONNREFUSED: an earlier ICMP error, reported now
        if (e !== EAGAIN) st.errors++;
        return false;
      }
      try {
        for (let i = 0; i < n; i++) {
          const len = m32[i * 16 + 14]!;
          if ((m32[i * 16 + 12]! & MSG_TRUNC) !== 0) {
            st.truncated++;
            continue;
          }
          const at = i * NAME;
          const port = (names[at + 2]! << 8) | names[at + 3]!;
          const address = this.source(names, at);
          let seg = 0;
          if (m32[i * 16 + 10]! >= 20) {
            const cm = i * CTRL;
            if (r.ctrl.getInt32(cm + 8, true) === SOL_UDP && r.ctrl.getInt32(cm + 12, true) === UDP_GRO)
              seg = r.ctrl.getInt32(cm + 16, true);
          }
          const base = i * SLOT;
          if (seg > 0 && seg < len) {
            st.groRuns++;
            for (let off = 0; off < len && !this.closed; off += seg) {
              st.received++;
              try {
                on(data.subarray(base + off, base + Math.min(len, off + seg)), port, address);
              } catch {
                st.callbackErrors++;
              }
            }
          } else {
            st.received++;
            try {
              on(data.subarray(base, base + len), port, address);
            } catch {
              st.callbackErrors++;
            }
          }
          if (this.closed) return false;
        }
      } finally {
        if (!this.closed) this.o.onDrained?.();
      }
      if (n < RING) return false;
    }
    return !this.closed;
  }

  /** Sends one datagram now (control messages); false when the kernel did not take it. */
  send(buf: Uint8Array, port: number, address: string): boolean {
    return !this.closed && this.plain.send([buf, port, address], 1) === 1;
  }

  /** Bun's sendMany shape (datagram, port, address triples): one message per datagram. */
  sendMany(items: readonly (Uint8Array | number | string)[]): number {
    if (this.closed) return 0;
    if (items.length <= 3 * this.plain.capacity) return Math.max(0, this.plain.send(items, items.length / 3));
    let sent = 0;
    for (let i = 0; i < items.length; i += 3 * this.plain.capacity) {
      const part = items.slice(i, i + 3 * this.plain.capacity);
      sent += Math.max(0, this.plain.send(part, part.length / 3));
    }
    return sent;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unwatch();
    libc()!.close(this.fd);
  }
}
