// What the client roles (peer, relay client) share: the session of their one connection (SATP's
// from the top-level keys, or the Noise suite's from privateKeyFile and serverPublicKey), and the
// remote server's address.
import { lookup } from "node:dns/promises";
import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import { CounterFile, counterId } from "./satp/counter.ts";
import { SatpCrypto } from "./satp/crypto.ts";
import { SatpSession } from "./satp/session.ts";
import { deriveMaster, normalizeSuite } from "./satp/suite.ts";
import { NoiseCrypto } from "./noise/crypto.ts";
import { parseKey, readKeyFile, type KeyPair } from "./noise/keys.ts";

export interface Endpoint {
  address: string;
  port: number;
}

/**
 * The SATP session of a single connection (mux, keys, suite, window) from the top-level keys, its
 * send counter reserved durably under stateDir (satp/counter.ts) before anything is sent; release
 * `counters` at stop. Throws when the counters cannot be written (the error names the fix).
 */
export function connectionSession(cfg: Config, log: Logger): { session: SatpSession; counters: CounterFile } {
  const { suite, warnings } = normalizeSuite({
    cipher: cfg.crypto.cipher,
    auth: cfg.crypto.auth,
    tagLength: cfg.crypto.tagLength,
    kdPrf: cfg.crypto.kdPrf,
  });
  for (const w of warnings) log.warn(w);
  const master = deriveMaster(suite.kdPrf, { passphrase: cfg.passphrase, keyHex: cfg.key, saltHex: cfg.salt });
  const session = new SatpSession(
    new SatpCrypto(suite, master, cfg.role),
    cfg.mux,
    cfg.crypto.window,
    cfg.crypto.maxSenders,
  );
  return { session, counters: reserve(cfg, session, counterId([master.key, master.salt, cfg.mux, cfg.senderId])) };
}

/**
 * The Noise suite's session of the peer role (--protocol noise): keys from privateKeyFile and
 * serverPublicKey, the sequence space reserved under the client's key, as SATP's is under its.
 */
export function noiseSession(
  cfg: Config,
  log: Logger,
): { session: SatpSession<NoiseCrypto>; counters: CounterFile; key: KeyPair; server: Uint8Array } {
  const { key, loose } = readKeyFile(cfg.privateKeyFile!, "privateKeyFile");
  if (loose) log.warn("privateKeyFile is readable by other users: chmod 600 it", { path: cfg.privateKeyFile });
  const server = parseKey(cfg.serverPublicKey!, "serverPublicKey");
  const session = new SatpSession(new NoiseCrypto(), cfg.mux, cfg.crypto.window, cfg.crypto.maxSenders);
  const counters = reserve(cfg, session, counterId(["noise client", key.pub, server, cfg.senderId]));
  return { session, counters, key, server };
}

/** Reserves `session`'s send counter `id` durably under stateDir; the counter file to release at stop. */
function reserve(cfg: Config, session: SatpSession, id: string): CounterFile {
  const counters = CounterFile.open(cfg.stateDir, `client-${id.slice(0, 16)}`);
  session.reserveFrom(counters.slot(id));
  if (!counters.flush()) {
    counters.release();
    throw new Error(`stateDir ${cfg.stateDir}: cannot write the send counter (${counters.lastError})`);
  }
  return counters;
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
