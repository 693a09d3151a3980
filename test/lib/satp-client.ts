// Test helpers: a SATP client on a loopback UDP socket built on the relay's own session module
// (satp/session.ts), and packet makers.
import { HEADER_LEN, PT_IPV4 } from "../../src/satp/codec.ts";
import { SatpCrypto } from "../../src/satp/crypto.ts";
import { receiverFor, SatpSession, type Receiver } from "../../src/satp/session.ts";
import { deriveMaster, type Suite } from "../../src/satp/suite.ts";

/** A client speaking SATP from a loopback UDP socket (role right, like `anytun -e client`). */
export class Client {
  readonly crypto: SatpCrypto;
  readonly got: Uint8Array[] = [];
  /** Datagrams that were not SATP for us (relay mode's raw traffic), with their source port. */
  readonly raw: { port: number; data: Uint8Array }[] = [];
  /** Control messages (payload type 0x88B5) received, without the type. */
  readonly control: Uint8Array[] = [];
  readonly session: SatpSession;
  sock!: Bun.udp.Socket<"buffer">;
  /** The last datagram `send` sent (what an on-path attacker captures). */
  last: Uint8Array = new Uint8Array(0);
  private readonly rx: Receiver;
  /** Next send seq (the session's; tests may set it). */
  get seq(): number {
    return this.session.seq;
  }
  set seq(n: number) {
    this.session.seq = n;
  }
  constructor(
    readonly mux: number,
    passphrase: string,
    opts: { key?: string; salt?: string; suite?: Suite } = {},
  ) {
    const suite = opts.suite ?? ({ cipher: "aes-ctr", auth: "sha1", tagLength: 10, kdPrf: "aes-ctr" } as const);
    const master = deriveMaster(suite.kdPrf, { passphrase, keyHex: opts.key, saltHex: opts.salt });
    this.crypto = new SatpCrypto(suite, master, "right");
    this.session = new SatpSession(this.crypto, mux, 0);
    this.rx = receiverFor(this.session);
  }
  async open(): Promise<void> {
    this.sock = await Bun.udpSocket({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        // ICMP errors (e.g. after sending to a released relay port) are expected here
        error: () => {},
        data: (_s, buf, port) => {
          const s = this.session;
          const n = this.rx.open(buf);
          if (n < 0) this.raw.push({ port, data: Uint8Array.from(buf) });
          if (n > 2) (s.type === 0x88b5 ? this.control : this.got).push(s.inner().slice());
        },
      },
    });
  }
  /** Sends `inner`; with a `mux` other than ours the header (and keys' IV) say that mux: a stranger's packet. */
  send(port: number, inner: Uint8Array, mux = this.mux, type = PT_IPV4): void {
    const buf = new Uint8Array(2048);
    let n: number;
    if (mux === this.mux) n = this.session.seal(buf, 0, type, inner);
    else {
      buf[HEADER_LEN] = type >>> 8;
      buf[HEADER_LEN + 1] = type & 255;
      buf.set(inner, HEADER_LEN + 2);
      n = this.crypto.seal(this.session.seq++, 0, mux, buf, inner.length + 2);
    }
    this.last = buf.slice(0, n);
    this.sock.send(this.last, port, "127.0.0.1");
  }
}

/** A minimal IPv4/UDP packet from src to dst (checksums are not looked at by the server). */
export function ipv4(src: string, dst: string, payload: string): Uint8Array {
  const body = new TextEncoder().encode(payload);
  const p = new Uint8Array(28 + body.length);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 255;
  p[8] = 64;
  p[9] = 17;
  p.set(src.split(".").map(Number), 12);
  p.set(dst.split(".").map(Number), 16);
  p.set(body, 28);
  return p;
}

export const until = async (what: string, ok: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await Bun.sleep(5);
  }
};

/** Sets the DSCP of an IPv4 packet in place. */
export function withDscp(p: Uint8Array, dscp: number): Uint8Array {
  p[1] = dscp << 2;
  return p;
}

/** Sends an inner IPv4 or IPv6 packet from `c`, with the payload type its version nibble says. */
export function sendInner(c: Client, port: number, inner: Uint8Array): void {
  const type = inner[0]! >>> 4 === 6 ? 0x86dd : PT_IPV4; // 0x86dd: PT_IPV6
  const buf = new Uint8Array(2048);
  const n = c.session.seal(buf, 0, type, inner);
  c.sock.send(buf.subarray(0, n), port, "127.0.0.1");
}
