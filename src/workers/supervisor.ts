// Workers (config `workers` > 1): this process supervises N worker processes of the same relay
// (same argv, same config file; plan.ts says what each one changes) and is the one face of the
// tree to operators:
//  - start: worker 0 first, each next one once the previous has bound its listeners (so worker 0
//    sets up the kernel state that TUN plugins share); any worker failing to start fails the start.
//  - readiness: ready when every worker is (each reports its state over IPC); a worker that dies
//    is restarted (backoff 0.5 s doubling to 30 s, reset after 60 s up) and the tree is not ready
//    until it is back.
//  - signals: SIGHUP is passed to every worker (each reloads the config file itself); SIGTERM /
//    SIGINT too (each drains), and the supervisor exits when all have; a second one is passed on
//    (workers exit at once).
//  - admin: one API on admin.listen with the same rules as a server's (admin.ts guardAdmin):
//    /healthz, /readyz and /v1/workers answered here; /metrics merged from every worker
//    (metrics.ts) plus relay_worker_* series per worker; POST /drain to every worker; anything
//    else passed to worker 0, or to worker N with ?worker=N (the tables are replicated, so any
//    worker's view of them is the tree's).
// A worker watches its parent: if the supervisor is gone (killed with -9), it stops too, leaving
// the kernel setup of its captures in place as a killed relay does (capture.ts leaveSetupOnClose).
import { randomBytes } from "node:crypto";
import type { Subprocess } from "bun";
import type { Config } from "../config.ts";
import { parseHostPort } from "../config.ts";
import type { Logger } from "../log.ts";
import { hostPortText } from "../net/addr.ts";
import { bindError } from "../net/bind.ts";
import { supervisorApp } from "./admin.ts";
import { syncHosts, WORKER_ENV, workerCount, type TreePlan } from "./plan.ts";
import { Notifier } from "../systemd.ts";

/** What a worker tells the supervisor over IPC. */
export type WorkerMessage =
  { k: "up"; admin: number; senderId: number } | { k: "state"; state: string; reason: string | null };

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 30000;
const STABLE_MS = 60000;

export interface WorkerView {
  index: number;
  pid: number | null;
  senderId: number | null;
  state: string;
  reason: string | null;
  restarts: number;
  lastExit: string | null;
}

class Worker {
  proc: Subprocess | null = null;
  admin = 0;
  senderId: number | null = null;
  state = "starting";
  reason: string | null = "starting";
  restarts = 0;
  lastExit: string | null = null;
  startedAt = 0;
  backoff = RESTART_MIN_MS;
  /** Resolves when this run reported "up" (true) or exited before (false). */
  up: Promise<boolean> = Promise.resolve(false);
  private upDone: ((ok: boolean) => void) | null = null;

  constructor(readonly index: number) {}

  expectUp(): void {
    this.up = new Promise((r) => (this.upDone = r));
  }
  markUp(ok: boolean): void {
    this.upDone?.(ok);
    this.upDone = null;
  }
  view(): WorkerView {
    return {
      index: this.index,
      pid: this.proc?.pid ?? null,
      senderId: this.senderId,
      state: this.state,
      reason: this.reason,
      restarts: this.restarts,
      lastExit: this.lastExit,
    };
  }
}

/** A free UDP port on `host` (a listener with port 0: every worker must bind the same one). */
async function freeUdpPort(host: string): Promise<number> {
  const u = await Bun.udpSocket({ hostname: host, port: 0 });
  const port = u.port;
  u.close();
  return port;
}

/** Free ports for the workers' sync listeners (TCP and the data channel's UDP) on `host`. */
async function freePorts(host: string, n: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const l = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
    const port = l.port;
    l.stop(true);
    try {
      const u = await Bun.udpSocket({ hostname: host, port });
      u.close();
    } catch {
      continue; // UDP side taken: try another
    }
    if (!out.includes(port)) out.push(port);
  }
  return out;
}

export class Supervisor {
  readonly workers: Worker[];
  readonly plan: Omit<TreePlan, "index">;
  private stoppingNow = false;
  private http: ReturnType<typeof Bun.serve> | null = null;
  private readonly cmd: string[];

  private constructor(
    readonly cfg: Config,
    private readonly log: Logger,
    argv: readonly string[],
    plan: Omit<TreePlan, "index">,
  ) {
    this.plan = plan;
    this.workers = Array.from({ length: plan.count }, (_, i) => new Worker(i));
    // `bun relay.ts ARGS` or the compiled binary's `relay ARGS` (Bun.main is then inside it).
    const main = Bun.main;
    this.cmd = main.startsWith("/$bunfs/") || main === process.execPath ? [process.execPath] : [process.execPath, main];
    this.cmd.push(...argv);
  }

  static async create(cfg: Config, log: Logger, argv: readonly string[], demoPassphrase?: string): Promise<Supervisor> {
    const count = workerCount(cfg);
    const hosts = syncHosts(cfg);
    const listenPort = cfg.sync.listen === undefined ? 0 : parseHostPort(cfg.sync.listen).port;
    if (listenPort > 0 && listenPort + count - 1 > 65535)
      throw new Error(`sync.listen port ${listenPort}: ${count} workers need ports up to ${listenPort + count - 1}`);
    const syncPorts =
      listenPort > 0 ? Array.from({ length: count }, (_, i) => listenPort + i) : await freePorts(hosts.listen, count);
    let listen: string[] | null = null;
    const configured = cfg.listen ?? [cfg.interface ? hostPortText(cfg.interface, cfg.port) : `[::]:${cfg.port}`];
    if (configured.some((t) => parseHostPort(t).port === 0)) {
      listen = [];
      for (const t of configured) {
        const { host, port } = parseHostPort(t);
        const free = port !== 0 ? port : await freeUdpPort(host).catch(() => freeUdpPort("0.0.0.0"));
        listen.push(hostPortText(host, free));
      }
    }
    return new Supervisor(cfg, log, argv, {
      count,
      listen,
      key: randomBytes(32).toString("hex"),
      token: randomBytes(24).toString("base64url"),
      syncHost: hosts.dial,
      syncPorts,
      ...(demoPassphrase !== undefined ? { demo: demoPassphrase } : {}),
    });
  }

  /** Binds the admin API (if enabled), then starts the workers in order; throws when one cannot start. */
  async start(): Promise<void> {
    if (this.cfg.admin.enabled) {
      const { host, port } = parseHostPort(this.cfg.admin.listen);
      try {
        this.http = Bun.serve({ hostname: host, port, fetch: supervisorApp(this).fetch });
      } catch (e) {
        throw bindError(`admin.listen ${this.cfg.admin.listen} (TCP)`, e);
      }
      this.log.notice("admin listening", { url: `http://${hostPortText(host, this.http.port ?? port)}` });
    }
    this.log.notice("starting workers", {
      workers: this.plan.count,
      senderIds: this.workers.map((w) => this.cfg.senderId + w.index * this.cfg.senderIdStride).join(","),
      syncPorts: this.plan.syncPorts.join(","),
    });
    for (const w of this.workers) {
      this.spawn(w);
      if (!(await w.up)) {
        this.stoppingNow = true;
        for (const o of this.workers) this.signal(o, "SIGKILL");
        await Promise.all(this.workers.map((o) => o.proc?.exited));
        this.http?.stop(true);
        throw new Error(`worker ${w.index} did not start (${w.lastExit ?? "no reason"}; its log says why)`);
      }
    }
  }

  private spawn(w: Worker): void {
    const env: Record<string, string | undefined> = {
      ...process.env,
      [WORKER_ENV]: JSON.stringify({ ...this.plan, index: w.index }),
    };
    delete env.NOTIFY_SOCKET; // only the supervisor talks to systemd
    w.expectUp();
    w.state = "starting";
    w.reason = "starting";
    w.startedAt = performance.now();
    const proc = Bun.spawn(this.cmd, {
      env,
      stdin: "ignore",
      stdout: "inherit",
      stderr: "inherit",
      serialization: "json",
      ipc: (m: WorkerMessage) => this.message(w, m),
    });
    w.proc = proc;
    void proc.exited.then((code) => this.exited(w, proc, code));
  }

  private message(w: Worker, m: WorkerMessage): void {
    if (typeof m !== "object" || m === null) return;
    if (m.k === "up" && Number.isInteger(m.admin)) {
      w.admin = m.admin;
      w.senderId = m.senderId;
      w.markUp(true);
    } else if (m.k === "state" && typeof m.state === "string") {
      w.state = m.state;
      w.reason = m.reason ?? null;
    }
  }

  private exited(w: Worker, proc: Subprocess, code: number): void {
    if (w.proc !== proc) return;
    const sig = proc.signalCode;
    w.lastExit = sig ? `killed by ${sig}` : `exit code ${code}`;
    w.proc = null;
    w.admin = 0;
    w.state = "stopped";
    w.reason = `worker exited (${w.lastExit})`;
    w.markUp(false);
    if (this.stoppingNow) return;
    if (performance.now() - w.startedAt > STABLE_MS) w.backoff = RESTART_MIN_MS;
    const delay = w.backoff;
    w.backoff = Math.min(RESTART_MAX_MS, w.backoff * 2);
    w.restarts++;
    w.reason = `restarting in ${delay} ms (${w.lastExit})`;
    this.log.error("worker exited; restarting it", { worker: w.index, why: w.lastExit, inMs: delay });
    setTimeout(() => {
      if (!this.stoppingNow) this.spawn(w);
    }, delay);
  }

  views(): WorkerView[] {
    return this.workers.map((w) => w.view());
  }

  /** Null when every worker is ready; else why not. */
  notReadyReason(): string | null {
    if (this.stoppingNow) return "draining";
    const not = this.workers.filter((w) => w.state !== "ready");
    if (not.length === 0) return null;
    return not.map((w) => `worker ${w.index}: ${w.reason ?? w.state}`).join("; ");
  }

  async whenReady(): Promise<boolean> {
    while (!this.stoppingNow && this.notReadyReason() !== null) await Bun.sleep(20);
    return !this.stoppingNow;
  }

  private signal(w: Worker, sig: NodeJS.Signals): void {
    try {
      w.proc?.kill(sig);
    } catch {
      // already gone
    }
  }

  reload(): void {
    for (const w of this.workers) this.signal(w, "SIGHUP");
  }

  /**
   * First call: every worker drains (as on its own SIGTERM) and exits; later calls: they exit at
   * once. Told over IPC, so workers that got the signal from the process group too (Ctrl-C,
   * systemd's cgroup kill) do not count it twice. Resolves when every worker has exited.
   */
  async stop(now: boolean): Promise<void> {
    this.stoppingNow = true;
    for (const w of this.workers) {
      try {
        w.proc?.send(now ? { k: "exit" } : { k: "drain" });
      } catch {
        this.signal(w, now ? "SIGKILL" : "SIGTERM"); // no IPC channel: signals still end it
      }
    }
    await Promise.all(this.workers.map((w) => w.proc?.exited));
  }

  close(): void {
    this.http?.stop(true);
  }

  /** A worker's admin API, as the supervisor calls it (admin.ts). */
  async ask(index: number, path: string, init: RequestInit = {}): Promise<Response> {
    const x = this.workers[index]!;
    if (x.admin === 0) return Response.json({ error: `worker ${index} is not running` }, { status: 503 });
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.plan.token}`);
    try {
      return await fetch(`http://127.0.0.1:${x.admin}${path}`, { ...init, headers, signal: AbortSignal.timeout(5000) });
    } catch (e) {
      return Response.json({ error: `worker ${index}: ${(e as Error).message}` }, { status: 502 });
    }
  }

  get stopping(): boolean {
    return this.stoppingNow;
  }
}

/**
 * relay.ts's server path when `workers` > 1: supervise until SIGTERM / SIGINT; returns the exit
 * code. `banner` is printed once every worker is ready (the demo's lines).
 */
export async function runSupervisor(
  cfg: Config,
  log: Logger,
  argv: readonly string[],
  banner: readonly string[],
  pid: { remove(): void },
): Promise<number> {
  let sup: Supervisor;
  try {
    sup = await Supervisor.create(cfg, log, argv, banner.length > 0 ? cfg.clients[0]?.passphrase : undefined);
    await sup.start();
  } catch (e) {
    log.error(`cannot start: ${(e as Error).message}`);
    if (!log.enabled(1)) console.error(`cannot start: ${(e as Error).message}`);
    pid.remove();
    return 1;
  }
  const sd = new Notifier();
  process.on("SIGHUP", () => {
    log.notice("reloading every worker (SIGHUP)");
    sup.reload();
  });
  let signals = 0;
  const done = new Promise<number>((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        sd.stopping(`draining ${sup.workers.length} workers (${sig})`);
        log.notice("stopping workers", { signal: sig });
      } else log.notice("second signal: workers exit now", { signal: sig });
      void sup.stop(signals > 1).then(() => {
        sup.close();
        pid.remove();
        log.notice("stopped");
        resolve(0);
      });
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  });
  if (await sup.whenReady()) {
    for (const line of banner) console.log(line);
    sd.ready(`${sup.workers.length} workers ready`);
    log.notice("workers ready", { workers: sup.workers.length });
  }
  return await done;
}
