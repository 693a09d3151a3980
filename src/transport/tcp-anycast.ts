// Server side of full anycast TCP: clients open an ordinary TCP connection to the anycast
// address (IPv4 or IPv6); every server captures that address' TCP port through a TUN (policy rule, see
// src/capture.ts) and terminates the connection with the userspace endpoint of src/tcp/, so
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
// This file is the intake (capture device, segments in, cookies, opening and takeover); the table
// of flows (publication, confirmation, timers, flush): flow-table.ts; the flows themselves and
// their record "tcp": anycast-flow.ts.
import type { Config } from "../config.ts";
import { parseHostPort } from "../config.ts";
import type { Logger } from "../log.ts";
import { formatIp, parseIp } from "../net/addr.ts";
import { openCapture, type CaptureOptions, type PacketDevice } from "../capture.ts";
import type { SyncStore } from "../sync/store.ts";
import { SynCookies } from "../tcp/cookie.ts";
import { TcpEndpoint, type TcpOptions } from "../tcp/endpoint.ts";
import { ACK, buildReset, parsePacket, RST, SYN, type Segment } from "../tcp/segment.ts";
import { newIpView } from "../net/ip.ts";
import { FlowTable } from "./flow-table.ts";
import {
  AnycastFlow,
  isFlowRecord,
  plausible,
  stateOf,
  type FlowRecord,
  type TcpAnycastStats,
} from "./anycast-flow.ts";

export type { TcpAnycastStats };

const TENTATIVE_MS = 5000;
const TICK_MS = 10;

export class TcpAnycast extends FlowTable {
  private readonly captured = new Set<string>();
  /** The IP view of the segment being handled (parsed once; a reset reads it too). */
  private readonly view = newIpView();
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly cookies: SynCookies;

  constructor(
    cfg: Config["tcp"],
    node: number,
    store: SyncStore,
    /** Hands one SATP packet of `flow` to the server; false when it did not authenticate. */
    deliver: (flow: AnycastFlow, pkt: Uint8Array) => boolean,
    log: Logger,
    /** Is a client with this mux configured (resync plausibility before a flow knows its client)? */
    knownMux: (mux: number) => boolean,
    /** The SYN cookie secret, the same on every server of the anycast group (from the fleet key). */
    cookieSecret: Uint8Array,
    clock: () => number = Date.now,
    /** Workers: this worker (its capture TUN is one queue of a multi-queue device). */
    private readonly worker: { index: number; count: number } | null = null,
    /** The capture device (a fake in tests). */
    private readonly openDevice: (o: CaptureOptions) => PacketDevice = openCapture,
  ) {
    super(cfg, node, store, deliver, log, knownMux);
    this.cookies = new SynCookies(cookieSecret, clock);
    for (const hp of cfg.capture) {
      const { host, port } = parseHostPort(hp);
      const a = parseIp(host);
      // keyed as segments are (formatIp), so "2001:DB8:0::1" in the config matches
      this.captured.add(`${a === null ? host : formatIp(a)}|${port}`);
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
  }

  get enabled(): boolean {
    return this.captured.size > 0;
  }

  /** Opens the capture device (capture.ts: TUN and kernel setup); throws naming what is missing. */
  start(): void {
    if (!this.enabled) return;
    const c = this.cfg;
    let dev: PacketDevice;
    try {
      dev = this.openDevice({
        dev: c.captureDev,
        targets: c.capture.map((hp) => {
          const { host, port } = parseHostPort(hp);
          return { address: host, ports: [port, port] as [number, number], protos: ["tcp" as const], icmp: false };
        }),
        setup: c.captureSetup,
        table: c.captureTable,
        pref: c.capturePref,
        worker: this.worker,
      });
    } catch (e) {
      throw new Error(`tcp.capture ${c.capture.join(", ")}: ${(e as Error).message}`);
    }
    this.tun = dev;
    dev.start((pkt) => this.onPacket(pkt));
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.log.notice("capturing", { capture: c.capture.join(","), dev: dev.name });
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
  }

  /** Settings that a reload may change (buffers, keep-alive bounds, limits) for new flows; the capture itself needs a restart. */
  reconfigure(cfg: Config["tcp"]): void {
    this.cfg = cfg;
  }

  /** The settings in force (what reconfigure last gave). */
  get settings(): Readonly<Config["tcp"]> {
    return this.cfg;
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
    const p = parsePacket(pkt, this.view);
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
      const rst = buildReset(pkt, this.view); // the view onPacket filled for this packet
      if (rst !== null) {
        this.stats.resets++;
        this.stats.segmentsOut++;
        if (!this.tun?.write(rst)) this.stats.tunWriteErrors++;
      }
      return undefined;
    }
    if (
      !plausible(rec, seg, this.cfg.buffer) ||
      this.flows.size >= this.cfg.maxFlows ||
      this.tentatives >= Math.max(1, this.cfg.maxFlows >> 2)
    ) {
      this.stats.refused++;
      return undefined;
    }
    const st = stateOf(rec);
    const f = this.newFlow(key, remote, p);
    f.mux = rec.m;
    f.keepaliveMs = rec.k;
    f.gen = Math.min((rec.g ?? 0) + 1, 0xffffffff);
    f.ep = TcpEndpoint.adopt(this.options(seg.srcPort, seg.dstPort), st, seg, now, this.hooks(f));
    f.tentativeUntil = now + TENTATIVE_MS;
    this.tentatives++;
    this.flows.set(key, f);
    this.stats.tentative++;
    this.log.debug("tcp flow takeover pending", { flow: key, from: rec.o, mux: rec.m });
    f.ep.input(seg, now); // its data (if any) and ACK, now in ESTABLISHED
    return f;
  }
}
