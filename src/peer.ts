// Point-to-point peer role (anytun's default mode): one SATP connection between a local TUN/TAP
// device and one remote endpoint over UDP. Compared with anytun 0.3.8, on purpose:
//  - the remote endpoint is learned or moved only by an authenticated packet that is the newest
//    from its sender id (anytun pins the connection to the first datagram it sees, forged or not;
//    a replayed packet moves nothing here, even with the window off);
//  - packets with a mux other than ours are dropped (anytun adopts the first packet's mux);
//  - the sender refuses to go past 2^32 packets under one key instead of wrapping seq to 0;
//  - `route` prefixes of any length filter what is sent (anytun ignores -R in this mode).
import { hostPortText } from "./net/addr.ts";
import { bindError } from "./net/bind.ts";
import { writeFileSync } from "node:fs";
import { connectionSession, noiseSession, resolveRemote, type Endpoint } from "./client.ts";
import { noiseReceiverFor } from "./noise/crypto.ts";
import { NoiseClient } from "./noise/client.ts";
import { TYPE_TRANSPORT } from "./noise/wire.ts";
import type { Config } from "./config.ts";
import { udpTuning } from "./transport/sockopt.ts";
import { newDrops, type Drops } from "./drops.ts";
import type { Logger } from "./log.ts";
import { parseCidr } from "./net/addr.ts";
import { newIpView, parseIpHeader } from "./net/ip.ts";
import { PrefixTable } from "./net/lpm.ts";
import { PathMtu } from "./net/pmtu.ts";
import { OFF_MUX, payloadTypeOf, PT_CONTROL, typeFitsDevice } from "./satp/codec.ts";
import { decodeControl, type ControlMessage } from "./satp/control.ts";
import {
  authentic,
  countRx,
  countSeal,
  receiverFor,
  SEAL_EXHAUSTED,
  type SessionReceiver,
  type SatpSession,
} from "./satp/session.ts";
import { configureLink, openTun, type TunDevice } from "./tun.ts";
import { UdpTransport, type UdpStats } from "./transport/udp.ts";
import { TcpClientTransport } from "./transport/tcp-client.ts";

export type { Endpoint };

export interface PeerStats {
  device: string;
  endpoint: Endpoint | null;
  seq: number;
  keepalivesIn: number;
  endpointChanges: number;
  drops: Drops;
  udp: UdpStats;
  tun: TunDevice["stats"];
}

export interface Peer {
  readonly device: string;
  readonly localPort: number;
  stats(): PeerStats;
  stop(): void;
}

/** The client-side seam: where the peer's sealed packets go (a UDP socket, or a TCP client transport). */
export interface PeerOut {
  /** A buffer to seal one packet into; the transport's, valid until `queue`. */
  slot(): Uint8Array;
  /** Sends the first `len` bytes of the last slot to (address, port) — a stream ignores both. */
  queue(len: number, port: number, address: string): void;
  readonly stats: UdpStats;
  /** Local UDP port; 0 for a TCP transport (its connections come and go). */
  readonly localPort: number;
  /** For the "listening" log line. */
  readonly label: string;
  close(): void;
}

/**
 * The peer role's per-packet work, both directions, without sockets or devices: `receive` for a
 * datagram (or framed packet) from the network, `fromDevice` for a packet read from the TUN/TAP.
 * The fuzzers drive this same object.
 */
export class PeerPath {
  readonly drops: Drops = newDrops();
  /** Scratch view of the packet being routed. */
  private readonly view = newIpView();
  keepalivesIn = 0;
  endpointChanges = 0;
  /** Control messages (answers from the server) go here. */
  onControl: ((m: ControlMessage) => void) | null = null;
  out: PeerOut | null = null;
  /** Date.now() of the last authenticated packet in, and of the last packet out (the Noise client's timers). */
  lastReceived = 0;
  lastSent = 0;
  private readonly rx: SessionReceiver;
  private exhaustedLogged = false;

  constructor(
    readonly session: SatpSession,
    private readonly senderId: number,
    private readonly tap: boolean,
    private readonly routes: PrefixTable<true>,
    private readonly device: Pick<TunDevice, "write" | "queue">,
    private readonly log: Logger,
    public endpoint: Endpoint | null,
    /** The device's MTU rule (net/pmtu.ts): a larger packet that may not be fragmented gets a too-big error back. */
    private readonly mtu: Pick<Config, "mtu" | "icmpRate"> | null = null,
    /** The receive prologue; default SATP's for `session` (the Noise suite passes its own). */
    rx?: SessionReceiver,
  ) {
    this.rx = rx ?? receiverFor(session);
  }

  /** Too-big packets from the device and the errors sent for them (net/pmtu.ts). */
  readonly pmtu = new PathMtu();

  /** One datagram; false when it did not authenticate (a TCP stream's reader resyncs on that). */
  receive(buf: Uint8Array, port: number, address: string): boolean {
    const n = this.rx.open(buf);
    if (n < 0) {
      countRx(n, this.drops);
      return authentic(n);
    }
    this.lastReceived = Date.now();
    const ep = this.endpoint;
    if (this.session.newest && (ep === null || ep.port !== port || ep.address !== address)) {
      this.log.notice(ep === null ? "peer endpoint learned" : "peer endpoint changed", {
        from: ep ? `${ep.address}:${ep.port}` : undefined,
        to: `${address}:${port}`,
      });
      this.endpoint = { address, port };
      this.endpointChanges++;
    }
    if (n === 0) {
      this.keepalivesIn++;
      return true;
    }
    const s = this.session;
    if (s.type === PT_CONTROL) {
      const m = decodeControl(s.inner());
      if (m !== null && this.onControl !== null) this.onControl(m);
      else this.drops.type++; // malformed, or a control message this role does not take
      return true;
    }
    if (!typeFitsDevice(s.type, this.tap)) {
      this.drops.type++;
      return true;
    }
    // queued: a TUN is written once per turn, runs of one flow as one packet (tun-batch.ts);
    // a write the kernel refuses later counts in the device's txErrors (stats() reports it as tunwrite)
    this.device.queue(s.inner());
    return true;
  }

  /** One packet from the device: routed (`route` prefixes), sealed, queued to the peer. */
  fromDevice(pkt: Uint8Array): void {
    const drops = this.drops;
    const type = payloadTypeOf(pkt, this.tap);
    if (type === 0) {
      drops.badinner++;
      return;
    }
    if (this.mtu !== null && !this.tap && pkt.length > this.mtu.mtu) {
      // the device's MTU was raised past the tunnel's (`mtu`): answer as a router would
      const big = this.pmtu.tooBig(pkt, this.mtu, performance.now());
      if (big !== null) {
        if (big !== "drop") this.device.write(big); // a refusal counts in the device's txErrors
        return;
      }
    }
    if (this.routes.size > 0) {
      const v = this.view;
      if (this.tap || parseIpHeader(pkt, v) !== null || this.routes.lookup(pkt, v.dstOff, v.family) === undefined) {
        drops.noroute++;
        return;
      }
    }
    const ep = this.endpoint;
    if (ep === null || this.out === null) {
      drops.noendpoint++;
      return;
    }
    const slot = this.out.slot();
    const len = this.session.seal(slot, this.senderId, type, pkt);
    if (len < 0) {
      countSeal(len, drops);
      if (len === SEAL_EXHAUSTED && !this.exhaustedLogged) {
        this.exhaustedLogged = true;
        this.log.error("sent 2^32 packets under this key: refusing to reuse sequence numbers; restart with a new key");
      }
      return;
    }
    this.out.queue(len, ep.port, ep.address);
    this.lastSent = Date.now();
  }

  /** A keepalive (no payload) to the peer's endpoint, when it is known. */
  keepalive(): void {
    const ep = this.endpoint;
    if (ep === null || this.out === null) return;
    const len = this.session.seal(this.out.slot(), this.senderId, 0, EMPTY);
    if (len < 0) return countSeal(len, this.drops);
    this.out.queue(len, ep.port, ep.address);
    this.lastSent = Date.now();
  }

  /** An unsealed packet (a Noise handshake message) to the peer's endpoint. */
  sendRaw(pkt: Uint8Array): void {
    const ep = this.endpoint;
    if (ep === null || this.out === null) return;
    this.out.slot().set(pkt);
    this.out.queue(pkt.length, ep.port, ep.address);
  }

  /** A sealed control message or keepalive (empty body) for the TCP client transport. */
  sealControl(buf: Uint8Array, body: Uint8Array | null): Uint8Array {
    const len = this.session.seal(buf, this.senderId, body === null ? 0 : PT_CONTROL, body ?? EMPTY);
    return buf.subarray(0, Math.max(0, len));
  }
}

const EMPTY = new Uint8Array(0);

/** Opens the device and socket and starts forwarding. Throws Error with a clear message on setup failure. */
export async function startPeer(cfg: Config, log: Logger): Promise<Peer> {
  const noise = cfg.protocol === "noise" ? noiseSession(cfg, log) : null;
  const { session, counters } = noise ?? connectionSession(cfg, log);
  const tap = cfg.type === "tap";
  const routes = new PrefixTable<true>();
  for (const r of cfg.route) routes.set(parseCidr(r, true), true);
  if (session.windowSize === 0)
    log.warn(
      "replay window off (-w 0, anytun's default): a replayed packet is delivered again (it moves nothing); set crypto.window (-w) to refuse replays",
    );

  let tun: ReturnType<typeof openTun>;
  let endpoint: Endpoint | null;
  try {
    endpoint = cfg.remoteHost === undefined ? null : await resolveRemote(cfg);
    tun = openTun({ name: cfg.dev ?? (tap ? "tap%d" : "tun%d"), tap, batch: !tap, offload: !tap && cfg.tunOffload });
  } catch (e) {
    counters.release();
    throw e;
  }
  let udp: PeerOut | undefined;
  try {
    if (cfg.ifconfig !== undefined) configureLink(tun.name, { address: cfg.ifconfig, mtu: cfg.mtu, up: true });
    log.notice("device opened", { dev: tun.name, type: cfg.type, ifconfig: cfg.ifconfig });

    const rx = noise === null ? undefined : noiseReceiverFor(noise.session);
    const path = new PeerPath(session, cfg.senderId, tap, routes, tun, log, endpoint, cfg, rx);
    const hs =
      noise === null
        ? null
        : new NoiseClient(noise.key, noise.server, noise.session, {
            send: (p) => path.sendRaw(p),
            keepalive: () => path.keepalive(),
            lastReceived: () => path.lastReceived,
            lastSent: () => path.lastSent,
          });
    if (hs !== null)
      hs.onSilent = (n) =>
        log.warn(
          "no answer to the Noise handshake: is remote-port the servers' noise.listen port and --server-public-key theirs?",
          {
            initiations: n,
            remote: endpoint ? hostPortText(endpoint.address, endpoint.port) : undefined,
          },
        );
    const onDatagram = (buf: Uint8Array, port: number, address: string) => {
      if (hs !== null && buf.length > 0 && buf[0] !== TYPE_TRANSPORT) return void hs.receive(buf);
      return path.receive(buf, port, address);
    };
    const onUdpError = (e: Error) => log.debug("udp socket error", { error: e.message });
    const host = cfg.interface ?? (cfg.ipv4Only ? "0.0.0.0" : "::");
    if (cfg.transport !== "udp") {
      const ctl = new Uint8Array(2048);
      const mux = session.mux;
      const tcp = new TcpClientTransport(
        endpoint!,
        onDatagram,
        (body) => path.sealControl(ctl, body),
        log,
        cfg.transport,
        () => path.sealControl(ctl, null),
        cfg.tcpKeepaliveMs,
        cfg.tcpProbeMs,
        (b, at) => ((b[at + OFF_MUX]! << 8) | b[at + OFF_MUX + 1]!) === mux,
      );
      path.onControl = (m) => tcp.onControl(m);
      udp = tcp;
      tcp.start();
    } else
      try {
        udp = udpOut(await UdpTransport.open(host, cfg.port, onDatagram, onUdpError, udpTuning(cfg)));
      } catch (e) {
        const text = hostPortText(host, cfg.port);
        if (cfg.interface !== undefined || cfg.ipv6Only || /EADDRINUSE|EACCES/.test(String(e)))
          throw bindError(`local port ${text} (UDP; -i/-p)`, e);
        try {
          udp = udpOut(await UdpTransport.open("0.0.0.0", cfg.port, onDatagram, onUdpError, udpTuning(cfg))); // no IPv6 on this host
        } catch (e2) {
          throw bindError(`local port 0.0.0.0:${cfg.port} (UDP; -i/-p)`, e2);
        }
      }
    path.out = udp;
    log.notice("listening", {
      via: udp.label,
      remote: endpoint ? `${endpoint.address}:${endpoint.port}` : "learn",
    });
    tun.start((pkt) => path.fromDevice(pkt));
    hs?.start();

    if (cfg.postUpScript !== undefined) runPostUp(cfg.postUpScript, tun.name, log);
    if (cfg.writePid !== undefined) writeFileSync(cfg.writePid, `${process.pid}\n`);

    const u = udp;
    return {
      device: tun.name,
      localPort: u.localPort,
      stats: () => ({
        device: tun.name,
        endpoint: path.endpoint,
        seq: session.seq,
        keepalivesIn: path.keepalivesIn,
        endpointChanges: path.endpointChanges,
        drops: { ...path.drops, tunwrite: tun.stats.txErrors }, // every refused device write, queued or not
        udp: { ...u.stats },
        tun: { ...tun.stats },
      }),
      stop() {
        hs?.stop();
        u.close();
        tun.close();
        counters.release();
      },
    };
  } catch (e) {
    udp?.close();
    tun.close();
    counters.release();
    throw e;
  }
}

function udpOut(u: UdpTransport): PeerOut {
  return {
    slot: () => u.slot(),
    queue: (len, port, address) => u.queue(len, port, address),
    get stats() {
      return u.stats;
    },
    localPort: u.port,
    label: `udp ${u.address}:${u.port}`,
    close: () => u.close(),
  };
}

function runPostUp(script: string, dev: string, log: Logger): void {
  let p: Bun.Subprocess;
  try {
    p = Bun.spawn([script, dev], { stdout: "inherit", stderr: "inherit" });
  } catch (e) {
    log.error("post-up script could not run", { script, error: (e as Error).message });
    return;
  }
  p.exited.then(
    (code) =>
      code === 0 ? log.info("post-up script done", { script }) : log.error("post-up script failed", { script, code }),
    (e) => log.error("post-up script could not run", { script, error: String(e) }),
  );
}
