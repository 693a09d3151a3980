// The rooms' layer order (ARCHITECTURE.md), enforced: every value import of src/, plugins/ and
// relay.ts goes to the same or a lower layer, and the import graph has no cycle. Type-only
// imports are left out (they vanish at run time). Part of `bun run check`; exits 1 listing what
// breaks the order.
//   1 codecs and pure machines   net/ satp/ tcp/ dns/ sync/wire log libc rate drops config flags ...
//   2 replicated tables          sync/store marks slices replicate, state, routing, hold, nat/table
//   3 devices and transports     tun, capture, transport/, sync/link mesh data nats
//   4 datapath and plugin chain  datapath, pipeline, plugin-sdk, client
//   5 plugins                    plugins/
//   6 roles and lifecycle        server, peer, relay-client, admin, metrics, status, ui/, workers/ ...
//   7 entry                      relay.ts
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname;

/** Path prefix → layer; the first match wins. */
export const LAYERS: [string, number][] = [
  ["relay.ts", 7],
  ["plugins/", 5],
  ["src/workers/", 6],
  ["src/ui/", 6],
  ["src/server.ts", 6],
  ["src/server-parts.ts", 6],
  ["src/server-sync.ts", 6],
  ["src/server-noise.ts", 6],
  ["src/peer.ts", 6],
  ["src/relay-client.ts", 6],
  ["src/admin.ts", 6],
  ["src/metrics.ts", 6],
  ["src/status.ts", 6],
  ["src/systemd.ts", 6],
  ["src/demo.ts", 6],
  ["src/datapath.ts", 4],
  ["src/pipeline.ts", 4],
  ["src/plugin-sdk.ts", 4],
  ["src/client.ts", 4],
  ["src/tun.ts", 3],
  ["src/capture.ts", 3],
  ["src/transport/framing.ts", 1],
  ["src/transport/turn.ts", 1],
  ["src/transport/", 3],
  ["src/sync/wire.ts", 1],
  ["src/sync/nats-wire.ts", 1],
  ["src/sync/backend.ts", 3],
  ["src/sync/dialer.ts", 3],
  ["src/sync/link.ts", 3],
  ["src/sync/mesh.ts", 3],
  ["src/sync/data.ts", 3],
  ["src/sync/nats", 3],
  ["src/sync/", 2],
  ["src/state.ts", 2],
  ["src/routing.ts", 2],
  ["src/hold.ts", 2],
  ["src/", 1],
];

/** Lines a file under src/ or plugins/ may have at most. */
export const MAX_LINES = 400;

export function layerOf(path: string): number {
  for (const [prefix, n] of LAYERS) if (path === prefix || path.startsWith(prefix)) return n;
  throw new Error(`${path}: no layer (add it to scripts/layers.ts)`);
}

function files(): string[] {
  const out: string[] = ["relay.ts"];
  const walk = (d: string) => {
    for (const f of readdirSync(join(ROOT, d))) {
      const p = join(d, f);
      if (statSync(join(ROOT, p)).isDirectory()) walk(p);
      else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
    }
  };
  walk("src");
  walk("plugins");
  return out;
}

/** The relative .ts files `file` imports for their values (not `import type`, not all-`type` braces). */
export function valueImports(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+([^;]*?)\s+from\s+"(\.[^"]+\.ts)";/gms)) {
    const clause = m[1]!;
    if (/^type\s/.test(clause)) continue;
    const braces = /^\{([^}]*)\}$/.exec(clause.trim());
    if (
      braces &&
      braces[1]!
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean)
        .every((x) => x.startsWith("type "))
    )
      continue;
    out.push(relative(ROOT, resolve(ROOT, dirname(file), m[2]!)));
  }
  return out;
}

export function check(): string[] {
  const problems: string[] = [];
  const graph = new Map<string, string[]>();
  for (const f of files()) {
    const text = readFileSync(join(ROOT, f), "utf8");
    graph.set(f, valueImports(f, text));
    const lines = text.split("\n").length - 1;
    if (f !== "relay.ts" && lines > MAX_LINES)
      problems.push(`${f}: ${lines} lines; a room over ${MAX_LINES} does several jobs (split it along a seam)`);
  }
  for (const [f, deps] of graph) {
    const lf = layerOf(f);
    for (const d of deps) {
      const ld = layerOf(d);
      if (ld > lf)
        problems.push(`${f} (layer ${lf}) imports ${d} (layer ${ld}): a lower layer must not import a higher`);
    }
  }
  // cycles: depth-first search with colours
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (f: string) => {
    state.set(f, 1);
    stack.push(f);
    for (const d of graph.get(f) ?? []) {
      if (d === f) continue; // a module's own namespace (plugin-sdk.ts), not a cycle
      if (state.get(d) === 1) problems.push(`import cycle: ${[...stack.slice(stack.indexOf(d)), d].join(" → ")}`);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return problems;
}

if (import.meta.main) {
  const problems = check();
  for (const p of problems) console.error(p);
  if (problems.length) process.exit(1);
  console.log(`layers: ${files().length} files, every import in order, no cycle`);
}
