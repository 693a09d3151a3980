// The relay's one validated config: a JSON file (`--config`) overlaid by command-line flags
// (anytun 0.3.8's names; see src/flags.ts). Every flag has a config key (listed by --help).
// Errors name the field and the reason; callers refuse to start on any error.
import * as v from "valibot";
import { parseCidr, parseIp } from "./net/addr.ts";
import { parseLogTarget } from "./log.ts";
import { CIPHERS, ROLE_NAMES, deriveMaster, normalizeSuite, type Cipher, type Role, type Suite } from "./satp/suite.ts";
import { defaultStateDir } from "./satp/counter.ts";

const u16 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535));
const cipher = v.picklist(CIPHERS as Cipher[]);
const ipText = v.pipe(
  v.string(),
  v.check((s) => parseIp(s) !== null, "expected an IPv4 or IPv6 address"),
);
const fromThrow = (fn: (s: string) => unknown) =>
  v.rawCheck<string>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    try {
      fn(dataset.value);
    } catch (e) {
      addIssue({ message: (e as Error).message });
    }
  });
const route = v.pipe(
  v.string(),
  fromThrow((s) => parseCidr(s, true)),
);
const role = v.pipe(
  v.picklist(Object.keys(ROLE_NAMES)),
  v.transform((r) => ROLE_NAMES[r] as Role),
);
const holdMs = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(5000));
const holdBytes = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1 << 30));
const HOLD_DEFAULTS = { ms: 500, bytes: 16 << 20 };
/** crypto.window's default in server mode (peer and relay-client: 0, anytun's). */
export const SERVER_WINDOW = 1024;
const hexKey = v.pipe(v.string(), v.regex(/^([0-9a-fA-F]{2})+$/, "expected hex digits"));
const hexSalt = v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{28}$/, "expected 28 hex digits (14 bytes)"));
const tagLength = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255));
const windowSize = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1 << 20));
const maxSenders = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65536));

/** "host:port" or "[v6]:port" with an IP literal host. */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  if (!m) throw new Error(`"${s}" is not host:port or [ipv6]:port`);
  const host = (m[1] ?? m[2])!;
  const port = Number(m[3]);
  if (parseIp(host) === null) throw new Error(`"${host}" is not an IP address`);
  if (port > 65535) throw new Error(`port ${port} not in 0..65535`);
  return { host, port };
}
const hostPort = v.pipe(v.string(), fromThrow(parseHostPort));

// Crypto defaults for every connection (-c -a -b -k -w); a client entry may override any of them.
const CryptoSchema = v.strictObject({
  cipher: v.optional(cipher, "aes-ctr"),
  auth: v.optional(v.picklist(["null", "sha1"]), "sha1"),
  tagLength: v.optional(tagLength, 10),
  kdPrf: v.optional(cipher, "aes-ctr"),
  // Replay window per (mux, sender id); 0 = off (anytun's default). Default: 1024 in server mode,
  // 0 in peer and relay-client mode (anytun's habit; a warning at start). README: "Restarts".
  window: v.optional(windowSize),
  // Sender ids a connection keeps a replay window for; packets from more are dropped (counted
  // "senders"), never evicting one (an evicted window would accept its old packets again).
  maxSenders: v.optional(maxSenders, 64),
});
const CryptoOverride = v.strictObject({
  cipher: v.optional(cipher),
  auth: v.optional(v.picklist(["null", "sha1"])),
  tagLength: v.optional(tagLength),
  kdPrf: v.optional(cipher),
  window: v.optional(windowSize),
  maxSenders: v.optional(maxSenders),
});

const perSecond = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1e12));
// Token bucket per client over authenticated packets (0 = no limit); burst: this many ms of rate.
const RateSchema = v.strictObject({
  packetsPerSecond: v.optional(perSecond, 0),
  bytesPerSecond: v.optional(perSecond, 0),
  burstMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(60000)), 200),
});
const RateOverride = v.strictObject({
  packetsPerSecond: v.optional(perSecond),
  bytesPerSecond: v.optional(perSecond),
  burstMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(60000))),
});
export type RateConfig = v.InferOutput<typeof RateSchema>;

const ClientSchema = v.strictObject({
  name: v.optional(v.pipe(v.string(), v.nonEmpty(), v.maxLength(64))),
  mux: u16,
  passphrase: v.optional(v.pipe(v.string(), v.nonEmpty())),
  key: v.optional(hexKey),
  salt: v.optional(hexSalt),
  // Inner destinations routed to this client (longest prefix wins across clients).
  routes: v.optional(v.array(route), []),
  // The server's role towards this client: left (anytun clients run `-e client` = right).
  role: v.optional(role, "left"),
  crypto: v.optional(CryptoOverride),
  // This client's rate limit (over the defaults in `rateLimit`).
  rateLimit: v.optional(RateOverride),
});
export type ClientConfig = v.InferOutput<typeof ClientSchema>;

const PluginEntry = v.looseObject({ use: v.pipe(v.string(), v.nonEmpty("names a plugin file or path")) });
export type PluginEntryConfig = v.InferOutput<typeof PluginEntry>;

export const ConfigSchema = v.strictObject({
  // peer: anytun's point-to-point mode over a TUN/TAP device; server: many clients, routed
  // in userspace. Default: server when nothing but server keys (or nothing at all) is given.
  mode: v.optional(v.picklist(["peer", "server", "relay-client"])),
  senderId: v.optional(u16, 0),
  // -i -p: local UDP address and port (peer; in server mode the default for `listen`).
  interface: v.optional(ipText),
  port: v.optional(u16, 4444),
  // Server UDP listeners; default [interface or ::]:port ("::" also takes IPv4).
  listen: v.optional(v.array(hostPort)),
  // -r -o: the peer; without -r it is learned from the first authenticated packet.
  remoteHost: v.optional(v.pipe(v.string(), v.nonEmpty("empty host name"))),
  remotePort: v.optional(u16, 4444),
  // peer: how SATP travels: UDP datagrams (anytun's), or framed over TCP to a server found
  // through the anycast address (tcp-unicast; the server needs `tcp.listen`), or framed over one
  // TCP connection to the anycast address itself that survives route changes (tcp-anycast; the
  // servers need `tcp.capture`).
  transport: v.optional(v.picklist(["udp", "tcp-unicast", "tcp-anycast"]), "udp"),
  // peer over TCP: keep-alive interval asked of the server (KEEPALIVE_REQ); the server's answer
  // is used. A SATP keepalive goes out whenever nothing else was sent for that long, keeping NAT
  // routers open and letting another server take a tcp-anycast flow over within one interval.
  tcpKeepaliveMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1000), v.maxValue(600000)), 10000),
  // peer over tcp-anycast: when packets stop arriving after traffic, a keepalive probe goes out
  // after this many ms (and up to 5 times, spaced by it), so a server that now has the route but
  // not yet the flow sees a segment and takes the flow over (0 = off).
  tcpProbeMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(10000)), 50),
  ipv4Only: v.optional(v.boolean(), false),
  ipv6Only: v.optional(v.boolean(), false),
  // -d -t -n -x: the peer's device.
  dev: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.%-]{1,15}$/, "1..15 chars of [A-Za-z0-9_.%-]"))),
  type: v.optional(v.picklist(["tun", "tap"]), "tun"),
  ifconfig: v.optional(
    v.pipe(
      v.string(),
      fromThrow((s) => parseCidr(s, false)),
    ),
  ),
  mtu: v.optional(v.pipe(v.number(), v.integer(), v.minValue(576), v.maxValue(65535)), 1400),
  postUpScript: v.optional(v.pipe(v.string(), v.nonEmpty())),
  // -R: peer: prefixes sent to the peer (empty = all). Server: not used (routes are per client).
  route: v.optional(v.array(route), []),
  // -m -e -E -K -A: the peer's connection.
  mux: v.optional(u16, 0),
  role: v.optional(role, "left"),
  passphrase: v.optional(v.string()),
  key: v.optional(hexKey),
  salt: v.optional(hexSalt),
  crypto: v.optional(CryptoSchema, {}),
  // Relay client: ask the server (remoteHost) for a relay towards `peer` and forward the local
  // UDP address `local` through it (datagrams from a local app go to the peer and back).
  relayClient: v.optional(
    v.strictObject({
      peer: v.optional(hostPort),
      local: v.optional(hostPort, "127.0.0.1:5000"),
      lifetime: v.optional(v.pipe(v.number(), v.integer(), v.minValue(2), v.maxValue(86400)), 300),
    }),
    {},
  ),
  // Server: the client table.
  clients: v.optional(v.array(ClientSchema), []),
  // Server: the admin HTTP API (health, readiness, drain, metrics, state).
  admin: v.optional(
    v.strictObject({
      listen: v.optional(hostPort, "127.0.0.1:8080"),
      // Bearer token; required when `listen` is not a loopback address.
      token: v.optional(v.pipe(v.string(), v.minLength(16, "use at least 16 characters"))),
      // /healthz and /readyz answer without the token (load balancers and BGP health checks).
      openHealth: v.optional(v.boolean(), true),
      enabled: v.optional(v.boolean(), true),
      // /metrics carries per-client series for at most this many clients, the busiest (0 = none);
      // the totals over all clients are always there.
      metricsClients: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100000)), 100),
      // Host names the API answers to besides IP literals and localhost (DNS rebinding: any other
      // Host gets 421).
      hosts: v.optional(
        v.array(v.pipe(v.string(), v.toLowerCase(), v.regex(/^[a-z0-9.-]+$/, "expected a host name"))),
        [],
      ),
    }),
    {},
  ),
  // Server: the plugin chain, in order; each entry { use: "routes" | "./my-plugin.ts", ...options }.
  plugins: v.optional(v.array(PluginEntry), [{ use: "routes" }]),
  // Server: state sync between the servers of one anycast address (full mesh over TCP, encrypted
  // and authenticated with the fleet `key`). Off unless `listen` or `peers` is set.
  sync: v.optional(
    v.strictObject({
      listen: v.optional(hostPort),
      peers: v.optional(v.array(hostPort), []),
      // 64 hex digits, or a passphrase of 16+ characters; the same on every server of the fleet.
      key: v.optional(v.pipe(v.string(), v.minLength(16, "use at least 16 characters (or 64 hex digits)"))),
      heartbeatMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(50), v.maxValue(60000)), 1000),
      // What a lost peer taught is dropped after this long unless something refreshes it.
      staleSeconds: v.optional(v.pipe(v.number(), v.minValue(1), v.maxValue(86400)), 300),
      // How often replay-window high-water marks are published (the bound on replay staleness).
      hwmIntervalMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(10000)), 100),
      // A client a route moved here from another server: its packets wait (hold queue) at most
      // this long for that server's current replay marks (one round trip; 0 = never wait).
      markWaitMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(5000)), 200),
      // A (re)started server takes packets once it has a sync peer's snapshot (the fleet's replay
      // marks), or after this long with no peer reachable.
      readyGraceMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(600000)), 2000),
      // UDP data channel between servers, on the sync listen address (any port without one):
      // packets for a client whose TCP link another server holds go there (src/sync/data.ts).
      dataChannel: v.optional(v.boolean(), true),
    }),
    {},
  ),
  // Server: SATP over TCP (anycast-initialised unicast TCP). Clients send INIT over `listen`
  // (normally the anycast address' port) and are redirected to `advertise` (this server's own
  // unicast address, also in `listen`) with a token valid `tokenSeconds`.
  tcp: v.optional(
    v.strictObject({
      listen: v.optional(v.array(hostPort), []),
      advertise: v.optional(hostPort),
      tokenSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(5), v.maxValue(3600)), 60),
      // Connections on tcp.listen that have not presented a valid token: at most this many, each
      // closed after pendingMs or once it sent pendingBytes (counted tcp-pending-*). The same
      // bounds hold tcp-anycast flows that have carried no authenticated SATP packet yet (reset,
      // counted `unauthenticated` in /v1/tcp).
      maxPending: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(100000)), 256),
      pendingMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(600000)), 10000),
      pendingBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1024), v.maxValue(1 << 24)), 65536),
      // Full anycast TCP: these anycast host:port are terminated by this relay's own TCP stack
      // (src/tcp/) behind the capture TUN `captureDev`, so a flow can move between servers.
      // Kernel setup (policy rule pref `capturePref` → table `captureTable`) is applied and
      // undone by the relay with captureSetup "auto", or only checked with "check". IPv4 only.
      capture: v.optional(v.array(hostPort), []),
      captureDev: v.optional(
        v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,15}$/, "1..15 chars of [A-Za-z0-9_.-]")),
        "relay-tcp",
      ),
      captureSetup: v.optional(v.picklist(["auto", "check"]), "auto"),
      captureTable: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(0xfffffff0)), 160),
      capturePref: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(32000)), 60),
      // Our MSS (advertised in the SYN-ACK), send and receive buffer per flow, minimum RTO.
      mss: v.optional(v.pipe(v.number(), v.integer(), v.minValue(536), v.maxValue(9000)), 1460),
      buffer: v.optional(v.pipe(v.number(), v.integer(), v.minValue(65536), v.maxValue(64 << 20)), 4 << 20),
      minRtoMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(1000)), 200),
      // Keep-alive intervals a client may ask for (KEEPALIVE_REQ is clamped into [min, max]).
      keepaliveMinMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(600000)), 1000),
      keepaliveMaxMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(600000)), 60000),
      // Flows at most; a flow with no segment for idleSeconds is dropped silently (no RST).
      maxFlows: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000000)), 10000),
      idleSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(86400)), 600),
      // Aliases of hold.ms and hold.bytes (kept: operators' configs name them).
      holdMs: v.optional(holdMs),
      holdBytes: v.optional(holdBytes),
    }),
    {},
  ),
  // Server: packets for a client that cannot be sent yet (its tcp-anycast flow not taken over
  // here yet, its link gone until it is heard again) wait up to `ms` each, `bytes` in all, instead
  // of being dropped (ms 0 = drop). `tcp.holdMs` / `tcp.holdBytes` are aliases.
  hold: v.optional(
    v.strictObject({
      ms: v.optional(holdMs),
      bytes: v.optional(holdBytes),
    }),
    {},
  ),
  // Kernel UDP socket buffers per socket, bytes (0 = the kernel's default, about 208 KiB). Large
  // receive buffers ride out bursts instead of dropping (UdpRcvbufErrors); set with CAP_NET_ADMIN
  // past net.core.rmem_max, else capped by it.
  udpBuffers: v.optional(
    v.strictObject({
      receive: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1 << 30)), 4 << 20),
      send: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1 << 30)), 4 << 20),
    }),
    {},
  ),
  // Server: packet work allowed per event-loop turn (ms; 0 = no limit). Packets past it in the
  // same turn are dropped (counted "overload") so timers, sync heartbeats and admin keep running
  // under a flood, at a cost in peak throughput under sustained overload (transport/turn.ts).
  loopBudgetMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(10000)), 0),
  // Server: an inner packet's source must be covered by the sending client's own routes (the
  // longest match over every client's configured and learned routes is that client), else it is
  // dropped and counted "spoofed".
  sourceCheck: v.optional(v.boolean(), true),
  // Server: per-client rate limits (defaults; a client's `rateLimit` overrides them): authenticated
  // packets past them are dropped and counted "ratelimit", other clients unaffected. 0 = none.
  rateLimit: v.optional(RateSchema, {}),
  // Seconds between SIGTERM (not ready from then on) and exit; a second SIGTERM exits at once.
  drainSeconds: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(3600)), 3),
  // -L -U -D -P and ours: logging and process.
  log: v.optional(v.array(v.pipe(v.string(), fromThrow(parseLogTarget))), ["stderr:3"]),
  logFormat: v.optional(v.picklist(["text", "json"]), "text"),
  // Where `syslog:` log targets send (a unix datagram socket; the relay refuses to start without it).
  syslogSocket: v.optional(v.pipe(v.string(), v.minLength(1)), "/dev/log"),
  debug: v.optional(v.boolean(), false),
  nodaemonize: v.optional(v.boolean(), true),
  writePid: v.optional(v.pipe(v.string(), v.nonEmpty())),
  // Where durable state lives (send counters, satp/counter.ts); default: $STATE_DIRECTORY (systemd),
  // /var/lib/anytun-relay as root, else $XDG_STATE_HOME/anytun-relay or ~/.local/state/anytun-relay.
  stateDir: v.optional(v.pipe(v.string(), v.nonEmpty())),
});

export type RawConfig = v.InferOutput<typeof ConfigSchema>;
/** The validated config: `hold` resolved (its aliases tcp.holdMs / tcp.holdBytes folded in). */
export type Config = Omit<RawConfig, "hold" | "crypto" | "stateDir"> & {
  /** Resolved from the environment when not set (satp/counter.ts defaultStateDir). */
  stateDir: string;
  mode: "peer" | "server" | "relay-client";
  hold: { ms: number; bytes: number };
  /** `window` resolved from the mode when not set. */
  crypto: CryptoConfig;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

const PEER_KEYS = [
  "remoteHost",
  "passphrase",
  "key",
  "salt",
  "dev",
  "ifconfig",
  "postUpScript",
  "route",
  "mux",
  "role",
];

/** Validates a raw object (file contents with flags laid over it). Throws ConfigError listing every problem. */
export function validateConfig(raw: Record<string, unknown>): Config {
  const r = v.safeParse(ConfigSchema, raw);
  if (!r.success) throw new ConfigError(issueTexts(r.issues, "", "not a config field; see --help"));
  const mode =
    r.output.mode ??
    (r.output.relayClient.peer !== undefined
      ? "relay-client"
      : PEER_KEYS.some((k) => raw[k] !== undefined)
        ? "peer"
        : "server");
  const problems: string[] = [];
  const o = r.output;
  const alias = (key: "ms" | "bytes", old: "holdMs" | "holdBytes"): number => {
    const a = o.hold[key];
    const b = o.tcp[old];
    if (a !== undefined && b !== undefined && a !== b)
      problems.push(`tcp.${old}: alias of hold.${key} (${a}); set one of them`);
    return a ?? b ?? HOLD_DEFAULTS[key];
  };
  const hold = { ms: alias("ms", "holdMs"), bytes: alias("bytes", "holdBytes") };
  const crypto = { ...o.crypto, window: o.crypto.window ?? (mode === "server" ? SERVER_WINDOW : 0) };
  const stateDir = o.stateDir ?? defaultStateDir() ?? "";
  if (stateDir === "") problems.push("stateDir: no default here (no HOME, not root): set it to a writable directory");
  const c: Config = {
    ...o,
    mode,
    crypto,
    hold,
    stateDir,
    tcp: { ...o.tcp, holdMs: hold.ms, holdBytes: hold.bytes },
  };
  if (c.ipv4Only && c.ipv6Only) problems.push("ipv4Only: cannot be combined with ipv6Only");
  if (mode === "relay-client") {
    if (c.relayClient.peer === undefined)
      problems.push("relayClient.peer: required in relay-client mode (host:port of the peer)");
    if (c.remoteHost === undefined)
      problems.push("remoteHost: required in relay-client mode (the server's anycast address)");
  }
  if (c.transport !== "udp" && (mode !== "peer" || c.remoteHost === undefined))
    problems.push(`transport: ${c.transport} needs the peer mode with remoteHost (the anycast address)`);
  if (mode === "peer" || mode === "relay-client") {
    const suite = suiteFor(c.crypto, undefined);
    try {
      deriveMaster(suite.kdPrf, { passphrase: c.passphrase, keyHex: c.key, saltHex: c.salt });
    } catch (e) {
      const msg = (e as Error).message;
      problems.push(msg.startsWith("key:") || msg.startsWith("salt:") ? msg : `passphrase: ${msg}`);
    }
  } else {
    const seen = new Map<number, number>();
    c.clients.forEach((cl, i) => {
      const prev = seen.get(cl.mux);
      if (prev !== undefined) problems.push(`clients.${i}.mux: ${cl.mux} is already used by clients.${prev}`);
      seen.set(cl.mux, i);
      const suite = suiteFor(c.crypto, cl.crypto);
      try {
        deriveMaster(suite.kdPrf, { passphrase: cl.passphrase, keyHex: cl.key, saltHex: cl.salt });
      } catch (e) {
        const msg = (e as Error).message;
        problems.push(`clients.${i}.${msg.startsWith("key:") || msg.startsWith("salt:") ? msg : `passphrase: ${msg}`}`);
      }
    });
    const sync = c.sync;
    if ((sync.listen !== undefined || sync.peers.length > 0) && sync.key === undefined)
      problems.push("sync.key: required when sync.listen or sync.peers is set (links are encrypted with it)");
    if (c.tcp.listen.length > 0 && c.tcp.advertise === undefined)
      problems.push("tcp.advertise: required with tcp.listen (this server's unicast host:port that INIT redirects to)");
    c.tcp.capture.forEach((hp, i) => {
      if (parseIp(parseHostPort(hp).host)?.length !== 4)
        problems.push(`tcp.capture.${i}: ${hp}: an IPv4 address and port (IPv6 capture is not supported yet)`);
    });
    if (c.tcp.keepaliveMinMs > c.tcp.keepaliveMaxMs)
      problems.push("tcp.keepaliveMinMs: larger than tcp.keepaliveMaxMs");
    const adm = parseHostPort(c.admin.listen);
    if (c.admin.enabled && !isLoopback(adm.host) && c.admin.token === undefined)
      problems.push(`admin.token: required when admin.listen (${c.admin.listen}) is not a loopback address`);
  }
  if (problems.length) throw new ConfigError(problems);
  return c;
}

export function isLoopback(host: string): boolean {
  const b = parseIp(host);
  if (b === null) return false;
  if (b.length === 4) return b[0] === 127;
  if (b.every((x, i) => (i < 15 ? x === 0 : x === 1))) return true; // ::1
  return b.slice(0, 12).every((x, i) => (i < 10 ? x === 0 : x === 0xff)) && b[12] === 127; // ::ffff:127.x
}

export type CryptoConfig = RawConfig["crypto"] & { window: number };

/** The effective, normalized suite of a connection: defaults with the client's overrides laid over. */
export function suiteFor(
  defaults: CryptoConfig,
  over: ClientConfig["crypto"],
): Suite & { window: number; maxSenders: number } {
  const m = { ...defaults, ...Object.fromEntries(Object.entries(over ?? {}).filter(([, x]) => x !== undefined)) };
  const { suite } = normalizeSuite({ cipher: m.cipher, auth: m.auth, tagLength: m.tagLength, kdPrf: m.kdPrf });
  return { ...suite, window: m.window, maxSenders: m.maxSenders };
}

/**
 * Config problems in the one format used for the core and for plugins' options:
 * "PATH: missing (required)", "PATH: unknown key (WHY)", "PATH: MESSAGE"; `prefix` is prepended
 * to every path (e.g. "plugins.2.").
 */
export function issueTexts(issues: readonly v.BaseIssue<unknown>[], prefix: string, unknownWhy: string): string[] {
  return issues.map((i) => {
    const path = prefix + (v.getDotPath(i) ?? "(options)");
    if (i.type === "strict_object")
      return i.expected === "never" ? `${path}: unknown key (${unknownWhy})` : `${path}: missing (required)`;
    if (i.received === "undefined" && i.input === undefined) return `${path}: missing (required)`;
    return `${path}: ${i.message}`;
  });
}
