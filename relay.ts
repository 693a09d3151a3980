#!/usr/bin/env bun
// Entry point: command line + config → logger → role (peer or server) + admin. Wiring only.
import { dirname, resolve } from "node:path";
import pkg from "./package.json";
import { adminApp } from "./src/admin.ts";
import { ConfigError, parseHostPort, validateConfig, type Config } from "./src/config.ts";
import { addDemoClient } from "./src/demo.ts";
import { parseArgs, usage } from "./src/flags.ts";
import { Logger, parseLogTarget } from "./src/log.ts";
import { startPeer } from "./src/peer.ts";
import { startRelayClient } from "./src/relay-client.ts";
import { Server, checkPorts, hostPortText } from "./src/server.ts";
import { prepareChain } from "./src/pipeline.ts";
import { bindError } from "./src/net/bind.ts";
import { statusCommand } from "./src/status.ts";
import { keyCommand } from "./src/noise/commands.ts";
import { resolveHostNames } from "./src/config-file.ts";
import { Notifier } from "./src/systemd.ts";
import { leaveSetupOnClose } from "./src/capture.ts";
import { cryptoLibraryName, setCryptoLibrary } from "./src/satp/crypto.ts";
import { unlinkSync, writeFileSync } from "node:fs";
import { BUILTIN } from "./plugins/index.ts";
import { planFromEnv, workerConfig, workerCount, type TreePlan } from "./src/workers/plan.ts";
import { runSupervisor } from "./src/workers/supervisor.ts";
import { reportToSupervisor } from "./src/workers/worker.ts";

/** Set when this process is a worker of a server with `workers` > 1 (src/workers/). */
let plan: TreePlan | null = null;

/** Parses argv (and the config file it names) into a validated Config. */
async function load(
  argv: string[],
): Promise<
  { action: "help" } | { action: "version" } | { action: "run"; cfg: Config; configDir: string; check: boolean }
> {
  const cli = parseArgs(argv);
  if (cli.action !== "run") return cli;
  const file = argv.find((a, i) => argv[i - 1] === "--config") ?? argv.find((a) => a.startsWith("--config="))?.slice(9);
  const valid = validateConfig(await resolveHostNames(cli.raw));
  const cfg = plan === null ? valid : workerConfig(valid, plan);
  return { action: "run", cfg, configDir: file ? dirname(resolve(file)) : process.cwd(), check: cli.check };
}

/** --check: everything a start would validate (plugins loaded, their options, port claims), nothing opened. */
async function check(cfg: Config, configDir: string): Promise<string> {
  const what = [`${cfg.mode} mode`];
  try {
    setCryptoLibrary(cfg.cryptoLibrary);
  } catch (e) {
    throw new ConfigError([(e as Error).message]);
  }
  if (cfg.mode === "server") {
    const prepared = await prepareChain(cfg.plugins, BUILTIN, configDir);
    checkPorts(cfg, prepared);
    what.push(`${cfg.clients.length} client${cfg.clients.length === 1 ? "" : "s"}`);
    what.push(`plugins ${prepared.map((p) => p.def.name).join(", ") || "(none)"}`);
  }
  what.push(`packet crypto ${cryptoLibraryName()}`);
  return `config OK: ${what.join(", ")}`;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "status") return statusCommand(argv.slice(1));
  if (argv[0] === "genkey" || argv[0] === "pubkey") return keyCommand(argv[0]);
  let loaded;
  try {
    plan = planFromEnv();
  } catch (e) {
    console.error(`cannot start: ${(e as Error).message}`);
    return 2;
  }
  try {
    loaded = await load(argv);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) console.error(`config error: ${p}`);
    return 2;
  }
  if (loaded.action === "help") {
    console.log(usage(pkg.version));
    return 0;
  }
  if (loaded.action === "version") {
    console.log(`anytun-relay ${pkg.version} (bun ${Bun.version}, SATP as anytun 0.3.8)`);
    return 0;
  }
  const { cfg, configDir } = loaded;
  if (loaded.check) {
    try {
      console.log(await check(cfg, configDir));
      return 0;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const p of e.problems) console.error(`config error: ${p}`);
      return 2;
    }
  }
  const hasConfigFile = argv.some((a) => a === "--config" || a.startsWith("--config="));
  const demo = hasConfigFile ? [] : addDemoClient(cfg, plan?.demo);
  const targets = cfg.log.map(parseLogTarget);
  if (cfg.debug) targets.push({ kind: "stdout", level: 5 });
  let log: Logger;
  try {
    log = new Logger(targets, cfg.logFormat, plan === null ? "" : `worker${plan.index}`, {
      syslogSocket: cfg.syslogSocket,
    });
  } catch (e) {
    console.error(`cannot start: ${(e as Error).message}`);
    return 2;
  }
  exitOnUncaught(log);
  const fail = (e: unknown) => {
    const msg = e instanceof ConfigError ? e.problems.join("; ") : (e as Error).message;
    log.error(`cannot start: ${msg}`);
    if (!log.enabled(1)) console.error(`cannot start: ${msg}`);
    return e instanceof ConfigError ? 2 : 1;
  };
  try {
    setCryptoLibrary(cfg.cryptoLibrary);
    log.info("packet crypto (SATP, Noise)", { library: cryptoLibraryName(), cryptoLibrary: cfg.cryptoLibrary });
  } catch (e) {
    return fail(e);
  }

  // The client roles: start, tell systemd, stop on SIGTERM/SIGINT with a summary line.
  const role = async <T>(start: () => Promise<T>, up: string, stop: (r: T, signal: string) => Promise<void> | void) => {
    let r: T;
    try {
      r = await start();
    } catch (e) {
      return fail(e);
    }
    new Notifier().ready(up);
    return await new Promise<number>((done) => {
      const end = (signal: string) => void Promise.resolve(stop(r, signal)).then(() => done(0));
      process.once("SIGTERM", () => end("SIGTERM"));
      process.once("SIGINT", () => end("SIGINT"));
    });
  };
  if (cfg.mode === "relay-client")
    return await role(
      () => startRelayClient(cfg, log),
      "relay client up",
      async (rc, signal) => {
        log.notice("stopping", { signal, ...rc.stats });
        await rc.stop();
      },
    );
  if (cfg.mode === "peer")
    return await role(
      () => startPeer(cfg, log),
      "tunnel up",
      (peer, signal) => {
        const s = peer.stats();
        const drops = Object.entries(s.drops).filter(([, n]) => n > 0);
        log.notice("stopping", {
          signal,
          sent: s.udp.txPackets,
          received: s.udp.rxPackets,
          drops: drops.map(([k, n]) => `${k}:${n}`).join(","),
        });
        peer.stop();
      },
    );

  if (plan === null && workerCount(cfg) > 1) return await runSupervisor(cfg, log, argv, demo, pidFile(cfg.writePid));

  let server: Server;
  try {
    server = await Server.start(cfg, log, BUILTIN, configDir, false); // /readyz is 503 until whenReady
  } catch (e) {
    return fail(e);
  }
  let http: ReturnType<typeof Bun.serve> | undefined;
  if (cfg.admin.enabled) {
    const { host, port } = parseHostPort(cfg.admin.listen);
    try {
      http = Bun.serve({ hostname: host, port, fetch: adminApp(server).fetch });
    } catch (e) {
      server.stop();
      return fail(bindError(`admin.listen ${cfg.admin.listen} (TCP)`, e));
    }
    log.notice("admin listening", { url: `http://${hostPortText(host, http.port ?? port)}` });
  }
  const control = { gone: () => {}, drain: () => {}, exit: () => {} };
  if (plan !== null)
    reportToSupervisor(server, http?.port ?? 0, {
      gone: () => control.gone(),
      drain: () => control.drain(),
      exit: () => control.exit(),
    });
  await server.whenReady();
  if (plan === null) for (const line of demo) console.log(line);
  const sd = new Notifier();
  const pid = pidFile(cfg.writePid);
  const readyStatus = () => `serving ${server.conns.size} clients on ${server.listeners.map((l) => l.name).join(", ")}`;
  sd.ready(readyStatus());

  process.on("SIGHUP", () => void reload());
  const reload = async () => {
    let next;
    try {
      const r = await load(argv);
      if (r.action !== "run") return;
      next = r.cfg;
      if (!hasConfigFile) addDemoClient(next);
      if (next.mode !== "server") throw new ConfigError(["mode: cannot change from server to peer on reload"]);
    } catch (e) {
      log.error("reload refused: config invalid; keeping the running config", {
        problems: e instanceof ConfigError ? e.problems.join("; ") : String(e),
      });
      return;
    }
    if (!hasConfigFile) next.clients = server.cfg.clients; // keep the demo passphrase
    sd.reloading();
    server
      .reload(next)
      .catch((e) =>
        log.error("reload failed; keeping the running config", {
          error: e instanceof ConfigError ? e.problems.join("; ") : String(e),
        }),
      )
      .finally(() => sd.ready(readyStatus()));
  };

  return await new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.notice("second signal: exiting now", { signal });
        finish();
        return;
      }
      stopping = true;
      sd.stopping(`draining for ${server.cfg.drainSeconds} s (${signal})`);
      server.drain();
      log.notice("shutting down after drain", { signal, seconds: server.cfg.drainSeconds });
      setTimeout(finish, server.cfg.drainSeconds * 1000);
    };
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      server.stop();
      http?.stop(true);
      pid.remove();
      log.notice("stopped");
      done(0);
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    control.gone = () => {
      log.error("the workers' supervisor is gone: stopping (kernel setup left in place, as a kill -9 would)");
      leaveSetupOnClose();
      finish();
    };
    control.drain = () => {
      if (!stopping) stop("supervisor");
    };
    control.exit = finish;
  });
}

/**
 * What escapes every guard is a bug whose state we cannot trust: log it (with the stack, which
 * names the component) and exit 70 (EX_SOFTWARE) so the supervisor restarts the relay, instead of
 * running on half-updated. Packet callbacks are guarded where they are (udp.ts, tun.ts): one bad
 * packet is a counted drop, not an exit.
 */
function exitOnUncaught(log: Logger): void {
  const die = (kind: string) => (e: unknown) => {
    log.error(`${kind}: exiting so the supervisor restarts the relay`, {
      error: String(e),
      stack: e instanceof Error ? (e.stack ?? "").split("\n").slice(1, 6).join(" | ") : undefined,
    });
    process.exit(70);
  };
  process.on("uncaughtException", die("uncaught exception"));
  process.on("unhandledRejection", die("unhandled promise rejection"));
}

/** The pid file (-P / writePid), written once the relay runs and removed when it stops. */
function pidFile(path: string | undefined): { remove(): void } {
  if (path === undefined) return { remove() {} };
  writeFileSync(path, `${process.pid}\n`);
  return {
    remove() {
      try {
        unlinkSync(path);
      } catch {}
    },
  };
}

process.exit(await main(process.argv.slice(2)));
