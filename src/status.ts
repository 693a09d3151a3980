// The status of a running server in one view (like `wg show`): what `GET /v1/status` serves,
// what `bun relay.ts status` prints (as text, or the JSON with --json), and what the admin
// page (/ui) draws. `statusOf` reads the server; `renderStatus` formats the JSON as text; the
// command fetches it over the admin API, so it works against any running relay it can reach.
import { hostPortText } from "./net/addr.ts";
import pkg from "../package.json";
import type { Server } from "./server.ts";
import { udpListeners } from "./server-parts.ts";

export interface Status {
  version: string;
  node: number;
  state: string;
  notReady: string | null;
  uptimeSeconds: number;
  listeners: { name: string; packets: { in: number; out: number }; bytes: { in: number; out: number } }[];
  clients: {
    mux: number;
    name: string;
    protocol: "satp" | "noise";
    endpoint: string | null;
    via: string | null;
    servedBy: number | null;
    lastSeenSecondsAgo: number | null;
    packets: { in: number; out: number };
    bytes: { in: number; out: number };
    movedIn: number;
  }[];
  peers: { address: string; node: number | null; state: string; lagSeconds: number | null; rttMs: number | null }[];
  /** Peers whose view of what the fleet must agree on differs from ours (sync/consistency.ts). */
  configConflicts?: { node: number; parts: string[]; ours: boolean }[];
  /** natBindings: IPv4 and IPv6 (NAT66) together; nat6Bindings: the IPv6 ones. */
  counts: {
    natBindings: number;
    nat6Bindings: number;
    relayAllocations: number;
    tcpFlows: number;
    learnedRoutes: number;
  };
  drops: Record<string, number>;
}

export function statusOf(s: Server): Status {
  const now = performance.now();
  const drops: Record<string, number> = {};
  for (const [k, n] of Object.entries(s.drops)) if (n > 0) drops[k] = n;
  for (const [k, n] of s.pluginDrops) if (n > 0) drops[k] = (drops[k] ?? 0) + n;
  const nat6 = s.store.entries("nat6").length;
  return {
    version: pkg.version,
    node: s.cfg.senderId,
    state: s.notReadyReason() === null ? "ready" : s.state,
    notReady: s.notReadyReason(),
    uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000),
    listeners: udpListeners(s).map((l) => ({
      name: l.name,
      packets: { in: l.udp.stats.rxPackets, out: l.udp.stats.txPackets },
      bytes: { in: l.udp.stats.rxBytes, out: l.udp.stats.txBytes },
    })),
    clients: s.conns.all().map((c) => ({
      mux: c.mux,
      name: c.name,
      protocol: c.protocol,
      endpoint: c.endpoint ? hostPortText(c.endpoint.address, c.endpoint.port) : null,
      via: c.endpoint ? (c.endpoint.kind === "udp" ? `udp ${c.endpoint.record}` : c.endpoint.kind) : null,
      servedBy: c.servedBy < 0 ? null : c.servedBy,
      lastSeenSecondsAgo: c.lastSeen ? Math.round((now - c.lastSeen) / 100) / 10 : null,
      packets: { in: c.rxPackets, out: c.txPackets },
      bytes: { in: c.rxBytes, out: c.txBytes },
      movedIn: c.movedIn,
    })),
    peers: (s.sync?.peers() ?? []).map((p) => ({
      address: p.address,
      node: p.node ?? null,
      state: p.state,
      lagSeconds: p.lagSeconds,
      rttMs: p.rttMs,
    })),
    configConflicts: s.consistency?.conflicts() ?? [],
    counts: {
      natBindings: s.store.entries("nat").length + nat6,
      nat6Bindings: nat6,
      relayAllocations: s.store.entries("relay").length,
      tcpFlows: s.tcpAnycast.flows.size,
      learnedRoutes: s.store.entries("rt").length,
    },
    drops,
  };
}

const bytes = (n: number) =>
  n < 1024
    ? `${n} B`
    : n < 2 ** 20
      ? `${(n / 1024).toFixed(1)} KiB`
      : n < 2 ** 30
        ? `${(n / 2 ** 20).toFixed(1)} MiB`
        : `${(n / 2 ** 30).toFixed(2)} GiB`;
const ago = (s: number | null) =>
  s === null
    ? "never"
    : s < 60
      ? `${s} s ago`
      : s < 3600
        ? `${Math.round(s / 60)} min ago`
        : `${(s / 3600).toFixed(1)} h ago`;
const span = (s: number) =>
  s < 60
    ? `${s}s`
    : s < 3600
      ? `${Math.floor(s / 60)}m${s % 60}s`
      : `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;

/** The text `bun relay.ts status` prints. */
export function renderStatus(st: Status): string {
  const out: string[] = [];
  out.push(
    `relay: ${st.state}${st.notReady ? ` (${st.notReady})` : ""}, node ${st.node}, up ${span(st.uptimeSeconds)}, anytun-relay ${st.version}`,
  );
  for (const l of st.listeners)
    out.push(
      `  listening: udp ${l.name} (in ${l.packets.in} packets, ${bytes(l.bytes.in)}; out ${l.packets.out}, ${bytes(l.bytes.out)})`,
    );
  const c = st.counts;
  out.push(
    `  nat bindings: ${c.natBindings}${c.nat6Bindings > 0 ? ` (IPv6: ${c.nat6Bindings})` : ""}; relay allocations: ${c.relayAllocations}; tcp flows: ${c.tcpFlows}; learned routes: ${c.learnedRoutes}`,
  );
  const d = Object.entries(st.drops);
  out.push(`  drops: ${d.length ? d.map(([k, n]) => `${k} ${n}`).join(", ") : "none"}`);
  for (const c of st.configConflicts ?? [])
    out.push(
      `  config differs from node ${c.node}: ${c.parts.join(", ")}${c.ours ? " (this server is the one out of step: not ready)" : ""}`,
    );
  for (const p of st.peers)
    out.push(
      "",
      `peer ${p.address}${p.node !== null ? ` (node ${p.node})` : ""}: ${p.state}${p.lagSeconds !== null ? `, last heard ${p.lagSeconds} s ago` : ""}${p.rttMs !== null ? `, rtt ${p.rttMs} ms` : ""}`,
    );
  for (const x of st.clients) {
    out.push("", `client ${x.name} (mux ${x.mux}${x.protocol === "noise" ? ", Noise suite" : ""})`);
    out.push(
      `  endpoint: ${x.endpoint ?? "(none yet)"}${x.via ? ` via ${x.via}` : ""}${x.servedBy !== null && x.servedBy !== st.node ? `, served by node ${x.servedBy}` : ""}`,
    );
    out.push(`  last seen: ${ago(x.lastSeenSecondsAgo)}`);
    out.push(
      `  transfer: ${bytes(x.bytes.in)} received (${x.packets.in} packets), ${bytes(x.bytes.out)} sent (${x.packets.out})${x.movedIn ? `; ${x.movedIn} packets arrived after another server` : ""}`,
    );
  }
  return out.join("\n");
}

/**
 * `bun relay.ts status [--admin URL] [--token T] [--json]`: the view of the relay whose admin API
 * is at URL (default http://127.0.0.1:8080; the token also from RELAY_ADMIN_TOKEN). Exit 0, or
 * 1 with the reason when the relay cannot be reached or refuses.
 */
export async function statusCommand(
  args: string[],
  env: Record<string, string | undefined> = process.env,
): Promise<number> {
  let url = "http://127.0.0.1:8080";
  let token = env.RELAY_ADMIN_TOKEN;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const val = () => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
      if (v === undefined || v === "") throw new Error(`${a}: needs a value`);
      return v;
    };
    if (a === "--json") json = true;
    else if (a === "--admin" || a.startsWith("--admin=")) url = val();
    else if (a === "--token" || a.startsWith("--token=")) token = val();
    else {
      console.error(`status: ${a}: unknown argument (usage: status [--admin URL] [--token T] [--json])`);
      return 2;
    }
  }
  let r: Response;
  try {
    r = await fetch(`${url.replace(/\/$/, "")}/v1/status`, {
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(5000),
    });
  } catch (e) {
    console.error(
      `status: cannot reach the admin API at ${url}: ${(e as Error).message} (is the relay running? --admin URL)`,
    );
    return 1;
  }
  if (!r.ok) {
    console.error(
      `status: ${url} answered ${r.status}${r.status === 401 ? " (give --token or RELAY_ADMIN_TOKEN)" : ""}`,
    );
    return 1;
  }
  const st = (await r.json()) as Status;
  console.log(json ? JSON.stringify(st, null, 2) : renderStatus(st));
  return 0;
}
