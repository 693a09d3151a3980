// Workers (config `workers`): the config each worker of a server runs with. Pure: the supervisor
// (supervisor.ts) computes the tree's plan once; each worker applies it to the config it loads
// itself (at start and on every SIGHUP), so all of them read the one config file.
//
// Worker i of a server is a full member of the anycast group:
//   sender id     senderId + i * senderIdStride (every server's senderId below the stride, so no
//                 two members of the fleet share one; the mesh refuses duplicates loudly)
//   listeners     the configured ones, bound with SO_REUSEPORT (reusePort)
//   sync          its own listener: sync.listen's host at port P_i (P_0 = sync.listen's port, P_i =
//                 P_0 + i; with port 0 or no sync.listen, free ports the supervisor picked); it
//                 dials the configured peers and its siblings, and tells peers its siblings' ports
//                 (mesh.ts), so the fleet's members form one full mesh. Without sync.key the tree
//                 gets a random key of its own (siblings still share their tables).
//   admin         127.0.0.1, a free port, the tree's random token: the supervisor's admin API is
//                 the one operators see (it merges /metrics and readiness, proxies the rest).
import type { Config } from "../config.ts";
import { parseHostPort } from "../config.ts";
import { hostPortText } from "../net/addr.ts";
import { availableParallelism } from "node:os";

/** What the supervisor tells every worker (environment ANYTUN_RELAY_WORKER, JSON). */
export interface TreePlan {
  index: number;
  count: number;
  /** Fleet key to use when the config has no sync.key (random per tree). */
  key: string;
  /** The admin token of the workers' own (loopback) admin APIs. */
  token: string;
  /** Sync host and each worker's sync port. */
  syncHost: string;
  syncPorts: number[];
  /** The UDP listeners with port 0 resolved to the one port every worker binds (null: as configured). */
  listen: string[] | null;
  /** The demo client's passphrase (no config file: every worker serves the same demo client). */
  demo?: string;
}

export interface WorkerInfo {
  index: number;
  count: number;
  /** The sync ports of every worker of this server (told to peers, mesh.ts). */
  syncPorts: number[];
  /** Where siblings are dialed. */
  syncHost: string;
  /** The supervisor's admin.listen (this server's admin API), when enabled. */
  adminListen?: string;
}

export const WORKER_ENV = "ANYTUN_RELAY_WORKER";

/** The CPUs this process may use ("auto"). */
export function cpuCount(): number {
  return Math.max(1, availableParallelism());
}

export function workerCount(cfg: Config): number {
  return cfg.workers === "auto" ? cpuCount() : cfg.workers;
}

/** Sync host of the tree: sync.listen's host, or loopback; the address siblings dial it at. */
export function syncHosts(cfg: Config): { listen: string; dial: string } {
  const host = cfg.sync.listen === undefined ? "127.0.0.1" : parseHostPort(cfg.sync.listen).host;
  const wildcard = host === "0.0.0.0" || host === "::";
  return { listen: host, dial: wildcard ? (host === "::" ? "::1" : "127.0.0.1") : host };
}

/** The config worker `plan.index` runs with (a new object; `cfg` is not changed). */
export function workerConfig(cfg: Config, plan: TreePlan): Config {
  const i = plan.index;
  const hosts = syncHosts(cfg);
  // Each worker dials the siblings started before it (one link per pair, no crossed dials).
  const siblings = plan.syncPorts.slice(0, i).map((port) => hostPortText(hosts.dial, port));
  return {
    ...cfg,
    senderId: cfg.senderId + i * cfg.senderIdStride,
    workers: 1,
    reusePort: true,
    writePid: undefined,
    ...(plan.listen !== null ? { listen: plan.listen } : {}),
    sync: {
      ...cfg.sync,
      key: cfg.sync.key ?? plan.key,
      listen: hostPortText(hosts.listen, plan.syncPorts[i]!),
      peers: [...cfg.sync.peers, ...siblings],
    },
    admin: { ...cfg.admin, enabled: true, listen: "127.0.0.1:0", token: plan.token, openHealth: false, hosts: [] },
    worker: {
      index: i,
      count: plan.count,
      syncPorts: plan.syncPorts,
      syncHost: hosts.dial,
      ...(cfg.admin.enabled ? { adminListen: cfg.admin.listen } : {}),
    },
  };
}

/** The plan this process runs as a worker of, or null (environment ANYTUN_RELAY_WORKER). */
export function planFromEnv(): TreePlan | null {
  const text = process.env[WORKER_ENV];
  if (text === undefined || text === "") return null;
  const p = JSON.parse(text) as TreePlan;
  if (
    !Number.isInteger(p.index) ||
    !Number.isInteger(p.count) ||
    p.index < 0 ||
    p.index >= p.count ||
    !Array.isArray(p.syncPorts) ||
    !(p.listen === null || Array.isArray(p.listen)) ||
    p.syncPorts.length !== p.count ||
    typeof p.key !== "string" ||
    typeof p.token !== "string"
  )
    throw new Error(`${WORKER_ENV}: not a worker plan`);
  return p;
}
