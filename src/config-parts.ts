// The config's building blocks (config.ts assembles the whole schema from them): value checks
// (ports, addresses, keys, host:port), and the schemas of one client, the crypto suite and the
// rate limits; the one format of config problems (issueTexts).
import * as v from "valibot";
import { parseCidr, parseIp, type Prefix } from "./net/addr.ts";
import { CIPHERS, ROLE_NAMES, type Cipher, type Role } from "./satp/suite.ts";

export const u16 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535));
export const cipher = v.picklist(CIPHERS as Cipher[]);
export const ipText = v.pipe(
  v.string(),
  v.check((s) => parseIp(s) !== null, "expected an IPv4 or IPv6 address"),
);
export const fromThrow = (fn: (s: string) => unknown) =>
  v.rawCheck<string>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    try {
      fn(dataset.value);
    } catch (e) {
      addIssue({ message: (e as Error).message });
    }
  });
export const route = v.pipe(
  v.string(),
  fromThrow((s) => parseCidr(s, true)),
);
export const role = v.pipe(
  v.picklist(Object.keys(ROLE_NAMES)),
  v.transform((r) => ROLE_NAMES[r] as Role),
);
export const holdMs = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(5000));
export const holdBytes = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1 << 30));
export const HOLD_DEFAULTS = { ms: 500, bytes: 16 << 20 };
/** crypto.window's default in server mode (peer and relay-client: 0, anytun's). */
export const SERVER_WINDOW = 1024;
export const hexKey = v.pipe(v.string(), v.regex(/^([0-9a-fA-F]{2})+$/, "expected hex digits"));
export const hexSalt = v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{28}$/, "expected 28 hex digits (14 bytes)"));
export const tagLength = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255));
export const windowSize = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1 << 20));
export const maxSenders = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65536));

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
export const hostPort = v.pipe(v.string(), fromThrow(parseHostPort));

// Crypto defaults for every connection (-c -a -b -k -w); a client entry may override any of them.
export const CryptoSchema = v.strictObject({
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
export const CryptoOverride = v.strictObject({
  cipher: v.optional(cipher),
  auth: v.optional(v.picklist(["null", "sha1"])),
  tagLength: v.optional(tagLength),
  kdPrf: v.optional(cipher),
  window: v.optional(windowSize),
  maxSenders: v.optional(maxSenders),
});

export const perSecond = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1e12));
// Token bucket per client over authenticated packets (0 = no limit); burst: this many ms of rate.
export const RateSchema = v.strictObject({
  packetsPerSecond: v.optional(perSecond, 0),
  bytesPerSecond: v.optional(perSecond, 0),
  burstMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(60000)), 200),
});
export const RateOverride = v.strictObject({
  packetsPerSecond: v.optional(perSecond),
  bytesPerSecond: v.optional(perSecond),
  burstMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(60000))),
});
export type RateConfig = v.InferOutput<typeof RateSchema>;

/** An X25519 public or private key as `wg genkey` / `wg pubkey` print it (base64 of 32 bytes). */
export const wgKey = v.pipe(
  v.string(),
  v.regex(
    /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/,
    "expected a key as wg genkey/pubkey print it (44 characters of base64)",
  ),
);

export const ClientSchema = v.strictObject({
  name: v.optional(v.pipe(v.string(), v.nonEmpty(), v.maxLength(64))),
  mux: u16,
  // "satp" (anytun 0.3.8's protocol, keys from passphrase/key) or "noise" (Noise IK, our clients
  // only: its packets come on noise.listen, the client is known by publicKey).
  protocol: v.optional(v.picklist(["satp", "noise"])),
  // Noise: the client's static public key (relay.ts pubkey of its private key).
  publicKey: v.optional(wgKey),
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

export const PluginEntry = v.looseObject({ use: v.pipe(v.string(), v.nonEmpty("names a plugin file or path")) });
export type PluginEntryConfig = v.InferOutput<typeof PluginEntry>;

export function isLoopback(host: string): boolean {
  const b = parseIp(host);
  if (b === null) return false;
  if (b.length === 4) return b[0] === 127;
  if (b.every((x, i) => (i < 15 ? x === 0 : x === 1))) return true; // ::1
  return b.slice(0, 12).every((x, i) => (i < 10 ? x === 0 : x === 0xff)) && b[12] === 127; // ::ffff:127.x
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

// Option schemas plugins share (the SDK exports them: plugin-sdk.ts), and the core's config too.

/** A CIDR prefix, any length ("10.0.0.0/8", "2001:db8::/32"); `check` may refuse a parsed one with its message. */
export function cidr(check?: (p: Prefix) => string | null) {
  return v.pipe(
    v.string(),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      try {
        const p = parseCidr(dataset.value, true); // always parsed: `check?.(parse())` would skip it
        const why = check === undefined ? null : check(p);
        if (why !== null) addIssue({ message: why });
      } catch (e) {
        addIssue({ message: (e as Error).message });
      }
    }),
  );
}

/** A network interface name as Linux takes it (IFNAMSIZ - 1 bytes). */
export const interfaceName = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,15}$/, "1..15 chars of [A-Za-z0-9_.-]"));

/** "LO-HI", unprivileged ports, at least `minPorts` of them. */
export function portRange(minPorts: number) {
  return v.pipe(
    v.string(),
    v.regex(/^\d{1,5}-\d{1,5}$/, 'expected "LO-HI"'),
    v.check((s) => {
      const [lo, hi] = s.split("-").map(Number) as [number, number];
      return lo >= 1024 && hi <= 65535 && hi - lo + 1 >= minPorts;
    }, `expected 1024 <= LO, HI <= 65535 and at least ${minPorts} ports`),
  );
}

/** A NATS server URL: nats:// or tls:// host:port (the port defaults to 4222). */
const natsUrl = v.pipe(
  v.string(),
  v.regex(
    /^(nats|tls):\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/,
    "expected nats://host:port or tls://host:port",
  ),
);
/** One subject token of the prefix: NATS subjects are dot-separated tokens without spaces or wildcards. */
const subjectPrefix = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, "dot-separated tokens of letters, digits, _ and -"),
  v.maxLength(128),
);

/** sync.nats: where the NATS servers are, how to log in, and the subject prefix of this anycast group. */
export const NatsOptions = v.strictObject({
  servers: v.pipe(v.array(natsUrl), v.minLength(1, "at least one NATS server")),
  // Credentials (at most one way): user + pass, a token, or a creds file (JWT + nkey seed).
  user: v.optional(v.string()),
  pass: v.optional(v.string()),
  token: v.optional(v.string()),
  credsFile: v.optional(v.string()),
  tls: v.optional(
    v.strictObject({
      caFile: v.optional(v.string()),
      certFile: v.optional(v.string()),
      keyFile: v.optional(v.string()),
    }),
  ),
  // Subjects are `<prefix>.all` and `<prefix>.to.<node>`: one prefix per anycast group.
  prefix: v.optional(subjectPrefix, "anytun-relay"),
});

const fleetKey = v.pipe(v.string(), v.minLength(16, "use at least 16 characters (or 64 hex digits)"));

// Server: state sync between the servers of one anycast address (full mesh over TCP, encrypted
// and authenticated with the fleet `key`, or over NATS). Off unless `listen`, `peers` or backend "nats" is set.
export const SyncSchema = v.strictObject({
  listen: v.optional(hostPort),
  peers: v.optional(v.array(hostPort), []),
  // 64 hex digits, or a passphrase of 16+ characters; the same on every server of the fleet.
  key: v.optional(fleetKey),
  // Other fleet keys accepted too, for a rotation without downtime (reloadable): 1. every server
  // accepts the next key; 2. every server makes it `key`, accepting the old one; 3. the old goes.
  acceptKeys: v.optional(v.pipe(v.array(fleetKey), v.maxLength(4, "at most 4 keys besides sync.key")), []),
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
  // "mesh": every server dials every other (listen + peers; no other service). "nats": the
  // servers meet on NATS subjects (src/sync/nats.ts); records stay sealed with `key`.
  backend: v.optional(v.picklist(["mesh", "nats"]), "mesh"),
  nats: v.optional(NatsOptions),
});

/** Server: the Noise suite's listener and the anycast group's responder key (noise/gate.ts). */
export const NoiseSchema = v.strictObject({
  // UDP host:port list for Noise packets (they cannot share SATP's port); empty = off.
  listen: v.optional(v.array(hostPort), []),
  // The group's X25519 private key (relay.ts genkey > FILE), the same file on every server.
  privateKeyFile: v.optional(v.pipe(v.string(), v.nonEmpty())),
  // Live sessions at most (a client holds up to two); an initiation beyond is dropped and counted.
  maxSessions: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000)), 65536),
  // Initiations with a valid mac1 per second (over the last two seconds) above which the server
  // answers with cookies instead of doing Diffie-Hellman.
  loadPerSecond: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000)), 500),
  // How often each server renews the ephemeral key its peers seal session records to (records
  // older than two periods cannot be opened with any key that still exists).
  recordKeySeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(10), v.maxValue(86400)), 600),
});

/** Config problems of the Noise suite (both roles); `mode` is the resolved mode. */
export function noiseProblems(
  c: {
    protocol: "satp" | "noise";
    serverPublicKey?: string;
    privateKeyFile?: string;
    transport: string;
    passphrase?: string;
    key?: string;
    noise: { listen: string[]; privateKeyFile?: string };
    clients: { mux: number; protocol?: "satp" | "noise"; publicKey?: string; passphrase?: string; key?: string }[];
  },
  mode: string,
): string[] {
  const out: string[] = [];
  if (mode === "server") {
    let noise = 0;
    const seen = new Map<string, number>();
    c.clients.forEach((x, i) => {
      if (x.protocol === "noise") {
        noise++;
        if (x.publicKey === undefined)
          out.push(`clients.${i}.publicKey: required with protocol "noise" (relay.ts pubkey of the client's key)`);
        if (x.passphrase !== undefined || x.key !== undefined)
          out.push(`clients.${i}: passphrase/key are SATP's; a "noise" client is known by publicKey`);
      } else if (x.publicKey !== undefined)
        out.push(`clients.${i}.publicKey: only for protocol "noise" (this client speaks SATP)`);
      if (x.publicKey === undefined) return;
      const prev = seen.get(x.publicKey);
      if (prev !== undefined) out.push(`clients.${i}.publicKey: the same key as clients.${prev}`);
      seen.set(x.publicKey, i);
    });
    if (noise > 0 && c.noise.listen.length === 0)
      out.push('noise.listen: required when a client has protocol "noise" (a UDP host:port of its own)');
    if ((noise > 0 || c.noise.listen.length > 0) && c.noise.privateKeyFile === undefined)
      out.push('noise.privateKeyFile: required with noise.listen or a "noise" client (relay.ts genkey > FILE)');
  } else if (c.protocol === "noise") {
    if (mode !== "peer") out.push(`protocol: "noise" is for the peer mode (this is ${mode} mode)`);
    if (c.serverPublicKey === undefined)
      out.push("serverPublicKey: required with protocol noise (--server-public-key)");
    if (c.privateKeyFile === undefined) out.push("privateKeyFile: required with protocol noise (--private-key-file)");
    if (c.transport !== "udp") out.push(`transport: the Noise suite runs over UDP only (not ${c.transport})`);
    if (c.passphrase !== undefined || c.key !== undefined)
      out.push("passphrase/key: SATP's; with protocol noise the keys are privateKeyFile and serverPublicKey");
  } else if (c.serverPublicKey !== undefined || c.privateKeyFile !== undefined)
    out.push("serverPublicKey/privateKeyFile: only with protocol noise (--protocol noise)");
  return out;
}

// Kernel UDP socket buffers, bytes (0 = the kernel's default, ~208 KiB): big ones ride out bursts.
export const UdpBuffersSchema = v.strictObject({
  receive: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1 << 30)), 4 << 20),
  send: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1 << 30)), 4 << 20),
});
