import type { Config } from "../config.ts";
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
export declare const WORKER_ENV = "ANYTUN_RELAY_WORKER";
/** The CPUs this process may use ("auto"). */
export declare function cpuCount(): number;
export declare function workerCount(cfg: Config): number;
/** Sync host of the tree: sync.listen's host, or loopback; the address siblings dial it at. */
export declare function syncHosts(cfg: Config): {
    listen: string;
    dial: string;
};
/** The config worker `plan.index` runs with (a new object; `cfg` is not changed). */
export declare function workerConfig(cfg: Config, plan: TreePlan): Config;
/** The plan this process runs as a worker of, or null (environment ANYTUN_RELAY_WORKER). */
export declare function planFromEnv(): TreePlan | null;
