// One line per event (never per packet), text or JSON, to one or more targets with anytun's
// levels: 0 off, 1 error, 2 warning, 3 notice, 4 info, 5 debug (`-L target:level[,param]`).
//
// Formats: "text" is logfmt (time=… level=… component=… msg="…" key=value, values quoted when
// they hold a space, a quote, an equals sign or nothing); "json" is one object per line whose
// time, level, component and msg cannot be overwritten by an event's fields (a field of that
// name is written as _time, _level, …).
// Targets: stdout, stderr, file (append), syslog (datagrams to `syslogSocket`, /dev/log: RFC 3164
// "<PRI>IDENT[PID]: line", facility daemon unless the param names another). When stdout or
// stderr is the systemd journal (JOURNAL_STREAM names its device and inode), each line starts
// with the syslog priority ("<3>" error … "<7>" debug), so `journalctl -p warning` works.
import { appendFileSync, fstatSync, statSync } from "node:fs";
import { UnixDatagram } from "./net/unixgram.ts";

export type LogFormat = "text" | "json";
export interface LogTarget {
  kind: "stdout" | "stderr" | "file" | "syslog";
  level: number;
  path?: string | undefined;
  /** syslog: the tag and facility number. */
  ident?: string;
  facility?: number;
}
export type Fields = Record<string, string | number | boolean | null | undefined>;

const NAMES = ["", "error", "warn", "notice", "info", "debug"] as const;
/** anytun level → syslog severity (RFC 5424 6.2.1). */
const SEVERITY = [0, 3, 4, 5, 6, 7] as const;
const FACILITIES: Record<string, number> = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`local${i}`, 16 + i])),
};
const RESERVED = new Set(["time", "level", "component", "msg"]);

/** Where lines go once a Logger is made: the journal check and the syslog socket are done once. */
interface Sink {
  t: LogTarget;
  journal: boolean;
  syslog: UnixDatagram | null;
}

export class Logger {
  private readonly max: number;
  private readonly sinks: Sink[];

  /**
   * Throws (naming the target) when a syslog target's socket is not there: the relay refuses to
   * start rather than log nowhere.
   */
  constructor(
    targets: readonly LogTarget[],
    private readonly format: LogFormat,
    private readonly prefix = "",
    opts: { syslogSocket?: string; env?: Record<string, string | undefined> } = {},
    sinks?: Sink[],
  ) {
    this.max = Math.max(0, ...targets.map((t) => t.level));
    this.sinks = sinks ?? targets.map((t) => sinkFor(t, opts.syslogSocket ?? "/dev/log", opts.env ?? process.env));
  }

  /** A logger whose lines carry `prefix` (e.g. "plugin/routes"); it shares the targets. */
  child(prefix: string): Logger {
    return new Logger(
      this.sinks.map((s) => s.t),
      this.format,
      this.prefix ? `${this.prefix}/${prefix}` : prefix,
      {},
      this.sinks,
    );
  }

  enabled(level: number): boolean {
    return level <= this.max;
  }
  error(msg: string, f?: Fields): void {
    if (this.max >= 1) this.emit(1, msg, f);
  }
  warn(msg: string, f?: Fields): void {
    if (this.max >= 2) this.emit(2, msg, f);
  }
  notice(msg: string, f?: Fields): void {
    if (this.max >= 3) this.emit(3, msg, f);
  }
  info(msg: string, f?: Fields): void {
    if (this.max >= 4) this.emit(4, msg, f);
  }
  debug(msg: string, f?: Fields): void {
    if (this.max >= 5) this.emit(5, msg, f);
  }

  /** The line for an event, without the time when `time` is false (syslog stamps it). */
  private render(level: number, msg: string, f: Fields | undefined, time: boolean): string {
    const ts = time ? new Date().toISOString() : undefined;
    if (this.format === "json") {
      const o: Record<string, unknown> = { time: ts, level: NAMES[level], component: this.prefix || undefined, msg };
      if (f) for (const [k, v] of Object.entries(f)) if (v !== undefined) o[RESERVED.has(k) ? `_${k}` : k] = v;
      return JSON.stringify(o);
    }
    let line = `${ts ? `time=${ts} ` : ""}level=${NAMES[level]}${this.prefix ? ` component=${fmt(this.prefix)}` : ""} msg=${fmt(msg, true)}`;
    if (f)
      for (const [k, v] of Object.entries(f))
        if (v !== undefined) line += ` ${RESERVED.has(k) ? `_${k}` : k}=${fmt(v)}`;
    return line;
  }

  private emit(level: number, msg: string, f: Fields | undefined): void {
    let line: string | undefined;
    for (const s of this.sinks) {
      if (level > s.t.level) continue;
      try {
        if (s.syslog !== null) {
          const t = s.t;
          s.syslog.send(
            `<${t.facility! * 8 + SEVERITY[level]!}>${t.ident}[${process.pid}]: ${this.render(level, msg, f, false)}`,
          );
          continue;
        }
        line ??= this.render(level, msg, f, true) + "\n";
        const out = s.journal ? `<${SEVERITY[level]}>${line}` : line;
        if (s.t.kind === "stdout") process.stdout.write(out);
        else if (s.t.kind === "stderr") process.stderr.write(out);
        else appendFileSync(s.t.path!, out);
      } catch {
        // A log target that fails (disk full, closed pipe) must not take the relay down.
      }
    }
  }
}

function sinkFor(t: LogTarget, syslogSocket: string, env: Record<string, string | undefined>): Sink {
  if (t.kind === "syslog") {
    let ok = false;
    try {
      ok = statSync(syslogSocket).isSocket();
    } catch {}
    if (!ok)
      throw new Error(`log syslog: ${syslogSocket} is not a socket here (no syslog daemon?); use stderr or file`);
    return { t, journal: false, syslog: new UnixDatagram(syslogSocket) };
  }
  return { t, journal: isJournal(t, env), syslog: null };
}

/** Is this stdout/stderr target the journal (systemd sets JOURNAL_STREAM=dev:inode of it)? */
function isJournal(t: LogTarget, env: Record<string, string | undefined>): boolean {
  const js = env.JOURNAL_STREAM;
  if (js === undefined || (t.kind !== "stdout" && t.kind !== "stderr")) return false;
  try {
    const st = fstatSync(t.kind === "stdout" ? 1 : 2);
    return js === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** A logfmt value: bare when it can be, else a JSON string (`always` for msg: it is prose). */
function fmt(v: string | number | boolean | null, always = false): string {
  if (typeof v !== "string") return String(v);
  return always || v === "" || /[\s"=\\]/.test(v) || /[\u0000-\u001f]/.test(v) ? JSON.stringify(v) : v;
}

/** Parses anytun's `-L target:level[,param]`: file's param is the path, syslog's "IDENT[,FACILITY]". */
export function parseLogTarget(spec: string): LogTarget {
  const m = /^(syslog|file|stdout|stderr):([0-5])(?:,(.*))?$/.exec(spec);
  if (!m)
    throw new Error(
      `expected target:level[,param] with target syslog|file|stdout|stderr and level 0..5, got "${spec}"`,
    );
  const level = Number(m[2]);
  switch (m[1]) {
    case "file":
      if (!m[3]) throw new Error(`file target needs a path: file:${level},/path/to/log`);
      return { kind: "file", level, path: m[3] };
    case "syslog": {
      const [ident = "anytun-relay", facility = "daemon"] = (m[3] ?? "").split(",").map((x) => x.trim());
      const f = FACILITIES[facility];
      if (f === undefined)
        throw new Error(`syslog facility "${facility}": expected one of ${Object.keys(FACILITIES).join(", ")}`);
      if (!/^[\w.-]{1,48}$/.test(ident || "anytun-relay"))
        throw new Error(`syslog ident "${ident}": 1..48 of [A-Za-z0-9_.-]`);
      return { kind: "syslog", level, ident: ident || "anytun-relay", facility: f };
    }
    default:
      return { kind: m[1] as "stdout" | "stderr", level };
  }
}
