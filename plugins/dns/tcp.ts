// DNS over TCP (RFC 7766) for the responder: the client's TCP connection to a service address,
// port 53, terminated here with the userspace TCP endpoint (src/tcp/). Each message is a 2-byte
// length and the DNS message (RFC 1035 4.2.2); several queries may come on one connection, one
// after the other or pipelined, and are answered in order (RFC 7766 6.2.1.1: the order is ours to
// choose; in order is what every client handles).
//
// Bounds (the options' tcp* keys; everything here is bounded by them):
//   - connections: at most `maxConnections` in all and `perClient` per tunnel client; a SYN over
//     either gets a RST and is counted (tcp-refused);
//   - bytes: at most `maxBytes` of query bytes buffered per connection (the receive window is that
//     large, so a client cannot push more; a message announced longer is answered with a RST:
//     tcp-oversize) and at most `maxBytes` of answers not yet acknowledged (the send buffer): a
//     client that does not read stops being read from, and the idle timeout ends it;
//   - time: a connection that brings no new query bytes and answers none within `idleMs` is closed
//     (FIN; RFC 7766 6.2.3), and aborted (RST) if it is still not closed `idleMs` later
//     (tcp-idle). A connection is not synced: after a route flip its next segment meets a server
//     without it and gets a RST, and the client's next query opens a new connection there.
//
// Who owns what: segments come in as views into the pipeline's packet (copied here when kept);
// what goes out is built in this room's buffer and handed to `send`, which copies (it seals).
import { TcpEndpoint } from "../../src/tcp/endpoint.ts";
import { formatIp } from "../../src/net/addr.ts";
import { buildPacket, packetRoom, RST, SYN, ACK, type Parsed } from "../../src/tcp/segment.ts";

export interface DnsTcpLimits {
  maxConnections: number;
  perClient: number;
  maxBytes: number;
  idleMs: number;
}

/** What the connections need from the plugin. */
export interface DnsTcpIo<C> {
  /** The answer to one message (a view valid until the next call), or null: send nothing. */
  answer(msg: Uint8Array): Uint8Array | null;
  /** Sends one inner packet to the client (copies it); false when it could not go. */
  send(to: C, pkt: Uint8Array): boolean;
  /** The RST answering `packet` as a closed port does (null for a reset). */
  reset(packet: Uint8Array): Uint8Array | null;
  count(e: DnsTcpEvent): void;
  /** A random initial sequence number. */
  iss(): number;
}

export const DNS_TCP_EVENTS = [
  "tcp-accepted",
  "tcp-closed",
  "tcp-refused",
  "tcp-oversize",
  "tcp-idle",
  "tcp-reset",
  "tcp-queries",
] as const;
export type DnsTcpEvent = (typeof DNS_TCP_EVENTS)[number];

interface Connection<C> {
  readonly client: C;
  readonly key: string;
  readonly addrs: { src: Uint8Array; dst: Uint8Array };
  readonly ep: TcpEndpoint;
  /** Query bytes received and not yet answered (at most maxBytes). */
  inbuf: Uint8Array;
  inLen: number;
  lastActivity: number;
  closingSince: number;
  peerClosed: boolean;
}

export class DnsTcp<C extends object> {
  private readonly byClient = new Map<C, Map<string, Connection<C>>>();
  private count = 0;
  private readonly out = new Uint8Array(packetRoom(65535));
  private readonly pending = new Set<Connection<C>>();

  /** The time of the segment or tick being handled (the endpoint's callbacks run inside it). */
  private now = 0;

  constructor(
    private readonly limits: DnsTcpLimits,
    private readonly io: DnsTcpIo<C>,
  ) {}

  get connections(): number {
    return this.count;
  }

  /** A TCP segment from `client` to a service address port 53 (checksums verified by the caller). */
  segment(client: C, p: Parsed, packet: Uint8Array, now: number): void {
    this.now = now;
    const seg = p.seg;
    const key = `${formatIp(p.src)}|${seg.srcPort}|${formatIp(p.dst)}`;
    const mine = this.byClient.get(client);
    let c = mine?.get(key);
    if (c === undefined) {
      if (seg.flags & RST) return;
      if (!(seg.flags & SYN) || seg.flags & ACK) return this.reset(client, packet);
      if (this.count >= this.limits.maxConnections || (mine?.size ?? 0) >= this.limits.perClient) {
        this.io.count("tcp-refused");
        return this.reset(client, packet);
      }
      c = this.open(client, key, p, now);
      this.io.count("tcp-accepted");
    } else c.ep.input(seg, now);
    this.pending.add(c);
    this.flush(now);
  }

  /** Timers: retransmissions, the idle timeout. Call every few tens of milliseconds. */
  tick(now: number): void {
    this.now = now;
    const idle = this.limits.idleMs;
    for (const m of this.byClient.values())
      for (const c of m.values()) {
        if (c.closingSince === 0 && now - c.lastActivity > idle) {
          c.closingSince = now;
          c.ep.close(now);
          this.pending.add(c);
        } else if (c.closingSince !== 0 && now - c.closingSince > idle) {
          this.io.count("tcp-idle");
          c.ep.abort();
          this.pending.add(c);
        } else if (c.ep.nextDeadline() <= now) this.pending.add(c);
      }
    if (this.pending.size > 0) this.flush(now);
  }

  /** Forgets every connection without a word (reload, shutdown; the clients' next segments get RSTs). */
  stop(): void {
    for (const m of this.byClient.values())
      for (const c of m.values()) {
        c.ep.forget();
        this.io.count("tcp-closed");
      }
    this.byClient.clear();
    this.pending.clear();
    this.count = 0;
  }

  private open(client: C, key: string, p: Parsed, now: number): Connection<C> {
    const seg = p.seg;
    const ep = TcpEndpoint.accept(
      {
        localPort: seg.dstPort,
        remotePort: seg.srcPort,
        iss: this.io.iss(),
        mss: 1200, // what we receive are queries: any MSS the tunnel carries will do
        receiveBuffer: this.limits.maxBytes,
        sendBuffer: this.limits.maxBytes,
        timeWaitMs: 1000,
        userTimeoutMs: this.limits.idleMs * 2,
      },
      seg,
      now,
      {
        // (called from input and poll, once `c` below exists)
        onData: (d) => this.received(c, d),
        onPeerClosed: () => {
          c.peerClosed = true; // answered what came before the FIN, then closed (flush)
        },
      },
    );
    const c: Connection<C> = {
      client,
      key,
      addrs: { src: p.dst.slice(), dst: p.src.slice() },
      ep,
      inbuf: new Uint8Array(0),
      inLen: 0,
      lastActivity: now,
      closingSince: 0,
      peerClosed: false,
    };
    let m = this.byClient.get(client);
    if (m === undefined) this.byClient.set(client, (m = new Map()));
    m.set(key, c);
    this.count++;
    return c;
  }

  private received(c: Connection<C>, d: Uint8Array): void {
    if (c.inLen + d.length > c.inbuf.length) {
      // the receive window (maxBytes) bounds what can arrive; grow to what is needed
      const grown = new Uint8Array(Math.min(this.limits.maxBytes, Math.max(512, 2 * (c.inLen + d.length))));
      if (c.inLen + d.length > grown.length) return this.oversize(c);
      grown.set(c.inbuf.subarray(0, c.inLen));
      c.inbuf = grown;
    }
    c.inbuf.set(d, c.inLen);
    c.inLen += d.length;
    c.lastActivity = this.now;
  }

  private oversize(c: Connection<C>): void {
    this.io.count("tcp-oversize");
    c.inLen = 0;
    c.ep.abort();
  }

  /**
   * Answers the complete messages buffered on `c`, as far as the send buffer takes them; true when
   * one still waits for room there.
   */
  private serve(c: Connection<C>, now: number): boolean {
    let at = 0;
    let blocked = false;
    while (c.inLen - at >= 2) {
      const len = (c.inbuf[at]! << 8) | c.inbuf[at + 1]!;
      if (len === 0 || len + 2 > this.limits.maxBytes) {
        this.oversize(c);
        return false;
      }
      if (c.inLen - at < 2 + len) break;
      const ans = this.io.answer(c.inbuf.subarray(at + 2, at + 2 + len));
      if (ans !== null) {
        const framed = new Uint8Array(2 + ans.length);
        framed[0] = ans.length >>> 8;
        framed[1] = ans.length & 255;
        framed.set(ans, 2);
        if (!c.ep.write(framed)) {
          blocked = true; // a slow reader: keep the query until its answers drain
          break;
        }
      }
      this.io.count("tcp-queries");
      c.lastActivity = now;
      at += 2 + len;
    }
    if (at > 0) {
      c.inbuf.copyWithin(0, at, c.inLen);
      c.inLen -= at;
    }
    return blocked;
  }

  private flush(now: number): void {
    for (const c of this.pending) {
      const st0 = c.ep.state;
      const blocked = (st0 === "ESTABLISHED" || st0 === "CLOSE-WAIT") && this.serve(c, now);
      if (c.peerClosed && !blocked && c.closingSince === 0 && c.ep.state === "CLOSE-WAIT") {
        c.closingSince = now;
        c.ep.close(now); // FIN after the answers queued
      }
      for (const s of c.ep.poll(now)) {
        const n = buildPacket(this.out, c.addrs, s);
        this.io.send(c.client, this.out.subarray(0, n));
      }
      const st = c.ep.state;
      if (st === "CLOSED" || st === "TIME-WAIT") this.remove(c);
    }
    this.pending.clear();
  }

  private remove(c: Connection<C>): void {
    const m = this.byClient.get(c.client);
    if (m?.get(c.key) !== c) return;
    if (c.ep.state !== "CLOSED") c.ep.forget();
    m.delete(c.key);
    if (m.size === 0) this.byClient.delete(c.client);
    this.count--;
    this.io.count("tcp-closed");
  }

  private reset(client: C, packet: Uint8Array): void {
    const rst = this.io.reset(packet);
    if (rst === null) return;
    this.io.count("tcp-reset");
    this.io.send(client, rst);
  }
}
