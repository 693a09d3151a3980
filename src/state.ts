// The server's tables. Connections (clients) are keyed by mux; each owns its crypto context,
// replay windows per sender id, send counter and last authenticated endpoint. Reloads replace
// the table's entries but carry a client's session state (seq, endpoint, windows) over when its
// keys and suite are unchanged, so SIGHUP drops no session.
import { suiteFor, type ClientConfig, type CryptoConfig, type RateConfig } from "./config.ts";
import { rateFor, type RateLimit } from "./rate.ts";
import { parseCidr, type Prefix } from "./net/addr.ts";
import { counterId, type CounterFile } from "./satp/counter.ts";
import { SatpCrypto } from "./satp/crypto.ts";
import { NoiseCrypto } from "./noise/crypto.ts";
import { parseKey } from "./noise/keys.ts";
import { PROTOCOL } from "./noise/handshake.ts";
import { SatpSession } from "./satp/session.ts";
import { deriveMaster } from "./satp/suite.ts";
import type { Link } from "./transport/link.ts";

// `wait` (SatpSession) of a Conn: the replay marks of the server that served the client last
// (servedBy, another server): MARKS_ASK = ask it before the first packet here counts (a route
// moved the client here); MARKS_ASKED = asked, arrivals wait in the hold queue; 0 = nothing to ask.
export const MARKS_ASK = 1;
export const MARKS_ASKED = 2;

/**
 * A client: its session (SATP's crypto, or the Noise suite's transport keys; replay windows, send
 * counter) plus what the server knows of it.
 */
export class Conn extends SatpSession<SatpCrypto | NoiseCrypto> {
  /** "satp" (the default, anytun's protocol) or "noise" (the client's packets come on noise.listen). */
  readonly protocol: "satp" | "noise";
  /** A Noise client's static public key (wg base64); null for SATP. */
  readonly publicKey: string | null;
  readonly name: string;
  readonly routes: readonly Prefix[];
  /** Identity of the key material and suite; equal fingerprints → session state may carry over. */
  readonly fingerprint: string;
  /** What makes this client's keystream besides the sender id (a hash; satp/counter.ts). */
  readonly counterKey: readonly (string | number | Uint8Array)[];
  /** Where the client's packets go (transport/link.ts); set only by an authenticated packet or a synced record. */
  endpoint: Link | null = null;
  rxPackets = 0;
  rxBytes = 0;
  txPackets = 0;
  txBytes = 0;
  lastSeen = 0;
  /** Sender id of the server that served this client last (synced); -1 = none yet. */
  servedBy = -1;
  /** Packets that arrived here while another server had served the client last (a route moved it). */
  movedIn = 0;
  /** The client's rate limit (rate.ts); null: none. */
  rate: RateLimit | null = null;
  /** The hold queue's key for this client's arrivals (hold.ts). */
  readonly arrivals = {};

  constructor(c: ClientConfig, defaults: CryptoConfig) {
    const k = keysOf(c, defaults);
    super(k.crypto, c.mux, k.window, k.maxSenders);
    this.counterKey = k.counterKey;
    this.fingerprint = k.fingerprint;
    this.protocol = c.protocol ?? "satp";
    this.publicKey = this.protocol === "noise" ? c.publicKey! : null;
    this.name = c.name ?? `mux-${c.mux}`;
    this.routes = c.routes.map((r) => parseCidr(r, true));
  }

  /** The suite's description for views: SATP's cipher choices, or the Noise protocol name. */
  get suite(): object | string {
    return this.crypto instanceof SatpCrypto ? this.crypto.suite : PROTOCOL;
  }

  /**
   * Takes over the session state of the same client from before a reload (a Noise client's
   * transport keys are the gate's to hand over: noise/gate.ts `clients`).
   */
  adopt(old: Conn): void {
    this.carryOver(old);
    this.endpoint = old.endpoint;
    this.rxPackets = old.rxPackets;
    this.rxBytes = old.rxBytes;
    this.txPackets = old.txPackets;
    this.txBytes = old.txBytes;
    this.lastSeen = old.lastSeen;
    this.servedBy = old.servedBy;
    this.movedIn = old.movedIn;
    this.wait = old.wait === 0 ? 0 : MARKS_ASK; // a query in flight belonged to the old entry
  }
}

/** A client's crypto, counter identity and fingerprint from its config (SATP keys or a Noise public key). */
function keysOf(c: ClientConfig, defaults: CryptoConfig) {
  const suite = suiteFor(defaults, c.crypto);
  const { window, maxSenders } = suite;
  if (c.protocol === "noise") {
    const pub = parseKey(c.publicKey ?? "", `clients (mux ${c.mux}).publicKey`);
    return {
      crypto: new NoiseCrypto(),
      window,
      maxSenders,
      counterKey: ["noise", pub, c.mux], // the seq space is the client's, whatever its handshakes
      fingerprint: JSON.stringify(["noise", c.publicKey, window, maxSenders]),
    };
  }
  const master = deriveMaster(suite.kdPrf, { passphrase: c.passphrase, keyHex: c.key, saltHex: c.salt });
  return {
    crypto: new SatpCrypto(suite, master, c.role),
    window,
    maxSenders,
    counterKey: [master.key, master.salt, c.mux],
    fingerprint: JSON.stringify([
      c.role,
      suite,
      Buffer.from(master.key).toString("hex"),
      Buffer.from(master.salt).toString("hex"),
    ]),
  };
}

export class ConnTable {
  /** Indexed by mux: the receive path's one lookup. */
  private readonly byMux: (Conn | undefined)[] = new Array(65536);
  private list: Conn[] = [];
  private readonly listeners: (() => void)[] = [];
  /** Durable send counters (the server's state file) and the sender id they are kept for; null: in memory. */
  counters: { file: CounterFile; senderId: number } | null = null;

  get(mux: number): Conn | undefined {
    return this.byMux[mux];
  }
  all(): readonly Conn[] {
    return this.list;
  }
  get size(): number {
    return this.list.length;
  }

  /** Calls `fn` after every replace(); returns an unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.listeners.push(fn);
    return () => {
      const i = this.listeners.indexOf(fn);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /**
   * Replaces every entry with connections built from `clients` (all built, and their send counters
   * reserved on disk, before any is swapped in, so an error leaves the table untouched). Returns
   * what changed.
   */
  replace(
    clients: readonly ClientConfig[],
    defaults: CryptoConfig,
    rates?: RateConfig,
  ): { added: number; removed: number; kept: number; rekeyed: number } {
    const next = clients.map((c) => new Conn(c, defaults));
    if (rates !== undefined) {
      const now = performance.now();
      for (let i = 0; i < next.length; i++) next[i]!.rate = rateFor(rates, clients[i]!.rateLimit, now);
    }
    const d = this.counters;
    if (d !== null) {
      for (const c of next) c.reserveFrom(d.file.slot(counterId([...c.counterKey, d.senderId])));
      if (!d.file.flush()) throw new Error(`stateDir: cannot write the send counters (${d.file.lastError})`);
    }
    let kept = 0,
      rekeyed = 0;
    for (const c of next) {
      const old = this.byMux[c.mux];
      if (old === undefined) continue;
      if (old.fingerprint === c.fingerprint) {
        c.adopt(old);
        kept++;
      } else {
        c.endpoint = old.endpoint; // new keys: windows start over, but we still know where it is
        c.servedBy = old.servedBy;
        rekeyed++;
      }
    }
    const removed = this.list.filter((o) => !next.some((c) => c.mux === o.mux)).length;
    for (const o of this.list) this.byMux[o.mux] = undefined;
    for (const c of next) this.byMux[c.mux] = c;
    this.list = next;
    for (const fn of this.listeners) fn();
    return { added: next.length - kept - rekeyed, removed, kept, rekeyed };
  }
}
