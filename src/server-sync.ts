// The server's sync backend, made from its config (server.ts starts it): the mesh (sync.listen /
// sync.peers) or NATS (sync.backend "nats"; its client is loaded only then), wired to the
// datapath (packets other servers forward to our clients, our replay marks when asked) and to
// the server as a destination (the ports the mesh bound at run time); and the fleet consistency
// check over it (sync/consistency.ts), this server's digest published.
import type { Config } from "./config.ts";
import { parseHostPort } from "./config.ts";
import type { Logger } from "./log.ts";
import type { OwnEndpoints } from "./net/own.ts";
import type { SyncBackend } from "./sync/backend.ts";
import { SyncMesh } from "./sync/mesh.ts";
import { FleetConsistency } from "./sync/consistency.ts";
import { fleetDigest, GATING_PARTS } from "./server-parts.ts";
import type { SyncStore } from "./sync/store.ts";
import { bindError } from "./net/bind.ts";

export interface SyncWiring {
  fromPeer(mux: number, pkt: Uint8Array): void;
  marksOf(mux: number): [number, number][];
  own: OwnEndpoints;
  /** When this server started (Date.now()): the age of its view of the fleet's config. */
  since: number;
}

/** The backend the config asks for, started; null with sync off. Throws (a clear error) when it cannot start. */
export async function startSync(
  cfg: Config,
  store: SyncStore,
  log: Logger,
  w: SyncWiring,
): Promise<{ backend: SyncBackend; mesh: SyncMesh | null; consistency: FleetConsistency } | null> {
  const sc = cfg.sync;
  let backend: SyncBackend;
  let mesh: SyncMesh | null = null;
  if (sc.backend === "nats") {
    const { NatsBackend } = await import("./sync/nats.ts");
    const o = {
      node: cfg.senderId,
      key: sc.key!,
      acceptKeys: sc.acceptKeys,
      heartbeatMs: sc.heartbeatMs,
      staleMs: sc.staleSeconds * 1000,
    };
    backend = new NatsBackend(store, { ...o, ...sc.nats! }, log.child("sync"));
  } else if (sc.listen !== undefined || sc.peers.length > 0) {
    backend = mesh = new SyncMesh(
      store,
      {
        node: cfg.senderId,
        key: sc.key!,
        acceptKeys: sc.acceptKeys,
        listen: sc.listen === undefined ? undefined : parseHostPort(sc.listen),
        peers: sc.peers.map(parseHostPort),
        heartbeatMs: sc.heartbeatMs,
        staleMs: sc.staleSeconds * 1000,
        data: sc.dataChannel,
        loopBudgetMs: cfg.loopBudgetMs,
        siblings: cfg.worker?.syncPorts,
        siblingHost: cfg.worker?.syncHost,
      },
      log.child("sync"),
    );
  } else return null;
  backend.onForwarded((_from, mux, pkt) => w.fromPeer(mux, pkt));
  backend.answerMarks((mux) => w.marksOf(mux));
  try {
    await backend.start();
  } catch (e) {
    backend.stop();
    throw mesh !== null ? bindError(`sync.listen ${sc.listen} (TCP)`, e) : e;
  }
  if (mesh !== null) {
    w.own.addPort(mesh.listenPort);
    if (mesh.dataPort !== undefined) w.own.addPort(mesh.dataPort);
  }
  const up = () => backend.peers().flatMap((p) => (p.state === "up" && p.node !== null ? [p.node] : []));
  const consistency = new FleetConsistency(store, cfg.senderId, fleetDigest(cfg, w.since), GATING_PARTS, up);
  consistency.publish();
  return { backend, mesh, consistency };
}
