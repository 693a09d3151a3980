// Socket buffer sizes for Bun UDP sockets, which expose neither their fd nor setsockopt: the fd
// is found through /proc (the socket's inode from /proc/self/net/udp{,6} by local port, then the
// /proc/self/fd link "socket:[inode]"), and SO_RCVBUF/SO_SNDBUF set through bun:ffi. With root
// (CAP_NET_ADMIN) the *FORCE variants pass net.core.{r,w}mem_max. Linux only.
import { libc } from "../libc.ts";
import { ptr } from "bun:ffi";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { GsoSender, gsoAvailable } from "./gso.ts";

const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;

function c() {
  const l = libc();
  if (l === null) throw new Error("socket buffers: cannot load the C library");
  return l;
}

/** This process's open fds and what they point to (to tell a new socket from older ones on a port). */
export function openFds(): Map<string, string> {
  const out = new Map<string, string>();
  let fds: string[] = [];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      out.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the directory's own fd, closed by now
    }
  }
  return out;
}

/** fd of this process's UDP socket bound to `port` that was not open in `before`, or -1. */
export function udpSocketFd(port: number, before: Map<string, string> = new Map()): number {
  const inodes = new Set<string>();
  for (const f of ["/proc/self/net/udp", "/proc/self/net/udp6"]) {
    let text = "";
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const local = cols[1]!;
      if (parseInt(local.slice(local.indexOf(":") + 1), 16) === port) inodes.add(cols[9]!);
    }
  }
  if (inodes.size === 0) return -1;
  let fds: number[] = [];
  try {
    fds = readdirSync("/proc/self/fd").map(Number);
  } catch {
    return -1;
  }
  // newest first: a socket just opened has (nearly) the highest fd, so few links are read
  for (const fd of fds.sort((x, y) => y - x)) {
    let link = "";
    try {
      link = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory's own fd, closed by now
    }
    if (before.get(String(fd)) === link) continue;
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m && inodes.has(m[1]!)) return fd;
  }
  return -1;
}

/** Sets the receive and/or send buffer; returns the sizes the kernel reports (it doubles them). */
export function setSocketBuffers(
  fd: number,
  sizes: { receive?: number; send?: number },
): { receive: number; send: number } {
  const v = new Int32Array(1);
  const lib = c();
  const set = (force: number, plain: number, bytes: number) => {
    v[0] = bytes;
    if (lib.setsockopt(fd, SOL_SOCKET, force, v, 4) !== 0) lib.setsockopt(fd, SOL_SOCKET, plain, v, 4);
  };
  if (sizes.receive) set(SO_RCVBUFFORCE, SO_RCVBUF, sizes.receive);
  if (sizes.send) set(SO_SNDBUFFORCE, SO_SNDBUF, sizes.send);
  const get = (name: number) => {
    const len = new Uint32Array([4]);
    v[0] = 0;
    lib.getsockopt(fd, SOL_SOCKET, name, v, len);
    return v[0]!;
  };
  return { receive: get(SO_RCVBUF), send: get(SO_SNDBUF) };
}

/** How the relay sets up its UDP sockets (config udpBuffers, udpGso, udpGro). */
export interface UdpTuning {
  readonly buffers: { readonly receive: number; readonly send: number };
  readonly gso: boolean;
  /** UDP_GRO on the sockets of our own (mmsg.ts); Bun's sockets cannot take it. */
  readonly gro?: boolean;
}

/** The relay's UdpTuning from its config. */
export const udpTuning = (cfg: {
  readonly udpBuffers: UdpTuning["buffers"];
  readonly udpGso: boolean;
  readonly udpGro?: boolean;
}): UdpTuning => ({
  buffers: cfg.udpBuffers,
  gso: cfg.udpGso,
  gro: cfg.udpGro ?? true,
});

/**
 * Finds the fd of this process's Bun UDP socket on `port` opened since `before` (openFds()) and
 * applies `tuning`: buffer sizes (what the kernel reports back) and a GSO sender (null when off,
 * unavailable, or the fd is not found).
 */
export function tuneUdp(
  port: number,
  before: Map<string, string>,
  tuning: UdpTuning,
): { fd: number; buffers: { receive: number; send: number }; gso: GsoSender | null } {
  const fd = udpSocketFd(port, before);
  const b = tuning.buffers;
  const buffers = fd >= 0 && (b.receive || b.send) ? setSocketBuffers(fd, b) : { receive: 0, send: 0 };
  return { fd, buffers, gso: tuning.gso && fd >= 0 && gsoAvailable(fd) ? new GsoSender(fd) : null };
}

/** Opens a Bun UDP socket with `open` and applies `tuning` to it (tuneUdp). */
export async function openTuned<S extends { readonly port: number }>(
  open: () => Promise<S>,
  tuning: UdpTuning,
): Promise<{ sock: S; gso: GsoSender | null }> {
  const before = openFds();
  const sock = await open();
  return { sock, gso: tuneUdp(sock.port, before, tuning).gso };
}

const SO_ATTACH_REUSEPORT_CBPF = 51;
// Classic BPF opcodes (linux/filter.h).
const BPF_LD_H_ABS = 0x28;
const BPF_ALU_MOD_K = 0x94;
const BPF_RET_A = 0x16;
/** Offset of the mux in a SATP datagram (satp/codec.ts: seq u32, sender id u16, mux u16). */
const MUX_OFFSET = 6;

/**
 * Workers: the kernel hands each SATP datagram on this SO_REUSEPORT port to socket
 * `mux % workers` of the port's group (a classic BPF program run on the UDP payload, attached
 * for the whole group), so every packet of one client reaches one worker whatever its source
 * port: a replay sent from another port meets the same replay window. A datagram shorter than
 * 8 bytes goes to socket 0; while a worker is restarting (fewer sockets than `workers`) the
 * kernel falls back to its hash. Returns false when the kernel refused the program.
 */
export function steerByMux(fd: number, workers: number): boolean {
  const prog = new DataView(new ArrayBuffer(3 * 8));
  const insn = (i: number, code: number, k: number) => {
    prog.setUint16(i * 8, code, true);
    prog.setUint8(i * 8 + 2, 0);
    prog.setUint8(i * 8 + 3, 0);
    prog.setUint32(i * 8 + 4, k, true);
  };
  insn(0, BPF_LD_H_ABS, MUX_OFFSET); // A = mux (network byte order, as BPF loads it)
  insn(1, BPF_ALU_MOD_K, workers); // A = A % workers
  insn(2, BPF_RET_A, 0); // the socket's index in the group
  const filter = new Uint8Array(prog.buffer);
  const fprog = new DataView(new ArrayBuffer(16)); // struct sock_fprog { u16 len; sock_filter *filter; }
  fprog.setUint16(0, 3, true);
  fprog.setBigUint64(8, BigInt(ptr(filter)), true);
  const r = c().setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, new Uint8Array(fprog.buffer), 16);
  void filter; // kept alive until the kernel has copied it
  return r === 0;
}
