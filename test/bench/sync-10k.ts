// Sync at scale, no root: two real servers (separate processes, loopback) with N synthetic clients
// each. S1 learns every client's endpoint (as if each had sent one packet), then S2 starts and
// syncs from S1. Prints: S2's time from link up to all N endpoints (snapshot convergence), the
// time for a burst of N endpoint changes on S1 to reach S2 (delta convergence), and each
// process's memory (RSS, JS heap) before and after the clients and their records. Side by side
// for both sync backends: the mesh (S2 dials S1), and NATS (a 2-node nats-server cluster on
// loopback, S1 on one node and S2 on the other; Debian's nats-server).
//   bun test/bench/sync-10k.ts [N=10000] [mesh|nats|both=both]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { heapStats } from "bun:jsc";
import { validateConfig } from "../../src/config.ts";
import { Logger } from "../../src/log.ts";
import { Server } from "../../src/server.ts";
import { BUILTIN } from "../../plugins/index.ts";
import { haveNats, NatsCluster } from "../lib/nats.ts";

const N = Number(process.argv[2] ?? 10000);
const which = process.argv[3] ?? "both";
const role = process.env.SYNC_BENCH_ROLE;
/** The NATS server URL of this role (nats runs), else the mesh. */
const natsUrl = process.env.NATS_URL;
const mem = () => ({ rssMiB: process.memoryUsage().rss / 2 ** 20, heapMiB: heapStats().heapSize / 2 ** 20 });
const KEY = "sync benchmark fleet key";

function config(id: number, syncPort: number, peer: number | null) {
  return validateConfig({
    mode: "server",
    senderId: id,
    listen: ["127.0.0.1:0"],
    admin: { enabled: false },
    crypto: { window: 64 },
    clients: Array.from({ length: N }, (_, i) => ({
      mux: i + 1,
      passphrase: `client ${i} secret`,
      routes: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`],
    })),
    sync:
      natsUrl !== undefined
        ? { backend: "nats", key: KEY, heartbeatMs: 1000, nats: { servers: [natsUrl], prefix: `bench${process.ppid}` } }
        : { listen: `127.0.0.1:${syncPort}`, peers: peer ? [`127.0.0.1:${peer}`] : [], key: KEY, heartbeatMs: 1000 },
    log: ["stderr:2"],
  });
}

const send = (m: unknown) => process.stdout.write(JSON.stringify(m) + "\n");

if (role === "s1") {
  const before = mem();
  const s = await Server.start(
    config(1, Number(process.env.SYNC_PORT), null),
    new Logger([], "text"),
    BUILTIN,
    process.cwd(),
  );
  const afterClients = mem();
  const learn = (port: number) => {
    for (const c of s.conns.all()) {
      c.endpoint = s.listeners[0]!.ingress.link("192.0.2.10", port + (c.mux % 20000));
      c.servedBy = 1;
      s.replication.endpointChanged(c);
    }
  };
  learn(10000);
  Bun.gc(true);
  send({ role, before, afterClients, afterRecords: mem() });
  // On "burst" from stdin: every endpoint changes at once (a mass NAT rebinding), timestamped.
  for await (const line of console) {
    if (line.trim() === "burst") {
      send({ burstAt: Date.now() });
      learn(30000);
    } else if (line.trim() === "quit") break;
  }
  s.stop();
  process.exit(0);
} else if (role === "s2") {
  const before = mem();
  const s = await Server.start(
    config(2, 0, Number(process.env.PEER_PORT)),
    new Logger([], "text"),
    BUILTIN,
    process.cwd(),
    false, // not waiting for readiness: the clock below starts as the sync backend does
  );
  const t0 = performance.now();
  const known = () => s.conns.all().filter((c) => c.endpoint !== null && c.endpoint.port >= 10000).length;
  while (known() < N) await Bun.sleep(2);
  const snapshotMs = performance.now() - t0;
  Bun.gc(true);
  send({ role, before, after: mem(), snapshotMs, peers: s.sync!.peers()[0] });
  for await (const line of console) {
    if (line.startsWith("watch")) {
      while (s.conns.all().some((c) => c.endpoint!.port < 30000)) await Bun.sleep(1);
      send({ burstDoneAt: Date.now() });
    } else if (line.trim() === "quit") break;
  }
  s.stop();
  process.exit(0);
} else {
  const runs = which === "both" ? ["mesh", "nats"] : [which];
  console.log(`bun ${Bun.version}; ${N} clients per server; records per client: ep (+ hwm while traffic flows)`);
  for (const backend of runs) {
    if (backend === "nats" && !haveNats) {
      console.log("nats: skipped (no nats-server; apt-get install nats-server)");
      continue;
    }
    const cluster = backend === "nats" ? await new NatsCluster(2).up() : null;
    console.log(
      `\n--- sync backend: ${backend}${cluster ? " (2-node nats-server cluster, S1 and S2 on different nodes)" : ""}`,
    );
    await run(cluster);
    await cluster?.stop();
  }
}

async function run(cluster: NatsCluster | null): Promise<void> {
  const dir = mkdtempSync(`${tmpdir()}/sync-bench-`);
  const port = 40000 + (process.pid % 2000);
  writeFileSync(`${dir}/x`, "");
  const spawn = (r: string, env: Record<string, string>) =>
    Bun.spawn([process.execPath, import.meta.path, String(N)], {
      env: { ...process.env, SYNC_BENCH_ROLE: r, ...env },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
  const lines = (p: ReturnType<typeof spawn>) => {
    const it = p.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    return async () => {
      for (;;) {
        const i = buf.indexOf("\n");
        if (i >= 0) {
          const l = buf.slice(0, i);
          buf = buf.slice(i + 1);
          return JSON.parse(l);
        }
        const { value, done } = await it.read();
        if (done) throw new Error("child ended");
        buf += value;
      }
    };
  };
  const t = performance.now();
  const nats = (i: number): Record<string, string> => (cluster ? { NATS_URL: cluster.url(i) } : {});
  const s1 = spawn("s1", { SYNC_PORT: String(port), ...nats(0) });
  const r1 = lines(s1);
  const m1 = await r1();
  const s1Ready = performance.now() - t;
  const s2 = spawn("s2", { PEER_PORT: String(port), ...nats(1) });
  const r2 = lines(s2);
  const m2 = await r2();
  s2.stdin.write("watch\n");
  s1.stdin.write("burst\n");
  const { burstAt } = await r1();
  const { burstDoneAt } = await r2();
  s1.stdin.write("quit\n");
  s2.stdin.write("quit\n");
  await Promise.all([s1.exited, s2.exited]);
  rmSync(dir, { recursive: true });
  const f = (x: number) => x.toFixed(1);
  console.log(`S1 start with ${N} clients + ${N} endpoint records: ${f(s1Ready)} ms (process start included)`);
  console.log(
    `S1 memory MiB: rss ${f(m1.before.rssMiB)} → ${f(m1.afterClients.rssMiB)} with clients → ${f(m1.afterRecords.rssMiB)} with records; heap ${f(m1.before.heapMiB)} → ${f(m1.afterClients.heapMiB)} → ${f(m1.afterRecords.heapMiB)}`,
  );
  console.log(
    `S2 snapshot convergence: all ${N} endpoints ${f(m2.snapshotMs)} ms after S2's sync backend started (connect, snapshot, apply); link rtt ${m2.peers.rttMs ?? "n/a"} ms`,
  );
  console.log(
    `S2 memory MiB: rss ${f(m2.before.rssMiB)} → ${f(m2.after.rssMiB)}; heap ${f(m2.before.heapMiB)} → ${f(m2.after.heapMiB)}`,
  );
  const ms = burstDoneAt - burstAt;
  console.log(
    `delta convergence: ${N} endpoint changes on S1 all applied on S2 after ${ms} ms (${f((N / Math.max(1, ms)) * 1000)} records/s in that burst)`,
  );
}
