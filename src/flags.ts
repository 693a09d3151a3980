// Command line → raw config object. Flag names and meanings are anytun 0.3.8's (`man anytun`);
// each flag's config key is its long name in camelCase. Values stay raw here: the valibot
// schema in config.ts validates them, so a bad flag and a bad file key get the same errors.
import { hostPortText } from "./net/addr.ts";
import minimist from "minimist";
import { ConfigError } from "./config.ts";
import { readConfigFile } from "./config-file.ts";

interface Flag {
  short?: string;
  long: string;
  key: string;
  kind: "string" | "number" | "boolean" | "list";
  arg?: string;
  help: string;
}

export const FLAGS: readonly Flag[] = [
  {
    short: "i",
    long: "interface",
    key: "interface",
    kind: "string",
    arg: "ADDR",
    help: "local address to bind and send from (the anycast address on a server); default: all",
  },
  { short: "p", long: "port", key: "port", kind: "number", arg: "PORT", help: "local UDP port (default 4444)" },
  {
    short: "r",
    long: "remote-host",
    key: "remoteHost",
    kind: "string",
    arg: "HOST",
    help: "peer address or name; without it the peer is learned from its first authenticated packet",
  },
  {
    short: "o",
    long: "remote-port",
    key: "remotePort",
    kind: "number",
    arg: "PORT",
    help: "peer UDP port (default 4444)",
  },
  {
    long: "transport",
    key: "transport",
    kind: "string",
    arg: "udp|tcp-unicast|tcp-anycast",
    help: "peer: SATP over UDP (default), over TCP to a unicast server found via the anycast address, or over TCP to the anycast address",
  },
  {
    long: "tcp-keepalive",
    key: "tcpKeepaliveMs",
    kind: "number",
    arg: "MS",
    help: "peer over TCP: keep-alive interval asked of the server (default 10000)",
  },
  {
    long: "tcp-probe",
    key: "tcpProbeMs",
    kind: "number",
    arg: "MS",
    help: "peer over tcp-anycast: probe after this much inbound silence following traffic (default 50, 0 = off)",
  },
  { short: "4", long: "ipv4-only", key: "ipv4Only", kind: "boolean", help: "resolve and bind IPv4 only" },
  { short: "6", long: "ipv6-only", key: "ipv6Only", kind: "boolean", help: "resolve and bind IPv6 only" },
  { short: "d", long: "dev", key: "dev", kind: "string", arg: "NAME", help: "device name (default tunN / tapN)" },
  { short: "t", long: "type", key: "type", kind: "string", arg: "tun|tap", help: "device type (default tun)" },
  {
    short: "n",
    long: "ifconfig",
    key: "ifconfig",
    kind: "string",
    arg: "ADDR/LEN",
    help: "address of the device; also sets MTU (--mtu) and link up",
  },
  {
    long: "mtu",
    key: "mtu",
    kind: "number",
    arg: "BYTES",
    help: "device MTU set with --ifconfig (default 1400, as anytun)",
  },
  {
    short: "x",
    long: "post-up-script",
    key: "postUpScript",
    kind: "string",
    arg: "SCRIPT",
    help: "run SCRIPT DEVICE-NAME once the device is up",
  },
  {
    short: "R",
    long: "route",
    key: "route",
    kind: "list",
    arg: "NET/LEN",
    help: "only send packets for these prefixes to the peer (repeatable; any length)",
  },
  {
    short: "m",
    long: "mux",
    key: "mux",
    kind: "number",
    arg: "ID",
    help: "multiplex (connection) id, both ends the same (default 0)",
  },
  {
    short: "s",
    long: "sender-id",
    key: "senderId",
    kind: "number",
    arg: "ID",
    help: "this host's sender id, unique among anycast hosts (default 0)",
  },
  {
    short: "w",
    long: "window-size",
    key: "crypto.window",
    kind: "number",
    arg: "N",
    help: "replay window size, 0 = off (default 0, as anytun)",
  },
  {
    short: "k",
    long: "kd-prf",
    key: "crypto.kdPrf",
    kind: "string",
    arg: "PRF",
    help: "key derivation: null|aes-ctr|aes-ctr-128|aes-ctr-192|aes-ctr-256 (default aes-ctr)",
  },
  {
    short: "e",
    long: "role",
    key: "role",
    kind: "string",
    arg: "ROLE",
    help: "left|right (alice|bob, server|client); the ends must differ (default left)",
  },
  {
    short: "E",
    long: "passphrase",
    key: "passphrase",
    kind: "string",
    arg: "PASS",
    help: "derive master key and salt from PASS",
  },
  {
    short: "K",
    long: "key",
    key: "key",
    kind: "string",
    arg: "HEX",
    help: "master key in hex (16/24/32 bytes, as the kd-prf)",
  },
  { short: "A", long: "salt", key: "salt", kind: "string", arg: "HEX", help: "master salt in hex (14 bytes)" },
  {
    short: "c",
    long: "cipher",
    key: "crypto.cipher",
    kind: "string",
    arg: "CIPHER",
    help: "null|aes-ctr|aes-ctr-128|aes-ctr-192|aes-ctr-256 (default aes-ctr)",
  },
  { short: "a", long: "auth-algo", key: "crypto.auth", kind: "string", arg: "ALGO", help: "null|sha1 (default sha1)" },
  {
    short: "b",
    long: "auth-tag-length",
    key: "crypto.tagLength",
    kind: "number",
    arg: "N",
    help: "tag bytes 0..20 (default 10)",
  },
  {
    short: "L",
    long: "log",
    key: "log",
    kind: "list",
    arg: "T:L[,P]",
    help: "log target stdout|stderr|file|syslog : level 0..5 [,path] (repeatable; default stderr:3)",
  },
  { long: "log-format", key: "logFormat", kind: "string", arg: "text|json", help: "log line format (default text)" },
  { short: "U", long: "debug", key: "debug", kind: "boolean", help: "add log target stdout:5" },
  {
    short: "D",
    long: "nodaemonize",
    key: "nodaemonize",
    kind: "boolean",
    help: "run in the foreground (always: use a supervisor to run in the background)",
  },
  { short: "P", long: "write-pid", key: "writePid", kind: "string", arg: "FILE", help: "write the process id to FILE" },
  {
    short: "S",
    long: "sync-port",
    key: "sync.listen",
    kind: "number",
    arg: "PORT",
    help: "server: listen for sync links on PORT (with -I ADDR; default all addresses)",
  },
  {
    short: "I",
    long: "sync-interface",
    key: "sync.listen",
    kind: "string",
    arg: "ADDR",
    help: "server: local unicast address for sync (with -S; default port 2323)",
  },
  {
    short: "M",
    long: "sync-hosts",
    key: "sync.peers",
    kind: "string",
    arg: "H[:P],...",
    help: "server: the other servers of the anycast group (default port 2323; [v6]:port)",
  },
  {
    long: "relay-peer",
    key: "relayClient.peer",
    kind: "string",
    arg: "HOST:PORT",
    help: "relay client: the peer to reach through a server relay (sets --mode relay-client)",
  },
  {
    long: "relay-local",
    key: "relayClient.local",
    kind: "string",
    arg: "HOST:PORT",
    help: "relay client: local UDP address forwarded through the relay (default 127.0.0.1:5000)",
  },
  {
    long: "relay-lifetime",
    key: "relayClient.lifetime",
    kind: "number",
    arg: "S",
    help: "relay client: allocation lifetime asked for, refreshed at half (default 300)",
  },
  {
    long: "sync-key",
    key: "sync.key",
    kind: "string",
    arg: "KEY",
    help: "server: fleet key for sync links (64 hex digits or a 16+ character passphrase)",
  },
  {
    long: "mode",
    key: "mode",
    kind: "string",
    arg: "peer|server",
    help: "peer (anytun point-to-point) or server (many clients); default: peer when peer flags are given",
  },
  {
    short: "l",
    long: "listen",
    key: "listen",
    kind: "list",
    arg: "HOST:PORT",
    help: "server: UDP listener (repeatable; default [-i or ::]:-p)",
  },
  {
    long: "admin-listen",
    key: "admin.listen",
    kind: "string",
    arg: "HOST:PORT",
    help: "server: admin HTTP address (default 127.0.0.1:8080)",
  },
  {
    long: "admin-token",
    key: "admin.token",
    kind: "string",
    arg: "TOKEN",
    help: "server: bearer token for the admin API (required off loopback)",
  },
  {
    long: "drain-seconds",
    key: "drainSeconds",
    kind: "number",
    arg: "S",
    help: "seconds not-ready before exit on SIGTERM (default 3)",
  },
];

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
