// Client side of the anycast-initialised unicast TCP transport (`--transport tcp-unicast`):
//   1. TCP to the anycast address (remoteHost:remotePort), INIT → REDIRECT (unicast address,
//      port, token), close;
//   2. TCP to that unicast address, INIT with the token → INIT_OK; framed SATP both ways;
//   3. when that connection ends (server died or drained), back to 1 through the anycast
//      address, so routing picks a live server; the gap is logged.
// It has the shape the peer role sends through (slot/queue) and hands every received packet
// to the peer's datagram handler; the peer passes control answers back with onControl().
import type { Logger } from "../log.ts";
import { formatIp } from "../net/addr.ts";
import { encodeControl, MSG, TLV, tlv, u16, type ControlMessage } from "../satp/control.ts";
import { dialFramed, type FramedConn } from "./tcp.ts";
import type { OnDatagram, UdpStats } from "./udp.ts";

export class TcpClientTransport {
  readonly stats: UdpStats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txErrors: 0 };
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

  constructor(
    private readonly anycast: { address: string; port: number },
    private readonly onDatagram: OnDatagram,
    /** Seals a control message body (payload type 0x88B5) with the peer's keys and next seq. */
    private readonly sealControl: (body: Uint8Array) => Uint8Array,
    private readonly log: Logger,
  ) {}

  get address(): string {
    return this.anycast.address;
  }
  get port(): number {
    return 0;
  }

  start(): void {
    void this.loop();
  }

  slot(): Uint8Array {
    return this.slotBuf;
  }

  queue(len: number): void {
    if (!this.up || this.conn === null || !this.conn.send(this.slotBuf.subarray(0, len))) {
      this.stats.txErrors++;
      return;
    }
    this.stats.txPackets++;
    this.stats.txBytes += len;
  }

  /** A control message the peer opened on one of our connections. */
  onControl(m: ControlMessage): void {
    if (this.waiting !== null && this.waiting.id === m.id) this.waiting.resolve(m);
  }

  close(): void {
    this.stopped = true;
    this.conn?.close("stopping");
  }

  private dial(address: string, port: number): Promise<FramedConn> {
    return dialFramed(
      address,
      port,
      (c, pkt) => {
        this.stats.rxPackets++;
        this.stats.rxBytes += pkt.length;
        this.onDatagram(pkt, c.remotePort, c.remoteAddress);
      },
      (c) => {
        if (c === this.conn) {
          this.up = false;
          this.conn = null;
        }
      },
    );
  }

  private ask(c: FramedConn, tlvs: ControlMessage["tlvs"]): Promise<ControlMessage | null> {
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
      c.send(this.sealControl(encodeControl({ type: MSG.INIT, id, tlvs })));
    });
  }

  private async loop(): Promise<void> {
    let delay = 100;
    while (!this.stopped) {
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
        this.conn = c;
        this.up = true;
        this.server = `${formatIp(addr)}:${port}`;
        if (this.everUp) {
          this.reconnects++;
          this.log.notice("re-initialised through the anycast address", {
            server: this.server,
            gapMs: Math.round(performance.now() - this.downSince),
          });
        } else this.log.notice("streaming over TCP", { server: this.server });
        this.everUp = true;
        delay = 100;
        await new Promise<void>((resolve) => {
          const check = setInterval(() => {
            if (!this.up || this.stopped) {
              clearInterval(check);
              resolve();
            }
          }, 20);
        });
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
}
