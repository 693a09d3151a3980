// The C library through bun:ffi, loaded once for the whole process: the calls Bun has no API for
// (TUN ioctls and reads, socket options on Bun's sockets, unix datagram sockets for syslog and
// sd_notify). glibc or musl; what a missing library means is the caller's message to give.
import { dlopen, read as peek, type Pointer } from "bun:ffi";

export const LIBC_NAMES = ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"] as const;

const DEFS = {
  open: { args: ["ptr", "i32", "i32"], returns: "i32" },
  ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
  read: { args: ["i32", "ptr", "u64"], returns: "i32" },
  write: { args: ["i32", "ptr", "u64"], returns: "i32" },
  writev: { args: ["i32", "ptr", "i32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
  eventfd: { args: ["u32", "i32"], returns: "i32" },
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  sendto: { args: ["i32", "ptr", "u64", "i32", "ptr", "u32"], returns: "i64" },
  sendmmsg: { args: ["i32", "ptr", "u32", "i32"], returns: "i32" },
  recvmmsg: { args: ["i32", "ptr", "u32", "i32", "ptr"], returns: "i32" },
  bind: { args: ["i32", "ptr", "u32"], returns: "i32" },
  getsockname: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  epoll_create1: { args: ["i32"], returns: "i32" },
  epoll_ctl: { args: ["i32", "i32", "i32", "ptr"], returns: "i32" },
  epoll_wait: { args: ["i32", "ptr", "i32", "i32"], returns: "i32" },
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
} as const;

function load() {
  for (const n of LIBC_NAMES) {
    try {
      return dlopen(n, DEFS).symbols;
    } catch {}
  }
  return null;
}

let lib: ReturnType<typeof load> | undefined;
let errnoPtr: Pointer | null = null;

/** The C library's symbols, or null when none of LIBC_NAMES loads (not Linux, or an odd libc). */
export function libc(): NonNullable<ReturnType<typeof load>> | null {
  if (lib === undefined) {
    lib = load();
    errnoPtr = lib ? (lib.__errno_location() as Pointer | null) : null;
  }
  return lib;
}

/** errno of the calling thread after a failed call. */
export function errno(): number {
  return errnoPtr ? peek.i32(errnoPtr, 0) : 0;
}

const HALF = 2 ** 32;
/** Writes pointer `p` as a little-endian u64 at u32 index `at` (struct fields of iovec, msghdr). */
export function putPtr(u32: Uint32Array, at: number, p: number): void {
  u32[at] = p % HALF;
  u32[at + 1] = Math.floor(p / HALF);
}
