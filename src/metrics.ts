// Prometheus text exposition (format 0.0.4) of the server's counters. Built on request from the
// live counters; nothing on the hot path beyond the increments themselves.
//
// The names and labels here are a contract (dashboards and alerts use them; the README lists
// them): later changes add, they do not rename. Per-client series exist for at most
// admin.metricsClients clients (the busiest by bytes), so a scrape stays small at 10k clients;
// the relay_clients_* totals cover every client. process_* follow the Prometheus client
// conventions (CPU, RSS, fds, start time).
import { readdirSync, readFileSync } from "node:fs";
import pkg from "../package.json";
import { declaredDrops } from "./pipeline.ts";
import { DROP_REASONS } from "./drops.ts";
import { dhOps } from "./noise/keys.ts";
import { cryptoLibraryName } from "./satp/crypto.ts";
import type { Server } from "./server.ts";
import { udpListeners } from "./server-parts.ts";

const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

class Out {
  private readonly lines: string[] = [];
  family(name: string, type: "counter" | "gauge", help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, labels: Record<string, string | number>, value: number): void {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${esc(String(v))}"`)
      .join(",");
    this.lines.push(`${name}${l ? `{${l}}` : ""} ${Number.isFinite(value) ? value : 0}`);
  }
  /** Two samples, direction="in" and direction="out". */
  inOut(name: string, labels: Record<string, string | number>, inbound: number, outbound: number): void {
    this.sample(name, { ...labels, direction: "in" }, inbound);
    this.sample(name, { ...labels, direction: "out" }, outbound);
  }
  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

export function renderMetrics(s: Server): string {
  const o = new Out();
  o.family("relay_up", "gauge", "1 while the process runs.");
  o.sample("relay_up", {}, 1);
  o.family("relay_ready", "gauge", "1 when ready for traffic (0 while starting or draining).");
  o.sample("relay_ready", {}, s.notReadyReason() === null ? 1 : 0);
  o.family("relay_uptime_seconds", "gauge", "Seconds since start.");
  o.sample("relay_uptime_seconds", {}, (Date.now() - s.startedAt) / 1000);
  o.family("relay_clients", "gauge", "Configured clients.");
  o.sample("relay_clients", {}, s.conns.size);
  o.family("relay_clients_with_endpoint", "gauge", "Clients whose endpoint is known (heard from at least once).");
  o.sample("relay_clients_with_endpoint", {}, s.conns.all().filter((c) => c.endpoint !== null).length);

  o.family("relay_transport_packets_total", "counter", "Datagrams per transport listener and direction.");
  for (const l of udpListeners(s))
    o.inOut(
      "relay_transport_packets_total",
      { transport: "udp", listener: l.name },
      l.udp.stats.rxPackets,
      l.udp.stats.txPackets,
    );
  o.family("relay_transport_bytes_total", "counter", "Datagram bytes per transport listener and direction.");
  for (const l of udpListeners(s))
    o.inOut(
      "relay_transport_bytes_total",
      { transport: "udp", listener: l.name },
      l.udp.stats.rxBytes,
      l.udp.stats.txBytes,
    );
  o.family("relay_transport_send_errors_total", "counter", "Datagrams the socket refused (buffer full, ICMP errors).");
  for (const l of udpListeners(s))
    o.sample("relay_transport_send_errors_total", { transport: "udp", listener: l.name }, l.udp.stats.txErrors);
  o.family(
    "relay_transport_gso_runs_total",
    "counter",
    "Runs of datagrams sent as one UDP GSO message (sent: taken by the kernel; refused: resent one by one).",
  );
  for (const l of udpListeners(s)) {
    const g = l.udp.out.gso;
    if (g === null) continue;
    o.sample("relay_transport_gso_runs_total", { transport: "udp", listener: l.name, result: "sent" }, g.runs);
    o.sample("relay_transport_gso_runs_total", { transport: "udp", listener: l.name, result: "refused" }, g.fallbacks);
  }
  o.family(
    "relay_transport_gro_runs_total",
    "counter",
    "Messages received as one UDP GRO run of several datagrams (udpGro; the kernel coalesced a sender's GSO run).",
  );
  for (const l of udpListeners(s))
    o.sample("relay_transport_gro_runs_total", { transport: "udp", listener: l.name }, l.udp.stats.rxGroRuns);
  o.family(
    "relay_transport_callback_errors_total",
    "counter",
    "Datagrams whose receive path threw (a bug): dropped, the socket kept reading.",
  );
  for (const l of udpListeners(s))
    o.sample(
      "relay_transport_callback_errors_total",
      { transport: "udp", listener: l.name },
      l.udp.stats.rxCallbackErrors,
    );

  const all = s.conns.all();
  const sum = (f: (c: (typeof all)[number]) => number) => all.reduce((n, c) => n + f(c), 0);
  o.family("relay_clients_packets_total", "counter", "Authenticated SATP packets of all clients, by direction.");
  o.inOut(
    "relay_clients_packets_total",
    {},
    sum((c) => c.rxPackets),
    sum((c) => c.txPackets),
  );
  o.family("relay_clients_bytes_total", "counter", "SATP bytes of all clients, by direction.");
  o.inOut(
    "relay_clients_bytes_total",
    {},
    sum((c) => c.rxBytes),
    sum((c) => c.txBytes),
  );
  o.family(
    "relay_clients_moved_total",
    "counter",
    "Packets of all clients that arrived here while another server had served the client last.",
  );
  o.sample(
    "relay_clients_moved_total",
    {},
    sum((c) => c.movedIn),
  );
  const cap = s.cfg.admin.metricsClients;
  const shown =
    all.length <= cap ? all : [...all].sort((a, b) => b.rxBytes + b.txBytes - (a.rxBytes + a.txBytes)).slice(0, cap);
  o.family("relay_client_series_omitted", "gauge", "Clients without per-client series (beyond admin.metricsClients).");
  o.sample("relay_client_series_omitted", {}, all.length - shown.length);
  o.family("relay_client_packets_total", "counter", "Authenticated SATP packets per client (mux) and direction.");
  for (const c of shown)
    o.inOut("relay_client_packets_total", { mux: c.mux, client: c.name }, c.rxPackets, c.txPackets);
  o.family("relay_client_bytes_total", "counter", "SATP bytes per client (mux) and direction.");
  for (const c of shown) o.inOut("relay_client_bytes_total", { mux: c.mux, client: c.name }, c.rxBytes, c.txBytes);

  o.family("relay_drops_total", "counter", "Packets dropped, by reason.");
  for (const r of DROP_REASONS) o.sample("relay_drops_total", { reason: r }, s.drops[r]);
  for (const [r, n] of s.pluginDrops) o.sample("relay_drops_total", { reason: r }, n);
  const core = new Set<string>(DROP_REASONS);
  for (const r of declaredDrops())
    if (!s.pluginDrops.has(r) && !core.has(r)) o.sample("relay_drops_total", { reason: r }, 0);
  o.family("relay_keepalives_total", "counter", "Authenticated packets without payload (keepalives).");
  o.sample("relay_keepalives_total", {}, s.keepalivesIn);
  o.family(
    "relay_mss_clamped_total",
    "counter",
    "Clients' TCP SYNs whose MSS was lowered to fit the tunnel (mssClamp).",
  );
  o.sample("relay_mss_clamped_total", {}, s.dp.pmtu.mssClamped);
  o.family(
    "relay_pmtu_total",
    "counter",
    "Inner packets over the tunnel mtu that may not be fragmented (dropped), and the ICMP too-big errors sent for them or held back by icmpRate.",
  );
  for (const [what, n] of Object.entries(s.dp.pmtu.tooBigs)) o.sample("relay_pmtu_total", { what }, n);
  o.family("relay_endpoint_changes_total", "counter", "Times a client's endpoint was learned or moved.");
  o.sample("relay_endpoint_changes_total", {}, s.endpointChanges);
  o.family("relay_plugin_events_total", "counter", "Plugin-defined events.");
  o.family("relay_plugin_bytes_total", "counter", "Plugin-defined byte counts.");
  for (const [k, n] of s.pluginEvents) {
    const [plugin, event] = k.split("\u0000") as [string, string];
    if (event.startsWith("bytes:")) o.sample("relay_plugin_bytes_total", { plugin, what: event.slice(6) }, n);
    else o.sample("relay_plugin_events_total", { plugin, event }, n);
  }
  o.family(
    "relay_client_moved_total",
    "counter",
    "Packets that arrived here while another server had served the client last.",
  );
  for (const c of shown) o.sample("relay_client_moved_total", { mux: c.mux, client: c.name }, c.movedIn);

  if (s.tcpAnycast.enabled) {
    const t = s.tcpAnycast.stats;
    o.family("relay_tcp_anycast_flows", "gauge", "Captured anycast TCP flows held here.");
    o.sample("relay_tcp_anycast_flows", {}, s.tcpAnycast.flows.size);
    o.family(
      "relay_tcp_anycast_events_total",
      "counter",
      "Anycast TCP events (segments, flows, takeovers, resets, resyncs...).",
    );
    for (const [event, n] of Object.entries(t)) o.sample("relay_tcp_anycast_events_total", { event }, n);
    o.sample("relay_tcp_anycast_events_total", { event: "heldDelivered" }, s.held.delivered);
    o.sample("relay_tcp_anycast_events_total", { event: "heldExpired" }, s.held.expired);
    o.sample("relay_tcp_anycast_events_total", { event: "heldRefused" }, s.held.refused);
  }

  if (s.noise !== null) {
    const g = s.noise.gate;
    o.family("relay_noise_sessions", "gauge", "Noise suite sessions held here (made here or adopted from the fleet).");
    o.sample("relay_noise_sessions", {}, g.sessions);
    o.family(
      "relay_noise_events_total",
      "counter",
      "Noise suite handshake events (initiations, cookies, MAC and handshake refusals...).",
    );
    for (const [event, n] of Object.entries(s.noise.events())) o.sample("relay_noise_events_total", { event }, n);
    o.family("relay_noise_dh_total", "counter", "X25519 Diffie-Hellman operations done by this process.");
    o.sample("relay_noise_dh_total", {}, dhOps.count);
  }

  const st = s.store;
  o.family("relay_sync_records_total", "counter", "Sync records sent (local writes) and received, by direction.");
  o.sample("relay_sync_records_total", { direction: "out" }, st.recordsOut);
  o.sample("relay_sync_records_total", { direction: "in" }, st.recordsIn);
  o.family(
    "relay_sync_records_received_total",
    "counter",
    "Received sync records by outcome: applied (won), refused (failed validation), stale (older than ours).",
  );
  o.sample("relay_sync_records_received_total", { outcome: "applied" }, st.recordsApplied);
  o.sample("relay_sync_records_received_total", { outcome: "refused" }, st.recordsRefused);
  o.sample(
    "relay_sync_records_received_total",
    { outcome: "stale" },
    Math.max(0, st.recordsIn - st.recordsApplied - st.recordsRefused),
  );
  o.family("relay_sync_records", "gauge", "Records held per table (live) and how many are stale.");
  for (const [table, n] of Object.entries(st.counts())) {
    o.sample("relay_sync_records", { table, state: "live" }, n.live);
    o.sample("relay_sync_records", { table, state: "stale" }, n.stale);
  }
  const m = s.sync;
  if (m !== null) {
    const peers = m.peers();
    o.family("relay_sync_links_up", "gauge", "Sync links up.");
    o.sample("relay_sync_links_up", {}, peers.filter((p) => p.state === "up").length);
    o.family("relay_sync_link_up", "gauge", "1 while the sync link to a peer is up.");
    for (const p of peers)
      o.sample("relay_sync_link_up", { peer: p.address, node: p.node ?? "" }, p.state === "up" ? 1 : 0);
    o.family(
      "relay_sync_lag_seconds",
      "gauge",
      "Seconds since the last frame from each peer whose link is up (no sample while down).",
    );
    for (const p of peers)
      if (p.state === "up" && p.lagSeconds !== undefined && p.lagSeconds !== null)
        o.sample("relay_sync_lag_seconds", { peer: p.address, node: p.node ?? "" }, p.lagSeconds);
    o.family("relay_sync_events_total", "counter", "Sync link events.");
    for (const [event, n] of Object.entries(m.stats)) o.sample("relay_sync_events_total", { event }, n);
    if (s.consistency !== null)
      o.sample("relay_sync_events_total", { event: "configMismatches" }, s.consistency.mismatches);
    // The backend's own state (NATS: the connection; the mesh has only its links, above).
    const b = m.describe();
    if (typeof b.connected === "boolean") {
      o.family("relay_sync_backend_connected", "gauge", "1 while the sync backend's service is reachable (NATS).");
      o.family("relay_sync_backend_events_total", "counter", "Sync backend events and counts (NATS), by event.");
      o.sample(
        "relay_sync_backend_connected",
        { backend: String(b.kind), server: String(b.server ?? "") },
        b.connected ? 1 : 0,
      );
      for (const k of ["reconnects", "disconnects", "recordsOut", "envelopesIn", "replays", "foreign"])
        if (typeof b[k] === "number")
          o.sample("relay_sync_backend_events_total", { backend: String(b.kind), event: k }, b[k] as number);
    }
    o.family(
      "relay_replay_mark_queries_total",
      "counter",
      "Replay-mark queries to the server that served a moved client last, by outcome.",
    );
    o.sample("relay_replay_mark_queries_total", { outcome: "answered" }, s.markStats.answered);
    o.sample("relay_replay_mark_queries_total", { outcome: "timeout" }, s.markStats.timeouts);
    const d = m.dataStats;
    if (d !== null) {
      o.family(
        "relay_data_channel_total",
        "counter",
        "Data channel between servers: datagrams sent, received, and refused by reason.",
      );
      for (const [event, n] of Object.entries(d)) o.sample("relay_data_channel_total", { event }, n);
    }
  }
  o.family(
    "relay_forwarded_in_total",
    "counter",
    "Packets other servers forwarded here for a client whose link is here.",
  );
  o.sample("relay_forwarded_in_total", { outcome: "sent" }, s.dp.forwarded.in);
  o.sample("relay_forwarded_in_total", { outcome: "nolink" }, s.dp.forwarded.nolink);
  processMetrics(o, s.startedAt);
  return o.text();
}

/** process_* (the Prometheus client libraries' names) and relay_build_info. */
function processMetrics(o: Out, startedAt: number): void {
  o.family("relay_build_info", "gauge", "Always 1; the labels say what runs.");
  const crypto = cryptoLibraryName(); // config cryptoLibrary
  o.sample("relay_build_info", { version: pkg.version, bun: Bun.version, protocol: "satp-anytun-0.3.8", crypto }, 1);
  const cpu = process.cpuUsage();
  o.family("process_cpu_seconds_total", "counter", "User and system CPU time spent, seconds.");
  o.sample("process_cpu_seconds_total", {}, (cpu.user + cpu.system) / 1e6);
  o.family("process_resident_memory_bytes", "gauge", "Resident memory size, bytes.");
  o.sample("process_resident_memory_bytes", {}, process.memoryUsage.rss());
  o.family("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, seconds.");
  o.sample("process_start_time_seconds", {}, Math.floor(startedAt / 1000));
  try {
    const fds = readdirSync("/proc/self/fd").length;
    o.family("process_open_fds", "gauge", "Open file descriptors.");
    o.sample("process_open_fds", {}, fds);
    const lim = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    if (lim) {
      o.family("process_max_fds", "gauge", "Limit of open file descriptors.");
      o.sample("process_max_fds", {}, Number(lim[1]));
    }
    const vm = /^VmSize:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (vm) {
      o.family("process_virtual_memory_bytes", "gauge", "Virtual memory size, bytes.");
      o.sample("process_virtual_memory_bytes", {}, Number(vm[1]) * 1024);
    }
  } catch {
    // no /proc (not Linux): the portable ones above are still there
  }
}
