// What a server is made of besides its lifecycle (server.ts): the ports it claims and the
// overlaps it refuses, the server as a destination (own endpoints), the secrets its anycast
// group shares, the member ordinal plugins divide shared resources by, and the plugins' counters.
import { createHash, hkdfSync, randomBytes } from "node:crypto";
import type { Config } from "./config.ts";
import type { Listener, Server } from "./server.ts";
import { ConfigError, parseHostPort } from "./config.ts";
import { hostPortText } from "./net/addr.ts";
import { OwnEndpoints } from "./net/own.ts";
import { portOverlaps, type PortClaim } from "./net/ports.ts";
import { chainClaims, type PreparedChain } from "./pipeline.ts";
import { fleetKeyFrom } from "./sync/wire.ts";
import { PROTOCOL_VERSION, type Digest } from "./sync/consistency.ts";

/** PluginContext.member: the sender id, or with workers base id × workers + worker index. */
export function memberOrdinal(cfg: Config): number {
  const w = cfg.worker;
  if (w === undefined) return cfg.senderId;
  const base = cfg.senderId - w.index * cfg.senderIdStride;
  return base * w.count + w.index;
}

/** A secret the whole anycast group shares (derived from the fleet key); a lone server picks its own. */
export function groupSecret(cfg: Config, info: string): Uint8Array {
  if (cfg.sync.key === undefined) return randomBytes(32);
  return new Uint8Array(hkdfSync("sha256", fleetKeyFrom(cfg.sync.key), new Uint8Array(0), info, 32));
}

/**
 * This server's view of what the fleet must agree on (sync/consistency.ts), each part a hash:
 * the client table with its keys, the protocol, the sender-id stride (gating), and the plugin
 * chain with its options (shown only). Not keyed with the fleet key, so a rotation of that key
 * changes nothing here; the hashes travel only inside sealed sync records and are not shown by
 * the admin API (the conflicts name the parts), so there is nothing to guess a passphrase from.
 */
export function fleetDigest(cfg: Config, since: number): Digest {
  const h = (x: unknown) =>
    createHash("sha256").update("anytun-relay fleet digest v1\0").update(JSON.stringify(x)).digest("hex").slice(0, 32);
  const clients = [...cfg.clients]
    .sort((a, b) => a.mux - b.mux)
    .map((c) => [c.mux, [...c.routes].sort(), c.passphrase ?? null, c.key ?? null, c.salt ?? null, c.crypto ?? null]);
  return {
    v: PROTOCOL_VERSION,
    since,
    parts: {
      clients: h([clients, cfg.crypto]),
      protocol: h(PROTOCOL_VERSION),
      stride: h(cfg.senderIdStride),
      plugins: h(cfg.plugins),
    },
  };
}
export const GATING_PARTS = ["clients", "protocol", "stride"];

/** The ports the listeners, capture, sync and admin take (src/net/ports.ts). */
function coreClaims(cfg: Config): PortClaim[] {
  const claims: PortClaim[] = [];
  const claim = (what: string, hp: string, protos: PortClaim["protos"]) => {
    const { host, port } = parseHostPort(hp);
    if (port !== 0) claims.push({ what, address: host, protos, from: port, to: port });
  };
  const listen = cfg.listen ?? [cfg.interface ? hostPortText(cfg.interface, cfg.port) : `[::]:${cfg.port}`];
  listen.forEach((hp, i) => claim(`listen.${i}`, hp, ["udp"]));
  cfg.tcp.listen.forEach((hp, i) => claim(`tcp.listen.${i}`, hp, ["tcp"]));
  cfg.tcp.capture.forEach((hp, i) => claim(`tcp.capture.${i}`, hp, ["tcp"]));
  if (cfg.sync.listen !== undefined)
    claim("sync.listen", cfg.sync.listen, cfg.sync.dataChannel ? ["tcp", "udp"] : ["tcp"]);
  if (cfg.admin.enabled) claim("admin.listen", cfg.admin.listen, ["tcp"]);
  // A worker's own admin API is on loopback; the one operators reach is the supervisor's.
  if (cfg.worker?.adminListen !== undefined) claim("admin.listen", cfg.worker.adminListen, ["tcp"]);
  return claims;
}

/** Every claim of `cfg` and its plugins; throws ConfigError naming each overlapping pair. */
export function checkPorts(cfg: Config, prepared: PreparedChain): PortClaim[] {
  const claims = [...coreClaims(cfg), ...chainClaims(prepared)];
  const problems = portOverlaps(claims);
  if (problems.length) throw new ConfigError(problems);
  return claims;
}

/** The server as a destination: the addresses and ports it claims, and the fleet's servers. */
export function ownEndpoints(cfg: Config, claims: PortClaim[]): OwnEndpoints {
  const ports: number[] = [];
  for (const c of claims) for (let p = c.from; p <= c.to; p++) ports.push(p);
  // Workers: the siblings' sync ports are this server's too (and, as alike servers use the same
  // numbering, a fleet server's).
  if (cfg.worker) ports.push(...cfg.worker.syncPorts);
  const fleet = cfg.sync.peers.map((hp) => parseHostPort(hp).host);
  // NATS: the fleet's state goes through those servers; a client never reaches them through us.
  if (cfg.sync.backend === "nats")
    for (const url of cfg.sync.nats?.servers ?? []) {
      const m = /^\w+:\/\/\[?([^\]]+?)\]?(?::(\d+))?$/.exec(url);
      if (m === null) continue;
      fleet.push(m[1]!);
      ports.push(m[2] === undefined ? 4222 : Number(m[2]));
    }
  return new OwnEndpoints({ addresses: claims.map((c) => c.address), ports, fleet });
}

/** Plugins' counters by "plugin\u0000event": boxes a counter increments directly. */
export class PluginCounters {
  private readonly boxes = new Map<string, { n: number }>();
  box(key: string): { n: number } {
    let b = this.boxes.get(key);
    if (b === undefined) this.boxes.set(key, (b = { n: 0 }));
    return b;
  }
  get(key: string): number | undefined {
    return this.boxes.get(key)?.n;
  }
  *[Symbol.iterator](): IterableIterator<[string, number]> {
    for (const [k, b] of this.boxes) yield [k, b.n];
  }
}

/** The keys that changed from `cur` to `next` and take effect only on a restart (a reload warns). */
export function restartOnly(cur: Config, next: Config): string[] {
  const differ = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
  return [
    ...(["listen", "interface", "port", "admin", "senderId", "noise", "cryptoLibrary"] as const).filter((k) =>
      differ(next[k], cur[k]),
    ),
    ...(["capture", "listen", "advertise"] as const)
      .filter((k) => differ(next.tcp[k], cur.tcp[k]))
      .map((k) => `tcp.${k}`),
  ];
}

/** GET /v1/tcp: both TCP transports of server `s` (capture, flows, connections) and its hold queue. */
export function tcpView(s: Server): object {
  const h = s.held;
  return {
    capture: s.cfg.tcp.capture,
    stats: { ...s.tcpAnycast.stats, heldDelivered: h.delivered, heldExpired: h.expired, heldRefused: h.refused },
    flows: s.tcpAnycast.describe(),
    unicast: [...s.tcp.conns].map((k) => ({ remote: `${k.remoteAddress}:${k.remotePort}`, ...k.stats })),
  };
}

/** Every UDP listener of server `s`: SATP's (`listen`) and the Noise suite's (`noise.listen`). */
export function udpListeners(s: Server): readonly Listener[] {
  return s.noise === null ? s.listeners : [...s.listeners, ...s.noise.listeners];
}
