// UDP generic segmentation offload (udp(7) UDP_SEGMENT, Linux ≥ 4.18) for a Bun UDP socket,
// through bun:ffi on the socket's fd: Bun's send/sendMany cannot ask for it. A batch of
// datagrams is cut into runs, each run consecutive datagrams to one destination of one size (its
// last may be shorter); a run is one message of one sendmmsg, its datagrams the message's iovec
// (no copy) and its size the UDP_SEGMENT control message. The kernel carries a run as one
// packet through its stack (routing, netfilter, veth, bridges, forwarding) and cuts it into the
// datagrams at the device (in hardware or software) or at the receiving socket, so a relay pays
// the per-packet kernel path once per run. The receiver sees the same datagrams as without it.
//
// Who owns what: the datagrams of a `send` call are read by the kernel during the call only.
// Errors: a run the kernel refuses as a run (EIO: the route has no checksum offload, e.g. some
// tunnels; EMSGSIZE/EINVAL: a datagram past the path MTU, to be fragmented) is resent datagram
// by datagram, and its destination gets no more runs; a kernel without UDP GSO (EOPNOTSUPP)
// turns it off for the socket. ECONNREFUSED (an earlier ICMP error reported now) is retried once;
// EAGAIN (socket buffer full) drops the rest of the batch, any other error that message's
// datagrams: the caller counts them as not sent.
//
// struct layouts (x86-64 and aarch64 Linux, LP64):
//   mmsghdr  64 B: msghdr (56 B) | msg_len u32 | pad
//   msghdr   56 B: name ptr @0 | namelen u32 @8 | iov ptr @16 | iovlen u64 @24 | control ptr @32 |
//                  controllen u64 @40 | flags i32 @48
//   iovec    16 B: base ptr @0 | len u64 @8
//   cmsghdr  16 B: len u64 @0 | level i32 @8 | type i32 @12, then data; CMSG_SPACE(2) = 24
//   sockaddr_in 16 B: family u16 @0 | port be16 @2 | addr @4; sockaddr_in6 28 B: addr @8
import { ptr, type Pointer } from "bun:ffi";
import { errno, libc, putPtr } from "../libc.ts";
import { parseIp } from "../net/addr.ts";

const SOL_SOCKET = 1;
const SO_DOMAIN = 39;
const SOL_UDP = 17;
const UDP_SEGMENT = 103;
const AF_INET = 2;
const AF_INET6 = 10;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const ECONNREFUSED = 111;
const EOPNOTSUPP = 95;
const ENOPROTOOPT = 92;

/** Datagrams per run: the kernel's UDP_MAX_SEGMENTS is 64 before Linux 6.10, 128 after. */
export const MAX_SEGMENTS = 64;
/** Payload bytes per run: an IPv4 packet's 65535 less its IP and UDP headers, with a margin. */
export const MAX_RUN_BYTES = 65000;

const MSG = 64;
const MAX_DESTS = 4096;

interface Dest {
  /** The address in the socket's family (an IPv4 one mapped on an IPv6 socket); null: cannot send. */
  readonly bytes: Uint8Array | null;
  /** False once the kernel refused a run to it (cleared with the cache). */
  runs: boolean;
}
const NAME = 28;
const CMSG = 24;

/** True when the C library has sendmmsg and the socket takes UDP_SEGMENT (a kernel with UDP GSO). */
export function gsoAvailable(fd: number): boolean {
  const lib = libc();
  if (lib === null || fd < 0) return false;
  const v = new Int32Array(1);
  const len = new Uint32Array([4]);
  return lib.getsockopt(fd, SOL_UDP, UDP_SEGMENT, v, len) === 0;
}

export class GsoSender {
  /** Runs of more than one datagram the kernel took as one message. */
  runs = 0;
  /** Why GSO was turned off (null while on). */
  off: string | null = null;
  private readonly lib = libc()!;
  private readonly family: number;
  private readonly mmsg = new Uint32Array((MSG * 64) / 4);
  private readonly iov = new Uint32Array((MSG * 16) / 4);
  private readonly names = new Uint8Array(MSG * NAME);
  private readonly ctrl = new Uint8Array(MSG * CMSG);
  private readonly mmsgPtr: number;
  private readonly iovPtr: number;
  private readonly namesPtr: number;
  private readonly ctrlPtr: number;
  /** Runs refused by the kernel and resent one datagram at a time. */
  fallbacks = 0;
  /** Destination address text → its bytes in the socket's family, and whether it takes runs. */
  private readonly addrs = new Map<string, Dest>();
  /** Message i's first datagram and how many datagrams it carries. */
  private readonly first = new Int32Array(MSG);
  private readonly count = new Int32Array(MSG);

  /** Most datagrams one `send` takes (batch.ts BATCH). */
  readonly capacity = MSG;

  /** `runs` false: one message per datagram, no UDP_SEGMENT (a plain sendmmsg: mmsg.ts). */
  constructor(
    private readonly fd: number,
    private readonly runsOn = true,
  ) {
    const v = new Int32Array(1);
    const len = new Uint32Array([4]);
    this.lib.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, v, len);
    this.family = v[0] === AF_INET6 ? AF_INET6 : AF_INET;
    this.mmsgPtr = ptr(this.mmsg);
    this.iovPtr = ptr(this.iov);
    this.namesPtr = ptr(this.names);
    this.ctrlPtr = ptr(this.ctrl);
    const dv = new DataView(this.ctrl.buffer);
    for (let i = 0; i < MSG; i++) {
      dv.setUint32(i * CMSG, 18, true); // CMSG_LEN(2)
      dv.setInt32(i * CMSG + 8, SOL_UDP, true);
      dv.setInt32(i * CMSG + 12, UDP_SEGMENT, true);
    }
  }

  /** The destination's sockaddr bytes (without the port) and whether runs go to it, cached. */
  private dest(address: string): Dest {
    let d = this.addrs.get(address);
    if (d !== undefined) return d;
    const ip = parseIp(address);
    let bytes: Uint8Array | null = null;
    if (ip !== null && ip.length === 4 && this.family === AF_INET) bytes = ip;
    else if (ip !== null && this.family === AF_INET6)
      bytes = ip.length === 16 ? ip : new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...ip]);
    if (this.addrs.size >= MAX_DESTS) this.addrs.clear(); // bounded; a cleared destination tries runs again
    d = { bytes, runs: true };
    this.addrs.set(address, d);
    return d;
  }

  /**
   * Sends items[0..3n) (datagram, port, address triples, as Bun's sendMany takes them). Returns
   * how many datagrams the kernel took, or -1 when GSO is off and nothing was sent: the caller
   * then sends them itself.
   */
  send(items: readonly (Uint8Array | number | string)[], n: number): number {
    if (this.off !== null || n > this.capacity) return -1;
    let msgs = this.build(items, 0, n);
    let sent = 0;
    let retried = false;
    const m32 = this.mmsg;
    for (let from = 0; from < msgs;) {
      const r = this.lib.sendmmsg(this.fd, (this.mmsgPtr + from * 64) as Pointer, msgs - from, MSG_DONTWAIT);
      if (r > 0) {
        for (let j = from; j < from + r; j++) {
          sent += this.count[j]!;
          if (this.count[j]! > 1) this.runs++;
        }
        from += r;
        retried = false;
        continue;
      }
      const e = errno();
      if (e === ECONNREFUSED && !retried) {
        retried = true; // an earlier ICMP error, reported now; the send itself may go
        continue;
      }
      retried = false;
      if (e === EAGAIN) break; // the socket buffer is full: the rest is dropped
      if (m32[from * 16 + 10] !== 0) {
        // The run was refused as a run: no checksum offload on the route (EIO), a datagram past
        // the path MTU (EMSGSIZE or EINVAL: it must be fragmented), no UDP GSO in the kernel
        // (EOPNOTSUPP), or anything else. This destination (with no GSO at all, the socket)
        // gets datagrams one by one from now on; the rest of the batch is rebuilt and sent.
        this.fallbacks++;
        const start = this.first[from]!;
        if (e === EOPNOTSUPP || e === ENOPROTOOPT) {
          this.off = `errno ${e}`;
          if (start === 0) return -1;
        }
        this.dest(items[start * 3 + 2] as string).runs = false;
        msgs = this.build(items, start, n);
        from = 0;
        continue;
      }
      from++; // this message's destination refused it; go on with the next
    }
    return sent;
  }

  /**
   * Fills the message array from items[3·start..3·n): runs to destinations that take them (and
   * while GSO is on), else one datagram per message. `first[i]` is message i's first datagram.
   * Returns the message count.
   */
  private build(items: readonly (Uint8Array | number | string)[], start: number, n: number): number {
    const m32 = this.mmsg;
    const iov = this.iov;
    const names = this.names;
    let msgs = 0;
    for (let i = start; i < n;) {
      const buf = items[i * 3] as Uint8Array;
      const port = items[i * 3 + 1] as number;
      const address = items[i * 3 + 2] as string;
      const size = buf.length;
      const d = this.dest(address);
      let k = 1;
      let bytes = size;
      // the run: same destination, same size (a shorter one may end it)
      while (this.runsOn && d.runs && this.off === null && i + k < n && k < MAX_SEGMENTS && size > 0) {
        const b = items[(i + k) * 3] as Uint8Array;
        if (items[(i + k) * 3 + 1] !== port || items[(i + k) * 3 + 2] !== address) break;
        if (b.length > size || b.length === 0 || bytes + b.length > MAX_RUN_BYTES) break;
        bytes += b.length;
        k++;
        if (b.length < size) break;
      }
      const a = d.bytes;
      if (a === null) {
        i += k; // not of this socket's family: no message, so not sent
        continue;
      }
      const at = msgs * 16; // u32 index of mmsghdr `msgs`
      const na = msgs * NAME;
      names.fill(0, na, na + NAME);
      names[na] = this.family;
      names[na + 2] = port >> 8;
      names[na + 3] = port & 255;
      names.set(a, na + (this.family === AF_INET ? 4 : 8));
      for (let j = 0; j < k; j++) {
        const b = items[(i + j) * 3] as Uint8Array;
        const v = (i + j) * 4;
        putPtr(iov, v, b.length > 0 ? ptr(b) : this.iovPtr);
        iov[v + 2] = b.length;
        iov[v + 3] = 0;
      }
      putPtr(m32, at, this.namesPtr + na);
      m32[at + 2] = this.family === AF_INET ? 16 : 28;
      m32[at + 3] = 0;
      putPtr(m32, at + 4, this.iovPtr + i * 16);
      m32[at + 6] = k;
      m32[at + 7] = 0;
      if (k > 1) {
        const c = msgs * CMSG;
        this.ctrl[c + 16] = size & 255;
        this.ctrl[c + 17] = size >> 8;
        putPtr(m32, at + 8, this.ctrlPtr + c);
        m32[at + 10] = CMSG;
      } else {
        m32[at + 8] = 0;
        m32[at + 9] = 0;
        m32[at + 10] = 0;
      }
      m32[at + 11] = 0;
      m32[at + 12] = 0;
      this.first[msgs] = i;
      this.count[msgs] = k;
      msgs++;
      i += k;
    }
    return msgs;
  }
}
