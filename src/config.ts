// The relay's one validated config: a JSON file (`--config`) overlaid by command-line flags
// (anytun 0.3.8's names; see src/flags.ts). Every flag has a config key (listed by --help).
// Errors name the field and the reason; callers refuse to start on any error.
import * as v from "valibot";
import { parseCidr } from "./net/addr.ts";
import { parseLogTarget } from "./log.ts";
import { deriveMaster, normalizeSuite, type Suite } from "./satp/suite.ts";
import { defaultStateDir } from "./satp/counter.ts";
import type { WorkerInfo } from "./workers/plan.ts";
import {
  type ClientConfig,
  ClientSchema,
  CryptoSchema,
  HOLD_DEFAULTS,
  PluginEntry,
  type PluginEntryConfig,
  type RateConfig,
  RateSchema,
  SERVER_WINDOW,
  fromThrow,
  hexKey,
  hexSalt,
  holdBytes,
  holdMs,
  hostPort,
  ipText,
  NoiseSchema,
  noiseProblems,
  wgKey,
  parseHostPort,
  role,
  route,
  u16,
  interfaceName,
  isLoopback,
  issueTexts,
  SyncSchema,
  UdpBuffersSchema,
} from "./config-parts.ts";

export { isLoopback, issueTexts, parseHostPort, SERVER_WINDOW };
export type { ClientConfig, PluginEntryConfig, RateConfig };

export const ConfigSchema = v.strictObject({
  // peer: anytun's point-to-point mode over a TUN/TAP device; server: many clients, routed
  // in userspace. Default: server when nothing but server keys (or nothing at all) is given.
  mode: v.optional(v.picklist(["peer", "server", "relay-client"])),
  senderId: v.optional(u16, 0),
  // Server: event loops (processes) sharing the listeners (SO_REUSEPORT), each a full member of
  // the anycast group; "auto" = the CPUs this process may use. Worker i has sender id
  // senderId + i * senderIdStride (so every server's senderId must be below the stride).
  workers: v.optional(
    v.union(
      [v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(256)), v.literal("auto")],
      'an integer 1..256 or "auto"',
    ),
    1,
  ),
  senderIdStride: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(32768)), 1024),
  // Listeners (UDP, tcp.listen) bind with SO_REUSEPORT: other processes of this user may bind the
  // same port and share its traffic (on for workers; off by default).
  reusePort: v.optional(v.boolean(), false),
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
  // Peer: "satp" (anytun's) or "noise" (Noise IK to our servers' noise.listen; keys below).
  protocol: v.optional(v.picklist(["satp", "noise"]), "satp"),
  serverPublicKey: v.optional(wgKey),
  privateKeyFile: v.optional(v.pipe(v.string(), v.nonEmpty())),
  // Server: the Noise suite (noise.listen, noise.privateKeyFile).
  noise: v.optional(NoiseSchema, {}),
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
  // Server: state sync between the servers of one anycast address (config-parts.ts SyncSchema).
  sync: v.optional(SyncSchema, {}),
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
      // undone by the relay with captureSetup "auto", or only checked with "check". IPv4 and IPv6.
      capture: v.optional(v.array(hostPort), []),
      captureDev: v.optional(interfaceName, "relay-tcp"),
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
  udpBuffers: v.optional(UdpBuffersSchema, {}), // kernel socket buffers (config-parts.ts)
  udpGso: v.optional(v.boolean(), true), // UDP GSO (UDP_SEGMENT) for batched sends: transport/gso.ts
  udpGro: v.optional(v.boolean(), true), // UDP GRO (UDP_GRO) on every UDP socket's receives: transport/mmsg.ts
  // Client: the TUN takes TCP super-packets and partial checksums from the kernel, cut and completed here (tun.ts offload)
  tunOffload: v.optional(v.boolean(), true),
  // Per-packet crypto (SATP, Noise): "auto" = OpenSSL 3's libcrypto through bun:ffi when it loads, else
  // node:crypto; "openssl" = refuse to start without libcrypto (satp/crypto.ts). Read at start.
  cryptoLibrary: v.optional(v.picklist(["auto", "openssl", "node"]), "auto"),
  // Server: packet work allowed per event-loop turn (ms; 0 = no limit). Packets past it in the
  // same turn are dropped (counted "overload") so timers, sync heartbeats and admin keep running
  // under a flood, at a cost in peak throughput under sustained overload (transport/turn.ts).
  loopBudgetMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(10000)), 0),
  // Server: an inner packet's source must be covered by the sending client's own routes (the
  // longest match over every client's configured and learned routes is that client), else it is
  // dropped and counted "spoofed".
  sourceCheck: v.optional(v.boolean(), true),
  // Server: a client's TCP SYN through the tunnel announces at most this MSS (net/mss.ts): true =
  // what fits \`mtu\` (mtu - 40 over IPv4, - 60 over IPv6), a number = that MSS, false = off.
  mssClamp: v.optional(
    v.union(
      [v.boolean(), v.pipe(v.number(), v.integer(), v.minValue(536), v.maxValue(65495))],
      "true, false or an MSS",
    ),
    true,
  ),
  // Server (and the client roles, for a device MTU raised past \`mtu\`): "fragmentation needed" /
  // "packet too big" errors per second at most, for inner packets
  // over \`mtu\` that may not be fragmented (net/pmtu.ts); 0 = none sent (such packets are still dropped).
  icmpRate: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100000)), 100),
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
  /** Set in a worker of a server with `workers` > 1 (src/workers/plan.ts); not a config key. */
  worker?: WorkerInfo;
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
  if (mode !== "server" && c.workers !== 1) problems.push(`workers: server mode only (this is ${mode} mode)`);
  if (c.ipv4Only && c.ipv6Only) problems.push("ipv4Only: cannot be combined with ipv6Only");
  if (mode === "relay-client") {
    if (c.relayClient.peer === undefined)
      problems.push("relayClient.peer: required in relay-client mode (host:port of the peer)");
    if (c.remoteHost === undefined)
      problems.push("remoteHost: required in relay-client mode (the server's anycast address)");
  }
  if (c.transport !== "udp" && (mode !== "peer" || c.remoteHost === undefined))
    problems.push(`transport: ${c.transport} needs the peer mode with remoteHost (the anycast address)`);
  problems.push(...noiseProblems(c, mode));
  if ((mode === "peer" || mode === "relay-client") && c.protocol !== "noise") {
    const suite = suiteFor(c.crypto, undefined);
    try {
      deriveMaster(suite.kdPrf, { passphrase: c.passphrase, keyHex: c.key, saltHex: c.salt });
    } catch (e) {
      const msg = (e as Error).message;
      problems.push(msg.startsWith("key:") || msg.startsWith("salt:") ? msg : `passphrase: ${msg}`);
    }
  } else if (mode === "server") {
    const seen = new Map<number, number>();
    c.clients.forEach((cl, i) => {
      const prev = seen.get(cl.mux);
      if (prev !== undefined) problems.push(`clients.${i}.mux: ${cl.mux} is already used by clients.${prev}`);
      seen.set(cl.mux, i);
      if (cl.protocol === "noise") return; // keys: noiseProblems
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
    if (sync.acceptKeys.length > 0 && sync.key === undefined)
      problems.push("sync.acceptKeys: needs sync.key (the key links and records are sealed with)");
    if (sync.backend === "nats") {
      if (sync.nats === undefined) problems.push('sync.nats: required with sync.backend "nats" (at least servers)');
      if (sync.key === undefined)
        problems.push('sync.key: required with sync.backend "nats" (records are sealed with it end to end)');
      if (sync.listen !== undefined || sync.peers.length > 0)
        problems.push('sync.listen / sync.peers: for the mesh backend; with "nats" the servers meet on NATS');
      const n = sync.nats;
      if (n !== undefined) {
        if ((n.user === undefined) !== (n.pass === undefined)) problems.push("sync.nats: user and pass go together");
        if ([n.user, n.token, n.credsFile].filter((x) => x !== undefined).length > 1)
          problems.push("sync.nats: one way to log in (user + pass, token, or credsFile)");
      }
    } else if (sync.nats !== undefined) problems.push('sync.nats: set, but sync.backend is "mesh"');
    if (c.tcp.listen.length > 0 && c.tcp.advertise === undefined)
      problems.push("tcp.advertise: required with tcp.listen (this server's unicast host:port that INIT redirects to)");
    if (c.tcp.keepaliveMinMs > c.tcp.keepaliveMaxMs)
      problems.push("tcp.keepaliveMinMs: larger than tcp.keepaliveMaxMs");
    const workers = c.workers === "auto" ? 2 : c.workers;
    if (c.workers !== 1) {
      c.tcp.listen.forEach((hp, i) => {
        if (parseHostPort(hp).port === 0)
          problems.push(`tcp.listen.${i}: port 0 with workers (every worker must listen on one known port)`);
      });
      if (c.senderId >= c.senderIdStride)
        problems.push(
          `senderId: ${c.senderId} with workers: must be below senderIdStride (${c.senderIdStride}), as on every server of the fleet (worker i uses senderId + i * senderIdStride)`,
        );
      else if (c.workers !== "auto" && c.senderId + (workers - 1) * c.senderIdStride > 65535)
        problems.push(
          `workers: ${workers} workers need sender ids up to ${c.senderId + (workers - 1) * c.senderIdStride} (over 65535): lower senderIdStride`,
        );
    }
    const adm = parseHostPort(c.admin.listen);
    if (c.admin.enabled && !isLoopback(adm.host) && c.admin.token === undefined)
      problems.push(`admin.token: required when admin.listen (${c.admin.listen}) is not a loopback address`);
  }
  if (problems.length) throw new ConfigError(problems);
  return c;
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
