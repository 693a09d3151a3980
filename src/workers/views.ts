// JSON views of a server with workers, merged from every worker's (the supervisor's admin API).
// The replicated tables are whole in every worker, but what a worker terminates or counts is its
// own: full anycast TCP flows, TCP connections, per-client packet counters. Pure.

type Json = Record<string, unknown>;

/** Numbers summed key by key (nested objects too); anything else from the first view that has it. */
export function sumNumbers(views: readonly unknown[]): unknown {
  const first = views.find((v) => v !== undefined && v !== null);
  if (typeof first === "number") return views.reduce<number>((s, v) => s + (typeof v === "number" ? v : 0), 0);
  if (typeof first !== "object" || first === null || Array.isArray(first)) return first;
  const out: Json = {};
  for (const v of views)
    if (typeof v === "object" && v !== null) for (const k of Object.keys(v)) if (!(k in out)) out[k] = undefined;
  for (const k of Object.keys(out)) out[k] = sumNumbers(views.map((v) => (v as Json | null)?.[k]));
  return out;
}

/** GET /v1/tcp: every worker's flows and connections (each with its worker), counters summed. */
export function mergeTcp(views: readonly Json[]): Json {
  const tag = (list: unknown, worker: number) =>
    Array.isArray(list) ? list.map((x) => ({ ...(x as Json), worker })) : [];
  return {
    capture: views[0]?.capture ?? [],
    stats: sumNumbers(views.map((v) => v.stats)),
    flows: views.flatMap((v, i) => tag(v.flows, i)),
    unicast: views.flatMap((v, i) => tag(v.unicast, i)),
  };
}

interface ClientView extends Json {
  mux: number;
  lastSeenSecondsAgo: number | null;
}

/**
 * GET /v1/clients: one entry per client; packets, bytes and movedIn summed over the workers, the
 * rest (endpoint, servedBy, replay marks) from the worker that heard it last.
 */
export function mergeClients(lists: readonly ClientView[][]): ClientView[] {
  const by = new Map<number, ClientView[]>();
  for (const list of lists) for (const c of list) by.set(c.mux, [...(by.get(c.mux) ?? []), c]);
  const out: ClientView[] = [];
  for (const [, views] of by) {
    const latest = [...views].sort(
      (a, b) => (a.lastSeenSecondsAgo ?? Infinity) - (b.lastSeenSecondsAgo ?? Infinity),
    )[0]!;
    out.push({
      ...latest,
      packets: sumNumbers(views.map((v) => v.packets)),
      bytes: sumNumbers(views.map((v) => v.bytes)),
      movedIn: sumNumbers(views.map((v) => v.movedIn)),
    });
  }
  return out;
}

/**
 * GET /v1/peers: every worker's sync links (each with its worker: a worker links with its
 * siblings and with every worker of the other servers), data-channel and mark counters summed.
 */
export function mergePeers(views: readonly Json[]): Json {
  return {
    node: views[0]?.node,
    nodes: views.map((v) => v.node),
    sync: views[0]?.sync,
    backend: views[0]?.backend, // worker 0's (each worker has its own connection: `backends`)
    backends: views.map((v) => v.backend),
    consistency: views[0]?.consistency,
    instance: views[0]?.instance,
    peers: views.flatMap((v, i) => (Array.isArray(v.peers) ? v.peers.map((p) => ({ ...(p as Json), worker: i })) : [])),
    tables: views[0]?.tables,
    stats: sumNumbers(views.map((v) => v.stats)),
    data: sumNumbers(views.map((v) => v.data)),
    forwarded: sumNumbers(views.map((v) => v.forwarded)),
    replayMarkQueries: sumNumbers(views.map((v) => v.replayMarkQueries)),
  };
}

/**
 * GET /v1/noise: counts summed over the workers (each has its own gate and Diffie-Hellman count);
 * sessions are replicated to every worker, so their number is the largest, not the sum.
 */
export function mergeNoise(views: readonly Json[]): Json {
  const out = sumNumbers(views) as Json;
  out.sessions = Math.max(0, ...views.map((v) => (typeof v.sessions === "number" ? v.sessions : 0)));
  out.underLoad = views.some((v) => v.underLoad === true);
  return out;
}
