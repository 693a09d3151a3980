#!/usr/bin/env bun
// Entry point: command line + config → logger → role. Wiring only.
import pkg from "./package.json";
import { ConfigError, validateConfig } from "./src/config.ts";
import { parseArgs, usage } from "./src/flags.ts";
import { Logger, parseLogTarget } from "./src/log.ts";
import { startPeer } from "./src/peer.ts";

async function main(argv: string[]): Promise<number> {
  let cfg;
  try {
    const cli = parseArgs(argv);
    if (cli.action === "help") {
      console.log(usage(pkg.version));
      return 0;
    }
    if (cli.action === "version") {
      console.log(`anytun-relay ${pkg.version} (bun ${Bun.version}, SATP as anytun 0.3.8)`);
      return 0;
    }
    cfg = validateConfig(cli.raw);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) console.error(`config error: ${p}`);
    return 2;
  }
  const targets = cfg.log.map(parseLogTarget);
  if (cfg.debug) targets.push({ kind: "stdout", level: 5 });
  const log = new Logger(targets, cfg.logFormat);

  let peer;
  try {
    peer = await startPeer(cfg, log);
  } catch (e) {
    log.error(`cannot start: ${(e as Error).message}`);
    if (!log.enabled(1)) console.error(`cannot start: ${(e as Error).message}`);
    return 1;
  }
  return await new Promise<number>((resolve) => {
    const stop = (sig: string) => {
      const s = peer.stats();
      log.notice("stopping", {
        signal: sig,
        sent: s.udp.txPackets,
        received: s.udp.rxPackets,
        drops: Object.entries(s.drops)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${k}:${n}`)
          .join(","),
      });
      peer.stop();
      resolve(0);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

process.exit(await main(process.argv.slice(2)));
