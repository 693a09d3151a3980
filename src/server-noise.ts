// The server's Noise suite (noise.listen): its UDP listeners, the gate (noise/gate.ts) and the
// wiring into the datapath. A type-4 packet goes to the datapath (its Noise receiver opens it in
// the client's session); any other type is a handshake packet for the gate, whose answer goes
// back from the same socket. The group key is read from noise.privateKeyFile at start (a reload
// keeps the running key: a new one needs a restart of every server of the group).
import { resolve } from "node:path";
import { hostPortText } from "./net/addr.ts";
import { bindError } from "./net/bind.ts";
import { parseHostPort, type Config } from "./config.ts";
import { udpTuning } from "./transport/sockopt.ts";
import type { Datapath } from "./datapath.ts";
import type { Logger } from "./log.ts";
import { NoiseReceiver } from "./noise/crypto.ts";
import { NoiseGate } from "./noise/gate.ts";
import { dhOps, keyText, readKeyFile } from "./noise/keys.ts";
import type { OwnEndpoints } from "./net/own.ts";
import type { Listener } from "./server.ts";
import type { ConnTable, Conn } from "./state.ts";
import { TYPE_TRANSPORT } from "./noise/wire.ts";
import type { SyncStore } from "./sync/store.ts";
import type { Ingress } from "./transport/link.ts";
import { UdpIngress, UdpTransport } from "./transport/udp.ts";

/** Sessions are swept this often (REJECT_AFTER_MS is 180 s). */
const SWEEP_MS = 5_000;

/**
 * One datagram on a noise.listen socket from (address, port) through `via`: transport data to the
 * datapath, a handshake packet to the gate, whose answer (a response or a cookie reply) goes to
 * `reply`. Every datagram ends in the datapath's or the gate's counters (the fuzz tests count).
 */
export function noiseDatagram(
  dp: Datapath,
  gate: NoiseGate,
  via: Ingress,
  buf: Uint8Array,
  address: string,
  port: number,
  reply: (answer: Uint8Array) => void,
): void {
  if (buf.length > 0 && buf[0] === TYPE_TRANSPORT) return void dp.receive(buf, via, address, port);
  if (!dp.accepting) return void dp.drops.notready++;
  const answer = gate.handshake(buf, hostPortText(address, port));
  if (answer === null) return;
  reply(answer);
}

export class NoiseServer {
  readonly listeners: Listener[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;

  private constructor(
    readonly gate: NoiseGate,
    readonly publicKey: string,
  ) {}

  static async start(
    cfg: Config,
    configDir: string,
    env: { conns: ConnTable; store: SyncStore; dp: Datapath; own: OwnEndpoints; log: Logger; firstListener: number },
  ): Promise<NoiseServer | null> {
    const n = cfg.noise;
    if (n.listen.length === 0 || n.privateKeyFile === undefined) return null;
    const path = resolve(configDir, n.privateKeyFile);
    const { key, loose } = readKeyFile(path, "noise.privateKeyFile");
    if (loose) env.log.warn("noise.privateKeyFile is readable by other users: chmod 600 it", { path });
    const gate = new NoiseGate(
      {
        key,
        senderId: cfg.senderId,
        maxSessions: n.maxSessions,
        loadPerSecond: n.loadPerSecond,
        recordKeyMs: n.recordKeySeconds * 1000,
      },
      env.store,
      env.conns.all(),
    );
    const s = new NoiseServer(gate, keyText(key.pub));
    env.conns.onChange(() => gate.clients(env.conns.all()));
    env.dp.noiseRx = new NoiseReceiver<Conn>((i) => gate.find(i));
    try {
      for (const text of n.listen) {
        const { host, port } = parseHostPort(text);
        let ingress: UdpIngress | undefined;
        let udp: UdpTransport | undefined;
        const onData = (buf: Uint8Array, p: number, a: string) =>
          noiseDatagram(env.dp, gate, ingress!, buf, a, p, (answer) => {
            udp!.slot().set(answer);
            udp!.queue(answer.length, p, a);
          });
        const onErr = (e: Error) => env.log.debug("udp socket error", { listener: text, error: e.message });
        try {
          udp = await UdpTransport.open(host, port, onData, onErr, udpTuning(cfg), cfg.reusePort);
        } catch (e) {
          throw bindError(`noise.listen ${text} (UDP)`, e);
        }
        const name = `noise/${hostPortText(udp.address, udp.port)}`;
        ingress = new UdpIngress(udp, name, env.firstListener + s.listeners.length, true);
        s.listeners.push({ name, udp, ingress });
        env.own.addPort(udp.port);
      }
    } catch (e) {
      s.stop();
      throw e;
    }
    s.timer = setInterval(() => gate.sweep(), SWEEP_MS);
    s.timer.unref?.();
    env.log.notice("noise suite listening", {
      listen: s.listeners.map((l) => l.name).join(","),
      publicKey: s.publicKey,
    });
    return s;
  }

  /** Every count of the gate, its responder and its MAC checks, by one flat name (metrics). */
  events(): Record<string, number> {
    const g = this.gate;
    return { ...g.counts, ...g.responder.counts, ...g.responder.macs.counts };
  }

  /** GET /v1/noise: the group's public key (never the private one), listeners, sessions, load, counts. */
  view(): object {
    const g = this.gate;
    return {
      publicKey: this.publicKey,
      listen: this.listeners.map((l) => l.name),
      sessions: g.sessions,
      underLoad: g.underLoad,
      dhOps: dhOps.count,
      ...g.counts,
      responder: { ...g.responder.counts },
      macs: { ...g.responder.macs.counts },
    };
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const l of this.listeners) l.udp.close();
    this.listeners.length = 0;
  }
}
