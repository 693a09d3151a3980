// TUN/TAP devices through bun:ffi (Linux): open, read without blocking the event loop, write, close.
//
// Contracts:
// - Packets are delivered to `start`'s callback one at a time, in the order the kernel queued them,
//   as a view into ONE read buffer owned by the device. The view is valid only during the call;
//   copy it (`slice`) to keep it. If the callback throws, that packet is a drop counted in
//   `stats.callbackErrors` and reading goes on. Readiness comes from the process's one poller
//   (transport/poller.ts), shared with the UDP sockets.
// - `write` never blocks; it returns false when the kernel refused the packet (queue full, device
//   down, bad packet) and counts it in `stats.txErrors`. The caller keeps ownership of `pkt`.
// - `close` is idempotent and synchronous: when it returns, no callback runs any more, the fd is
//   closed and (for a non-persistent device) the kernel has removed the interface, so the same name
//   can be opened again at once.
// - All devices are IFF_NO_PI: a TUN packet is a bare IPv4/IPv6 packet, a TAP packet an Ethernet frame.
// - `batch` (a TUN with IFF_VNET_HDR, no offloads asked for: reads carry a zero header, stripped
//   here): `queue` copies the packet and returns at once; the queue is written once per event-loop
//   turn, runs of one UDP flow or TCP connection as one packet each (net/uso.ts, net/tso.ts). Failed writes then show in
//   `stats.txErrors` only; a device that refuses runs gets its packets one by one from then on.
// - `offload` (a batch TUN that also asks for TUN_F_CSUM | TSO4 | TSO6): reads cut TCP
//   super-packets into segments and complete partial checksums (tun-offload.ts), so the callback
//   still sees whole packets one at a time; the offloads are turned off while UDP carries most of
//   the traffic. A kernel that refuses the ioctl leaves the device without them (`offloaded` false).
import { ptr } from "bun:ffi";
import { spawnSync } from "bun";
import { errno, libc, LIBC_NAMES } from "./libc.ts";
import { VNET_HDR } from "./net/uso.ts";
import { BatchWriter } from "./tun-batch.ts";
import { deliver, OffloadReader, setOffload } from "./tun-offload.ts";
import { watch } from "./transport/poller.ts";

export interface TunOptions {
  name: string;
  tap?: boolean;
  multiQueue?: boolean;
  /** TUN only: IFF_VNET_HDR, and `queue` writes runs of one UDP flow or TCP connection as one packet (see above). */
  batch?: boolean;
  /** A batch TUN only: reads take TCP super-packets and partial checksums (see above). */
  offload?: boolean;
}

export class TunError extends Error {
  override name = "TunError";
}

export interface TunStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
  rxErrors: number;
  /** Packets whose callback threw (a bug): dropped, the device keeps reading. */
  callbackErrors: number;
  /** TCP super-packets read and cut into segments (an `offload` device). */
  rxOffloaded: number;
  /** Times an `offload` device turned its offloads off or on again (offloadWanted). */
  offloadSwitches: number;
}

export interface TunDevice {
  /** The name the kernel gave (e.g. when name was "tun%d"). */
  readonly name: string;
  readonly tap: boolean;
  readonly fd: number;
  /** Live counters, updated in place. */
  readonly stats: TunStats;
  /** True while the device's offloads are on (reads may be super-packets); see offloadWanted. */
  readonly offloaded: boolean;
  /** A batch device's runs written as one packet and refused (tun-batch.ts); null otherwise. */
  readonly runs: { readonly written: number; readonly refused: number } | null;
  /** Starts reading. onPacket is called synchronously once per packet, in order, with a view into a
   *  buffer owned by the device: valid only during the call (caller copies if it keeps it). */
  start(onPacket: (pkt: Uint8Array) => void): void;
  /** Writes one packet (never blocks). Returns false (and counts txErrors) on failure. */
  write(pkt: Uint8Array): boolean;
  /**
   * Copies the packet for a write later in this event-loop turn (a `batch` device; otherwise it
   * is `write`). False only when it cannot be taken (closed, empty, over 65535 bytes).
   */
  queue(pkt: Uint8Array): boolean;
  /** Stops the poller and closes the fd; idempotent. The kernel removes a non-persistent device. */
  close(): void;
}

const IFNAMSIZ = 16;
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFF_MULTI_QUEUE = 0x0100;
const IFF_VNET_HDR = 0x4000;
const O_RDWR = 2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const EPERM = 1;
const ENOENT = 2;
const EINTR = 4;
const ENXIO = 6;
const EAGAIN = 11;
const EACCES = 13;
const EBUSY = 16;
const ENODEV = 19;
const EINVAL = 22;
const EBADFD = 77; // read: the interface was deleted under us

const READ_BUF = 65536; // largest TUN packet is 65535 bytes
const READS_PER_TURN = 256; // then the poller's next turn (transport/poller.ts)
const ERROR_BACKOFF_MS = 10; // after a read error other than EAGAIN, so a broken device cannot spin

function sys(): NonNullable<ReturnType<typeof libc>> {
  const c = libc();
  if (c === null)
    throw new TunError(
      `cannot load the C library (tried ${LIBC_NAMES.join(", ")}); TUN needs Linux with glibc or musl`,
    );
  return c;
}

function openError(e: number): TunError {
  if (e === EPERM || e === EACCES) return new TunError("opening /dev/net/tun needs root or CAP_NET_ADMIN");
  if (e === ENOENT || e === ENODEV || e === ENXIO)
    return new TunError("/dev/net/tun missing (modprobe tun / in a container pass --device /dev/net/tun)");
  return new TunError(`open /dev/net/tun failed: errno ${e}`);
}

function setIffError(e: number, name: string, opts: TunOptions): TunError {
  const kind = opts.tap ? "TAP" : "TUN";
  if (e === EPERM || e === EACCES)
    return new TunError(
      `creating ${kind} device "${name}" needs root or CAP_NET_ADMIN (or a persistent device owned by this user)`,
    );
  if (e === EBUSY)
    return new TunError(
      `${kind} device name "${name}" is in use by another process; pick another name, stop the other user, or open both with multiQueue`,
    );
  if (e === EINVAL)
    return new TunError(
      `cannot attach to "${name}": the name exists as a different kind of device, or as a ${kind} with a different multiQueue or vnet header (batch) setting; pick another name or delete it (ip link del ${name})`,
    );
  return new TunError(`TUNSETIFF on "${name}" failed: errno ${e}`);
}

export function openTun(opts: TunOptions): TunDevice {
  const nameBytes = Buffer.from(opts.name, "utf8");
  if (nameBytes.length > IFNAMSIZ - 1)
    throw new TunError(`interface name "${opts.name}" is ${nameBytes.length} bytes; Linux allows at most 15`);
  if (nameBytes.includes(0)) throw new TunError("interface name must not contain NUL");
  const c = sys();
  const fd = c.open(Buffer.from("/dev/net/tun\0"), O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) throw openError(errno());
  const ifr = Buffer.alloc(40); // struct ifreq: name[16], short flags
  nameBytes.copy(ifr, 0);
  const batch = !!opts.batch && !opts.tap;
  ifr.writeUInt16LE(
    (opts.tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (opts.multiQueue ? IFF_MULTI_QUEUE : 0) | (batch ? IFF_VNET_HDR : 0),
    IFNAMSIZ,
  );
  if (c.ioctl(fd, TUNSETIFF, ifr) < 0) {
    const e = errno();
    c.close(fd);
    throw setIffError(e, opts.name, opts);
  }
  const end = ifr.indexOf(0);
  const name = ifr.toString("utf8", 0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end);
  const offloaded = batch && !!opts.offload && setOffload(fd, true);
  return new Device(fd, name, !!opts.tap, batch, offloaded);
}

class Device implements TunDevice {
  readonly stats: TunStats = {
    rxPackets: 0,
    rxBytes: 0,
    txPackets: 0,
    txBytes: 0,
    txErrors: 0,
    rxErrors: 0,
    callbackErrors: 0,
    rxOffloaded: 0,
    offloadSwitches: 0,
  };
  /** An offload device's reads (tun-offload.ts), null for others. */
  private readonly offload: OffloadReader | null;
  private readonly buf = new Uint8Array(READ_BUF + VNET_HDR);
  private readonly c = sys(); // loaded by openTun before any device exists
  /** Bytes before each packet a read returns (the virtio_net_hdr of a batch device). */
  private readonly skip: number;
  /** A batch device's writes (tun-batch.ts), null for plain ones. */
  private readonly batch: BatchWriter | null;
  private readonly bufPtr = ptr(this.buf);
  private onPacket: ((pkt: Uint8Array) => void) | undefined;
  /** Stops the poller's calls (transport/poller.ts); null while not watched. */
  private unwatch: (() => void) | null = null;
  private closed = false;
  private readonly drain = (): boolean => this.drainTurn();
  private readonly isClosed = (): boolean => this.closed;

  constructor(
    readonly fd: number,
    readonly name: string,
    readonly tap: boolean,
    batch = false,
    offloaded = false,
  ) {
    this.offload = offloaded ? new OffloadReader(fd, this.stats) : null;
    this.batch = batch ? new BatchWriter(fd, this.stats) : null;
    this.skip = batch ? VNET_HDR : 0;
  }

  get offloaded(): boolean {
    return this.offload?.on ?? false;
  }

  get runs(): { readonly written: number; readonly refused: number } | null {
    return this.batch?.runs ?? null;
  }

  start(onPacket: (pkt: Uint8Array) => void): void {
    if (this.closed) throw new TunError(`device ${this.name} is closed`);
    if (this.onPacket) throw new TunError(`device ${this.name} is already started`);
    this.onPacket = onPacket;
    this.arm();
    this.offload?.start();
  }

  private arm(): void {
    if (this.closed || this.unwatch !== null) return;
    try {
      this.unwatch = watch(this.fd, this.drain);
    } catch (e) {
      throw new TunError(`TUN poller for ${this.name} failed: ${(e as Error).message}`);
    }
  }

  /** Reads up to READS_PER_TURN packets; true when it stopped at that budget (more may wait). */
  private drainTurn(): boolean {
    if (this.closed) return false;
    const c = sys();
    const cb = this.onPacket!;
    const buf = this.buf;
    const st = this.stats;
    for (let i = 0; i < READS_PER_TURN; i++) {
      const n = c.read(this.fd, this.bufPtr, READ_BUF + this.skip);
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        if (e === EAGAIN) return false;
        // a broken device: no more reads for a while (level-triggered readiness would spin)
        st.rxErrors++;
        this.unwatch?.();
        this.unwatch = null;
        if (e !== EBADFD)
          setTimeout(() => {
            try {
              this.arm();
            } catch {
              st.rxErrors++; // the poller refused the fd: the device stays unread, counted
            }
          }, ERROR_BACKOFF_MS);
        return false;
      }
      if (n <= this.skip) {
        st.rxErrors++;
        continue;
      }
      if (this.offload === null || !this.offload.read(buf, n, cb, this.isClosed))
        deliver(st, buf.subarray(this.skip, n), cb); // a throw is one counted drop
      if (this.closed) return false;
    }
    return true;
  }

  write(pkt: Uint8Array): boolean {
    if (this.closed || pkt.length === 0) {
      this.stats.txErrors++;
      return false;
    }
    if (this.batch !== null) return this.batch.write(pkt);
    const n = this.c.write(this.fd, pkt, pkt.length);
    if (n !== pkt.length) {
      this.stats.txErrors++;
      return false;
    }
    this.stats.txPackets++;
    this.stats.txBytes += n;
    return true;
  }

  queue(pkt: Uint8Array): boolean {
    if (this.batch === null || this.closed) return this.write(pkt);
    return this.batch.queue(pkt);
  }

  close(): void {
    if (this.closed) return;
    this.offload?.stop();
    this.batch?.close(); // what is queued is written first
    this.closed = true;
    // out of the epoll set first (it would keep the open file), so the device is really gone
    // when close() returns
    this.unwatch?.();
    this.unwatch = null;
    sys().close(this.fd);
  }
}

/** Sets address (CIDR like "10.0.0.2/24", IPv4 or IPv6; optional), MTU and link up, using `ip` (iproute2; `ip` below is the relay's one runner of it); throws TunError with ip's stderr on failure. */
export function configureLink(name: string, opts: { address?: string; mtu?: number; up?: boolean }): void {
  if (opts.address !== undefined) ipOrThrow(["addr", "replace", opts.address, "dev", name]);
  if (opts.mtu !== undefined) ipOrThrow(["link", "set", "dev", name, "mtu", String(opts.mtu)]);
  if (opts.up) ipOrThrow(["link", "set", "dev", name, "up"]);
}

/** Runs `ip ARGS` (iproute2); never throws: a missing `ip` is an error result saying so. */
export function ip(args: string[]): { ok: boolean; out: string; err: string } {
  let r;
  try {
    r = spawnSync(["ip", ...args], { stdout: "pipe", stderr: "pipe" });
  } catch {
    return { ok: false, out: "", err: "`ip` not found: install iproute2 (apt-get install iproute2)" };
  }
  return { ok: r.exitCode === 0, out: r.stdout.toString(), err: r.stderr.toString().trim() };
}

function ipOrThrow(args: string[]): void {
  const r = ip(args);
  if (!r.ok) throw new TunError(r.err.startsWith("`ip` not found") ? r.err : `ip ${args.join(" ")} failed: ${r.err}`);
}
