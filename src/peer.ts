// Point-to-point peer role (anytun's default mode): one SATP connection between a local TUN/TAP
// device and one remote endpoint over UDP. Compared with anytun 0.3.8, on purpose:
//  - the remote endpoint is learned or moved only by an authenticated packet (anytun pins the
//    connection to the first datagram it sees, forged or not);
//  - packets with a mux other than ours are dropped (anytun adopts the first packet's mux);
//  - the sender refuses to go past 2^32 packets under one key instead of wrapping seq to 0;
//  - `route` prefixes of any length filter what is sent (anytun ignores -R in this mode).
import { lookup } from "node:dns/promises";
import { writeFileSync } from "node:fs";
import type { Config } from "./config.ts";
import { newDrops, type Drops } from "./drops.ts";
import type { Logger } from "./log.ts";
import { parseCidr } from "./net/addr.ts";
import { ipDestination, PrefixTable } from "./net/lpm.ts";
import {
  HEADER_LEN,
  MAX_PACKET,
  OFF_MUX,
  OFF_SENDER,
  payloadTypeOf,
  PT_CONTROL,
  TYPE_LEN,
  typeFitsDevice,
} from "./satp/codec.ts";
import { OPEN_AUTH, OPEN_REPLAY, OPEN_SHORT, SatpCrypto, SEQ_LIMIT } from "./satp/crypto.ts";
import { ReplayWindow } from "./satp/replay.ts";
import { deriveMaster, normalizeSuite } from "./satp/suite.ts";
import { configureLink, openTun, type TunDevice } from "./tun.ts";
import { UdpTransport, type UdpStats } from "./transport/udp.ts";
import { TcpClientTransport } from "./transport/tcp-client.ts";
import { decodeControl } from "./satp/control.ts";

export interface Endpoint {
  address: string;
  port: number;
}

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

/** The SATP context of a single connection (peer and relay-client roles) from the top-level keys. */
export function connectionCrypto(cfg: Config, log: Logger): SatpCrypto {
  const { suite, warnings } = normalizeSuite({
    cipher: cfg.crypto.cipher,
    auth: cfg.crypto.auth,
    tagLength: cfg.crypto.tagLength,
    kdPrf: cfg.crypto.kdPrf,
  });
  for (const w of warnings) log.warn(w);
  const master = deriveMaster(suite.kdPrf, { passphrase: cfg.passphrase, keyHex: cfg.key, saltHex: cfg.salt });
  return new SatpCrypto(suite, master, cfg.role);
}

/** remoteHost:remotePort resolved once (as anytun does), honouring -4/-6. */
export async function resolveRemote(cfg: Config): Promise<Endpoint> {
  const family = cfg.ipv4Only ? 4 : cfg.ipv6Only ? 6 : 0;
  try {
    return { address: (await lookup(cfg.remoteHost!, { family })).address, port: cfg.remotePort };
  } catch (e) {
    throw new Error(`remote-host ${cfg.remoteHost}: cannot resolve (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
}

/** Opens the device and socket and starts forwarding. Throws Error with a clear message on setup failure. */
export async function startPeer(cfg: Config, log: Logger): Promise<Peer> {
  const crypto = connectionCrypto(cfg, log);
  const windowSize = cfg.crypto.window;
  const tap = cfg.type === "tap";
  const mux = cfg.mux;
  const senderId = cfg.senderId;
  const drops = newDrops();
  const windows = new Map<number, ReplayWindow>();
  const routes = new PrefixTable<true>();
  for (const r of cfg.route) routes.set(parseCidr(r, true), true);
  if (windowSize === 0) log.info("replay window off (-w 0, anytun's default): duplicated packets are delivered");

  let endpoint: Endpoint | null = cfg.remoteHost === undefined ? null : await resolveRemote(cfg);

  const tun = openTun({ name: cfg.dev ?? (tap ? "tap%d" : "tun%d"), tap });
  let udp: UdpTransport | TcpClientTransport | undefined;
  let tcpClient: TcpClientTransport | undefined;
  try {
    if (cfg.ifconfig !== undefined) configureLink(tun.name, { address: cfg.ifconfig, mtu: cfg.mtu, up: true });
    log.notice("device opened", { dev: tun.name, type: cfg.type, ifconfig: cfg.ifconfig });

    let seq = 0;
    let keepalivesIn = 0;
    let endpointChanges = 0;
    let exhaustedLogged = false;
    const overhead = crypto.overhead + TYPE_LEN;

    const onDatagram = (buf: Uint8Array, port: number, address: string): boolean => {
      if (buf.length < HEADER_LEN) {
        drops.short++;
        return false;
      }
      if (((buf[OFF_MUX]! << 8) | buf[OFF_MUX + 1]!) !== mux) {
        drops.mux++;
        return false;
      }
      const pseq = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
      const sid = (buf[OFF_SENDER]! << 8) | buf[OFF_SENDER + 1]!;
      let win: ReplayWindow | null = null;
      if (windowSize > 0) {
        win = windows.get(sid) ?? null;
        if (win === null) windows.set(sid, (win = new ReplayWindow(windowSize)));
      }
      const n = crypto.open(buf, pseq, sid, mux, win);
      if (n < 0) {
        if (n === OPEN_AUTH) drops.auth++;
        else if (n === OPEN_REPLAY) drops.replay++;
        else if (n === OPEN_SHORT) drops.short++;
        return n === OPEN_REPLAY;
      }
      if (endpoint === null || endpoint.port !== port || endpoint.address !== address) {
        log.notice(endpoint === null ? "peer endpoint learned" : "peer endpoint changed", {
          from: endpoint ? `${endpoint.address}:${endpoint.port}` : undefined,
          to: `${address}:${port}`,
        });
        endpoint = { address, port };
        endpointChanges++;
      }
      if (n === 0) {
        keepalivesIn++;
        return true;
      }
      const plain = crypto.plain;
      if (((plain[0]! << 8) | plain[1]!) === PT_CONTROL) {
        const m = decodeControl(plain.subarray(TYPE_LEN));
        if (m !== null) tcpClient?.onControl(m);
        return true;
      }
      if (!typeFitsDevice((plain[0]! << 8) | plain[1]!, tap)) {
        drops.type++;
        return true;
      }
      if (!tun.write(plain.subarray(TYPE_LEN))) drops.tunwrite++;
      return true;
    };

    const onTunPacket = (pkt: Uint8Array): void => {
      const type = payloadTypeOf(pkt, tap);
      if (type === 0) {
        drops.badinner++;
        return;
      }
      if (routes.size > 0) {
        const d = tap ? null : ipDestination(pkt);
        if (d === null || routes.lookup(pkt, d.off, d.family) === undefined) {
          drops.noroute++;
          return;
        }
      }
      const ep = endpoint;
      if (ep === null) {
        drops.noendpoint++;
        return;
      }
      if (pkt.length + overhead > MAX_PACKET) {
        drops.toobig++;
        return;
      }
      if (seq >= SEQ_LIMIT) {
        drops.exhausted++;
        if (!exhaustedLogged) {
          exhaustedLogged = true;
          log.error("sent 2^32 packets under this key: refusing to reuse sequence numbers; restart with a new key");
        }
        return;
      }
      const slot = udp!.slot();
      slot[HEADER_LEN] = type >>> 8;
      slot[HEADER_LEN + 1] = type & 255;
      slot.set(pkt, HEADER_LEN + TYPE_LEN);
      const len = crypto.seal(seq++, senderId, mux, slot, TYPE_LEN + pkt.length);
      udp!.queue(len, ep.port, ep.address);
    };

    const onUdpError = (e: Error) => log.debug("udp socket error", { error: e.message });
    const host = cfg.interface ?? (cfg.ipv4Only ? "0.0.0.0" : "::");
    if (cfg.transport !== "udp") {
      const ctl = new Uint8Array(2048);
      udp = tcpClient = new TcpClientTransport(
        endpoint!,
        onDatagram,
        (body) => {
          ctl[HEADER_LEN] = PT_CONTROL >>> 8;
          ctl[HEADER_LEN + 1] = PT_CONTROL & 255;
          ctl.set(body, HEADER_LEN + TYPE_LEN);
          return ctl.subarray(0, crypto.seal(seq++, senderId, mux, ctl, TYPE_LEN + body.length));
        },
        log,
        cfg.transport,
        () => ctl.subarray(0, crypto.seal(seq++, senderId, mux, ctl, 0)),
        cfg.tcpKeepaliveMs,
        cfg.tcpProbeMs,
        (b, at) => ((b[at + OFF_MUX]! << 8) | b[at + OFF_MUX + 1]!) === mux,
      );
      tcpClient.start();
    } else
      try {
        udp = await UdpTransport.open(host, cfg.port, onDatagram, onUdpError, cfg.udpBuffers);
      } catch (e) {
        if (cfg.interface !== undefined || cfg.ipv6Only) throw e;
        udp = await UdpTransport.open("0.0.0.0", cfg.port, onDatagram, onUdpError, cfg.udpBuffers); // no IPv6 on this host
      }
    log.notice("listening", {
      udp: `${udp.address}:${udp.port}`,
      remote: endpoint ? `${endpoint.address}:${endpoint.port}` : "learn",
    });
    tun.start(onTunPacket);

    if (cfg.postUpScript !== undefined) runPostUp(cfg.postUpScript, tun.name, log);
    if (cfg.writePid !== undefined) writeFileSync(cfg.writePid, `${process.pid}\n`);

    const u = udp;
    return {
      device: tun.name,
      localPort: u.port,
      stats: () => ({
        device: tun.name,
        endpoint,
        seq,
        keepalivesIn,
        endpointChanges,
        drops: { ...drops },
        udp: { ...u.stats },
        tun: { ...tun.stats },
      }),
      stop() {
        u.close();
        tun.close();
      },
    };
  } catch (e) {
    udp?.close();
    tun.close();
    throw e;
  }
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
