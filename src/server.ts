// Server role: lifecycle (start, reload, drain, stop) of the rooms a server is made of — UDP
// listeners, the TCP transports, the sync backend, the plugin chain — and their wiring. The
// per-packet work is the datapath's (src/datapath.ts); transports reach it through the seam of
// src/transport/link.ts.
import { hostPortText } from "./net/addr.ts";
import type { Config } from "./config.ts";
import { parseHostPort } from "./config.ts";
import { udpTuning } from "./transport/sockopt.ts";
import {
  checkPorts,
  fleetDigest,
  groupSecret,
  memberOrdinal,
  ownEndpoints,
  PluginCounters,
  restartOnly,
} from "./server-parts.ts";
import { Datapath } from "./datapath.ts";
import type { Drops } from "./drops.ts";
import { HoldQueue } from "./hold.ts";
import type { Logger } from "./log.ts";
import { createChain, prepareChain, type Builtins, type Chain, type PluginContext } from "./pipeline.ts";
import type { OwnEndpoints } from "./net/own.ts";
import { bindError } from "./net/bind.ts";
import { ConnTable, type Conn } from "./state.ts";
import { RemoteLink, type Link } from "./transport/link.ts";
import { UdpIngress, UdpTransport } from "./transport/udp.ts";
import { TcpUnicast } from "./transport/tcp-unicast.ts";
import { TcpAnycast } from "./transport/tcp-anycast.ts";
import { turnElapsed } from "./transport/turn.ts";
import type { SyncMesh } from "./sync/mesh.ts";
import { startSync } from "./server-sync.ts";
import type { FleetConsistency } from "./sync/consistency.ts";
import type { SyncBackend } from "./sync/backend.ts";
import { CounterFile } from "./satp/counter.ts";
import { SatpCrypto } from "./satp/crypto.ts";
import { NoiseServer } from "./server-noise.ts";
import { Replication, type EndpointRecord } from "./sync/replicate.ts";
import { SyncStore } from "./sync/store.ts";
import { RouteIndex } from "./routing.ts";

/** syncing: up, but not taking packets until it has the fleet's replay marks (sync/mesh.ts readiness). */
export type ServerState = "starting" | "syncing" | "ready" | "draining" | "stopped";

export interface Listener {
  readonly name: string;
  readonly udp: UdpTransport;
  readonly ingress: UdpIngress;
}

export class Server {
  readonly conns = new ConnTable();
  readonly pluginEvents = new PluginCounters();
  /** Plugins' state kept across reloads (PluginContext.keep). */
  private readonly pluginKept = new Map<string, unknown>();
  readonly listeners: Listener[] = [];
  readonly startedAt = Date.now();
  state: ServerState = "starting";
  chain!: Chain;
  cfg: Config;
  /** The server as a destination plugins must not reach for a client (src/net/own.ts). */
  own!: OwnEndpoints;
  /** Replicated tables (local-only when sync is off) and the backend that syncs them. */
  readonly store: SyncStore;
  readonly replication: Replication;
  /** Replay-mark queries (a route moved a client here): answered, timed out, last wait. */
  readonly markStats = { answered: 0, timeouts: 0, lastWaitMs: 0 };
  /** The durable send counters (stateDir); null once stopped. */
  counters: CounterFile | null = null;
  /** What the fleet must agree on, compared with the peers' (null with sync off). */
  consistency: FleetConsistency | null = null;
  /** The sync backend in use (null with sync off); `mesh` too when it is the mesh. */
  sync: SyncBackend | null = null;
  mesh: SyncMesh | null = null;
  readonly routes: RouteIndex;
  /** SATP over TCP (tcp-unicast): listeners, connections, INIT/redirect tokens. */
  readonly tcp: TcpUnicast;
  /** Full anycast TCP: the capture TUN and the userspace TCP flows. */
  readonly tcpAnycast: TcpAnycast;
  /** Packets for clients that cannot be sent yet (src/hold.ts). */
  readonly held: HoldQueue;
  /** The per-packet work. */
  readonly dp: Datapath;
  /** The Noise suite (noise.listen); null when off. */
  noise: NoiseServer | null = null;

  private constructor(
    cfg: Config,
    readonly log: Logger,
    private readonly builtins: Builtins,
    private readonly configDir: string,
  ) {
    this.cfg = cfg;
    this.store = new SyncStore(cfg.senderId);
    this.held = new HoldQueue(() => this.cfg.hold);
    this.dp = new Datapath({
      conns: this.conns,
      log,
      hold: this.held,
      cfg: () => this.cfg,
      chain: () => this.chain,
      // A tcp-anycast flow may still come here; with workers, a sibling may have just learned it
      // (the record is on its way over the loopback sync link).
      holdUnknown: () => this.tcpAnycast.enabled || this.cfg.worker !== undefined,
      overBudget: (now) => this.cfg.loopBudgetMs > 0 && turnElapsed(now) > this.cfg.loopBudgetMs,
      endpointChanged: (c) => this.replication.endpointChanged(c),
      init: (c, msg, via) => this.tcp.init(c, msg, via),
      askMarks: (c, done) => this.askMarks(c, done),
      sourceOwner: (pkt) => this.routes.sourceOwner(pkt),
    });
    this.replication = new Replication(
      this.store,
      this.conns,
      (rec, mux) => this.linkFor(rec, mux),
      (c) => this.dp.releaseHeld(c),
      cfg.sync.hwmIntervalMs,
    );
    this.routes = new RouteIndex(this.conns, this.store);
    this.tcp = new TcpUnicast(
      cfg.tcp,
      (c, pkt) => this.dp.receive(pkt, c, c.remoteAddress, c.remotePort),
      (why) => this.dp.drops[why]++,
      groupSecret(cfg, "anytun-relay tcp tokens v1"),
      cfg.reusePort,
    );
    this.tcpAnycast = new TcpAnycast(
      cfg.tcp,
      cfg.senderId,
      this.store,
      (flow, pkt) => this.dp.receive(pkt, flow, flow.remoteAddress, flow.remotePort),
      log.child("tcp-anycast"),
      (mux) => this.conns.get(mux) !== undefined,
      // One SYN cookie secret for the anycast group (the final ACK may reach another server).
      groupSecret(cfg, "anytun-relay syn cookies v1"),
      Date.now,
      cfg.worker ? { index: cfg.worker.index, count: cfg.worker.count } : null,
    );
  }

  /** The replay-mark query of a client a route moved here (datapath.ts `arrive`). */
  private askMarks(c: Conn, done: () => void): boolean {
    const ms = Math.min(this.cfg.sync.markWaitMs, this.cfg.hold.ms);
    const q = ms > 0 ? (this.sync?.askMarks(c.servedBy, c.mux, ms) ?? null) : null;
    if (q === null) return false;
    const asked = performance.now();
    void q.then((m) => {
      const st = this.markStats;
      if (m === null) st.timeouts++;
      else {
        st.answered++;
        if (this.conns.get(c.mux) === c) this.replication.marks.applyMarks(c, m);
      }
      st.lastWaitMs = Math.round((performance.now() - asked) * 10) / 10;
      done();
    });
    return true;
  }

  get drops(): Drops {
    return this.dp.drops;
  }
  get pluginDrops(): Map<string, number> {
    return this.dp.pluginDrops;
  }
  get keepalivesIn(): number {
    return this.dp.keepalivesIn;
  }
  get endpointChanges(): number {
    return this.dp.endpointChanges;
  }

  /**
   * The link a synced "ep" record gives a client here: the same-named UDP listener (we answer
   * from it), or — for a client on another server's TCP link — that server over the data channel.
   */
  private linkFor(rec: EndpointRecord, mux: number): Link | null {
    if (rec.l === "tcp") {
      if (rec.s === this.cfg.senderId || this.sync === null) return null;
      return new RemoteLink(this.sync, rec.s, mux, rec.a, rec.p);
    }
    const ls = rec.l.startsWith("noise/") ? (this.noise?.listeners ?? []) : this.listeners;
    const l = ls.find((x) => x.name === rec.l) ?? ls[0];
    return l === undefined ? null : l.ingress.link(rec.a, rec.p);
  }

  /** Builds tables and plugins, binds the listeners, and turns ready. Throws (nothing left open) on failure. */
  static async start(
    cfg: Config,
    log: Logger,
    builtins: Builtins,
    configDir: string,
    /** Resolve only once ready (whenReady); false: at once, in state "syncing" (relay.ts serves /readyz meanwhile). */
    wait = true,
  ): Promise<Server> {
    const s = new Server(cfg, log, builtins, configDir);
    // Send counters first: no packet goes out under a seq an earlier run may have sent.
    s.counters = CounterFile.open(cfg.stateDir, `server-${cfg.senderId}`);
    s.conns.counters = { file: s.counters, senderId: cfg.senderId };
    try {
      s.conns.replace(cfg.clients, cfg.crypto, cfg.rateLimit);
      const prepared = await prepareChain(cfg.plugins, builtins, configDir);
      s.own = ownEndpoints(cfg, checkPorts(cfg, prepared));
      s.chain = await createChain(prepared, (name) => s.pluginContext(name));
    } catch (e) {
      s.stop();
      throw e;
    }
    try {
      const listen = cfg.listen ?? [cfg.interface ? hostPortText(cfg.interface, cfg.port) : `[::]:${cfg.port}`];
      const steer = cfg.worker?.count ?? 0; // one client's packets to one worker (sockopt.ts steerByMux)
      for (const text of listen) {
        const { host, port } = parseHostPort(text);
        const idx = s.listeners.length;
        const onErr = (e: Error) => log.debug("udp socket error", { listener: text, error: e.message });
        let ingress: UdpIngress | undefined;
        const onData = (buf: Uint8Array, p: number, a: string) => void s.dp.receive(buf, ingress!, a, p);
        let udp: UdpTransport;
        try {
          udp = await UdpTransport.open(host, port, onData, onErr, udpTuning(cfg), cfg.reusePort, steer);
        } catch (e) {
          const noV6 = host === "::" && cfg.listen === undefined && !/EADDRINUSE|EACCES/.test(String(e));
          if (!noV6) throw bindError(`listen ${text} (UDP)`, e);
          try {
            udp = await UdpTransport.open("0.0.0.0", port, onData, onErr, udpTuning(cfg), cfg.reusePort, steer); // host without IPv6
          } catch (e2) {
            throw bindError(`listen 0.0.0.0:${port} (UDP; [::] is not available here)`, e2);
          }
        }
        const name = hostPortText(udp.address, udp.port);
        ingress = new UdpIngress(udp, name, idx);
        s.listeners.push({ name, udp, ingress });
        s.own.addPort(udp.port);
        if (udp.buffers.receive < cfg.udpBuffers.receive)
          log.warn("udp receive buffer smaller than configured (needs CAP_NET_ADMIN or net.core.rmem_max)", {
            listener: text,
            bytes: udp.buffers.receive,
          });
        if (steer > 1 && !udp.steered)
          log.warn("workers: the kernel did not take the steering program; datagrams spread by its hash", {
            listener: text,
          });
      }
    } catch (e) {
      s.stop();
      throw e;
    }
    try {
      const env = { conns: s.conns, store: s.store, dp: s.dp, own: s.own, log, firstListener: s.listeners.length };
      s.noise = await NoiseServer.start(cfg, configDir, env);
      s.tcp.start();
      s.tcpAnycast.start();
    } catch (e) {
      s.stop();
      throw e;
    }
    s.replication.start();
    s.held.start();
    try {
      const sync = await startSync(cfg, s.store, log, {
        fromPeer: (mux, pkt) => s.dp.fromPeer(mux, pkt),
        marksOf: (mux) => s.replication.marks.marksOf(mux),
        own: s.own,
        since: s.startedAt,
      });
      s.sync = sync?.backend ?? null;
      s.mesh = sync?.mesh ?? null;
      s.consistency = sync?.consistency ?? null;
    } catch (e) {
      s.stop();
      throw e;
    }
    if (cfg.clients.length === 0) log.warn("no clients configured: every packet will be dropped (mux)");
    for (const c of s.conns.all())
      if (c.crypto instanceof SatpCrypto && c.crypto.suite.auth === "null")
        log.warn("client without authentication", { mux: c.mux });
    s.state = "syncing";
    if (wait) await s.whenReady();
    return s;
  }

  /**
   * Why this server is not ready, or null: draining; or (with sync) it has not yet the fleet's
   * replay marks, or another server uses its sender id (sync/mesh.ts readiness).
   */
  notReadyReason(): string | null {
    if (this.state === "starting") return "starting";
    if (this.state === "draining") return "draining";
    if (this.state === "stopped") return "stopped";
    const why = this.sync?.readiness(this.cfg.sync.readyGraceMs, this.state === "ready") ?? null;
    return why ?? this.consistency?.readiness() ?? null;
  }

  /** Resolves once the server takes packets (see notReadyReason); until then they are dropped (notready). */
  async whenReady(): Promise<void> {
    while (this.state === "syncing" && this.notReadyReason() !== null) await Bun.sleep(10);
    if (this.state !== "syncing") return; // stopped or draining meanwhile
    this.state = "ready";
    this.dp.accepting = true;
    this.log.notice("server ready", {
      listen: this.listeners.map((l) => l.name).join(","),
      clients: this.conns.size,
      plugins: this.chain.entries.map((e) => e.name).join(","),
      senderId: this.cfg.senderId,
    });
  }

  /** A plugin's counter: kept by the server, so it survives the plugin's re-creation on reload. */
  private pluginCounter(key: string) {
    const box = this.pluginEvents.box(key);
    return {
      inc: (n = 1) => {
        box.n += n; // per packet in some plugins: one add, no map lookup
      },
    };
  }

  private pluginContext(name: string): PluginContext {
    const log = this.log.child(`plugin/${name}`);
    return {
      log,
      conns: this.conns,
      sync: this.store,
      node: this.cfg.senderId,
      worker: this.cfg.worker ? { index: this.cfg.worker.index, count: this.cfg.worker.count } : null,
      member: memberOrdinal(this.cfg),
      routes: this.routes,
      send: (to, inner) => this.dp.send(to, inner),
      counter: (event) => this.pluginCounter(`${name}\u0000${event}`),
      bytes: (what) => this.pluginCounter(`${name}\u0000bytes:${what}`),
      keep: <T>(key: string, make: () => T): T => {
        const k = `${name}\u0000${key}`;
        if (!this.pluginKept.has(k)) this.pluginKept.set(k, make());
        return this.pluginKept.get(k) as T;
      },
      udp: udpTuning(this.cfg),
      configDir: this.configDir,
      own: {
        refuses: (buf, off, family, port, allowed, now) => this.own.refuses(buf, off, family, port, allowed, now),
      },
    };
  }

  /**
   * SIGHUP: new clients and plugins from `next`; sessions of unchanged clients carry over. On any
   * error the running config stays. Listeners, admin and senderId need a restart.
   */
  async reload(next: Config): Promise<void> {
    // Validate everything before touching the running chain; then stop it (plugins may hold
    // devices the new ones reopen under the same names) and create the new one. If that fails,
    // the previous plugins are created again from the running config.
    const prepared = await prepareChain(next.plugins, this.builtins, this.configDir);
    const own = ownEndpoints(next, checkPorts(next, prepared));
    const diff = this.conns.replace(next.clients, next.crypto, next.rateLimit);
    const ctxFor = (name: string) => this.pluginContext(name);
    this.own = own;
    this.chain.stop();
    try {
      this.chain = await createChain(prepared, ctxFor);
    } catch (e) {
      this.chain = await createChain(await prepareChain(this.cfg.plugins, this.builtins, this.configDir), ctxFor);
      throw e;
    }
    const chain = this.chain;
    for (const k of restartOnly(this.cfg, next)) this.log.warn(`reload: ${k} changed; takes effect on restart`);
    this.tcpAnycast.reconfigure(next.tcp); // limits, buffers and keep-alive bounds for new flows
    const keys = (c: Config) => JSON.stringify([c.sync.key, c.sync.acceptKeys]);
    if (keys(next) !== keys(this.cfg) && next.sync.key !== undefined) {
      this.sync?.setKeys(next.sync.key, next.sync.acceptKeys); // fleet key rotation
      this.log.notice("reload: fleet keys changed", { accepted: 1 + next.sync.acceptKeys.length });
    }
    this.cfg = { ...next, listen: this.cfg.listen, admin: this.cfg.admin, senderId: this.cfg.senderId };
    this.consistency?.update(fleetDigest(this.cfg, Date.now())); // a changed view counts as joined now
    this.log.notice("reloaded", { ...diff, plugins: chain.entries.map((e) => e.name).join(",") });
  }

  drain(): void {
    this.dp.accepting = true; // draining keeps sessions working
    if (this.state !== "draining") this.log.notice("draining: not ready from now on; sessions keep working");
    this.state = "draining";
  }

  stop(): void {
    this.state = "stopped";
    this.sync?.stop();
    this.replication.stop();
    this.chain?.stop();
    this.tcp.stop();
    this.tcpAnycast.stop();
    this.held.stop();
    for (const l of this.listeners) l.udp.close();
    this.listeners.length = 0;
    this.noise?.stop();
    this.counters?.release(); // last: nothing sends after this
    this.counters = null;
  }
}

export { hostPortText }; // (it lives in net/addr.ts; relay.ts and tests import it from here)
export { checkPorts, memberOrdinal, PluginCounters }; // (server-parts.ts)
