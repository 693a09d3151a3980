// Reads from a TUN with offloads (tun.ts `offload`: IFF_VNET_HDR and TUNSETOFFLOAD TUN_F_CSUM |
// TSO4 | TSO6). A read whose virtio_net_hdr is not zero is a packet with its checksum left partial
// (completed here) or a TCP super-packet (cut into segments, net/tso.ts); the callback sees whole
// packets one at a time, each a view valid during the call only. The offloads pay off for TCP and
// cost UDP a checksum pass, so each second the reader weighs the bytes read (`offloadWanted`)
// and turns them off while UDP carries most of the traffic, on again when TCP does. Counts go to
// the device's TunStats.
import type { Pointer } from "bun:ffi";
import { libc } from "./libc.ts";
import { completeChecksum, tsoHeader, tsoPiece, tsoPieces } from "./net/tso.ts";
import { VNET_HDR } from "./net/uso.ts";

const TUNSETOFFLOAD = 0x400454d0;
const TUN_F_CSUM_TSO = 0x01 | 0x02 | 0x04; // TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6
const PIECE = 65536;

/** The device's read counters (tun.ts TunStats), updated in place. */
interface RxStats {
  rxPackets: number;
  rxBytes: number;
  rxErrors: number;
  callbackErrors: number;
  rxOffloaded: number;
  offloadSwitches: number;
}

/** Hands one packet to the device's callback, counted; a throw is a counted drop and reading goes on. */
export function deliver(st: RxStats, p: Uint8Array, cb: (pkt: Uint8Array) => void): void {
  st.rxPackets++;
  st.rxBytes += p.length;
  try {
    cb(p);
  } catch {
    st.callbackErrors++;
  }
}

/** Asks the kernel for (or off) the offloads on TUN `fd`; true when it took the request. */
export function setOffload(fd: number, on: boolean): boolean {
  // the ioctl's argument is the flags themselves, passed where a pointer would be
  return libc()!.ioctl(fd, TUNSETOFFLOAD, (on ? TUN_F_CSUM_TSO : 0) as unknown as Pointer) === 0;
}

/**
 * Whether an `offload` device keeps (or turns on) its offloads for the next second, given the TCP
 * and UDP bytes it read in the last one: TSO saves TCP reads, while the partial checksums cost
 * UDP a pass over each datagram. Off while UDP is over 3/4 of the bytes, on again once TCP is
 * over half; a second with under 1 MiB changes nothing.
 */
export function offloadWanted(on: boolean, tcpBytes: number, udpBytes: number): boolean {
  if (tcpBytes + udpBytes < 1 << 20) return on;
  return on ? udpBytes <= 3 * tcpBytes : tcpBytes > udpBytes;
}

export class OffloadReader {
  /** True while the offloads are on. */
  on = true;
  private tcpBytes = 0;
  private udpBytes = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** One segment cut from a super-packet, handed to the callback. */
  private piece: Uint8Array | null = null;

  constructor(
    private readonly fd: number,
    private readonly stats: RxStats,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.adapt(), 1000);
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * One read of `n` bytes in `buf` (virtio_net_hdr first): counted for the policy; true when it
   * was handled here (a non-zero header: one may come after the offloads went off, queued before),
   * false when the caller delivers it as a plain packet.
   */
  read(buf: Uint8Array, n: number, cb: (pkt: Uint8Array) => void, closed: () => boolean): boolean {
    const proto = buf[VNET_HDR]! >> 4 === 4 ? buf[VNET_HDR + 9] : buf[VNET_HDR + 6];
    if (proto === 6) this.tcpBytes += n;
    else if (proto === 17) this.udpBytes += n;
    if (buf[0] === 0 && buf[1] === 0) return false;
    const st = this.stats;
    const p = buf.subarray(VNET_HDR, n);
    const gso = buf[1]!;
    if (gso === 0) {
      if ((buf[0]! & 1) !== 0 && !completeChecksum(p, buf[6]! | (buf[7]! << 8), buf[8]! | (buf[9]! << 8))) {
        st.rxErrors++;
        return true;
      }
      deliver(st, p, cb);
      return true;
    }
    const h = tsoHeader(p, gso);
    const size = buf[4]! | (buf[5]! << 8);
    if (h === 0 || size === 0) {
      st.rxErrors++; // a kind of super-packet we did not ask for, or one we cannot cut
      return true;
    }
    st.rxOffloaded++;
    const out = (this.piece ??= new Uint8Array(PIECE));
    const k = tsoPieces(p, h, size);
    for (let j = 0; j < k && !closed(); j++) deliver(st, out.subarray(0, tsoPiece(p, h, size, j, out)), cb);
    return true;
  }

  private adapt(): void {
    const want = offloadWanted(this.on, this.tcpBytes, this.udpBytes);
    this.tcpBytes = this.udpBytes = 0;
    if (want === this.on || !setOffload(this.fd, want)) return; // a refusal: stays as it was
    this.on = want;
    this.stats.offloadSwitches++;
  }
}
