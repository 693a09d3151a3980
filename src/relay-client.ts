// Relay client role: asks the server (remoteHost, normally the anycast address) for a relay
// towards one peer over SATP control messages, then forwards a local UDP address through it.
// Datagrams a local app sends to relayClient.local go raw (no SATP) from our SATP socket to
// server:relayPort and on to the peer; the peer's datagrams come back the same way to the app's
// last address. The allocation is refreshed at half its lifetime and released on stop; if the
// server forgot it, a new one is asked for (and printed).
import type { Config } from "./config.ts";
import { parseHostPort } from "./config.ts";
import type { Logger } from "./log.ts";
import { parseIp } from "./net/addr.ts";
import { PT_CONTROL } from "./satp/codec.ts";
import {
  be16,
  be32,
  decodeControl,
  encodeControl,
  ERR,
  MSG,
  TLV,
  tlv,
  u16,
  u32,
  type ControlMessage,
} from "./satp/control.ts";
import { connectionSession, resolveRemote, type Endpoint } from "./client.ts";
import { receiverFor, SEAL_TOOBIG, type Receiver, type SatpSession } from "./satp/session.ts";
import { SendBatch } from "./transport/batch.ts";
import { BatchUdp } from "./transport/mmsg.ts";
import { udpTuning } from "./transport/sockopt.ts";

export interface RelayClient {
  /** Relay port on the server once allocated (0 before). */
  readonly relayPort: () => number;
  readonly stats: { toPeer: number; fromPeer: number; dropped: number; allocations: number };
  stop(): Promise<void>;
}

export interface RelayClientStats {
  toPeer: number;
  fromPeer: number;
  dropped: number;
  allocations: number;
}

/**
 * The relay client's receive path without sockets: a datagram on its SATP socket is either a
 * raw datagram relayed from the peer (from server:relayPort, to the app's last address) or a
 * control answer from the server (from server:port, authenticated). Everything else is a
 * counted drop. The fuzzers drive this same object.
 */
export class RelayClientPath {
  readonly stats: RelayClientStats = { toPeer: 0, fromPeer: 0, dropped: 0, allocations: 0 };
  relayPort = 0;
  app: Endpoint | null = null;
  private readonly rx: Receiver;

  constructor(
    readonly session: SatpSession,
    private readonly server: Endpoint,
    private readonly onControl: (m: ControlMessage) => void,
    private readonly toApp: { queue(buf: Uint8Array, port: number, address: string): void },
  ) {
    this.rx = receiverFor(session);
  }

  receive(d: Uint8Array, port: number, address: string): void {
    const st = this.stats;
    if (address !== this.server.address) return void st.dropped++;
    if (port === this.relayPort && this.relayPort !== 0) {
      if (this.app === null) return void st.dropped++;
      st.fromPeer++;
      this.toApp.queue(d, this.app.port, this.app.address);
      return;
    }
    if (port !== this.server.port) return void st.dropped++;
    const n = this.rx.open(d);
    if (n <= 0 || this.session.type !== PT_CONTROL) return void st.dropped++;
    const m = decodeControl(this.session.inner());
    if (m === null) return void st.dropped++;
    this.onControl(m);
  }
}

export async function startRelayClient(cfg: Config, log: Logger): Promise<RelayClient> {
  const { session, counters } = connectionSession(cfg, log);
  const server = await resolveRemote(cfg).catch((e) => {
    counters.release();
    throw e;
  });
  const peer = parseHostPort(cfg.relayClient.peer!);
  const peerBytes = parseIp(peer.host)!;
  const local = parseHostPort(cfg.relayClient.local);
  const lifetime = cfg.relayClient.lifetime;
  let nextId = 1;
  const waiting = new Map<number, (m: ControlMessage) => void>();
  const buf = new Uint8Array(2048);
  let toApp: SendBatch | null = null;
  let toRelay: SendBatch | null = null;
  const path = new RelayClientPath(session, server, (m) => waiting.get(m.id)?.(m), {
    queue: (b, port, address) => toApp?.queue(b, port, address),
  });
  const stats = path.stats;

  // Both sockets hand views into their receive ring (mmsg.ts): what is queued from them is
  // flushed when their receive call's datagrams are done.
  const tuning = udpTuning(cfg);
  let satp: BatchUdp;
  try {
    satp = BatchUdp.open({
      host: cfg.interface ?? (cfg.ipv6Only ? "::" : "0.0.0.0"),
      port: cfg.port,
      tuning,
      onDatagram: (d, port, address) => path.receive(d, port, address),
      onDrained: () => toApp?.flush(),
    });
  } catch (e) {
    counters.release();
    throw e;
  }
  let appSock: BatchUdp;
  try {
    appSock = BatchUdp.open({
      host: local.host,
      port: local.port,
      tuning,
      onDatagram(d, port, addr) {
        const app = path.app;
        if (app === null || app.port !== port || app.address !== addr) path.app = { address: addr, port }; // not per datagram
        if (path.relayPort === 0) return void path.stats.dropped++;
        path.stats.toPeer++;
        toRelay?.queue(d, path.relayPort, server.address);
      },
      onDrained: () => toRelay?.flush(),
    });
  } catch (e) {
    satp.close();
    counters.release();
    throw e;
  }

  toApp = new SendBatch(appSock, appSock.gso);
  toRelay = new SendBatch(satp, satp.gso);

  /** Sends a control message and waits for its answer, retrying every second (at most `tries`). */
  async function ask(type: number, tlvs: ControlMessage["tlvs"], tries = 5): Promise<ControlMessage> {
    const id = nextId++ & 0xffff;
    const body = encodeControl({ type, id, tlvs });
    for (let i = 0; i < tries; i++) {
      const len = session.seal(buf, cfg.senderId, PT_CONTROL, body);
      if (len === SEAL_TOOBIG) throw new Error("control message too large");
      if (len > 0) satp.send(buf.subarray(0, len), server.port, server.address);
      const answer = await new Promise<ControlMessage | null>((resolve) => {
        const t = setTimeout(() => resolve(null), 1000);
        waiting.set(id, (m) => {
          clearTimeout(t);
          resolve(m);
        });
      });
      waiting.delete(id);
      if (answer !== null) return answer;
    }
    throw new Error(
      `no answer from ${server.address}:${server.port} (wrong key, mux or role? server without the relay plugin?)`,
    );
  }

  const errorText = (m: ControlMessage) =>
    `${u16(tlv(m, TLV.ERROR_CODE))}: ${new TextDecoder().decode(tlv(m, TLV.ERROR_TEXT) ?? new Uint8Array())}`;

  async function allocate(): Promise<void> {
    const a = await ask(MSG.RELAY_ALLOCATE, [
      { t: TLV.PEER_ADDR, v: peerBytes },
      { t: TLV.PEER_PORT, v: be16(peer.port) },
      { t: TLV.LIFETIME, v: be32(lifetime) },
    ]);
    if (a.type !== MSG.RELAY_ALLOCATED) throw new Error(`relay refused: ${errorText(a)}`);
    path.relayPort = u16(tlv(a, TLV.RELAY_PORT)) ?? 0;
    stats.allocations++;
    const granted = u32(tlv(a, TLV.LIFETIME)) ?? lifetime;
    log.notice("relay allocated", {
      relay: `${server.address}:${path.relayPort}`,
      peer: cfg.relayClient.peer,
      local: cfg.relayClient.local,
      lifetime: granted,
    });
    console.log(
      `relay: ${server.address}:${path.relayPort} -> ${cfg.relayClient.peer} (send to udp ${cfg.relayClient.local})`,
    );
  }

  try {
    await allocate();
  } catch (e) {
    toApp.close();
    toRelay.close();
    satp.close();
    appSock.close();
    counters.release();
    throw e;
  }
  const timer = setInterval(
    async () => {
      try {
        const r = await ask(MSG.RELAY_REFRESH, [
          { t: TLV.RELAY_PORT, v: be16(path.relayPort) },
          { t: TLV.LIFETIME, v: be32(lifetime) },
        ]);
        if (r.type === MSG.ERROR && u16(tlv(r, TLV.ERROR_CODE)) === ERR.UNKNOWN) {
          log.warn("relay allocation lost; asking for a new one");
          await allocate();
        }
      } catch (e) {
        log.error("relay refresh failed", { error: (e as Error).message });
      }
    },
    (lifetime * 1000) / 2,
  );

  return {
    relayPort: () => path.relayPort,
    stats,
    async stop() {
      clearInterval(timer);
      try {
        await ask(
          MSG.RELAY_REFRESH,
          [
            { t: TLV.RELAY_PORT, v: be16(path.relayPort) },
            { t: TLV.LIFETIME, v: be32(0) },
          ],
          1,
        );
      } catch {
        // the server will expire it
      }
      // batches first: a flush after its socket closed could send on a reused fd (GSO uses the fd)
      toApp?.close();
      toRelay?.close();
      satp.close();
      appSock.close();
      counters.release();
    },
  };
}
