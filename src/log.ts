// One line per event (never per packet), text or JSON, to one or more targets with anytun's
// levels: 0 off, 1 error, 2 warning, 3 notice, 4 info, 5 debug (`-L target:level[,param]`).
import { appendFileSync } from "node:fs";

export type LogFormat = "text" | "json";
export interface LogTarget {
  kind: "stdout" | "stderr" | "file";
  level: number;
  path?: string | undefined;
}
export type Fields = Record<string, string | number | boolean | null | undefined>;

const NAMES = ["", "error", "warn", "notice", "info", "debug"] as const;

export class Logger {
  private readonly max: number;
  constructor(
    private readonly targets: readonly LogTarget[],
    private readonly format: LogFormat,
    private readonly prefix = "",
  ) {
    this.max = Math.max(0, ...targets.map((t) => t.level));
  }

  /** A logger whose lines carry `prefix` (e.g. "plugin/routes"). */
  child(prefix: string): Logger {
    return new Logger(this.targets, this.format, this.prefix ? `${this.prefix}/${prefix}` : prefix);
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

  private emit(level: number, msg: string, f: Fields | undefined): void {
    const time = new Date().toISOString();
    let line: string;
    if (this.format === "json") {
      line = JSON.stringify({
        time,
        level: NAMES[level],
        ...(this.prefix ? { component: this.prefix } : {}),
        msg,
        ...f,
      });
    } else {
      line = `${time} ${NAMES[level]!.toUpperCase().padEnd(6)} ${this.prefix ? this.prefix + ": " : ""}${msg}`;
      if (f) for (const [k, v] of Object.entries(f)) if (v !== undefined) line += ` ${k}=${fmt(v)}`;
    }
    line += "\n";
    for (const t of this.targets) {
      if (level > t.level) continue;
      try {
        if (t.kind === "stdout") process.stdout.write(line);
        else if (t.kind === "stderr") process.stderr.write(line);
        else appendFileSync(t.path!, line);
      } catch {
        // A log target that fails (disk full, closed pipe) must not take the relay down.
      }
    }
  }
}

function fmt(v: string | number | boolean | null): string {
  return typeof v === "string" && (v === "" || /[\s"=]/.test(v)) ? JSON.stringify(v) : String(v);
}

/** Parses anytun's `-L target:level[,param]`; syslog is written to stderr (no syslog socket here). */
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
    case "syslog":
      return { kind: "stderr", level };
    default:
      return { kind: m[1] as "stdout" | "stderr", level };
  }
}
