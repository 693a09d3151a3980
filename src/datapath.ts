// The server's per-packet work (server.ts keeps the lifecycle). Synchronous, per datagram or
// framed packet, whatever transport it came through (the seam: transport/link.ts):
//
//   receive(buf, via, address, port)
//     ─► not ready yet (no fleet replay marks)? drop "notready"
//     ─► past loopBudgetMs in this event-loop turn? drop "overload" (transport/turn.ts)
//     ─► satp/session Receiver.open (header, conn by mux, tag, replay window, decrypt) ─► drop by reason
//        (a client a route just moved here from another server: held, tag checked, until that
//        server's replay marks are in: `arrive`)
//     ─► past the client's rate limit (rate.ts)? drop "ratelimit"
//     ─► endpoint: learned or moved only by an authenticated packet that is the newest of its
//        sender id (SatpSession.newest; Ingress.link on a change)
//     ─► keepalive | control message | inner packet ─► source in the client's routes? (sourceCheck;
//        else drop "spoofed") ─► plugin chain ─► verdict
//   sendPayload(to, type, inner)
//     ─► to.endpoint (a Link) usable, and taking data (not control)?  no: hold queue (hold.ts) or
//        drop "noendpoint"; held packets go once a link that takes them is learned
//     ─► SatpSession.seal into link.slot() ─► link.send(len)
//   fromPeer(mux, pkt): a sealed packet another server forwarded over the data channel for a
//     client whose link is here: out on that link as it is (never forwarded again).
//
// No exception, log line or promise per packet; every drop is counted by reason.
import { hostPortText } from "./net/addr.ts";
import { PathMtu } from "./net/pmtu.ts";
import type { Config } from "./config.ts";
import { newDrops, type Drops } from "./drops.ts";
import type { HoldQueue } from "./hold.ts";
import type { Logger } from "./log.ts";
import type { Chain, Packet } from "./pipeline.ts";
import { payloadTypeOf, PT_CONTROL, PT_IPV4, PT_IPV6 } from "./satp/codec.ts";
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
import { authentic, countRx, countSeal, Receiver, RX_AUTH, RX_WAIT, type SessionReceiver } from "./satp/session.ts";
import { MARKS_ASK, MARKS_ASKED, type Conn, type ConnTable } from "./state.ts";
import { sameEndpoint, type Ingress } from "./transport/link.ts";

/** What the datapath needs from the rest of the server. */
export interface DatapathEnv {
  readonly conns: ConnTable;
  readonly log: Logger;
  readonly hold: HoldQueue;
  /** The running config (it changes on reload). */
  cfg(): Config;
  /** The running plugin chain (it changes on reload). */
  chain(): Chain;
  /** Hold packets for a client with no endpoint yet (one may be learned here or by a sibling soon). */
  holdUnknown(): boolean;
  /** The receive path learned or moved `conn`'s endpoint (replication publishes it). */
  endpointChanged(conn: Conn): void;
  /** The client whose routes cover the source of inner packet `pkt` (routing.ts sourceOwner). */
  sourceOwner(pkt: Uint8Array): Conn | undefined;
  /** True when this event-loop turn has used up its packet budget (transport/turn.ts): shed. */
  overBudget(now: number): boolean;
  /** INIT (tcp-unicast redirect/token) for `conn` that came through `via`. */
  init(conn: Conn, msg: ControlMessage, via: Ingress): ControlMessage;
  /**
   * Asks the server that served `conn` last for its current replay marks; `done` runs once they
   * are applied (or the wait timed out). False: nothing to wait for (no live link to it).
   */
  askMarks(conn: Conn, done: () => void): boolean;
}

export interface ForwardStats {
  /** Sealed packets from other servers sent on to a client whose link is here. */
  in: number;
  /** ... of those, dropped: the client's link is not (or no longer) here. */
  nolink: number;
}

/** At most one "failed authentication" warning per this many ms. */
const AUTH_LOG_MS = 10_000;

export class Datapath {
  readonly drops: Drops = newDrops();
  /** Drops by reasons plugins chose (verdict drop("...")); the core's are in `drops` (drops.ts). */
  readonly pluginDrops = new Map<string, number>();
  readonly forwarded: ForwardStats = { in: 0, nolink: 0 };
  keepalivesIn = 0;
  endpointChanges = 0;
  /** False until the server is ready (it has the fleet's replay marks): packets are dropped (notready). */
  accepting = false;
  /** Replay-mark queries sent to the server that served a client last (a route moved it here). */
  marksAsked = 0;
  private readonly pkt: Packet;
  private readonly rx: Receiver<Conn>;
  /** The Noise suite's receive prologue (noise/crypto.ts), for packets through an ingress with `noise` set. */
  noiseRx: SessionReceiver<Conn> | null = null;
  private pluginErrorLogged = 0;
  private authFailures = 0;
  private authLoggedAt = -Infinity;

  constructor(private readonly env: DatapathEnv) {
    this.rx = new Receiver((mux) => env.conns.get(mux));
    this.pkt = { from: undefined as unknown as Conn, type: 0, data: new Uint8Array(0), listener: 0, now: 0 };
  }

  countPluginDrop(reason: string): void {
    this.pluginDrops.set(reason, (this.pluginDrops.get(reason) ?? 0) + 1);
  }

  /** One SATP packet from (address, port) through `via`; false when it did not authenticate (stream readers resync). */
  receive(buf: Uint8Array, via: Ingress, address: string, port: number): boolean {
    const env = this.env;
    if (!this.accepting) {
      this.drops.notready++; // no replay marks yet: an old packet could pass
      return true;
    }
    const now = performance.now();
    if (env.overBudget(now)) {
      this.drops.overload++; // shed before any crypto; true: a stream reader keeps its framing
      return true;
    }
    const rx = via.noise === true && this.noiseRx !== null ? this.noiseRx : this.rx;
    const n = rx.open(buf);
    if (n < 0) {
      if (n === RX_WAIT) return this.arrive(rx, buf, via, address, port);
      countRx(n, this.drops);
      if (n === RX_AUTH) this.authFailed(rx, address, port, now);
      return authentic(n);
    }
    const conn = rx.session!;
    if (conn.rate !== null && !conn.rate.take(buf.length, now)) {
      this.drops.ratelimit++; // authentic, but past the client's rate: nothing else is touched
      return true;
    }
    conn.rxPackets++;
    conn.rxBytes += buf.length;
    conn.lastSeen = now;
    const me = env.cfg().senderId;
    const ep = conn.endpoint;
    // Only the newest packet of its sender id moves anything: a replay (even one a window of 0
    // delivers) comes from wherever the attacker is and must not take the client's traffic there.
    if (conn.newest && (!sameEndpoint(ep, via, address, port) || conn.servedBy !== me))
      this.learn(conn, via, address, port);
    if (n === 0) {
      this.keepalivesIn++;
      return true;
    }
    const type = conn.type;
    if (type !== PT_IPV4 && type !== PT_IPV6) {
      if (type === PT_CONTROL) this.control(conn, conn.inner(), via);
      else this.drops.type++;
      return true;
    }
    if (!via.dataAllowed) {
      this.drops["tcp-no-token"]++; // data on a TCP connection before INIT with a valid token
      return true;
    }
    const inner = conn.inner();
    if (env.cfg().sourceCheck && env.sourceOwner(inner) !== conn) {
      this.drops.spoofed++; // another client's address, or none of ours: never forwarded, NATed or answered
      return true;
    }
    this.pmtu.clamp(inner, env.cfg());
    const big = this.pmtu.tooBig(inner, env.cfg(), now);
    if (big !== null) {
      if (big !== "drop") this.send(conn, big); // fragmentation needed / packet too big
      return true;
    }
    const p = this.pkt;
    p.from = conn;
    p.type = type;
    p.data = inner;
    p.listener = via.listener;
    p.now = now;
    let v;
    try {
      v = env.chain().run(p);
    } catch (e) {
      this.drops["plugin-error"]++;
      if (this.pluginErrorLogged++ < 10) env.log.error("plugin threw (packet dropped)", { error: String(e) });
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
        if (v.reason === "noroute") this.drops.noroute++;
        else this.countPluginDrop(v.reason);
        return true;
      default:
        return true;
    }
  }

  /**
   * A route moved `conn` here from another server (conn.wait): its packets wait, unopened, until
   * that server's current replay marks are in (one round trip over sync, bounded by
   * sync.markWaitMs), so a packet it accepted and an attacker replays here is refused. Only
   * authentic packets are held (hold.ts bounds them); the tag is checked again when they run.
   */
  private arrive(rx: SessionReceiver<Conn>, buf: Uint8Array, via: Ingress, address: string, port: number): boolean {
    const conn = rx.session!;
    const v = conn.verify(buf, rx.header);
    if (v < 0) {
      countRx(v, this.drops);
      return authentic(v);
    }
    if (conn.wait === MARKS_ASK) {
      conn.wait = MARKS_ASKED;
      if (!this.env.askMarks(conn, () => this.marksIn(conn))) {
        conn.wait = 0; // the other server is not reachable: the synced marks bound what passes
        return this.receive(buf, via, address, port);
      }
      this.marksAsked++;
    }
    if (!this.env.hold.holdIn(conn, buf, via, address, port)) this.drops.wait++;
    return true;
  }

  /** The marks `conn` waited for are applied (or the wait timed out): its held arrivals run now. */
  private marksIn(conn: Conn): void {
    conn.wait = 0;
    this.env.hold.releaseIn(conn, (pkt, via, address, port) => void this.receive(pkt, via, address, port));
  }

  /**
   * A packet for a configured client that failed authentication (a wrong passphrase or key, or
   * noise): one warning per AUTH_LOG_MS at most, with how many failed since the last one, so an
   * operator sees a misconfigured client at the default level and a flood costs one line.
   */
  private authFailed(rx: SessionReceiver<Conn>, address: string, port: number, now: number): void {
    this.authFailures++;
    if (now - this.authLoggedAt < AUTH_LOG_MS) return;
    this.authLoggedAt = now;
    this.env.log.warn("packet failed authentication (wrong passphrase or key?)", {
      mux: rx.header.mux, // read by the receiver before the tag was checked
      from: hostPortText(address, port),
      failedSinceLastLine: this.authFailures,
    });
    this.authFailures = 0;
  }

  /** An authenticated packet came from somewhere else than the endpoint we knew (or routing moved the client here). */
  private learn(conn: Conn, via: Ingress, address: string, port: number): void {
    const env = this.env;
    const ep = conn.endpoint;
    const me = env.cfg().senderId;
    if (conn.servedBy !== me && conn.servedBy !== -1) conn.movedIn++; // routing moved it here
    const moved = ep === null || ep.port !== port || ep.address !== address;
    const link = sameEndpoint(ep, via, address, port) ? ep! : via.link(address, port);
    conn.endpoint = link;
    conn.servedBy = me;
    via.bound?.(conn.mux);
    this.endpointChanges++;
    env.log.notice(
      ep === null ? "client endpoint learned" : moved ? "client endpoint changed" : "client now served here",
      {
        mux: conn.mux,
        endpoint: `${address}:${port}`,
        via: link.kind === "udp" ? link.record : link.kind,
      },
    );
    env.endpointChanged(conn);
    this.releaseHeld(conn);
  }

  /** What waits for `conn` goes out once its link can take it (learned, or granted data by INIT). */
  releaseHeld(conn: Conn): void {
    const ep = conn.endpoint;
    if (ep !== null && ep.usable && ep.dataAllowed && this.env.hold.has(conn))
      this.env.hold.release(conn, (type, data) => this.sendPayload(conn, type, data));
  }

  /** A control message from `conn` (not the hot path: allocations, keepalive requests). */
  private control(conn: Conn, body: Uint8Array, via: Ingress): void {
    const msg = decodeControl(body);
    if (msg === null) {
      this.drops["control-malformed"]++;
      return;
    }
    const tcp = this.env.cfg().tcp;
    let answer: ControlMessage | null | undefined;
    try {
      if (msg.type === MSG.INIT) answer = this.env.init(conn, msg, via);
      else if (msg.type === MSG.KEEPALIVE_REQ) {
        // The client's keep-alive interval (TCP transports), clamped to tcp.keepaliveMinMs..MaxMs.
        const asked = u32(tlv(msg, TLV.INTERVAL_MS)) ?? tcp.keepaliveMaxMs;
        const ms = Math.max(tcp.keepaliveMinMs, Math.min(tcp.keepaliveMaxMs, asked));
        via.agreed?.(ms);
        answer = { type: MSG.KEEPALIVE_ACK, id: msg.id, tlvs: [{ t: TLV.INTERVAL_MS, v: be32(ms) }] };
      } else answer = this.env.chain().control(conn, msg);
    } catch (e) {
      this.env.log.error("plugin threw on a control message", { error: String(e) });
      answer = { type: MSG.ERROR, id: msg.id, tlvs: [{ t: TLV.ERROR_CODE, v: be16(ERR.MALFORMED) }] };
    }
    if (answer === undefined)
      answer = { type: MSG.ERROR, id: msg.id, tlvs: [{ t: TLV.ERROR_CODE, v: be16(ERR.UNKNOWN) }] };
    if (answer !== null) this.sendPayload(conn, PT_CONTROL, encodeControl(answer));
    if (msg.type === MSG.INIT) this.releaseHeld(conn); // a token may have opened this link to data
  }

  /** MSS clamping and too-big answers (net/pmtu.ts). */
  readonly pmtu = new PathMtu();

  /** Seals an inner IPv4/IPv6 packet for `to` and sends it on `to`'s link. */
  send(to: Conn, inner: Uint8Array): boolean {
    const type = payloadTypeOf(inner, false);
    if (type === 0) {
      this.drops.badinner++;
      return false;
    }
    return this.sendPayload(to, type, inner);
  }

  /** Seals `inner` with payload type `type` for `to`: on its link, or into the hold queue while it has none. */
  sendPayload(to: Conn, type: number, inner: Uint8Array): boolean {
    const ep = to.endpoint;
    if (ep === null || !ep.usable || (!ep.dataAllowed && type !== PT_CONTROL)) {
      const env = this.env;
      if ((ep !== null || env.holdUnknown()) && env.hold.hold(to, type, inner)) return true;
      this.drops.noendpoint++;
      return false;
    }
    const slot = ep.slot();
    const len = to.seal(slot, this.env.cfg().senderId, type, inner);
    if (len < 0) {
      countSeal(len, this.drops);
      return false;
    }
    if (!ep.send(len)) this.drops.udpsend++;
    to.txPackets++;
    to.txBytes += len;
    return true;
  }

  /** A sealed packet for client `mux` that another server forwarded here (data channel). */
  fromPeer(mux: number, pkt: Uint8Array): void {
    const conn = this.env.conns.get(mux);
    const ep = conn?.endpoint ?? null;
    if (conn === undefined || ep === null || !ep.local || !ep.usable || !ep.dataAllowed) {
      this.forwarded.nolink++;
      this.drops["forward-nolink"]++;
      return;
    }
    const slot = ep.slot();
    slot.set(pkt);
    this.forwarded.in++;
    if (!ep.send(pkt.length)) this.drops.udpsend++;
    conn.txPackets++;
    conn.txBytes += pkt.length;
  }
}
