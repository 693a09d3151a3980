// Readiness of fds Bun's event loop does not know (sockets opened through bun:ffi, mmsg.ts; TUN
// devices, tun.ts): one epoll set per process, watched by one small Worker that only blocks in
// poll(epoll fd, wake eventfd) and posts to the main thread, which asks epoll_wait (timeout 0)
// which fds are ready and calls their handlers. Level-triggered: a handler reads what it likes (its own budget), and
// what it leaves makes the next poll return at once, after the event loop ran its other tasks.
//
// Contracts:
// - `watch(fd, onReadable)` returns the unwatch function; call it BEFORE closing the fd (epoll
//   would otherwise keep the open file in the set). Handlers run on the main thread, one at a
//   time; an exception in one is counted in `pollerStats.handlerErrors` and the others still run.
// - The worker runs only while something is watched: the process exits as if it were not there.
// - struct epoll_event is packed on x86-64 (12 bytes: events u32, data u64 at 4) and not on
//   aarch64 (16 bytes, data at 8); the fd is kept in data's low 32 bits.
import { errno, libc, LIBC_NAMES } from "../libc.ts";

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLLIN = 1;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const EV_SIZE = process.arch === "x64" ? 12 : 16;
const EV_DATA = process.arch === "x64" ? 4 : 8;
const EVENTS = 64;

const READY = 0; // the worker sets 1 and waits until the main thread sets 0 (re-arm)
const STOP = 1;
const RUNNING = 2;

const WORKER_SRC = `
import { dlopen } from "bun:ffi";
const LIBC = ${JSON.stringify(LIBC_NAMES)};
let poll;
for (const n of LIBC) { try { poll = dlopen(n, { poll: { args: ["ptr", "u64", "i32"], returns: "i32" } }).symbols.poll; break; } catch {} }
self.onmessage = (e) => {
  const { fd, wake, shared } = e.data;
  const sh = new Int32Array(shared);
  const pfd = new Int32Array([fd, 1, wake, 1]);
  Atomics.store(sh, ${RUNNING}, 1);
  while (Atomics.load(sh, ${STOP}) === 0) {
    pfd[1] = 1; pfd[3] = 1;
    const n = poll(pfd, 2, 1000);
    if (Atomics.load(sh, ${STOP}) !== 0) break;
    if (n < 0) { Atomics.wait(sh, 3, 0, 10); continue; }
    if (n === 0 || pfd[1] >>> 16 === 0) continue;
    Atomics.store(sh, ${READY}, 1);
    postMessage(0);
    Atomics.wait(sh, ${READY}, 1);
  }
  Atomics.store(sh, ${RUNNING}, 0);
  Atomics.notify(sh, ${RUNNING});
};
`;

export const pollerStats = { wakes: 0, busyTurns: 0, handlerErrors: 0 };

const handlers = new Map<number, () => boolean | void>();
let epfd = -1;
let wake = -1;
let worker: Worker | undefined;
let shared = new Int32Array(new SharedArrayBuffer(16));
const events = new Uint8Array(EVENTS * EV_SIZE);
const evView = new DataView(events.buffer);
let workerUrl: string | undefined;

function sys(): NonNullable<ReturnType<typeof libc>> {
  const c = libc();
  if (c === null) throw new Error("cannot load the C library: the fd poller needs Linux with glibc or musl");
  return c;
}

/**
 * One turn: the ready fds' handlers. While one says it stopped at its budget with more queued
 * (returns true), the next turn is a setImmediate of our own, after the loop's other work,
 * without the worker's wake-up; once all are drained the worker polls again.
 */
function turn(): void {
  if (worker === undefined) return;
  pollerStats.wakes++;
  const c = sys();
  const n = c.epoll_wait(epfd, events, EVENTS, 0);
  let more = false;
  for (let i = 0; i < n; i++) {
    const h = handlers.get(evView.getInt32(i * EV_SIZE + EV_DATA, true));
    if (h === undefined) continue;
    try {
      if (h() === true) more = true;
    } catch {
      pollerStats.handlerErrors++;
    }
  }
  if (more && worker !== undefined) {
    pollerStats.busyTurns++;
    setImmediate(turn);
    return;
  }
  Atomics.store(shared, READY, 0);
  Atomics.notify(shared, READY);
}

function startWorker(): void {
  const c = sys();
  epfd = c.epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) throw new Error(`epoll_create1 failed: errno ${errno()}`);
  wake = c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    c.close(epfd);
    throw new Error(`eventfd failed: errno ${errno()}`);
  }
  shared = new Int32Array(new SharedArrayBuffer(16));
  workerUrl ??= URL.createObjectURL(new Blob([WORKER_SRC], { type: "application/javascript" }));
  const w = new Worker(workerUrl);
  w.onmessage = turn;
  w.onerror = (e) => {
    throw new Error(`fd poller failed: ${e.message}`);
  };
  w.postMessage({ fd: epfd, wake, shared: shared.buffer });
  worker = w;
}

function stopWorker(): void {
  if (worker === undefined) return;
  const c = sys();
  Atomics.store(shared, STOP, 1);
  Atomics.store(shared, READY, 0);
  Atomics.notify(shared, READY);
  c.write(wake, new BigUint64Array([1n]), 8);
  Atomics.wait(shared, RUNNING, 1, 1000); // out of poll() before its fds close
  worker.terminate();
  worker = undefined;
  c.close(wake);
  c.close(epfd);
  epfd = wake = -1;
}

/**
 * Calls `onReadable` whenever `fd` has data (true from it: stopped at its budget, more is
 * queued); returns the unwatch function (idempotent).
 */
export function watch(fd: number, onReadable: () => boolean | void): () => void {
  if (handlers.has(fd)) throw new Error(`fd ${fd} is already watched`);
  if (worker === undefined) startWorker();
  const c = sys();
  const ev = new Uint8Array(EV_SIZE);
  const dv = new DataView(ev.buffer);
  dv.setUint32(0, EPOLLIN, true);
  dv.setInt32(EV_DATA, fd, true);
  if (c.epoll_ctl(epfd, EPOLL_CTL_ADD, fd, ev) !== 0) {
    const e = errno();
    if (handlers.size === 0) stopWorker();
    throw new Error(`epoll_ctl ADD fd ${fd} failed: errno ${e}`);
  }
  handlers.set(fd, onReadable);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    handlers.delete(fd);
    c.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, ev);
    if (handlers.size === 0) stopWorker();
  };
}

/** How many fds are watched now (tests: nothing is left behind). */
export const watched = (): number => handlers.size;
