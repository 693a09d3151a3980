// Server role: many clients, each with its own mux and keys, over one or more UDP listeners.
// Receive path (synchronous, per datagram): mux → client → open (tag, replay, decrypt) →
// endpoint learning → plugin chain → verdict → seal per target → batched send. No exception,
// log line or promise per packet; every drop is counted by reason.
import type { Config } from "./config.ts";
import { parseHostPort } from "./config.ts";
import { newDrops, type Drops } from "./drops.ts";
import type { Logger } from "./log.ts";
import {
  HEADER_LEN,
  MAX_PACKET,
  OFF_MUX,
  OFF_SENDER,
  payloadTypeOf,
  PT_IPV4,
  PT_IPV6,
  TYPE_LEN,
  PT_CONTROL,
} from "./satp/codec.ts";
import {
  be16,
  be32,
  decodeControl,
  encodeControl,
  ERR,
  MSG,
  TLV,
  tlv,
  u32,
  type ControlMessage,
} from "./satp/control.ts";
import { OPEN_AUTH, OPEN_REPLAY, OPEN_SHORT, SEQ_LIMIT } from "./satp/crypto.ts";
import {
  buildChain,
  createChain,
  prepareChain,
  type Builtins,
  type Chain,
  type Packet,
  type PluginContext,
} from "./pipeline.ts";
import { ConnTable, type Conn } from "./state.ts";
import { UdpTransport } from "./transport/udp.ts";
import type { StreamConn } from "./transport/tcp.ts";
import { TcpUnicast } from "./transport/tcp-unicast.ts";
import { AnycastFlow, TcpAnycast } from "./transport/tcp-anycast.ts";
import { HoldQueue } from "./transport/hold.ts";
import { SyncMesh } from "./sync/mesh.ts";
import { Replication } from "./sync/replicate.ts";
import { SyncStore } from "./sync/store.ts";
import { RouteIndex } from "./routing.ts";

export type ServerState = "starting" | "ready" | "draining";

export interface Listener {
  readonly name: string;
  readonly udp: UdpTransport;
}

export class Server {
  readonly conns = new ConnTable();
  readonly drops: Drops = newDrops();
  /** Drops by reasons plugins chose (verdict drop("...")), plus "plugin-error". */
  readonly pluginDrops = new Map<string, number>();
  readonly pluginEvents = new Map<string, number>();
  readonly listeners: Listener[] = [];
  readonly startedAt = Date.now();
  keepalivesIn = 0;
  endpointChanges = 0;
  state: ServerState = "starting";
  chain!: Chain;
  cfg: Config;
  /** Replicated tables (local-only when sync is off) and the mesh that syncs them. */
  readonly store: SyncStore;
  readonly replication: Replication;
  mesh: SyncMesh | null = null;
  readonly routes: RouteIndex;
  /** SATP over TCP (tcp-unicast): listeners, connections, INIT/redirect tokens. */
  readonly tcp: TcpUnicast;
  /** Full anycast TCP: the capture TUN and the userspace TCP flows. */
  readonly tcpAnycast: TcpAnycast;
  private readonly tcpScratch = new Uint8Array(2048);
  /** Packets waiting for a client's tcp-anycast flow to be taken over here. */
  readonly held = new HoldQueue(() => this.cfg.tcp);
  private readonly pkt: Packet;
  private pluginErrorLogged = 0;

  private constructor(
    cfg: Config,
    readonly log: Logger,
    private readonly builtins: Builtins,
    private readonly configDir: string,
  ) {
    this.cfg = cfg;
    this.store = new SyncStore(cfg.senderId);
    const names = {
      indexOf: (name: string) =>
        Math.max(
          0,
          this.listeners.findIndex((l) => l.name === name),
        ),
      nameOf: (i: number) => this.listeners[i]?.name ?? "",
    };
    this.replication = new Replication(this.store, this.conns, names, cfg.sync.hwmIntervalMs);
    this.routes = new RouteIndex(this.conns, this.store);
    this.tcp = new TcpUnicast(
      cfg.tcp,
      (c, pkt) => this.receive(-1, pkt, c.remotePort, c.remoteAddress, c),
      (why) => this.countPluginDrop(why),
    );
    this.tcpAnycast = new TcpAnycast(
      cfg.tcp,
      cfg.senderId,
      this.store,
      (flow, pkt) => this.receive(-1, pkt, flow.remotePort, flow.remoteAddress, flow),
      log.child("tcp-anycast"),
      (mux) => this.conns.get(mux) !== undefined,
    );
    this.pkt = { from: undefined as unknown as Conn, type: 0, data: new Uint8Array(0), listener: 0, now: 0 };
  }

  /** Builds tables and plugins, binds the listeners, and turns ready. Throws (nothing left open) on failure. */
  static async start(cfg: Config, log: Logger, builtins: Builtins, configDir: string): Promise<Server> {
    const s = new Server(cfg, log, builtins, configDir);
    s.conns.replace(cfg.clients, cfg.crypto);
    s.chain = await buildChain(cfg.plugins, builtins, (name) => s.pluginContext(name), configDir);
    try {
      const listen = cfg.listen ?? [cfg.interface ? hostPortText(cfg.interface, cfg.port) : `[::]:${cfg.port}`];
      for (const text of listen) {
        const { host, port } = parseHostPort(text);
        const idx = s.listeners.length;
        const onErr = (e: Error) => log.debug("udp socket error", { listener: text, error: e.message });
        const onData = (buf: Uint8Array, p: number, a: string) => s.receive(idx, buf, p, a);
        let udp: UdpTransport;
        try {
          udp = await UdpTransport.open(host, port, onData, onErr, cfg.udpBuffers);
        } catch (e) {
          if (host !== "::" || cfg.listen !== undefined) throw new Error(`listen ${text}: ${(e as Error).message}`);
          udp = await UdpTransport.open("0.0.0.0", port, onData, onErr, cfg.udpBuffers); // host without IPv6
        }
        s.listeners.push({ name: hostPortText(udp.address, udp.port), udp });
        if (udp.buffers.receive < cfg.udpBuffers.receive)
          log.warn("udp receive buffer smaller than configured (needs CAP_NET_ADMIN or net.core.rmem_max)", {
            listener: text,
            bytes: udp.buffers.receive,
          });
      }
    } catch (e) {
      s.stop();
      throw e;
    }
    try {
      s.tcp.start();
      s.tcpAnycast.start();
    } catch (e) {
      s.stop();
      throw e;
    }
    s.replication.start();
    if (s.tcpAnycast.enabled) s.held.start();
    const sc = cfg.sync;
    if (sc.listen !== undefined || sc.peers.length > 0) {
      s.mesh = new SyncMesh(
        s.store,
        {
          node: cfg.senderId,
          key: sc.key!,
          listen: sc.listen === undefined ? undefined : parseHostPort(sc.listen),
          peers: sc.peers.map(parseHostPort),
          heartbeatMs: sc.heartbeatMs,
          staleMs: sc.staleSeconds * 1000,
        },
        log.child("sync"),
      );
      try {
        await s.mesh.start();
      } catch (e) {
        s.stop();
        throw new Error(`sync.listen ${sc.listen}: ${(e as Error).message}`);
      }
    }
    if (cfg.clients.length === 0) log.warn("no clients configured: every packet will be dropped (mux)");
    for (const c of s.conns.all())
      if (c.crypto.suite.auth === "null") log.warn("client without authentication", { mux: c.mux });
    s.state = "ready";
    log.notice("server ready", {
      listen: s.listeners.map((l) => l.name).join(","),
      clients: s.conns.size,
      plugins: s.chain.entries.map((e) => e.name).join(","),
      senderId: cfg.senderId,
    });
    return s;
  }

  private pluginContext(name: string): PluginContext {
    const log = this.log.child(`plugin/${name}`);
    return {
      log,
      conns: this.conns,
      sync: this.store,
      node: this.cfg.senderId,
      routes: this.routes,
      send: (to, inner) => this.send(to, inner),
      counter: (event) => {
        const key = `${name}\u0000${event}`;
        this.pluginEvents.set(key, this.pluginEvents.get(key) ?? 0);
        return { inc: (n = 1) => void this.pluginEvents.set(key, this.pluginEvents.get(key)! + n) };
      },
      configDir: this.configDir,
    };
  }

  /** One SATP packet; false when it did not authenticate (a TCP stream's reader resyncs on that). */
  private receive(li: number, buf: Uint8Array, port: number, address: string, tcp?: StreamConn): boolean {
    const drops = this.drops;
    if (buf.length < HEADER_LEN) {
      drops.short++;
      return false;
    }
    const mux = (buf[OFF_MUX]! << 8) | buf[OFF_MUX + 1]!;
    const conn = this.conns.get(mux);
    if (conn === undefined) {
      drops.mux++;
      return false;
    }
    const seq = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
    const sid = (buf[OFF_SENDER]! << 8) | buf[OFF_SENDER + 1]!;
    const n = conn.crypto.open(buf, seq, sid, mux, conn.window(sid));
    if (n < 0) {
      if (n === OPEN_AUTH) drops.auth++;
      else if (n === OPEN_REPLAY) drops.replay++;
      else if (n === OPEN_SHORT) drops.short++;
      return n === OPEN_REPLAY;
    }
    conn.rxPackets++;
    conn.rxBytes += buf.length;
    const now = performance.now();
    conn.lastSeen = now;
    const ep = conn.endpoint;
    const me = this.cfg.senderId;
    if (
      ep === null ||
      ep.port !== port ||
      ep.address !== address ||
      ep.listener !== li ||
      ep.tcp !== tcp ||
      conn.servedBy !== me
    ) {
      if (conn.servedBy !== me && conn.servedBy !== -1) conn.movedIn++; // routing moved it here
      const moved = ep === null || ep.port !== port || ep.address !== address;
      conn.endpoint = { listener: li, address, port, tcp };
      conn.servedBy = me;
      if (tcp instanceof AnycastFlow) {
        this.tcpAnycast.bound(tcp, mux);
        if (conn.held.length > 0) this.held.release(conn, (type, data) => this.sendPayload(conn, type, data));
      }
      this.endpointChanges++;
      this.log.info(
        ep === null ? "client endpoint learned" : moved ? "client endpoint changed" : "client now served here",
        {
          mux,
          endpoint: `${address}:${port}`,
          listener: tcp ? "tcp" : this.listeners[li]?.name,
        },
      );
      this.replication.endpointChanged(conn);
    }
    if (n === 0) {
      this.keepalivesIn++;
      return true;
    }
    const plain = conn.crypto.plain;
    const type = (plain[0]! << 8) | plain[1]!;
    if (type !== PT_IPV4 && type !== PT_IPV6) {
      if (type === PT_CONTROL) this.control(conn, plain.subarray(TYPE_LEN), tcp);
      else drops.type++;
      return true;
    }
    if (tcp !== undefined && !tcp.tokenOk) {
      this.countPluginDrop("tcp-no-token"); // data on a TCP connection before INIT with a valid token
      return true;
    }
    const p = this.pkt;
    p.from = conn;
    p.type = type;
    p.data = plain.subarray(TYPE_LEN);
    p.listener = li;
    p.now = now;
    let v;
    try {
      v = this.chain.run(p);
    } catch (e) {
      this.countPluginDrop("plugin-error");
      if (this.pluginErrorLogged++ < 10) this.log.error("plugin threw (packet dropped)", { error: String(e) });
      return true;
    }
    switch (v.kind) {
      case "forward": {
        const to = v.to;
        for (let i = 0; i < to.length; i++) this.send(to[i]!, p.data);
        return true;
      }
      case "reply":
        this.send(conn, v.data);
        return true;
      case "drop":
        if (v.reason === "noroute") drops.noroute++;
        else this.countPluginDrop(v.reason);
        return true;
      default:
        return true;
    }
  }

  /** A control message from `conn` (not the hot path: allocations, keepalive requests). */
  private control(conn: Conn, body: Uint8Array, tcp: StreamConn | undefined): void {
    const msg = decodeControl(body);
    if (msg === null) {
      this.countPluginDrop("control-malformed");
      return;
    }
    let answer: ControlMessage | null | undefined;
    try {
      if (msg.type === MSG.INIT) answer = this.tcp.init(conn, msg, tcp);
      else if (msg.type === MSG.KEEPALIVE_REQ) {
        // The client's keep-alive interval (TCP transports), clamped to tcp.keepaliveMinMs..MaxMs.
        const asked = u32(tlv(msg, TLV.INTERVAL_MS)) ?? this.cfg.tcp.keepaliveMaxMs;
        const ms = this.tcpAnycast.agreeKeepalive(tcp, asked);
        answer = { type: MSG.KEEPALIVE_ACK, id: msg.id, tlvs: [{ t: TLV.INTERVAL_MS, v: be32(ms) }] };
      } else answer = this.chain.control(conn, msg);
    } catch (e) {
      this.log.error("plugin threw on a control message", { error: String(e) });
      answer = { type: MSG.ERROR, id: msg.id, tlvs: [{ t: TLV.ERROR_CODE, v: be16(ERR.MALFORMED) }] };
    }
    if (answer === undefined)
      answer = { type: MSG.ERROR, id: msg.id, tlvs: [{ t: TLV.ERROR_CODE, v: be16(ERR.UNKNOWN) }] };
    if (answer !== null) this.sendPayload(conn, PT_CONTROL, encodeControl(answer));
  }

  countPluginDrop(reason: string): void {
    this.pluginDrops.set(reason, (this.pluginDrops.get(reason) ?? 0) + 1);
  }

  /** Seals an inner IPv4/IPv6 packet for `to` and queues it on the listener `to` was last heard on. */
  send(to: Conn, inner: Uint8Array): boolean {
    const type = payloadTypeOf(inner, false);
    if (type === 0) {
      this.drops.badinner++;
      return false;
    }
    return this.sendPayload(to, type, inner);
  }

  /** Seals `payload` with payload type `type` for `to`. */
  sendPayload(to: Conn, type: number, inner: Uint8Array): boolean {
    const drops = this.drops;
    const ep = to.endpoint;
    if (ep === null || ep.tcp?.closed === true) {
      if (this.tcpAnycast.enabled && this.cfg.tcp.holdMs > 0 && this.held.hold(to, type, inner)) return true;
      drops.noendpoint++;
      return false;
    }
    if (inner.length + TYPE_LEN + to.crypto.overhead > MAX_PACKET) {
      drops.toobig++;
      return false;
    }
    if (to.seq >= SEQ_LIMIT) {
      drops.exhausted++;
      return false;
    }
    if (ep.tcp !== undefined) {
      if (ep.tcp.closed) {
        drops.noendpoint++;
        return false;
      }
      const b = this.tcpScratch;
      b[HEADER_LEN] = type >>> 8;
      b[HEADER_LEN + 1] = type & 255;
      b.set(inner, HEADER_LEN + TYPE_LEN);
      const len = to.crypto.seal(to.seq++, this.cfg.senderId, to.mux, b, TYPE_LEN + inner.length);
      if (!ep.tcp.send(b.subarray(0, len))) drops.udpsend++;
      to.txPackets++;
      to.txBytes += len;
      return true;
    }
    const l = this.listeners[ep.listener];
    if (l === undefined) {
      drops.noendpoint++;
      return false;
    }
    const slot = l.udp.slot();
    slot[HEADER_LEN] = type >>> 8;
    slot[HEADER_LEN + 1] = type & 255;
    slot.set(inner, HEADER_LEN + TYPE_LEN);
    const len = to.crypto.seal(to.seq++, this.cfg.senderId, to.mux, slot, TYPE_LEN + inner.length);
    l.udp.queue(len, ep.port, ep.address);
    to.txPackets++;
    to.txBytes += len;
    return true;
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
    const diff = this.conns.replace(next.clients, next.crypto);
    const ctxFor = (name: string) => this.pluginContext(name);
    this.chain.stop();
    try {
      this.chain = await createChain(prepared, ctxFor);
    } catch (e) {
      this.chain = await createChain(await prepareChain(this.cfg.plugins, this.builtins, this.configDir), ctxFor);
      throw e;
    }
    const chain = this.chain;
    for (const k of ["listen", "interface", "port", "admin", "senderId"] as const)
      if (JSON.stringify(next[k]) !== JSON.stringify(this.cfg[k]))
        this.log.warn(`reload: ${k} changed; takes effect on restart`);
    this.cfg = { ...next, listen: this.cfg.listen, admin: this.cfg.admin, senderId: this.cfg.senderId };
    this.log.notice("reloaded", { ...diff, plugins: chain.entries.map((e) => e.name).join(",") });
  }

  drain(): void {
    if (this.state !== "draining") this.log.notice("draining: not ready from now on; sessions keep working");
    this.state = "draining";
  }

  stop(): void {
    this.mesh?.stop();
    this.replication.stop();
    this.chain?.stop();
    this.tcp.stop();
    this.tcpAnycast.stop();
    this.held.stop();
    for (const l of this.listeners) l.udp.close();
    this.listeners.length = 0;
  }
}

export function hostPortText(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
