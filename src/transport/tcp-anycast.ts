// Server side of full anycast TCP: clients open an ordinary TCP connection to the anycast
// address; every server captures that address' TCP port through a TUN (policy rule, see
// src/nat/setup.ts) and terminates the connection with the userspace endpoint of src/tcp/, so
// the connection's state is ours to sync and any server can carry it on.
//
// Anyone can send segments here without any SATP key, so nothing a segment does before its flow
// carries an authenticated SATP packet may cost state that real clients need or move a flow.
//
// Per flow (key "clientIP|clientPort|anycastIP|port"):
//   - a SYN costs no state: the SYN-ACK carries a SYN cookie (src/tcp/cookie.ts, secret shared by
//     the anycast group), and the final ACK that proves it opens the flow ESTABLISHED on whichever
//     server it reaches (TcpEndpoint.fromCookie). So spoofed SYNs never fill `tcp.maxFlows`;
//   - the flow's state is published in the sync table "tcp" once ESTABLISHED, refreshed every
//     SYNC_MS while it moves (and whenever SND.NXT or RCV.NXT moved a quarter of the window), and
//     deleted when it closes;
//   - a non-SYN segment of a flow this server does not have, whose record is in the table and
//     whose SEQ and ACK lie within a window of the published positions (RFC 5961's ACK check,
//     widened by what may move between two publications), starts a tentative takeover
//     (TcpEndpoint.adopt: RCV.NXT from the segment, SND from its ACK). A tentative flow sends
//     nothing, is not published and carries nothing for its client: the old owner keeps the flow.
//     The first authenticated, newest SATP packet on it (the datapath's `bound`) confirms it: the
//     record is republished with this server as owner and the old owner, seeing that, forgets
//     the flow silently. Unconfirmed after TENTATIVE_MS, it is forgotten. A segment matching no
//     record and no cookie gets a RST (RFC 9293 3.10.7.1); a segment of a synced flow that fails
//     the plausibility check is dropped, never answered with RST;
//   - bytes are framed SATP (framing.ts) read leniently: after a takeover the stream may resume
//     mid-frame and the reader resyncs on the first frame that authenticates;
//   - stopping the relay forgets flows without FIN or RST: another server takes them over.
//
// Record "tcp" value: { o: owner sender id, m: mux (-1 before the first authenticated packet),
//   is, ir: ISNs, ms: MSS, ss/rs: window shifts, sn/rn: SND.NXT/RCV.NXT when published, k: keep-alive ms }
import type { Config } from "../config.ts";
import { parseHostPort } from "../config.ts";
import type { Logger } from "../log.ts";
import { formatIp } from "../net/addr.ts";
import { applyNatSetup, checkNatSetup } from "../nat/setup.ts";
import type { SyncStore } from "../sync/store.ts";
import { SynCookies } from "../tcp/cookie.ts";
import { TcpEndpoint, type FlowState, type TcpOptions } from "../tcp/endpoint.ts";
import { ACK, buildPacket, packetRoom, parsePacket, RST, SYN, type Segment } from "../tcp/segment.ts";
import { configureLink, openTun, type TunDevice } from "../tun.ts";
import { OFF_MUX } from "../satp/codec.ts";
import { buildTcpReset, newL4, parseL4 } from "../net/ip.ts";
import { FRAME_HEADER, FrameReader } from "./framing.ts";
import type { Ingress, Link } from "./link.ts";

export interface FlowRecord {
  o: number;
  m: number;
  is: number;
  ir: number;
  ms: number;
  ss: number;
  rs: number;
  sn: number;
  rn: number;
  k: number;
}

export interface TcpAnycastStats {
  segmentsIn: number;
  segmentsOut: number;
  flowsOpened: number;
  flowsClosed: number;
  /** Confirmed takeovers (an authenticated packet arrived on the flow). */
  takeovers: number;
  /** Takeovers started (plausible segment of a synced flow) and those that expired unconfirmed. */
  tentative: number;
  tentativeExpired: number;
  cookiesSent: number;
  /** Final ACKs with a valid cookie (flows opened), and ACKs that matched no cookie nor record. */
  cookiesValid: number;
  /** Flows reset because no authenticated packet came within tcp.pendingMs (or after tcp.pendingBytes). */
  unauthenticated: number;
  movedAway: number;
  resets: number;
  badSegments: number;
  notCaptured: number;
  refused: number;
  full: number;
  tunWriteErrors: number;
  resyncs: number;
  skippedBytes: number;
}

const SYNC_MS = 500;
const TENTATIVE_MS = 5000;
const TICK_MS = 10;
const diff = (a: number, b: number) => (a - b) | 0;

/** One captured TCP connection: its client's Link and Ingress (link.ts) while it is here. */
export class AnycastFlow implements Link, Ingress {
  readonly reader = new FrameReader(true, (b, at) => {
    const mux = (b[at + OFF_MUX]! << 8) | b[at + OFF_MUX + 1]!;
    return this.mux >= 0 ? mux === this.mux : this.host.knownMux(mux);
  });
  ep!: TcpEndpoint;
  closed = false;
  readonly dataAllowed = true; // the client reached the anycast address itself: nothing to redirect
  readonly kind = "tcp-anycast";
  readonly record = "tcp";
  readonly local = true;
  readonly listener = -1;
  readonly via = this;
  mux = -1;
  keepaliveMs: number;
  lastSegment = 0;
  /** When the flow opened here (a flow that carries no authenticated packet within tcp.pendingMs is reset). */
  openedAt = 0;
  published = { sn: -1, rn: -1, at: 0 };
  /** While a takeover is unconfirmed: when it is forgotten (0 once confirmed or opened here). */
  tentativeUntil = 0;
  private seen = { resyncs: 0, skipped: 0 }; // reader counters already added to the host's stats

  constructor(
    private readonly host: TcpAnycast,
    readonly key: string,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly addrs: { local: Uint8Array; remote: Uint8Array },
    keepaliveMs: number,
  ) {
    this.keepaliveMs = keepaliveMs;
  }

  get address(): string {
    return this.remoteAddress;
  }
  get port(): number {
    return this.remotePort;
  }
  get usable(): boolean {
    return !this.closed;
  }
  link(): Link {
    return this;
  }
  /** The host's framing buffer: the SATP packet is sealed at FRAME_HEADER, after the length. */
  slot(): Uint8Array {
    return this.host.framed.subarray(FRAME_HEADER);
  }
  send(len: number): boolean {
    return this.sendFramed(this.host.framed.subarray(0, this.host.lengthPrefix(len)));
  }
  agreed(ms: number): void {
    this.keepaliveMs = ms;
    this.host.publishNow(this);
  }
  bound(mux: number): void {
    this.host.bound(this, mux);
  }

  private sendFramed(framed: Uint8Array): boolean {
    if (this.closed || !this.ep.write(framed)) return false; // write copies what it takes
    this.host.dirty(this);
    return true;
  }

  onData(d: Uint8Array): void {
    const r = this.reader;
    r.push(d);
    for (let p = r.next(); p !== null; p = r.next()) {
      if (this.host.deliver(this, p) === false) r.reject();
      if (this.closed) return;
    }
    if (r.skipped !== this.seen.skipped) {
      this.host.stats.resyncs += r.resyncs - this.seen.resyncs;
      this.host.stats.skippedBytes += r.skipped - this.seen.skipped;
      this.seen = { resyncs: r.resyncs, skipped: r.skipped };
    }
  }
}

export class TcpAnycast {
  readonly flows = new Map<string, AnycastFlow>();
  readonly stats: TcpAnycastStats = {
    segmentsIn: 0,
    segmentsOut: 0,
    flowsOpened: 0,
    flowsClosed: 0,
    takeovers: 0,
    tentative: 0,
    tentativeExpired: 0,
    cookiesSent: 0,
    cookiesValid: 0,
    unauthenticated: 0,
    movedAway: 0,
    resets: 0,
    badSegments: 0,
    notCaptured: 0,
    refused: 0,
    full: 0,
    tunWriteErrors: 0,
    resyncs: 0,
    skippedBytes: 0,
  };
  private readonly captured = new Set<string>();
  private tun: TunDevice | null = null;
  private undo: (() => void) | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly pending = new Set<AnycastFlow>();
  private armed = false;
  private readonly out = new Uint8Array(packetRoom(65535));
  /** Framing buffer shared by all flows (one packet at a time; the endpoint copies on write). */
  readonly framed = new Uint8Array(FRAME_HEADER + 2048);
  private readonly flush = () => this.flushNow();
  private readonly cookies: SynCookies;
  private tentatives = 0;

  constructor(
    private cfg: Config["tcp"],
    private readonly node: number,
    private readonly store: SyncStore,
    /** Hands one SATP packet of `flow` to the server; false when it did not authenticate. */
    readonly deliver: (flow: AnycastFlow, pkt: Uint8Array) => boolean,
    private readonly log: Logger,
    /** Is a client with this mux configured (resync plausibility before a flow knows its client)? */
    readonly knownMux: (mux: number) => boolean,
    /** The SYN cookie secret, the same on every server of the anycast group (from the fleet key). */
    cookieSecret: Uint8Array,
    clock: () => number = Date.now,
  ) {
    this.cookies = new SynCookies(cookieSecret, clock);
    for (const hp of cfg.capture) {
      const { host, port } = parseHostPort(hp);
      this.captured.add(`${host}|${port}`);
    }
    // A flow record from a peer is checked before it can move or end a flow here: its shape, a
    // key naming an address we capture, an owner that is the server that wrote it (no record
    // in a third server's name), and a client we know (or -1, none yet).
    store.validateBy("tcp", (value, key, node) => {
      if (!isFlowRecord(value) || value.o !== node) return false;
      const parts = key.split("|");
      return (
        parts.length === 4 && this.captured.has(`${parts[2]}|${parts[3]}`) && (value.m === -1 || knownMux(value.m))
      );
    });
    store.onChange("tcp", (key, value, origin) => {
      if (origin === "local") return;
      const f = this.flows.get(key);
      if (f === undefined) return;
      const rec = value as FlowRecord | null;
      if (rec !== null && rec.o === this.node) return;
      if (rec !== null && f.tentativeUntil !== 0) return; // the owner still moves it: ours is unconfirmed
      // Another server took the flow over (or closed it): forget it, no FIN, no RST.
      this.stats.movedAway++;
      this.log.info("tcp flow moved to another server", { flow: key, to: rec?.o ?? "closed" });
      this.drop(f);
    });
  }

  get enabled(): boolean {
    return this.captured.size > 0;
  }

  /** Opens the capture TUN and applies (or checks) the kernel setup; throws naming what is missing. */
  start(): void {
    if (!this.enabled) return;
    const c = this.cfg;
    const tun = openTun({ name: c.captureDev });
    try {
      configureLink(tun.name, { mtu: 1500, up: true });
      for (const hp of c.capture) {
        const { host, port } = parseHostPort(hp);
        const plan = {
          dev: tun.name,
          address: host,
          ports: [port, port] as [number, number],
          icmp: false,
          table: c.captureTable,
          pref: c.capturePref,
          protos: ["tcp" as const],
        };
        if (c.captureSetup === "auto") {
          const u = applyNatSetup(plan);
          const prev = this.undo;
          this.undo = () => {
            u();
            prev?.();
          };
        }
        const missing = checkNatSetup(plan);
        if (missing.length)
          throw new Error(`tcp.capture ${hp}: kernel setup incomplete; run:\n  ${missing.join("\n  ")}`);
      }
    } catch (e) {
      this.undo?.();
      this.undo = null;
      tun.close();
      throw e;
    }
    this.tun = tun;
    tun.start((pkt) => this.onPacket(pkt));
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.log.notice("capturing", { capture: c.capture.join(","), dev: tun.name });
  }

  /** Forgets every flow without FIN or RST (another server takes them over) and undoes the setup. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const f of [...this.flows.values()]) {
      f.ep.forget();
      f.closed = true;
    }
    this.flows.clear();
    this.tun?.close();
    this.tun = null;
    this.undo?.();
    this.undo = null;
  }

  /** Settings that a reload may change (buffers, keep-alive bounds, limits) for new flows; the capture itself needs a restart. */
  reconfigure(cfg: Config["tcp"]): void {
    this.cfg = cfg;
  }

  /** The settings in force (what reconfigure last gave). */
  get settings(): Readonly<Config["tcp"]> {
    return this.cfg;
  }

  /** The flow's record changed (keep-alive agreed): publish it now. */
  publishNow(flow: AnycastFlow): void {
    this.publish(flow, true);
  }

  /** The server learned the flow's client here (an authenticated, newest packet): a tentative takeover is confirmed. */
  bound(flow: AnycastFlow, mux: number): void {
    if (this.untentative(flow)) {
      this.stats.takeovers++;
      flow.mux = mux;
      flow.ep.ackSoon(); // what it received while tentative was never acknowledged
      this.log.info("tcp flow taken over", { flow: flow.key, mux });
      this.publish(flow, true);
      this.dirty(flow);
      return;
    }
    if (flow.mux === mux) return;
    flow.mux = mux;
    this.publish(flow, true);
  }

  /** Writes the frame length for a `len`-byte packet already at framed[FRAME_HEADER]; returns the frame's size. */
  lengthPrefix(len: number): number {
    this.framed[0] = len >>> 8;
    this.framed[1] = len & 255;
    return FRAME_HEADER + len;
  }

  dirty(f: AnycastFlow): void {
    this.pending.add(f);
    if (!this.armed) {
      this.armed = true;
      queueMicrotask(this.flush);
    }
  }

  private options(remotePort: number, localPort: number, iss = 0): TcpOptions {
    return {
      localPort,
      remotePort,
      iss,
      mss: this.cfg.mss,
      receiveBuffer: this.cfg.buffer,
      sendBuffer: this.cfg.buffer,
      minRtoMs: this.cfg.minRtoMs,
      timeWaitMs: 2000, // a captured port has one listener; a reused client port gets a new SYN anyway
    };
  }

  private onPacket(pkt: Uint8Array): void {
    this.stats.segmentsIn++;
    const p = parsePacket(pkt);
    if (p === null) {
      this.stats.badSegments++;
      return;
    }
    const seg = p.seg;
    const local = formatIp(p.dst);
    if (!this.captured.has(`${local}|${seg.dstPort}`)) {
      this.stats.notCaptured++;
      return;
    }
    const remote = formatIp(p.src);
    const key = `${remote}|${seg.srcPort}|${local}|${seg.dstPort}`;
    const now = performance.now();
    let f = this.flows.get(key);
    if (f !== undefined && seg.flags & SYN && !(seg.flags & ACK) && f.ep.state === "TIME-WAIT") {
      this.drop(f); // a new connection on the same ports (RFC 9293 3.10.7.4 TIME-WAIT SYN)
      f = undefined;
    }
    if (f === undefined) {
      if (seg.flags & RST) return;
      if (seg.flags & SYN) {
        if (!(seg.flags & ACK)) this.sendCookie(p);
        return;
      }
      f = this.open(key, remote, p, now) ?? this.takeOver(key, remote, p, pkt, now);
      if (f === undefined) return;
    } else f.ep.input(seg, now);
    f.lastSegment = now;
    this.dirty(f);
  }

  private newFlow(key: string, remote: string, p: { src: Uint8Array; dst: Uint8Array; seg: Segment }): AnycastFlow {
    return new AnycastFlow(
      this,
      key,
      remote,
      p.seg.srcPort,
      { local: p.dst.slice(), remote: p.src.slice() },
      this.cfg.keepaliveMaxMs,
    );
  }

  private hooks(f: AnycastFlow) {
    return {
      onData: (d: Uint8Array) => f.onData(d),
      onEstablished: () => this.publish(f, true),
      onPeerClosed: () => f.ep.close(performance.now()),
      onClosed: (why: string) => this.closed(f, why),
    };
  }

  /** A SYN: the SYN-ACK with a cookie as its ISS; nothing is kept. */
  private sendCookie(p: { src: Uint8Array; dst: Uint8Array; seg: Segment }): void {
    const seg = p.seg;
    const iss = this.cookies.make({ src: p.src, dst: p.dst, srcPort: seg.srcPort, dstPort: seg.dstPort }, seg.seq, {
      mss: seg.mss ?? 536,
      wscale: seg.wscale,
    });
    this.stats.cookiesSent++;
    this.write({ src: p.dst, dst: p.src }, TcpEndpoint.synAck(this.options(seg.srcPort, seg.dstPort), seg, iss));
  }

  /** A final ACK whose ACK - 1 is our cookie opens the flow ESTABLISHED here; undefined when it is not one. */
  private open(
    key: string,
    remote: string,
    p: { src: Uint8Array; dst: Uint8Array; seg: Segment },
    now: number,
  ): AnycastFlow | undefined {
    const seg = p.seg;
    if (!(seg.flags & ACK)) return undefined;
    const isn = (seg.seq - 1) >>> 0;
    const iss = (seg.ack - 1) >>> 0;
    const peer = this.cookies.check({ src: p.src, dst: p.dst, srcPort: seg.srcPort, dstPort: seg.dstPort }, isn, iss);
    if (peer === null) return undefined;
    this.stats.cookiesValid++;
    if (this.flows.size >= this.cfg.maxFlows || this.unauthenticatedFlows() >= this.cfg.maxPending) {
      this.stats.full++;
      return undefined;
    }
    const f = this.newFlow(key, remote, p);
    f.ep = TcpEndpoint.fromCookie(this.options(seg.srcPort, seg.dstPort, iss), isn, peer, now, this.hooks(f));
    f.openedAt = now;
    this.flows.set(key, f);
    this.stats.flowsOpened++;
    this.publish(f, true);
    f.ep.input(seg, now); // the final ACK and its data, if any
    return f;
  }

  private takeOver(
    key: string,
    remote: string,
    p: { src: Uint8Array; dst: Uint8Array; seg: Segment },
    pkt: Uint8Array,
    now: number,
  ): AnycastFlow | undefined {
    const seg = p.seg;
    const rec = this.store.get("tcp", key) as FlowRecord | null | undefined;
    if (rec === undefined || rec === null) {
      // No such connection anywhere: RST as a closed port answers (RFC 9293 3.10.7.1).
      const l4 = newL4();
      const rst = parseL4(pkt, l4) === null ? buildTcpReset(pkt, l4) : null;
      if (rst !== null) {
        this.stats.resets++;
        this.stats.segmentsOut++;
        if (!this.tun?.write(rst)) this.stats.tunWriteErrors++;
      }
      return undefined;
    }
    // Plausibility (RFC 5961 5.2 for the ACK, 9293 3.10.7.4 for SEQ): within a window W before
    // the published positions and 2W after them (the owner republishes once they moved W/4, and
    // one flush may send a window more). A blind attacker needs both right: 1 in ~10^5 tries with
    // a 4 MiB window, and then still an authenticated SATP packet to confirm the takeover.
    const w = this.cfg.buffer;
    const near = (a: number, b: number) => {
      const d = diff(a, b);
      return d >= -w && d <= 2 * w;
    };
    if (
      !(seg.flags & ACK) ||
      !near(seg.seq, rec.rn) ||
      !near(seg.ack, rec.sn) ||
      this.flows.size >= this.cfg.maxFlows ||
      this.tentatives >= Math.max(1, this.cfg.maxFlows >> 2)
    ) {
      this.stats.refused++;
      return undefined;
    }
    const st: FlowState = {
      iss: rec.is,
      irs: rec.ir,
      mss: rec.ms,
      sndShift: rec.ss,
      rcvShift: rec.rs,
      sndNxt: rec.sn,
      rcvNxt: rec.rn,
    };
    const f = this.newFlow(key, remote, p);
    f.mux = rec.m;
    f.keepaliveMs = rec.k;
    f.ep = TcpEndpoint.adopt(this.options(seg.srcPort, seg.dstPort), st, seg, now, this.hooks(f));
    f.tentativeUntil = now + TENTATIVE_MS;
    this.tentatives++;
    this.flows.set(key, f);
    this.stats.tentative++;
    this.log.debug("tcp flow takeover pending", { flow: key, from: rec.o, mux: rec.m });
    f.ep.input(seg, now); // its data (if any) and ACK, now in ESTABLISHED
    return f;
  }

  private publish(f: AnycastFlow, force: boolean): void {
    const e = f.ep;
    if (f.tentativeUntil !== 0 || (e.state !== "ESTABLISHED" && e.state !== "CLOSE-WAIT")) return;
    const now = performance.now();
    const moved = Math.max(Math.abs(diff(e.sndNxt, f.published.sn)), Math.abs(diff(e.rcvNxt, f.published.rn)));
    if (!force && (moved === 0 || (moved < this.cfg.buffer / 4 && now - f.published.at < SYNC_MS))) return;
    f.published = { sn: e.sndNxt, rn: e.rcvNxt, at: now };
    const rec: FlowRecord = {
      o: this.node,
      m: f.mux,
      is: e.iss,
      ir: e.irs,
      ms: e.mss,
      ss: e.sndShift,
      rs: e.rcvShift,
      sn: e.sndNxt,
      rn: e.rcvNxt,
      k: f.keepaliveMs,
    };
    this.store.set("tcp", f.key, rec);
  }

  private closed(f: AnycastFlow, why: string): void {
    if (f.closed) return;
    f.closed = true;
    this.stats.flowsClosed++;
    if (this.untentative(f)) return; // an unconfirmed takeover owns nothing: no record to delete
    if (why !== "forgotten") {
      this.log.info("tcp flow closed", { flow: f.key, why });
      this.unpublish(f.key);
    }
    // Removed from the map after the final segments (RST, last ACK) are flushed.
    this.dirty(f);
  }

  /** Deletes the flow's record when this server owns it (another owner's record stays). */
  private unpublish(key: string): void {
    const rec = this.store.get("tcp", key) as FlowRecord | null | undefined;
    if (rec && rec.o === this.node) this.store.delete("tcp", key);
  }

  /** Ends `f`'s tentative state (confirmed, closed or dropped); true when it was tentative. */
  private untentative(f: AnycastFlow): boolean {
    if (f.tentativeUntil === 0) return false;
    f.tentativeUntil = 0;
    this.tentatives--;
    return true;
  }

  /** Removes a flow without sending anything. */
  private drop(f: AnycastFlow): void {
    if (!f.closed) f.ep.forget();
    this.untentative(f);
    f.closed = true;
    this.flows.delete(f.key);
    this.pending.delete(f);
  }

  private flushNow(): void {
    this.armed = false;
    const now = performance.now();
    for (const f of this.pending) {
      const segs = f.ep.poll(now);
      if (f.tentativeUntil === 0) {
        // (a tentative flow sends nothing: see the header)
        const a = { src: f.addrs.local, dst: f.addrs.remote };
        for (let i = 0; i < segs.length; i++) this.write(a, segs[i]!);
        this.publish(f, false);
      }
      if (f.ep.state === "CLOSED") {
        f.closed = true;
        if (this.flows.get(f.key) === f) this.flows.delete(f.key);
      }
    }
    this.pending.clear();
  }

  private write(a: { src: Uint8Array; dst: Uint8Array }, seg: Segment): void {
    const n = buildPacket(this.out, a, seg);
    this.stats.segmentsOut++;
    if (!this.tun?.write(this.out.subarray(0, n))) this.stats.tunWriteErrors++;
  }

  private tick(): void {
    const now = performance.now();
    const idle = this.cfg.idleSeconds * 1000;
    for (const f of this.flows.values()) {
      if (f.tentativeUntil !== 0 && now >= f.tentativeUntil) {
        this.stats.tentativeExpired++;
        this.drop(f);
        continue;
      }
      if (f.mux === -1 && (now - f.openedAt > this.cfg.pendingMs || f.ep.counters.bytesIn > this.cfg.pendingBytes)) {
        // A handshake is no proof of a client: without an authenticated packet the flow holds no slot.
        this.stats.unauthenticated++;
        this.log.info("tcp flow without an authenticated packet: reset", { flow: f.key });
        f.ep.abort();
        this.pending.add(f);
        continue;
      }
      if (now - f.lastSegment > idle) {
        this.log.info("tcp flow idle: forgotten", { flow: f.key });
        this.drop(f);
        this.unpublish(f.key);
        continue;
      }
      if (f.ep.nextDeadline() <= now) this.pending.add(f);
      else if (now - f.published.at >= SYNC_MS) this.publish(f, false);
    }
    if (this.pending.size > 0) this.flushNow();
  }

  private unauthenticatedFlows(): number {
    let n = 0;
    for (const f of this.flows.values()) if (f.mux === -1 && !f.closed) n++;
    return n;
  }

  /** For /v1/tcp and metrics. */
  describe(): object[] {
    return [...this.flows.values()].map((f) => ({
      flow: f.key,
      mux: f.mux,
      state: f.ep.state,
      tentative: f.tentativeUntil !== 0,
      keepaliveMs: f.keepaliveMs,
      sndNxt: f.ep.sndNxt,
      rcvNxt: f.ep.rcvNxt,
      srttMs: Math.round(f.ep.srtt),
      rtoMs: Math.round(f.ep.rto),
      cwnd: f.ep.cwnd,
      buffered: f.ep.buffered,
      outOfOrderBytes: f.ep.heldBytes,
      counters: f.ep.counters,
      resyncs: f.reader.resyncs,
      skippedBytes: f.reader.skipped,
    }));
  }
}

const u32 = (x: unknown) => typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
const small = (x: unknown, max: number) => typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= max;

function isFlowRecord(v: unknown): v is FlowRecord {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    small(r.o, 0xffffffff) &&
    (r.m === -1 || small(r.m, 65535)) &&
    u32(r.is) &&
    u32(r.ir) &&
    u32(r.sn) &&
    u32(r.rn) &&
    small(r.ms, 65535) &&
    (r.ms as number) >= 64 &&
    small(r.ss, 14) &&
    small(r.rs, 14) &&
    small(r.k, 600000)
  );
}
