// The real receive paths of the three roles, driven by the fuzz engine (lib.ts): the server's
// Datapath (one client table entry per receiver config, an empty plugin chain, a TcpUnicast for
// INIT, an in-memory ingress), the peer's PeerPath and the relay client's RelayClientPath, each
// built on the same SatpSession code the relay runs. Every input must be accepted or counted
// exactly once by each path (a delta of exactly 1 over all its counters), and none may throw.
import { validateConfig, type ClientConfig } from "../../src/config.ts";
import { Datapath } from "../../src/datapath.ts";
import { HoldQueue } from "../../src/hold.ts";
import { Logger } from "../../src/log.ts";
import { PrefixTable } from "../../src/net/lpm.ts";
import { PeerPath } from "../../src/peer.ts";
import { Chain } from "../../src/pipeline.ts";
import { RelayClientPath } from "../../src/relay-client.ts";
import { RouteIndex } from "../../src/routing.ts";
import { SyncStore } from "../../src/sync/store.ts";
import { SatpSession } from "../../src/satp/session.ts";
import { ConnTable } from "../../src/state.ts";
import type { Ingress, Link } from "../../src/transport/link.ts";
import { TcpUnicast } from "../../src/transport/tcp-unicast.ts";
import { cryptoFor, type Vector } from "./vectors.ts";

export const ROLES = ["server", "peer", "relay"] as const;
export type Role = (typeof ROLES)[number];

export interface RolePaths {
  /** Feeds one datagram to `role`; returns how many of that path's counters moved (1 expected). */
  run(role: Role, pkt: Uint8Array): number;
}

const SILENT = new Logger([], "text");
const SERVER = { address: "192.0.2.1", port: 4444 };
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

/** An ingress whose links count what is sent on them (the seam's in-memory side); `noise`: a noise.listen one. */
export function memoryIngress(noise = false): Ingress & { sent: number } {
  const slot = new Uint8Array(2048);
  const ing: Ingress & { sent: number } = {
    sent: 0,
    noise,
    dataAllowed: true,
    listener: 0,
    link(address: string, port: number): Link {
      return {
        kind: "memory",
        address,
        port,
        via: ing,
        record: "memory",
        local: true,
        usable: true,
        dataAllowed: true,
        slot: () => slot,
        send: () => (ing.sent++, true),
      };
    },
  };
  return ing;
}

export function rolePaths(v: Vector, role: "left" | "right", windowSize: number): RolePaths {
  const cfg = validateConfig({ mode: "server" });
  // Server: the vector's config as a client entry; the server plays `role` towards it.
  const conns = new ConnTable();
  const client: ClientConfig = {
    mux: v.mux,
    routes: ["0.0.0.0/0", "::/0"], // every source is the client's: the source check passes, the chain runs
    role,
    ...(v.passphrase !== null ? { passphrase: v.passphrase } : { key: v.master_key_hex!, salt: v.master_salt_hex! }),
    crypto: {
      cipher: v.cipher,
      auth: v.auth_algo === "null" ? "null" : "sha1",
      tagLength: v.auth_tag_length,
      kdPrf: v.kd_prf,
      window: windowSize,
    },
  };
  conns.replace([client], cfg.crypto);
  const chain = new Chain([]);
  const routes = new RouteIndex(conns, new SyncStore(0));
  const tcp = new TcpUnicast(
    cfg.tcp,
    () => true,
    () => {},
  );
  const ingress = memoryIngress();
  const dp = new Datapath({
    conns,
    log: SILENT,
    hold: new HoldQueue(() => ({ ms: 0, bytes: 0 })),
    cfg: () => cfg,
    chain: () => chain,
    holdUnknown: () => false,
    askMarks: () => false,
    sourceOwner: (pkt) => routes.sourceOwner(pkt),
    overBudget: () => false, // one synchronous run is one event-loop turn: never shed here
    endpointChanged: () => {},
    init: (c, m, via) => tcp.init(c, m, via),
  });
  dp.accepting = true; // a ready server
  const serverCount = () => sum(dp.drops) + sum(Object.fromEntries(dp.pluginDrops)) + dp.keepalivesIn + ingress.sent;

  // Peer: the same keys as one connection, a device that takes every packet.
  const device = { writes: 0, write: () => (device.writes++, true), queue: () => (device.writes++, true) };
  const peer = new PeerPath(
    new SatpSession(cryptoFor(v, role), v.mux, windowSize),
    1,
    v.device_type === "tap",
    new PrefixTable<true>(),
    device,
    SILENT,
    null,
  );
  let peerControls = 0;
  peer.onControl = () => void peerControls++;
  const peerCount = () => sum(peer.drops) + peer.keepalivesIn + device.writes + peerControls;

  // Relay client: datagrams from the server's SATP port.
  let relayControls = 0;
  const relay = new RelayClientPath(
    new SatpSession(cryptoFor(v, role), v.mux, windowSize),
    SERVER,
    () => void relayControls++,
    { queue: () => {} },
  );
  const relayCount = () => relay.stats.dropped + relay.stats.fromPeer + relayControls;

  return {
    run(r, pkt) {
      if (r === "server") {
        const before = serverCount();
        const gated = dp.drops.notready;
        dp.receive(pkt, ingress, "198.51.100.7", 40000);
        // a ready server: a notready drop means the run fuzzes a gate, not the path
        if (dp.drops.notready !== gated) return -1;
        return serverCount() - before;
      }
      if (r === "peer") {
        const before = peerCount();
        peer.receive(pkt, 4444, "198.51.100.7");
        return peerCount() - before;
      }
      const before = relayCount();
      relay.receive(pkt, SERVER.port, SERVER.address);
      return relayCount() - before;
    },
  };
}
