// Relay client role: asks the server (remoteHost, normally the anycast address) for a relay
// towards one peer over SATP control messages, then forwards a local UDP address through it.
// Datagrams a local app sends to relayClient.local go raw (no SATP) from our SATP socket to
// server:relayPort and on to the peer; the peer's datagrams come back the same way to the app's
// last address. The allocation is refreshed at half its lifetime and released on stop; if the
// server forgot it, a new one is asked for (and printed).
import type { Config } from "./config.ts";
import { parseHostPort } from "./config.ts";
import type { Logger } from "./log.ts";
import { parseIp, unmapV4 } from "./net/addr.ts";
import { HEADER_LEN, PT_CONTROL, TYPE_LEN } from "./satp/codec.ts";
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
import { connectionCrypto, resolveRemote } from "./peer.ts";
import { SendBatch } from "./transport/batch.ts";

export interface RelayClient {
  /** Relay port on the server once allocated (0 before). */
  readonly relayPort: () => number;
  readonly stats: { toPeer: number; fromPeer: number; dropped: number; allocations: number };
  stop(): Promise<void>;
}

export async function startRelayClient(cfg: Config, log: Logger): Promise<RelayClient> {
  const crypto = connectionCrypto(cfg, log);
  const server = await resolveRemote(cfg);
  const peer = parseHostPort(cfg.relayClient.peer!);
  const peerBytes = parseIp(peer.host)!;
  const local = parseHostPort(cfg.relayClient.local);
  const lifetime = cfg.relayClient.lifetime;
  const stats = { toPeer: 0, fromPeer: 0, dropped: 0, allocations: 0 };
  let relayPort = 0;
  let app: { address: string; port: number } | null = null;
  let seq = 0;
  let nextId = 1;
  const waiting = new Map<number, (m: ControlMessage) => void>();
  const buf = new Uint8Array(2048);

  const satp = await Bun.udpSocket({
    hostname: cfg.interface ?? (cfg.ipv6Only ? "::" : "0.0.0.0"),
    port: cfg.port,
    socket: {
      data(_s, d, port, raddr) {
        const addr = unmapV4(raddr);
        if (addr !== server.address) return void stats.dropped++;
        if (port === relayPort && relayPort !== 0) {
          if (app === null) return void stats.dropped++;
          stats.fromPeer++;
          toApp.queue(d, app.port, app.address);
          return;
        }
        if (port !== server.port || d.length < HEADER_LEN) return void stats.dropped++;
        const n = crypto.open(d, d.readUInt32BE(0), d.readUInt16BE(4), d.readUInt16BE(6), null);
        if (n <= TYPE_LEN || ((crypto.plain[0]! << 8) | crypto.plain[1]!) !== PT_CONTROL) return void stats.dropped++;
        const m = decodeControl(crypto.plain.subarray(TYPE_LEN));
        if (m === null) return void stats.dropped++;
        waiting.get(m.id)?.(m);
      },
      error() {},
    },
  });
  const appSock = await Bun.udpSocket({
    hostname: local.host,
    port: local.port,
    socket: {
      data(_s, d, port, addr) {
        app = { address: addr, port };
        if (relayPort === 0) return void stats.dropped++;
        stats.toPeer++;
        toRelay.queue(d, relayPort, server.address);
      },
      error() {},
    },
  });

  const toApp = new SendBatch(appSock);
  const toRelay = new SendBatch(satp);

  /** Sends a control message and waits for its answer, retrying every second (at most `tries`). */
  async function ask(type: number, tlvs: ControlMessage["tlvs"], tries = 5): Promise<ControlMessage> {
    const id = nextId++ & 0xffff;
    const body = encodeControl({ type, id, tlvs });
    for (let i = 0; i < tries; i++) {
      buf[HEADER_LEN] = PT_CONTROL >>> 8;
      buf[HEADER_LEN + 1] = PT_CONTROL & 255;
      buf.set(body, HEADER_LEN + TYPE_LEN);
      const len = crypto.seal(seq++, cfg.senderId, cfg.mux, buf, TYPE_LEN + body.length);
      satp.send(buf.subarray(0, len), server.port, server.address);
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
    relayPort = u16(tlv(a, TLV.RELAY_PORT)) ?? 0;
    stats.allocations++;
    const granted = u32(tlv(a, TLV.LIFETIME)) ?? lifetime;
    log.notice("relay allocated", {
      relay: `${server.address}:${relayPort}`,
      peer: cfg.relayClient.peer,
      local: cfg.relayClient.local,
      lifetime: granted,
    });
    console.log(
      `relay: ${server.address}:${relayPort} -> ${cfg.relayClient.peer} (send to udp ${cfg.relayClient.local})`,
    );
  }

  await allocate();
  const timer = setInterval(
    async () => {
      try {
        const r = await ask(MSG.RELAY_REFRESH, [
          { t: TLV.RELAY_PORT, v: be16(relayPort) },
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
    relayPort: () => relayPort,
    stats,
    async stop() {
      clearInterval(timer);
      try {
        await ask(
          MSG.RELAY_REFRESH,
          [
            { t: TLV.RELAY_PORT, v: be16(relayPort) },
            { t: TLV.LIFETIME, v: be32(0) },
          ],
          1,
        );
      } catch {
        // the server will expire it
      }
      satp.close();
      appSock.close();
    },
  };
}
