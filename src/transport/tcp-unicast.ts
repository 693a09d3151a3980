// Server side of the anycast-initialised unicast TCP transport. A client sends INIT (a SATP
// control message, authenticated like data) over TCP to the anycast address (or over UDP); the
// server that gets it answers REDIRECT: its own unicast address and port (`tcp.advertise`) and a
// token valid `tokenSeconds`. The client connects there, presents the token with INIT, gets
// INIT_OK, and streams framed SATP. Data on a TCP connection before a valid token is refused.
//
// Token (16 bytes): expiry (u32 BE, unix seconds) || HMAC-SHA256(key, mux u16 BE || expiry)[0..12].
// The key is random per process: a restarted or other server issues its own tokens, and the
// client re-initialises through the anycast address when its server goes away.
//
// Before a valid token a connection costs bounded state: at most tcp.maxPending of them, each
// closed after tcp.pendingMs or once it sent tcp.pendingBytes (counted tcp-pending-full /
// -timeout / -bytes), so a flood of idle or chatty connections cannot starve real clients.
import { bindError } from "../net/bind.ts";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { TCPSocketListener } from "bun";
import { parseHostPort, type Config } from "../config.ts";
import { parseIp } from "../net/addr.ts";
import { be16, be32, ERR, MSG, TLV, tlv, u32, type ControlMessage } from "../satp/control.ts";
import type { Conn } from "../state.ts";
import type { Ingress } from "./link.ts";
import type { DropReason } from "../drops.ts";
import { listenFramed, type FramedConn, type OnStreamPacket } from "./tcp.ts";

export class TcpUnicast {
  readonly conns = new Set<FramedConn>();
  /** Connections without a valid token yet, with when they opened. */
  private readonly pending = new Map<FramedConn, number>();
  private sweep: ReturnType<typeof setInterval> | null = null;
  private readonly listeners: TCPSocketListener<unknown>[] = [];
  constructor(
    private readonly cfg: Config["tcp"],
    private readonly onPacket: OnStreamPacket<FramedConn>,
    private readonly countDrop: (reason: DropReason) => void,
    /** The token key: one per anycast group (a worker sibling may get the redirected connection). */
    private readonly key: Uint8Array = randomBytes(32),
    private readonly reusePort = false,
  ) {}

  /** Binds every `tcp.listen` address; throws (naming it) when one cannot be bound. */
  start(): void {
    for (const text of this.cfg.listen) {
      const { host, port } = parseHostPort(text);
      try {
        this.listeners.push(
          listenFramed(
            host,
            port,
            (c, pkt) => this.packet(c, pkt),
            (c) => this.opened(c),
            (c, why) => {
              this.conns.delete(c);
              this.pending.delete(c);
              if (why.startsWith("frame length")) this.countDrop("tcp-framing");
            },
            this.reusePort,
          ) as TCPSocketListener<unknown>,
        );
      } catch (e) {
        throw bindError(`tcp.listen ${text} (TCP)`, e);
      }
    }
  }

  private opened(c: FramedConn): void {
    if (this.pending.size >= this.cfg.maxPending) {
      this.countDrop("tcp-pending-full");
      c.close("too many connections without a token");
      return;
    }
    this.conns.add(c);
    this.pending.set(c, performance.now());
    if (this.sweep === null) {
      this.sweep = setInterval(() => this.expire(), Math.min(1000, this.cfg.pendingMs));
      (this.sweep as unknown as { unref?: () => void }).unref?.();
    }
  }

  private packet(c: FramedConn, pkt: Uint8Array): boolean | void {
    if (!c.tokenOk && c.stats.bytesIn > this.cfg.pendingBytes) {
      this.countDrop("tcp-pending-bytes");
      c.close("too many bytes without a token");
      return true;
    }
    const r = this.onPacket(c, pkt);
    if (c.tokenOk) this.pending.delete(c);
    return r;
  }

  private expire(): void {
    const limit = performance.now() - this.cfg.pendingMs;
    for (const [c, at] of this.pending)
      if (c.tokenOk) this.pending.delete(c);
      else if (at < limit) {
        this.countDrop("tcp-pending-timeout");
        c.close("no token in time");
      }
  }

  stop(): void {
    if (this.sweep !== null) clearInterval(this.sweep);
    this.sweep = null;
    for (const l of this.listeners) l.stop(true);
    for (const c of [...this.conns]) c.close("stopping");
  }

  /** Answers INIT (see the header); `via` is where it came from (only a TCP connection can take a token). */
  init(conn: Conn, msg: ControlMessage, via: Ingress): ControlMessage {
    const err = (code: number, text: string): ControlMessage => ({
      type: MSG.ERROR,
      id: msg.id,
      tlvs: [
        { t: TLV.ERROR_CODE, v: be16(code) },
        { t: TLV.ERROR_TEXT, v: new TextEncoder().encode(text) },
      ],
    });
    if (this.cfg.advertise === undefined) return err(ERR.UNKNOWN, "no TCP transport on this server");
    const token = tlv(msg, TLV.TOKEN);
    if (token === undefined) {
      const exp = Math.floor(Date.now() / 1000) + this.cfg.tokenSeconds;
      const { host, port } = parseHostPort(this.cfg.advertise);
      return {
        type: MSG.REDIRECT,
        id: msg.id,
        tlvs: [
          { t: TLV.UNICAST_ADDR, v: parseIp(host)! },
          { t: TLV.UNICAST_PORT, v: be16(port) },
          { t: TLV.TOKEN, v: this.token(conn.mux, exp) },
          { t: TLV.LIFETIME, v: be32(this.cfg.tokenSeconds) },
        ],
      };
    }
    const exp = u32(token.subarray(0, 4));
    if (token.length !== 16 || exp === undefined || exp < Date.now() / 1000)
      return err(ERR.REFUSED, "token expired or malformed");
    if (!timingSafeEqual(this.token(conn.mux, exp), token)) return err(ERR.REFUSED, "token not issued by this server");
    if (via.grantData === undefined) return err(ERR.REFUSED, "present the token on the TCP connection");
    via.grantData();
    return { type: MSG.INIT_OK, id: msg.id, tlvs: [{ t: TLV.LIFETIME, v: be32(exp - Math.floor(Date.now() / 1000)) }] };
  }

  private token(mux: number, exp: number): Uint8Array {
    const mac = createHmac("sha256", this.key).update(be16(mux)).update(be32(exp)).digest();
    const out = new Uint8Array(16);
    out.set(be32(exp), 0);
    out.set(mac.subarray(0, 12), 4);
    return out;
  }
}
