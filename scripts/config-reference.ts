// The README's config reference, generated from the valibot schema (src/config.ts) and the flag
// table (src/flags.ts): key, flags, type, default, meaning. test/config-reference.test.ts fails
// when the README's copy, the schema and MEANING below drift apart.
//   bun scripts/config-reference.ts           print the table
//   bun scripts/config-reference.ts --write   update README.md between the markers
import { readFileSync, writeFileSync } from "node:fs";
import { format } from "prettier";
import { ConfigSchema } from "../src/config.ts";
import { FLAGS } from "../src/flags.ts";

/** One line per config key (dotted path; "[]" for list items). */
export const MEANING: Record<string, string> = {
  mode: "`peer` (anytun point-to-point over a TUN/TAP), `server` (many clients), `relay-client`; default from the keys given",
  senderId:
    "this host's sender id, unique among the servers of one anycast address; with `workers`, worker i uses `senderId + i * senderIdStride`",
  workers:
    'server: event loops (worker processes) sharing the listeners, each a full member of the anycast group; `"auto"` = the CPUs the process may use',
  senderIdStride:
    "worker i uses sender id `senderId + i * senderIdStride`; with workers every server's `senderId` must be below it",
  reusePort:
    "server: listeners bind with SO_REUSEPORT (set in workers; lets other processes of this user share the port)",
  interface: "local address to bind and send from (the anycast address on a server)",
  port: "local UDP port",
  listen: "server UDP listeners, `host:port` / `[v6]:port` (default `[interface or ::]:port`)",
  remoteHost: "peer / relay-client: the other end (name or address); without it the peer is learned",
  remotePort: "UDP port of the other end",
  transport:
    "peer: `udp` (anytun's), `tcp-unicast` (framed over TCP to a server found through the anycast address) or `tcp-anycast` (one TCP connection to the anycast address, carried on by whichever server gets it)",
  tcpKeepaliveMs:
    "peer over TCP: keep-alive interval asked of the server; a SATP keepalive when nothing was sent that long",
  tcpProbeMs:
    "peer over tcp-anycast: a keepalive probe after this much inbound silence following traffic (up to 5; 0 = off)",
  ipv4Only: "resolve and bind IPv4 only",
  ipv6Only: "resolve and bind IPv6 only",
  dev: "peer: device name (default tunN / tapN)",
  type: "peer: `tun` or `tap`",
  ifconfig: "peer: device address `addr/len`; sets MTU and link up",
  mtu: "peer: device MTU set with ifconfig; server: the tunnel's MTU (larger inner packets with DF or IPv6 get a too-big error, see `icmpRate`; `mssClamp` fits it)",
  postUpScript: "peer: run `SCRIPT DEVICE` once the device is up",
  route: "peer: only these prefixes are sent to the peer (empty: everything)",
  "route[]": "a prefix, any length",
  mux: "peer / relay-client: connection id, the same at both ends",
  role: "peer / relay-client: `left`/`alice`/`server` or `right`/`bob`/`client`",
  passphrase: "peer / relay-client: master key and salt derived from it",
  key: "master key in hex (length of the kd-prf)",
  salt: "master salt in hex (14 bytes)",
  crypto: "crypto defaults of every connection",
  "crypto.cipher": "`null`, `aes-ctr` (128), `aes-ctr-128/192/256`",
  "crypto.auth": "`null` or `sha1` (HMAC-SHA1)",
  "crypto.tagLength": "tag bytes, clamped to 20 (0 with auth null)",
  "crypto.kdPrf": "key derivation: `null`, `aes-ctr`, `aes-ctr-128/192/256`",
  "crypto.window":
    "replay window per (mux, sender id); 0 = off (anytun's habit). Default: 1024 in server mode, 0 in peer and relay-client mode (a warning at start); only the newest packet of a sender id moves an endpoint, at any size",
  "crypto.maxSenders": "sender ids a connection keeps a replay window for; more are dropped (`senders`), none evicted",
  protocol:
    "peer: `satp` (anytun's, the default) or `noise` (the Noise IK suite to our servers' `noise.listen`; needs `serverPublicKey` and `privateKeyFile`)",
  serverPublicKey:
    "peer with protocol noise: the anycast group's public key (`relay.ts pubkey` of `noise.privateKeyFile`)",
  privateKeyFile: "peer with protocol noise: this client's private key file (`relay.ts genkey > FILE`, mode 600)",
  noise: "server: the Noise IK suite (off while `listen` is empty)",
  "noise.listen": "UDP `host:port` list for Noise packets (their own port: they cannot be told from SATP)",
  "noise.listen[]": "one `host:port`",
  "noise.privateKeyFile":
    "the anycast group's private key (`relay.ts genkey > FILE`), the same file on every server; never shown by the admin API",
  "noise.maxSessions": "live sessions at most (a client holds up to two); initiations beyond are dropped and counted",
  "noise.recordKeySeconds":
    "how often each server renews the in-memory X25519 key that session records are sealed to; a fleet key leaked later opens no record older than two periods",
  "noise.loadPerSecond":
    "initiations with a valid mac1 per second (over two seconds) above which the server asks for cookies (mac2) before any Diffie-Hellman",
  relayClient: "relay-client: the relay to ask for",
  "relayClient.peer": "the peer to reach through the relay, `host:port`",
  "relayClient.local": "local UDP address forwarded through the relay",
  "relayClient.lifetime": "allocation lifetime asked for (refreshed at half)",
  clients: "server: the client table",
  "clients[].name": "label on metrics and views (default `mux-N`)",
  "clients[].protocol": "`satp` (default: passphrase or key) or `noise` (known by `publicKey`, on `noise.listen`)",
  "clients[].publicKey": "protocol noise: the client's static public key (`relay.ts pubkey` of its private key)",
  "clients[].mux": "the client's connection id (unique)",
  "clients[].passphrase": "the client's passphrase (or key + salt)",
  "clients[].key": "master key in hex",
  "clients[].salt": "master salt in hex",
  "clients[].routes": "inner prefixes routed to this client",
  "clients[].routes[]": "a prefix, any length, IPv4 or IPv6",
  "clients[].role": "the server's role towards this client (anytun clients run `-e client`)",
  "clients[].rateLimit": "overrides of `rateLimit` for this client",
  "clients[].rateLimit.packetsPerSecond": "as rateLimit.packetsPerSecond",
  "clients[].rateLimit.bytesPerSecond": "as rateLimit.bytesPerSecond",
  "clients[].rateLimit.burstMs": "as rateLimit.burstMs",
  "clients[].crypto": "overrides of `crypto` for this client",
  "clients[].crypto.cipher": "as crypto.cipher",
  "clients[].crypto.auth": "as crypto.auth",
  "clients[].crypto.tagLength": "as crypto.tagLength",
  "clients[].crypto.kdPrf": "as crypto.kdPrf",
  "clients[].crypto.window": "as crypto.window",
  "clients[].crypto.maxSenders": "as crypto.maxSenders",
  admin: "server: admin HTTP API",
  "admin.listen": "address of the admin API",
  "admin.token": "bearer token; required when listen is not loopback",
  "admin.openHealth": "/healthz and /readyz answer without the token",
  "admin.enabled": "serve the admin API at all",
  "admin.metricsClients":
    "per-client series on /metrics for at most this many clients, the busiest (totals always cover all)",
  "admin.hosts":
    "host names accepted in `Host` besides IP literals and `localhost` (others: 421, against DNS rebinding)",
  plugins:
    'server: the plugin chain, in order: `{ "use": NAME or PATH, ...options }` (options: each plugin\'s header comment)',
  "plugins[].use": "a built-in (dns, local, nat, relay, routes) or a path relative to the config file",
  sync: "server: state sync between the servers of one anycast address",
  "sync.listen": "address the sync mesh listens on (unicast)",
  "sync.peers": "the other servers' sync addresses",
  "sync.peers[]": "`host:port`",
  "sync.key": "fleet key: 64 hex digits or a passphrase of 16+ characters",
  "sync.heartbeatMs": "heartbeat; a peer silent for 3 heartbeats is dropped",
  "sync.staleSeconds": "what a lost peer taught is dropped after this long",
  "sync.hwmIntervalMs": "replay high-water marks published this often",
  "sync.readyGraceMs":
    "a (re)started server is not ready (`/readyz` 503, packets dropped `notready`) until a sync peer's snapshot brings the fleet's replay marks, or this long with no peer reachable",
  "sync.markWaitMs":
    "a client a route moved here: its packets wait (hold queue) at most this long for the previous server's current replay marks (0 = never wait)",
  sourceCheck:
    "server: an inner packet's source must fall in the sending client's routes (longest match over all clients), else it is dropped (`spoofed`)",
  rateLimit:
    "server: per-client token buckets over authenticated packets; past them a packet is dropped (`ratelimit`), other clients unaffected",
  "rateLimit.packetsPerSecond": "packets/s per client (0 = no limit)",
  "rateLimit.bytesPerSecond": "bytes/s per client (0 = no limit)",
  "rateLimit.burstMs": "burst: this many ms worth of each rate",
  loopBudgetMs:
    "server: packet work per event-loop turn (ms; 0 = no limit); packets past it in that turn are dropped (`overload`) so timers, sync and admin keep running under a flood",
  "sync.dataChannel":
    "UDP channel between servers (sync listen address) for packets to a client whose TCP link another server holds",
  mssClamp:
    "server: a client's TCP SYN announces at most this MSS: `true` = what fits `mtu` (mtu − 40 over IPv4, − 60 over IPv6), a number, or `false`",
  icmpRate:
    'server and client roles: at most this many "fragmentation needed" / "packet too big" errors per second, for inner packets over `mtu` with DF or IPv6 (0 = none; they are dropped, counted in `relay_pmtu_total`)',
  "sync.acceptKeys":
    "other fleet keys accepted too (reloadable), for a rotation without downtime: every server accepts the next key; then makes it `key`, accepting the old; then drops the old",
  "sync.backend":
    "`mesh`: every server dials every other (`listen`, `peers`); `nats`: the servers meet on NATS subjects, records sealed with `sync.key`",
  "sync.nats": "with backend `nats`: the NATS servers and how to log in",
  "sync.nats.servers":
    "`nats://host:port` (or `tls://`) of the NATS servers of this PoP or region; the client fails over between them",
  "sync.nats.user": "NATS user (with `pass`)",
  "sync.nats.pass": "NATS password (shown as `(set)` by the admin API)",
  "sync.nats.token": "NATS token (instead of user/pass)",
  "sync.nats.credsFile": "a NATS creds file (JWT + nkey seed; instead of user/pass or token)",
  "sync.nats.tls": "TLS to NATS: CA, client certificate and key files",
  "sync.nats.tls.caFile": "CA bundle that signs the NATS servers' certificates",
  "sync.nats.tls.certFile": "client certificate (mutual TLS)",
  "sync.nats.tls.keyFile": "client key (mutual TLS)",
  "sync.nats.prefix": "subject prefix of this anycast group (`<prefix>.all`, `<prefix>.to.<node>`)",
  tcp: "server: SATP over TCP for tcp-unicast and tcp-anycast clients",
  "tcp.listen": "TCP listeners for framed SATP: the anycast address (INIT) and this server's unicast address",
  "tcp.listen[]": "`host:port`",
  "tcp.advertise": "the unicast `host:port` INIT redirects clients to (required with listen)",
  "tcp.tokenSeconds": "validity of a redirect token",
  "tcp.maxPending":
    "connections on `tcp.listen` without a valid token, and tcp-anycast flows without an authenticated packet, at most each (more are closed at once, `tcp-pending-full`; tcp-anycast: counted `full`)",
  "tcp.pendingMs":
    "a connection without a valid token (a tcp-anycast flow without an authenticated packet) is closed after this long",
  "tcp.pendingBytes":
    "a connection without a valid token (a tcp-anycast flow without an authenticated packet) is closed once it sent this many bytes",
  "tcp.capture":
    "full anycast TCP: anycast `ip:port` terminated by this relay's own TCP stack behind a capture TUN (IPv4 `a.b.c.d:port` or IPv6 `[addr]:port`)",
  "tcp.capture[]": "`ip:port`",
  "tcp.captureDev": "capture TUN device name",
  "tcp.captureSetup":
    "`auto`: apply and undo the policy rule, route and sysctls; `check`: refuse to start listing what is missing",
  "tcp.captureTable": "routing table of the capture route (`default dev captureDev`)",
  "tcp.capturePref": "priority of the capture rule (`to ip ipproto tcp dport port`); the local rule moves after it",
  "tcp.mss": "MSS offered to captured clients",
  "tcp.buffer": "send and receive buffer per captured flow, bytes",
  "tcp.minRtoMs": "minimum retransmission timeout of captured flows (RFC 6298 says 1000; Linux uses 200)",
  "tcp.keepaliveMinMs": "shortest keep-alive interval a client may ask for",
  "tcp.keepaliveMaxMs": "longest keep-alive interval a client may ask for (and the default)",
  "tcp.maxFlows": "captured flows at most (SYNs beyond are dropped, counted `full`)",
  "tcp.idleSeconds": "a captured flow without any segment this long is forgotten (no RST)",
  "tcp.holdMs": "alias of `hold.ms` (default 500)",
  "tcp.holdBytes": "alias of `hold.bytes` (default 16777216)",
  hold: "server: packets for a client that cannot be sent yet (flow not taken over here, link gone) wait instead of being dropped",
  "hold.ms": "how long each waits at most (0 = drop); default 500, or `tcp.holdMs`",
  "hold.bytes": "bytes held at most, all clients together; default 16777216, or `tcp.holdBytes`",
  udpBuffers: "kernel buffers of every UDP socket",
  "udpBuffers.receive": "SO_RCVBUF bytes (past rmem_max with CAP_NET_ADMIN)",
  "udpBuffers.send": "SO_SNDBUF bytes",
  udpGso:
    "UDP GSO (`UDP_SEGMENT`): a batch's runs of like datagrams to one address go to the kernel as one packet each; off by itself where a route cannot",
  udpGro:
    "UDP GRO (`UDP_GRO`) on every UDP socket: a run another host sent with GSO is received as one message and handed on as its datagrams",
  tunOffload:
    "peer: the TUN takes TCP super-packets (TSO) and partial checksums from the kernel; they are cut into segments and completed when read",
  cryptoLibrary:
    "per-packet crypto (SATP and Noise): `auto` = OpenSSL 3's libcrypto through bun:ffi when it loads, else node:crypto; `openssl` = refuse to start without it; `node`; read at start",
  drainSeconds: "seconds between SIGTERM (not ready at once) and exit",
  log: "log targets `stdout|stderr|file|syslog:LEVEL[,param]` (file: the path; syslog: `IDENT[,FACILITY]`), levels 0..5",
  "log[]": "one target",
  logFormat: "`text` (logfmt) or `json`",
  syslogSocket: "unix datagram socket of `syslog:` targets (the relay refuses to start without it)",
  debug: "add the target stdout:5",
  nodaemonize: "accepted for anytun compatibility; the relay always stays in the foreground",
  writePid: "write the process id to this file",
  stateDir:
    "durable state (send counters, reserved ahead and fsynced: no seq is sent twice across restarts); default `$STATE_DIRECTORY`, `/var/lib/anytun-relay` as root, else `~/.local/state/anytun-relay`",
};

interface Row {
  key: string;
  type: string;
  def: string;
}

type S = { type: string; [k: string]: unknown };

function describe(schema: S): string {
  let s = schema;
  const pipe = (s.pipe as S[] | undefined) ?? [];
  const bits: string[] = [];
  for (const a of pipe.slice(1)) {
    if (a.type === "integer") bits.push("integer");
    if (a.type === "min_value") bits.push(`>= ${a.requirement}`);
    if (a.type === "max_value") bits.push(`<= ${a.requirement}`);
  }
  if (s.type === "union") return (s.options as S[]).map(describe).join(" or ");
  if (s.type === "literal") return `\`${JSON.stringify(s.literal)}\``;
  if (s.type === "picklist") return (s.options as string[]).map((o) => `\`${o}\``).join(" \\| ");
  if (s.type === "array") return `list of ${describe(s.item as S)}`;
  if (s.type === "strict_object" || s.type === "object" || s.type === "loose_object") return "object";
  const base = s.type === "number" && bits[0] === "integer" ? "integer" : s.type;
  const range = bits.filter((b) => b !== "integer").join(", ");
  return range ? `${base} (${range})` : base;
}

function walk(entries: Record<string, S>, prefix: string, rows: Row[]): void {
  for (const [name, raw] of Object.entries(entries)) {
    const key = prefix + name;
    const optional = raw.type === "optional";
    const s = (optional ? raw.wrapped : raw) as S;
    const d = optional ? raw.default : undefined;
    const def = !optional ? "required" : d === undefined ? "" : `\`${JSON.stringify(d)}\``;
    rows.push({ key, type: describe(s), def });
    const inner = s.type === "array" ? (s.item as S) : s;
    const innerKey = s.type === "array" ? `${key}[]` : key;
    if (inner.entries) walk(inner.entries as Record<string, S>, `${innerKey}.`, rows);
    else if (s.type === "array" && MEANING[innerKey] !== undefined)
      rows.push({ key: innerKey, type: describe(inner), def: "" });
  }
}

export function configRows(): Row[] {
  const rows: Row[] = [];
  walk((ConfigSchema as unknown as { entries: Record<string, S> }).entries, "", rows);
  // plugins[] entries are loose objects: `use` plus the plugin's own options
  return rows;
}

/** The table as prettier formats it (the README is prettier-checked). */
export async function configReference(): Promise<string> {
  const flags = new Map<string, string[]>();
  for (const f of FLAGS) flags.set(f.key, [...(flags.get(f.key) ?? []), `${f.short ? `-${f.short} ` : ""}--${f.long}`]);
  const out = ["| key | flags | type | default | meaning |", "|---|---|---|---|---|"];
  for (const r of configRows()) {
    const m = (MEANING[r.key] ?? "").replace(/\|/g, "\\|");
    out.push(
      `| \`${r.key}\` | ${(flags.get(r.key) ?? []).map((f) => `\`${f}\``).join(", ")} | ${r.type} | ${r.def} | ${m} |`,
    );
  }
  return (await format(out.join("\n"), { parser: "markdown", printWidth: 120 })).trimEnd();
}

export const START = "<!-- config-reference:start (generated by scripts/config-reference.ts; do not edit) -->";
export const END = "<!-- config-reference:end -->";

if (import.meta.main) {
  const table = await configReference();
  if (process.argv.includes("--write")) {
    const path = new URL("../README.md", import.meta.url).pathname;
    const readme = readFileSync(path, "utf8");
    const i = readme.indexOf(START);
    const j = readme.indexOf(END);
    if (i < 0 || j < i) throw new Error("README.md has no config-reference markers");
    writeFileSync(path, `${readme.slice(0, i + START.length)}\n\n${table}\n\n${readme.slice(j)}`);
  } else console.log(table);
}
