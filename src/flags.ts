// Command line → raw config object. Flag names and meanings are anytun 0.3.8's (`man anytun`);
// each flag's config key is its long name in camelCase. Values stay raw here: the valibot
// schema in config.ts validates them, so a bad flag and a bad file key get the same errors.
import { hostPortText } from "./net/addr.ts";
import minimist from "minimist";
import { ConfigError } from "./config.ts";
import { readConfigFile } from "./config-file.ts";

import { FLAGS, type Flag } from "./flag-table.ts";

export { FLAGS };

export type Cli =
  | { action: "help" }
  | { action: "version" }
  /** `check`: validate only (--check), open nothing. */
  | { action: "run"; raw: Record<string, unknown>; check: boolean };

/** Parses argv (without the runtime and script); throws ConfigError on unknown flags or missing values. */
export function parseArgs(argv: readonly string[]): Cli {
  const problems: string[] = [];
  const alias: Record<string, string> = { h: "help", V: "version", v: "version" }; // -v: anytun's
  const string: string[] = ["config"];
  const boolean: string[] = ["help", "version", "check"];
  for (const f of FLAGS) {
    if (f.short) alias[f.short] = f.long;
    (f.kind === "boolean" ? boolean : string).push(f.long);
  }
  const known = new Set([...Object.keys(alias), ...Object.values(alias), ...string, ...boolean]);
  const a = minimist([...argv], {
    alias,
    string,
    boolean,
    unknown: (arg) => {
      if (arg.startsWith("-")) {
        const name = arg.replace(/^-+/, "").split("=")[0]!;
        if (!known.has(name)) problems.push(`${arg}: unknown flag (see --help)`);
        return known.has(name);
      }
      problems.push(`${arg}: unexpected argument (flags only; see --help)`);
      return false;
    },
  });
  if (problems.length) throw new ConfigError(problems);
  if (a.help) return { action: "help" };
  if (a.version) return { action: "version" };

  const raw: Record<string, unknown> = typeof a.config === "string" && a.config !== "" ? readConfigFile(a.config) : {};
  if (a.config === "") problems.push("--config: needs a file name");
  for (const f of FLAGS) {
    if (SYNC_ADDRESS_FLAGS.has(f.long)) continue; // combined by syncFlags()
    const val = a[f.long] as unknown;
    if (val === undefined || (f.kind === "boolean" && val === false && !argv.some((x) => isFlag(x, f)))) continue;
    const values = Array.isArray(val) ? (val as unknown[]) : [val];
    if (f.kind !== "boolean" && values.some((x) => x === "")) {
      problems.push(`--${f.long}: needs a value${f.arg ? ` (${f.arg})` : ""}`);
      continue;
    }
    let value: unknown;
    if (f.kind === "list") value = values.map(String);
    else if (f.kind === "number") {
      const s = String(values[values.length - 1]);
      value = /^\d+(\.\d+)?$/.test(s) ? Number(s) : s; // non-numbers reach the schema and get its error
    } else value = values[values.length - 1];
    setPath(raw, f.key, value);
  }
  syncFlags(a, raw, problems);
  if (problems.length) throw new ConfigError(problems);
  return { action: "run", raw, check: a.check === true };
}

const SYNC_ADDRESS_FLAGS = new Set(["sync-port", "sync-interface", "sync-hosts"]);

/** anytun's -S PORT / -I ADDR → sync.listen "ADDR:PORT"; -M h[:p],... → sync.peers (port 2323 by default). */
function syncFlags(a: minimist.ParsedArgs, raw: Record<string, unknown>, problems: string[]): void {
  const last = (v: unknown) => (Array.isArray(v) ? v[v.length - 1] : v) as string | undefined;
  const port = last(a["sync-port"]);
  const iface = last(a["sync-interface"]);
  if (port === "" || iface === "") problems.push(`--${port === "" ? "sync-port" : "sync-interface"}: needs a value`);
  else if (port !== undefined || iface !== undefined) {
    if (port !== undefined && !/^\d{1,5}$/.test(port)) problems.push(`--sync-port: "${port}" is not a port number`);
    const host = iface ?? "0.0.0.0";
    setPath(raw, "sync.listen", hostPortText(host, port ?? 2323));
  }
  const hosts = last(a["sync-hosts"]);
  if (hosts === "") problems.push("--sync-hosts: needs a value");
  else if (hosts !== undefined) setPath(raw, "sync.peers", hosts.split(",").map(withDefaultPort));
}

/** "h", "h:p", "[v6]", "[v6]:p" or a bare IPv6 → "host:port" with port 2323 when none is given. */
function withDefaultPort(text: string): string {
  const t = text.trim();
  if (/^\[[^\]]+\]:\d+$/.test(t) || /^[^:\[\]]+:\d+$/.test(t)) return t;
  if (/^\[[^\]]+\]$/.test(t)) return `${t}:2323`;
  return t.includes(":") ? `[${t}]:2323` : `${t}:2323`;
}

/** Sets "a.b" in `obj`, copying the inner object so a file's object is not mutated. */
function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const dot = path.indexOf(".");
  if (dot < 0) {
    obj[path] = value;
    return;
  }
  const head = path.slice(0, dot);
  const inner = obj[head];
  const copy = typeof inner === "object" && inner !== null && !Array.isArray(inner) ? { ...(inner as object) } : {};
  setPath(copy as Record<string, unknown>, path.slice(dot + 1), value);
  obj[head] = copy;
}

function isFlag(arg: string, f: Flag): boolean {
  return arg === `--${f.long}` || (f.short !== undefined && arg === `-${f.short}`);
}

export function usage(version: string): string {
  const lines = FLAGS.map((f) => {
    const names = `${f.short ? `-${f.short}, ` : "    "}--${f.long}${f.arg ? ` ${f.arg}` : ""}`;
    return `  ${names.padEnd(34)} ${f.help}   [${f.key}]`;
  });
  return [
    `anytun relay ${version}: SATP tunnel endpoint, wire-compatible with anytun 0.3.8`,
    "",
    "usage: bun relay.ts [--config FILE] [flags]",
    "       bun relay.ts status [--admin URL] [--token T] [--json]   a running relay's clients, peers, drops",
    "       bun relay.ts genkey > private.key; bun relay.ts pubkey < private.key   X25519 keys (as wg)",
    "  e.g. bun relay.ts -r 192.0.2.1 -o 4444 -e right -E secret -d tun0 -n 10.0.0.2/24",
    "",
    "  -h, --help                         this text",
    "  -V, -v, --version                  print the version",
    "      --config FILE                  config file (.json, .jsonc, .yaml, .yml, .toml); keys are the names",
    "                                     in [brackets]; flags override it; secrets may be KFile / KEnv keys",
    "      --check                        validate the config and every plugin's options, open nothing;",
    "                                     exit 0 when valid, 2 when not",
    ...lines,
    "",
    "Exit codes: 0 normal stop, 1 runtime failure, 2 bad flags or config (nothing started).",
    "anytun habits: -D is accepted and changes nothing (the relay always runs in the foreground:",
    "a supervisor puts it in the background); -L syslog:L writes to the system log (/dev/log).",
  ].join("\n");
}
