// One /metrics for a server with workers: the workers' Prometheus texts merged series by series.
// Counters and histograms are summed (the tree's totals). A gauge is a size of something: the
// ones that are per process (memory, descriptors, flows a worker terminates) are summed; the
// replicated tables every worker holds whole (clients, records, bindings) would count N times
// when summed, so they take the largest worker's value; up/ready/uptime take the smallest (the
// tree is ready when every worker is). Pure text in, text out.

/** Gauges that are per worker, so the tree's value is their sum. */
const SUM_GAUGES = new Set([
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_open_fds",
  "relay_tcp_anycast_flows",
  "relay_sync_links_up",
]);
/** Gauges that are 1 (or a time) only when every worker's is. */
const MIN_GAUGES = new Set(["relay_up", "relay_ready", "relay_uptime_seconds"]);

interface Family {
  name: string;
  help: string | null;
  type: string | null;
  samples: Map<string, number>; // "name{labels}" → value
}

/** The series part ("name" or "name{...}") and value of a sample line, or null. */
function sample(line: string): [string, number] | null {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!m) return null;
  let i = m[1]!.length;
  if (line[i] === "{") {
    let quoted = false;
    for (i++; i < line.length; i++) {
      const ch = line[i];
      if (quoted) {
        if (ch === "\\") i++;
        else if (ch === '"') quoted = false;
      } else if (ch === '"') quoted = true;
      else if (ch === "}") break;
    }
    if (i >= line.length) return null;
    i++;
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const value = Number(rest[0]);
  if (rest[0] === undefined || rest[0] === "" || Number.isNaN(value)) return null;
  return [line.slice(0, i), value];
}

function familyOf(name: string, types: Map<string, Family>): Family | undefined {
  return (
    types.get(name) ??
    types.get(name.replace(/_(bucket|sum|count)$/, "")) ??
    types.get(name.replace(/_total$/, "")) ??
    undefined
  );
}

export function mergeMetrics(texts: readonly string[]): string {
  const families = new Map<string, Family>();
  const order: Family[] = [];
  const get = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, help: null, type: null, samples: new Map() };
      families.set(name, f);
      order.push(f);
    }
    return f;
  };
  for (const text of texts) {
    for (const line of text.split("\n")) {
      if (line === "") continue;
      const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (meta) {
        const f = get(meta[2]!);
        if (meta[1] === "HELP") f.help ??= meta[3]!;
        else f.type ??= meta[3]!;
        continue;
      }
      if (line.startsWith("#")) continue;
      const s = sample(line);
      if (s === null) continue;
      const [series, value] = s;
      const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(series)![0];
      const f = familyOf(name, families) ?? get(name);
      const old = f.samples.get(series);
      if (old === undefined) {
        f.samples.set(series, value);
        continue;
      }
      const gauge = f.type === "gauge";
      f.samples.set(
        series,
        !gauge || SUM_GAUGES.has(f.name)
          ? old + value
          : MIN_GAUGES.has(f.name)
            ? Math.min(old, value)
            : Math.max(old, value),
      );
    }
  }
  const out: string[] = [];
  for (const f of order) {
    if (f.samples.size === 0 && f.help === null) continue;
    if (f.help !== null) out.push(`# HELP ${f.name} ${f.help}`);
    if (f.type !== null) out.push(`# TYPE ${f.name} ${f.type}`);
    for (const [series, value] of f.samples)
      out.push(`${series} ${Number.isInteger(value) ? value : +value.toPrecision(12)}`);
  }
  return out.join("\n") + "\n";
}
