// Prometheus text exposition (format 0.0.4) of the server's counters. Built on request from the
// live counters; nothing on the hot path beyond the increments themselves.
import { DROP_REASONS } from "./drops.ts";
import type { Server } from "./server.ts";

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
  for (const l of s.listeners)
    o.inOut(
      "relay_transport_packets_total",
      { transport: "udp", listener: l.name },
      l.udp.stats.rxPackets,
      l.udp.stats.txPackets,
    );
  o.family("relay_transport_bytes_total", "counter", "Datagram bytes per transport listener and direction.");
  for (const l of s.listeners)
    o.inOut(
      "relay_transport_bytes_total",
      { transport: "udp", listener: l.name },
      l.udp.stats.rxBytes,
      l.udp.stats.txBytes,
    );
  o.family("relay_transport_send_errors_total", "counter", "Datagrams the socket refused (buffer full, ICMP errors).");
  for (const l of s.listeners)
    o.sample("relay_transport_send_errors_total", { transport: "udp", listener: l.name }, l.udp.stats.txErrors);
  o.family(
    "relay_transport_callback_errors_total",
    "counter",
    "Datagrams whose receive path threw (a bug): dropped, the socket kept reading.",
  );
  for (const l of s.listeners)
    o.sample(
      "relay_transport_callback_errors_total",
      { transport: "udp", listener: l.name },
      l.udp.stats.rxCallbackErrors,
    );

  o.family("relay_client_packets_total", "counter", "Authenticated SATP packets per client (mux) and direction.");
  for (const c of s.conns.all())
    o.inOut("relay_client_packets_total", { mux: c.mux, client: c.name }, c.rxPackets, c.txPackets);
  o.family("relay_client_bytes_total", "counter", "SATP bytes per client (mux) and direction.");
  for (const c of s.conns.all())
    o.inOut("relay_client_bytes_total", { mux: c.mux, client: c.name }, c.rxBytes, c.txBytes);

  o.family("relay_drops_total", "counter", "Packets dropped, by reason.");
  for (const r of DROP_REASONS) o.sample("relay_drops_total", { reason: r }, s.drops[r]);
  for (const [r, n] of s.pluginDrops) o.sample("relay_drops_total", { reason: r }, n);
  o.family("relay_keepalives_total", "counter", "Authenticated packets without payload (keepalives).");
  o.sample("relay_keepalives_total", {}, s.keepalivesIn);
  o.family("relay_endpoint_changes_total", "counter", "Times a client's endpoint was learned or moved.");
  o.sample("relay_endpoint_changes_total", {}, s.endpointChanges);
  o.family("relay_plugin_events_total", "counter", "Plugin-defined events.");
  for (const [k, n] of s.pluginEvents) {
    const [plugin, event] = k.split("\u0000") as [string, string];
    o.sample("relay_plugin_events_total", { plugin, event }, n);
  }
  o.family(
    "relay_client_moved_total",
    "counter",
    "Packets that arrived here while another server had served the client last.",
  );
  for (const c of s.conns.all()) o.sample("relay_client_moved_total", { mux: c.mux, client: c.name }, c.movedIn);

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

  const st = s.store;
  o.family("relay_sync_records_total", "counter", "Sync records sent (local writes), received and applied (won).");
  o.sample("relay_sync_records_total", { direction: "out" }, st.recordsOut);
  o.sample("relay_sync_records_total", { direction: "in" }, st.recordsIn);
  o.sample("relay_sync_records_total", { direction: "applied" }, st.recordsApplied);
  o.sample("relay_sync_records_total", { direction: "refused" }, st.recordsRefused);
  o.family("relay_sync_records", "gauge", "Records held per table (live) and how many are stale.");
  for (const [table, n] of Object.entries(st.counts())) {
    o.sample("relay_sync_records", { table, state: "live" }, n.live);
    o.sample("relay_sync_records", { table, state: "stale" }, n.stale);
  }
  const m = s.mesh;
  if (m !== null) {
    const peers = m.peers();
    o.family("relay_sync_links_up", "gauge", "Sync links up.");
    o.sample("relay_sync_links_up", {}, peers.filter((p) => p.state === "up").length);
    o.family("relay_sync_lag_seconds", "gauge", "Seconds since the last frame from each peer (-1 while down).");
    for (const p of peers)
      o.sample("relay_sync_lag_seconds", { peer: p.address, node: p.node ?? "" }, p.lagSeconds ?? -1);
    o.family("relay_sync_events_total", "counter", "Sync link events.");
    for (const [event, n] of Object.entries(m.stats)) o.sample("relay_sync_events_total", { event }, n);
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
  return o.text();
}
