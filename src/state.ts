// The server's tables. Connections (clients) are keyed by mux; each owns its crypto context,
// replay windows per sender id, send counter and last authenticated endpoint. Reloads replace
// the table's entries but carry a client's session state (seq, endpoint, windows) over when its
// keys and suite are unchanged, so SIGHUP drops no session.
import { suiteFor, type ClientConfig, type CryptoConfig } from "./config.ts";
import { parseCidr, type Prefix } from "./net/addr.ts";
import { SatpCrypto } from "./satp/crypto.ts";
import { ReplayWindow } from "./satp/replay.ts";
import { deriveMaster } from "./satp/suite.ts";
import type { StreamConn } from "./transport/tcp.ts";

/** Where a client was last heard from: which listener, and its address. */
export interface Endpoint {
  /** Index of the UDP listener; -1 for a TCP connection. */
  listener: number;
  address: string;
  port: number;
  /** The client's TCP stream (tcp-unicast connection or tcp-anycast flow), when it is connected that way. */
  tcp?: StreamConn | undefined;
}

export class Conn {
  readonly mux: number;
  readonly name: string;
  readonly crypto: SatpCrypto;
  readonly windowSize: number;
  readonly routes: readonly Prefix[];
  /** Identity of the key material and suite; equal fingerprints → session state may carry over. */
  readonly fingerprint: string;
  private readonly windowMap = new Map<number, ReplayWindow>();
  endpoint: Endpoint | null = null;
  /** Next send seq (never wraps: the send path refuses at SEQ_LIMIT). */
  seq = 0;
  rxPackets = 0;
  rxBytes = 0;
  txPackets = 0;
  txBytes = 0;
  lastSeen = 0;
  /** Sender id of the server that served this client last (synced); -1 = none yet. */
  servedBy = -1;
  /** Packets that arrived here while another server had served the client last (a route moved it). */
  movedIn = 0;
  /** Packets waiting for this client's TCP flow to be taken over here (tcp.holdMs), oldest first. */
  held: { type: number; data: Uint8Array; at: number }[] = [];

  constructor(c: ClientConfig, defaults: CryptoConfig) {
    this.mux = c.mux;
    this.name = c.name ?? `mux-${c.mux}`;
    const suite = suiteFor(defaults, c.crypto);
    const master = deriveMaster(suite.kdPrf, { passphrase: c.passphrase, keyHex: c.key, saltHex: c.salt });
    this.crypto = new SatpCrypto(suite, master, c.role);
    this.windowSize = suite.window;
    this.routes = c.routes.map((r) => parseCidr(r, true));
    this.fingerprint = JSON.stringify([
      c.role,
      suite,
      Buffer.from(master.key).toString("hex"),
      Buffer.from(master.salt).toString("hex"),
    ]);
  }

  /** The replay window for a sender id, or null when windows are off. */
  window(senderId: number): ReplayWindow | null {
    if (this.windowSize === 0) return null;
    let w = this.windowMap.get(senderId);
    if (w === undefined) this.windowMap.set(senderId, (w = new ReplayWindow(this.windowSize)));
    return w;
  }

  /** Replay windows by sender id (those started so far). */
  windows(): IterableIterator<[number, ReplayWindow]> {
    return this.windowMap.entries();
  }

  /** Takes over the session state of the same client from before a reload. */
  adopt(old: Conn): void {
    this.endpoint = old.endpoint;
    this.seq = old.seq;
    this.rxPackets = old.rxPackets;
    this.rxBytes = old.rxBytes;
    this.txPackets = old.txPackets;
    this.txBytes = old.txBytes;
    this.lastSeen = old.lastSeen;
    this.servedBy = old.servedBy;
    this.movedIn = old.movedIn;
    if (old.windowSize === this.windowSize) for (const [k, w] of old.windowMap) this.windowMap.set(k, w);
  }
}

export class ConnTable {
  /** Indexed by mux: the receive path's one lookup. */
  private readonly byMux: (Conn | undefined)[] = new Array(65536);
  private list: Conn[] = [];
  private readonly listeners: (() => void)[] = [];

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
   * Replaces every entry with connections built from `clients` (all built before any is swapped
   * in, so a config error leaves the table untouched). Returns what changed.
   */
  replace(
    clients: readonly ClientConfig[],
    defaults: CryptoConfig,
  ): { added: number; removed: number; kept: number; rekeyed: number } {
    const next = clients.map((c) => new Conn(c, defaults));
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
