// What the client roles (peer, relay client) share: the SATP session of their one connection,
// built from the top-level keys, and the remote server's address.
import { lookup } from "node:dns/promises";
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import { SatpCrypto } from "./satp/crypto.ts";
import { SatpSession } from "./satp/session.ts";
import { deriveMaster, normalizeSuite } from "./satp/suite.ts";

export interface Endpoint {
  address: string;
  port: number;
}

/** The SATP session of a single connection (mux, keys, suite, window) from the top-level keys. */
export function connectionSession(cfg: Config, log: Logger): SatpSession {
  const { suite, warnings } = normalizeSuite({
    cipher: cfg.crypto.cipher,
    auth: cfg.crypto.auth,
    tagLength: cfg.crypto.tagLength,
    kdPrf: cfg.crypto.kdPrf,
  });
  for (const w of warnings) log.warn(w);
  const master = deriveMaster(suite.kdPrf, { passphrase: cfg.passphrase, keyHex: cfg.key, saltHex: cfg.salt });
  return new SatpSession(new SatpCrypto(suite, master, cfg.role), cfg.mux, cfg.crypto.window, cfg.crypto.maxSenders);
}

/** remoteHost:remotePort resolved once (as anytun does), honouring -4/-6. */
export async function resolveRemote(cfg: Config): Promise<Endpoint> {
  const family = cfg.ipv4Only ? 4 : cfg.ipv6Only ? 6 : 0;
  try {
    return { address: (await lookup(cfg.remoteHost!, { family })).address, port: cfg.remotePort };
  } catch (e) {
    throw new Error(`remote-host ${cfg.remoteHost}: cannot resolve (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
}
