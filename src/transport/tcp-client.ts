// Client side of the TCP transports.
// `--transport tcp-unicast` (anycast-initialised unicast TCP):
//   1. TCP to the anycast address (remoteHost:remotePort), INIT → REDIRECT (unicast address,
//      port, token), close;
//   2. TCP to that unicast address, INIT with the token → INIT_OK; framed SATP both ways;
//   3. when that connection ends (server died or drained), back to 1 through the anycast
//      address, so routing picks a live server; the gap is logged.
// `--transport tcp-anycast` (full anycast TCP): one ordinary kernel TCP connection to the
//   anycast address, framed SATP both ways. When routing moves it to another server, that server
//   takes the flow over (src/transport/tcp-anycast.ts) and this socket never notices, except that
//   the byte stream may resume mid-frame: the reader is lenient and resyncs on the next frame
//   that authenticates (framing.ts). Only a closed connection makes it reconnect (logged).
// Both: KEEPALIVE_REQ asks the server for `keepaliveMs`; whenever nothing was sent for the
// agreed interval a SATP keepalive goes out (NAT routers stay open; a server that now gets the
// flow takes it over within one interval). tcp-anycast also probes a stall: when packets stop
// arriving after traffic, a keepalive goes out after `probeMs` (up to 5, spaced by it), because
// a server that now has the route cannot send down a flow it has not taken over yet, and it
// takes it over on the client's next segment.
// It is the peer role's PeerOut (src/peer.ts: slot/queue) and hands every received packet
// to the peer's datagram handler; the peer passes control answers back with onControl().
import type { Logger } from "../log.ts";
import { formatIp } from "../net/addr.ts";
import { be32, encodeControl, MSG, TLV, tlv, u16, u32, type ControlMessage } from "../satp/control.ts";
import { dialFramed, type FramedConn } from "./tcp.ts";
import type { OnDatagram, UdpStats } from "./udp.ts";

export class TcpClientTransport {
  readonly stats: UdpStats = {
    rxPackets: 0,
    rxBytes: 0,
    txPackets: 0,
    txBytes: 0,
    txErrors: 0,
    rxCallbackErrors: 0,
    rxGroRuns: 0,
  };
  private readonly slotBuf = new Uint8Array(2048);
  private conn: FramedConn | null = null;
  private up = false;
  private stopped = false;
  private nextId = 1;
  private waiting: { id: number; resolve: (m: ControlMessage | null) => void } | null = null;
  private downSince = 0;
  private everUp = false;
  reconnects = 0;
  server = "";
  /** Keep-alive interval agreed with the server (ms). */
  keepaliveMs: number;
  private lastSent = 0;
  private kaTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly anycast: { address: string; port: number },
    private readonly onDatagram: OnDatagram,
    /** Seals a control message body (payload type 0x88B5) with the peer's keys and next seq. */
    private readonly sealControl: (body: Uint8Array) => Uint8Array,
    private readonly log: Logger,
    private readonly mode: "tcp-unicast" | "tcp-anycast" = "tcp-unicast",
    /** Seals a SATP keepalive (no payload) with the peer's keys and next seq. */
    private readonly sealKeepalive: (() => Uint8Array) | null = null,
    askKeepaliveMs = 10000,
    private readonly probeMs = 0,
    /** Resync: does a candidate SATP header (at `at`) carry our mux? */
    private readonly plausible: ((b: Uint8Array, at: number) => boolean) | null = null,
  ) {
    this.keepaliveMs = askKeepaliveMs;
  }

  private lastRecv = 0;
  private probes = 0;

  /** Lenient-reader counters of the current connection (tcp-anycast). */
  get resync(): { skipped: number; resyncs: number } {
    return this.conn?.resync ?? { skipped: 0, resyncs: 0 };
  }

  /** PeerOut (src/peer.ts): no fixed local port; what the "listening" line shows. */
  readonly localPort = 0;
  get label(): string {
    return `${this.mode} ${this.anycast.address}:${this.anycast.port}`;
  }

  start(): void {
    void this.loop();
  }

  slot(): Uint8Array {
    return this.slotBuf;
  }

  /** Sends the first `len` bytes of the last slot on the current connection (a stream: no address). */
  queue(len: number): void {
    if (!this.up || this.conn === null || !this.conn.sendPacket(this.slotBuf.subarray(0, len))) {
      this.stats.txErrors++;
      return;
    }
    this.lastSent = performance.now();
    this.stats.txPackets++;
    this.stats.txBytes += len;
  }

  /** A control message the peer opened on one of our connections. */
  onControl(m: ControlMessage): void {
    if (this.waiting !== null && this.waiting.id === m.id) this.waiting.resolve(m);
  }

  close(): void {
    this.stopped = true;
    if (this.kaTimer) clearInterval(this.kaTimer);
    this.conn?.close("stopping");
  }

  private dial(address: string, port: number): Promise<FramedConn> {
    return dialFramed(
      address,
      port,
      (c, pkt) => {
        this.stats.rxPackets++;
        this.stats.rxBytes += pkt.length;
        this.lastRecv = performance.now();
        this.probes = 0;
        return this.onDatagram(pkt, c.remotePort, c.remoteAddress);
      },
      (c) => {
        if (c === this.conn) {
          this.up = false;
          this.conn = null;
        }
      },
      this.mode === "tcp-anycast",
      this.plausible,
    );
  }

  /** Asks for the keep-alive interval and keeps the connection from going quiet for longer. */
  private async keepalive(c: FramedConn): Promise<void> {
    const r = await this.ask(c, [{ t: TLV.INTERVAL_MS, v: be32(this.keepaliveMs) }], MSG.KEEPALIVE_REQ);
    const ms = r?.type === MSG.KEEPALIVE_ACK ? u32(tlv(r, TLV.INTERVAL_MS)) : undefined;
    if (ms !== undefined && ms > 0) this.keepaliveMs = ms;
    this.log.info("keep-alive interval agreed", { ms: this.keepaliveMs, answered: r !== null });
    if (this.kaTimer) clearInterval(this.kaTimer);
    const seal = this.sealKeepalive;
    if (seal === null) return;
    const probe = this.mode === "tcp-anycast" ? this.probeMs : 0;
    this.kaTimer = setInterval(
      () => {
        const conn = this.conn;
        if (!this.up || conn === null) return;
        const now = performance.now();
        const stalled = probe > 0 && this.probes < 5 && now - this.lastRecv > probe * (this.probes + 1);
        if (!stalled && now - this.lastSent < this.keepaliveMs) return;
        if (stalled) this.probes++;
        if (conn.sendPacket(seal())) this.lastSent = now;
      },
      probe > 0 ? Math.max(20, Math.floor(probe / 3)) : Math.max(50, Math.floor(this.keepaliveMs / 4)),
    );
    (this.kaTimer as unknown as { unref?: () => void }).unref?.();
  }

  private ask(c: FramedConn, tlvs: ControlMessage["tlvs"], type: number = MSG.INIT): Promise<ControlMessage | null> {
    const id = this.nextId++ & 0xffff;
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(null), 2000);
      this.waiting = {
        id,
        resolve: (m) => {
          clearTimeout(t);
          this.waiting = null;
          resolve(m);
        },
      };
      c.sendPacket(this.sealControl(encodeControl({ type, id, tlvs })));
    });
  }

  private async loop(): Promise<void> {
    let delay = 100;
    while (!this.stopped) {
      if (this.mode === "tcp-anycast") {
        if (!(await this.anycastOnce())) {
          this.log.info("tcp-anycast: retrying", { inMs: delay });
          await Bun.sleep(delay);
          delay = Math.min(2000, delay * 2);
        } else delay = 100;
        continue;
      }
      try {
        const init = await this.dial(this.anycast.address, this.anycast.port);
        const r = await this.ask(init, []);
        init.close("initialised");
        if (r === null || r.type !== MSG.REDIRECT)
          throw new Error(r === null ? "no answer to INIT" : `INIT answered with type ${r.type}`);
        const addr = tlv(r, TLV.UNICAST_ADDR);
        const port = u16(tlv(r, TLV.UNICAST_PORT));
        const token = tlv(r, TLV.TOKEN);
        if (addr === undefined || port === undefined || token === undefined) throw new Error("malformed REDIRECT");
        const c = await this.dial(formatIp(addr), port);
        const ok = await this.ask(c, [{ t: TLV.TOKEN, v: token }]);
        if (ok === null || ok.type !== MSG.INIT_OK) {
          c.close("refused");
          throw new Error("the unicast server refused the token");
        }
        this.linkUp(c, `${formatIp(addr)}:${port}`, "re-initialised through the anycast address", "streaming over TCP");
        delay = 100;
        void this.keepalive(c);
        await this.untilDown();
        if (this.stopped) return;
        this.downSince = performance.now();
        this.log.warn("TCP connection lost; re-initialising through the anycast address", { server: this.server });
      } catch (e) {
        if (this.everUp && this.downSince === 0) this.downSince = performance.now();
        this.log.info("tcp-unicast: retrying", { error: (e as Error).message, inMs: delay });
        await Bun.sleep(delay);
        delay = Math.min(2000, delay * 2);
      }
    }
  }

  /** `c` to `server` carries the tunnel now: a reconnect is counted and logged with its gap. */
  private linkUp(c: FramedConn, server: string, again: string, first: string): void {
    this.conn = c;
    this.up = true;
    this.server = server;
    if (this.everUp) {
      this.reconnects++;
      this.log.notice(again, { server, gapMs: Math.round(performance.now() - this.downSince) });
    } else this.log.notice(first, { server });
    this.everUp = true;
  }

  /** Resolves once the current connection is gone or the transport stops. */
  private async untilDown(): Promise<void> {
    while (this.up && !this.stopped) await Bun.sleep(20);
  }

  /** One tcp-anycast connection, start to end; false when it could not be opened. */
  private async anycastOnce(): Promise<boolean> {
    let c: FramedConn;
    try {
      c = await this.dial(this.anycast.address, this.anycast.port);
    } catch (e) {
      if (this.everUp && this.downSince === 0) this.downSince = performance.now();
      this.log.info("tcp-anycast: connect failed", { error: (e as Error).message });
      return false;
    }
    this.linkUp(
      c,
      `${this.anycast.address}:${this.anycast.port}`,
      "reconnected to the anycast address",
      "streaming over TCP to the anycast address",
    );
    void this.keepalive(c);
    await this.untilDown();
    if (this.stopped) return true;
    this.downSince = performance.now();
    this.log.warn("TCP connection lost; reconnecting to the anycast address", { server: this.server });
    return true;
  }
}
