// Server side of the anycast-initialised unicast TCP transport. A client sends INIT (a SATP
// control message, authenticated like data) over TCP to the anycast address (or over UDP); the
// server that gets it answers REDIRECT: its own unicast address and port (`tcp.advertise`) and a
// token valid `tokenSeconds`. The client connects there, presents the token with INIT, gets
// INIT_OK, and streams framed SATP. Data on a TCP connection before a valid token is refused.
//
// Token (16 bytes): expiry (u32 BE, unix seconds) || HMAC-SHA256(key, mux u16 BE || expiry)[0..12].
// The key is random per process: a restarted or other server issues its own tokens, and the
// client re-initialises through the anycast address when its server goes away.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { TCPSocketListener } from "bun";
import { parseHostPort, type Config } from "../config.ts";
import { parseIp } from "../net/addr.ts";
import { be16, be32, ERR, MSG, TLV, tlv, u32, type ControlMessage } from "../satp/control.ts";
import type { Conn } from "../state.ts";
import type { Ingress } from "./link.ts";
import { listenFramed, type FramedConn, type OnStreamPacket } from "./tcp.ts";

export class TcpUnicast {
  readonly conns = new Set<FramedConn>();
  private readonly listeners: TCPSocketListener<unknown>[] = [];
  private readonly key = randomBytes(32);

  constructor(
    private readonly cfg: Config["tcp"],
    private readonly onPacket: OnStreamPacket<FramedConn>,
    private readonly countDrop: (reason: string) => void,
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
            this.onPacket,
            (c) => void this.conns.add(c),
            (c, why) => {
              this.conns.delete(c);
              if (why.startsWith("frame length")) this.countDrop("tcp-framing");
            },
          ) as TCPSocketListener<unknown>,
        );
      } catch (e) {
        throw new Error(`tcp.listen ${text}: ${(e as Error).message}`);
      }
    }
  }

  stop(): void {
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
