// Sync at scale, no root: two real servers (separate processes, loopback) with N synthetic clients
// each. S1 learns every client's endpoint (as if each had sent one packet), then S2 starts and
// syncs from S1. Prints: S2's time from link up to all N endpoints (snapshot convergence), the
// time for a burst of N endpoint changes on S1 to reach S2 (delta convergence), and each
// process's memory (RSS, JS heap) before and after the clients and their records.
//   bun test/bench/sync-10k.ts [N=10000]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { heapStats } from "bun:jsc";
import { validateConfig } from "../../src/config.ts";
import { Logger } from "../../src/log.ts";
import { Server } from "../../src/server.ts";
import { BUILTIN } from "../../plugins/index.ts";

const N = Number(process.argv[2] ?? 10000);
const role = process.env.SYNC_BENCH_ROLE;
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
    sync: { listen: `127.0.0.1:${syncPort}`, peers: peer ? [`127.0.0.1:${peer}`] : [], key: KEY, heartbeatMs: 1000 },
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
  );
  const t0 = performance.now();
  const known = () => s.conns.all().filter((c) => c.endpoint !== null && c.endpoint.port >= 10000).length;
  while (known() < N) await Bun.sleep(2);
  const snapshotMs = performance.now() - t0;
  Bun.gc(true);
  send({ role, before, after: mem(), snapshotMs, peers: s.mesh!.peers()[0] });
  for await (const line of console) {
    if (line.startsWith("watch")) {
      while (s.conns.all().some((c) => c.endpoint!.port < 30000)) await Bun.sleep(1);
      send({ burstDoneAt: Date.now() });
    } else if (line.trim() === "quit") break;
  }
  s.stop();
  process.exit(0);
} else {
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
  const s1 = spawn("s1", { SYNC_PORT: String(port) });
  const r1 = lines(s1);
  const m1 = await r1();
  const s1Ready = performance.now() - t;
  const s2 = spawn("s2", { PEER_PORT: String(port) });
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
  console.log(`bun ${Bun.version}; ${N} clients per server; records per client: ep (+ hwm while traffic flows)`);
  console.log(`S1 start with ${N} clients + ${N} endpoint records: ${f(s1Ready)} ms (process start included)`);
  console.log(
    `S1 memory MiB: rss ${f(m1.before.rssMiB)} → ${f(m1.afterClients.rssMiB)} with clients → ${f(m1.afterRecords.rssMiB)} with records; heap ${f(m1.before.heapMiB)} → ${f(m1.afterClients.heapMiB)} → ${f(m1.afterRecords.heapMiB)}`,
  );
  console.log(
    `S2 snapshot convergence: all ${N} endpoints ${f(m2.snapshotMs)} ms after S2 started (dial, handshake, snapshot, apply); link rtt ${m2.peers.rttMs ?? "n/a"} ms`,
  );
  console.log(
    `S2 memory MiB: rss ${f(m2.before.rssMiB)} → ${f(m2.after.rssMiB)}; heap ${f(m2.before.heapMiB)} → ${f(m2.after.heapMiB)}`,
  );
  console.log(`delta convergence: ${N} endpoint changes on S1 all applied on S2 after ${burstDoneAt - burstAt} ms`);
}
