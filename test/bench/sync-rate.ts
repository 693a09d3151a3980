// Sustained sync rate, no root, side by side for the mesh and NATS (a 2-node nats-server cluster
// on loopback, writer and reader on different nodes): one process holds a writer and a reader
// (each its own store and backend, as two servers would); the writer changes endpoint records at
// a fixed offered rate for a few seconds (10,000 keys, round robin); the reader counts what it
// applied. Prints per offered rate: records/s applied while offered, and how long the reader
// needed after the writer stopped to hold the last value of every key (the backlog).
//   bun test/bench/sync-rate.ts [seconds=3] [rates=20000,50000,100000,200000]
import { Logger } from "../../src/log.ts";
import type { SyncBackend } from "../../src/sync/backend.ts";
import { SyncMesh } from "../../src/sync/mesh.ts";
import { NatsBackend } from "../../src/sync/nats.ts";
import { SyncStore } from "../../src/sync/store.ts";
import { haveNats, NatsCluster } from "../lib/nats.ts";

const secs = Number(process.argv[2] ?? 3);
const rates = (process.argv[3] ?? "20000,50000,100000,200000").split(",").map(Number);
const KEYS = 10000;
const KEY = "sync rate benchmark fleet key";
const quiet = new Logger([], "text");

async function pair(kind: "mesh" | "nats", cluster: NatsCluster | null, round: number) {
  const w = new SyncStore(1);
  const r = new SyncStore(2);
  let bw: SyncBackend, br: SyncBackend;
  if (kind === "mesh") {
    const mw = new SyncMesh(
      w,
      { node: 1, key: KEY, listen: { host: "127.0.0.1", port: 0 }, peers: [], heartbeatMs: 1000, staleMs: 60000 },
      quiet,
    );
    await mw.start();
    const mr = new SyncMesh(
      r,
      { node: 2, key: KEY, peers: [{ host: "127.0.0.1", port: mw.listenPort }], heartbeatMs: 1000, staleMs: 60000 },
      quiet,
    );
    bw = mw;
    br = mr;
  } else {
    const o = { key: KEY, heartbeatMs: 1000, staleMs: 60000, prefix: `rate${process.pid}.${round}` };
    bw = new NatsBackend(w, { ...o, node: 1, servers: [cluster!.url(0)] }, quiet);
    br = new NatsBackend(r, { ...o, node: 2, servers: [cluster!.url(1)] }, quiet);
    await bw.start();
  }
  await br.start();
  while (!br.peers().some((p) => p.state === "up" && p.snapshotReceived)) await Bun.sleep(10);
  return { w, r, stop: () => (bw.stop(), br.stop()) };
}

async function run(kind: "mesh" | "nats", cluster: NatsCluster | null) {
  const rows: string[] = [];
  let round = 0;
  for (const rate of rates) {
    const { w, r, stop } = await pair(kind, cluster, round++);
    const applied0 = r.recordsApplied;
    let written = 0;
    const t0 = performance.now();
    // every 10 ms, the records due by now
    while (performance.now() - t0 < secs * 1000) {
      const due = Math.floor(((performance.now() - t0) / 1000) * rate);
      for (; written < due; written++) w.set("ep", `k${written % KEYS}`, { a: "192.0.2.1", p: written });
      await Bun.sleep(10);
    }
    const tEnd = performance.now();
    const appliedWhile = r.recordsApplied - applied0;
    const last = written - 1;
    const lastOf = (k: number) => last - ((last - k) % KEYS);
    const caughtUp = () => {
      for (let k = 0; k < Math.min(KEYS, written); k++)
        if ((r.get("ep", `k${k}`) as { p: number } | undefined)?.p !== lastOf(k)) return false;
      return true;
    };
    while (!caughtUp() && performance.now() - tEnd < 30000) await Bun.sleep(5);
    const backlogMs = performance.now() - tEnd;
    rows.push(
      `| ${kind} | ${rate} | ${((written / (tEnd - t0)) * 1000).toFixed(0)} | ${((appliedWhile / (tEnd - t0)) * 1000).toFixed(0)} | ${caughtUp() ? backlogMs.toFixed(0) : "> 30000"} |`,
    );
    stop();
    await Bun.sleep(200);
  }
  return rows;
}

console.log(`bun ${Bun.version}; ${KEYS} endpoint keys, ${secs} s per offered rate; writer and reader in one process`);
console.log(
  "| backend | offered records/s | written records/s | applied at the reader records/s | reader caught up after, ms |",
);
console.log("|---|---|---|---|---|");
for (const r of await run("mesh", null)) console.log(r);
if (haveNats) {
  const cluster = await new NatsCluster(2).up();
  for (const r of await run("nats", cluster)) console.log(r);
  await cluster.stop();
} else console.log("| nats | skipped: no nats-server | | | |");
process.exit(0);
