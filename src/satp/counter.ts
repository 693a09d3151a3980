// Durable send counters. SATP's keystream and tag keys depend only on (master key, sender id, mux,
// seq), so a seq sent once must never be sent again: not after a restart, not after kill -9.
// Counters are reserved in blocks of BLOCK seqs; a block's end is on disk (written to a temp file,
// fsynced, renamed over the state file, directory fsynced) before the first seq of the block goes
// out, and a restart starts at the reserved end. So a crash skips at most one block per counter
// (2^32 / 2^20 = 4096 restarts per key), and reuses none.
//
// One file per owner (a server: its sender id; a client role: its connection) under stateDir:
//   <stateDir>/<owner>.counters.json  {"v":1,"counters":{"<id>": <reserved end>, ...}}
//   <stateDir>/<owner>.lock           "<pid> <process start time>" while a process owns the file
// <id> is a hash of (role, key material, sender id, mux): no key material on disk. Entries are never
// removed (a client taken out of the config and put back must not start at 0 again). A live
// process holding the lock makes `open` fail: two processes sending under one sender id would reuse
// each other's seqs.
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { SEQ_LIMIT } from "./crypto.ts";

/** Seqs reserved per write. */
export const BLOCK = 1 << 20;

/** A session's window of seqs it may send: [start, limit); `extend` moves limit on (durably). */
export interface Reservation {
  /** First seq this run may use (the previous run's reserved end). */
  readonly start: number;
  /** Seqs below this are durably reserved. */
  readonly limit: number;
  /** Reserves the block after `next`; returns the new limit (unchanged when the write failed). */
  extend(next: number): number;
}

class Slot implements Reservation {
  constructor(
    private readonly file: CounterFile,
    readonly id: string,
    readonly start: number,
    public limit: number,
  ) {}
  extend(next: number): number {
    const want = Math.min(SEQ_LIMIT, Math.max(next, this.limit) + BLOCK);
    const old = this.limit;
    this.limit = want;
    if (!this.file.flush()) this.limit = old;
    return this.limit;
  }
}

/** The id of a counter: a hash of what makes its keystream (never the key itself). */
export function counterId(parts: readonly (string | number | Uint8Array)[]): string {
  const h = createHash("sha256").update("anytun-relay send counter\0");
  for (const p of parts) h.update(typeof p === "number" ? `${p}\0` : p instanceof Uint8Array ? p : `${p}\0`);
  return h.digest("hex").slice(0, 32);
}

/** `<pid> <start time>` of this process (start time from /proc when there is one). */
function lockText(pid: number): string {
  return `${pid} ${procStat(pid)?.start ?? "?"}`;
}
/** A process's state letter and start time from /proc/PID/stat; null when there is none. */
function procStat(pid: number): { state: string; start: string | null } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: f[0] ?? "", start: f[19] ?? null };
  } catch {
    return null;
  }
}
function alive(text: string): boolean {
  const [pidText, start] = text.trim().split(" ");
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false; // ours: a previous run in the same pid (a container)
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const st = procStat(pid);
  // killed, not reaped yet (its parent is gone too): it sends nothing
  if (st !== null && (st.state === "Z" || st.state === "X")) return false;
  const now = st?.start ?? null;
  return now === null || start === "?" || now === start; // same pid, other start time: reused pid
}

export class CounterFile {
  private readonly slots = new Map<string, Slot>();
  private readonly stored: Record<string, number>;
  private readonly path: string;
  private readonly lock: string;
  writes = 0;
  writeErrors = 0;
  lastError: string | null = null;

  private constructor(
    readonly dir: string,
    owner: string,
  ) {
    this.path = `${dir}/${owner}.counters.json`;
    this.lock = `${dir}/${owner}.lock`;
    this.stored = {};
  }

  /**
   * Takes the lock of `owner` under `dir` and loads its counters. Throws an Error naming the fix
   * when the directory cannot be written, the file is corrupt, or another live process owns it.
   */
  static open(dir: string, owner: string): CounterFile {
    const f = new CounterFile(dir, owner);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new Error(
        `stateDir ${dir}: cannot create it (${(e as NodeJS.ErrnoException).code}); set stateDir to a writable directory`,
      );
    }
    f.takeLock();
    let text: string | null = null;
    try {
      text = readFileSync(f.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") {
        f.release();
        throw new Error(`${f.path}: cannot read it (${(e as NodeJS.ErrnoException).code})`);
      }
    }
    if (text !== null) {
      let ok = false;
      try {
        const j = JSON.parse(text) as { v?: unknown; counters?: unknown };
        if (j.v === 1 && typeof j.counters === "object" && j.counters !== null) {
          ok = true;
          for (const [k, n] of Object.entries(j.counters as Record<string, unknown>)) {
            if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > SEQ_LIMIT) ok = false;
            else f.stored[k] = n;
          }
        }
      } catch {
        ok = false;
      }
      if (!ok) {
        f.release();
        // Never guess: starting a counter at 0 again would reuse keystream.
        throw new Error(
          `${f.path}: not a send-counter file this relay wrote; restore it from a backup, or (only with new keys or new sender ids) remove it`,
        );
      }
    }
    if (!f.flush()) {
      f.release();
      throw new Error(`${f.path}: cannot write it (${f.lastError}); set stateDir to a writable directory`);
    }
    return f;
  }

  private takeLock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lock, "wx", 0o600);
        writeSync(fd, lockText(process.pid));
        closeSync(fd);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "EEXIST")
          throw new Error(
            `stateDir ${this.dir}: cannot write ${this.lock} (${code}); set stateDir to a writable directory`,
          );
      }
      let holder = "";
      try {
        holder = readFileSync(this.lock, "utf8");
      } catch {}
      if (alive(holder))
        throw new Error(
          `${this.lock}: process ${holder.split(" ")[0]} sends under the same sender id and keys (give each relay its own senderId or stateDir)`,
        );
      rmSync(this.lock, { force: true }); // left by a process that is gone (kill -9)
    }
    throw new Error(`${this.lock}: could not take the lock`);
  }

  /**
   * The reservation of counter `id`: starts where the last run's reservation ended, with the first
   * block reserved (durable at the next `flush`, which callers do before sending).
   */
  slot(id: string): Reservation {
    let s = this.slots.get(id);
    if (s === undefined) {
      const start = this.stored[id] ?? 0;
      s = new Slot(this, id, start, Math.min(SEQ_LIMIT, start + BLOCK));
      this.slots.set(id, s);
    }
    return s;
  }

  /** Writes every reservation (stored ones kept); false when the write failed (nothing beyond the old limits may be sent). */
  flush(): boolean {
    const counters: Record<string, number> = { ...this.stored };
    for (const [id, s] of this.slots) counters[id] = Math.max(counters[id] ?? 0, s.limit);
    const tmp = `${this.path}.tmp`;
    try {
      const fd = openSync(tmp, "w", 0o600);
      try {
        writeSync(fd, JSON.stringify({ v: 1, counters }));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
      const d = openSync(this.dir, "r");
      try {
        fsyncSync(d);
      } finally {
        closeSync(d);
      }
      for (const [id, n] of Object.entries(counters)) this.stored[id] = n;
      this.writes++;
      return true;
    } catch (e) {
      this.writeErrors++;
      this.lastError = (e as NodeJS.ErrnoException).code ?? String(e);
      return false;
    }
  }

  /** Gives up the lock (reservations stay on disk: the next run starts past them). */
  release(): void {
    rmSync(this.lock, { force: true });
  }
}

/** stateDir's default: systemd's $STATE_DIRECTORY, /var/lib/anytun-relay as root, else the XDG state dir. */
export function defaultStateDir(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.STATE_DIRECTORY) return env.STATE_DIRECTORY.split(":")[0];
  if (process.getuid?.() === 0) return "/var/lib/anytun-relay";
  if (env.XDG_STATE_HOME) return `${env.XDG_STATE_HOME}/anytun-relay`;
  if (env.HOME) return `${env.HOME}/.local/state/anytun-relay`;
  return undefined;
}
