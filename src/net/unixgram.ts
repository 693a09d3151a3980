// Sending datagrams to a unix socket (AF_UNIX, SOCK_DGRAM): syslog's /dev/log and systemd's
// NOTIFY_SOCKET. Bun has no API for unix datagram sockets, so this is socket(2)/sendto(2)
// through bun:ffi (src/libc.ts). A path starting with "@" is Linux's abstract namespace (as
// systemd writes it in NOTIFY_SOCKET). Sends never block (MSG_DONTWAIT): a full receiver drops.
import { errno, libc } from "../libc.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const PATH_MAX = 108; // sun_path

export class UnixDatagram {
  private readonly fd: number;
  private readonly addr: Uint8Array;
  private readonly addrLen: number;
  sent = 0;
  failed = 0;
  lastErrno = 0;

  /** Throws (naming the path) when the C library or a socket is unavailable or the path is too long. */
  constructor(readonly path: string) {
    const c = libc();
    if (c === null) throw new Error(`${path}: cannot load the C library for unix datagram sockets`);
    const name = new TextEncoder().encode(path.startsWith("@") ? `\0${path.slice(1)}` : path);
    if (name.length >= PATH_MAX) throw new Error(`${path}: socket path too long`);
    this.addr = new Uint8Array(2 + PATH_MAX);
    this.addr[0] = AF_UNIX; // sa_family_t, little-endian u16
    this.addr.set(name, 2);
    // Abstract names are exactly as long as given; paths include their terminating NUL.
    this.addrLen = 2 + name.length + (path.startsWith("@") ? 0 : 1);
    this.fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (this.fd < 0) throw new Error(`${path}: socket() failed (errno ${errno()})`);
  }

  /** Sends one datagram; false (counted, errno kept) when it could not be delivered. */
  send(data: Uint8Array | string): boolean {
    const b = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const n = libc()!.sendto(this.fd, b, b.length, MSG_DONTWAIT | MSG_NOSIGNAL, this.addr, this.addrLen);
    if (Number(n) === b.length) {
      this.sent++;
      return true;
    }
    this.failed++;
    this.lastErrno = errno();
    return false;
  }

  close(): void {
    libc()?.close(this.fd);
  }
}
