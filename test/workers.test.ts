// Workers: the plan each worker runs with, the merged /metrics, the mesh's sibling discovery, and
// a real relay process tree on loopback (two workers): traffic through it, a replay from many
// source ports (SO_REUSEPORT would hash each to any worker), a worker killed with -9 and
// restarted, SIGTERM, and the supervisor killed with -9.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateConfig, ConfigError } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { SyncMesh } from "../src/sync/mesh.ts";
import { SyncStore } from "../src/sync/store.ts";
import { mergeMetrics } from "../src/workers/metrics.ts";
import { mergeClients, mergeNoise, mergeTcp } from "../src/workers/views.ts";
import { workerConfig, type TreePlan } from "../src/workers/plan.ts";
import { Client } from "./lib/satp-client.ts";
import { freePort } from "./lib/util.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const quiet = new Logger([], "text");
const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 10000) => {
  const end = performance.now() + ms;
  while (!(await ok())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
};

const plan = (index: number, over: Partial<TreePlan> = {}): TreePlan => ({
  index,
  count: 3,
  key: "k".repeat(64),
  token: "t".repeat(32),
  syncHost: "127.0.0.1",
  syncPorts: [7001, 7002, 7003],
  listen: null,
  ...over,
});

describe("plan", () => {
  test("worker i: sender id senderId + i * stride, its sync port, the earlier siblings as peers", () => {
    const cfg = validateConfig({
      mode: "server",
      workers: 3,
      senderId: 5,
      sync: { peers: ["192.0.2.7:2323"], key: "fleet key of sixteen+" },
    });
    const w = [0, 1, 2].map((i) => workerConfig(cfg, plan(i)));
    expect(w.map((c) => c.senderId)).toEqual([5, 1029, 2053]);
    expect(w.map((c) => c.sync.listen)).toEqual(["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]);
    expect(w[0]!.sync.peers).toEqual(["192.0.2.7:2323"]);
    expect(w[2]!.sync.peers).toEqual(["192.0.2.7:2323", "127.0.0.1:7001", "127.0.0.1:7002"]);
    expect(w.every((c) => c.reusePort && c.workers === 1 && c.sync.key === "fleet key of sixteen+")).toBe(true);
    expect(w[1]!.admin).toMatchObject({ listen: "127.0.0.1:0", token: "t".repeat(32), openHealth: false });
    expect(w[1]!.worker).toEqual({
      index: 1,
      count: 3,
      syncPorts: [7001, 7002, 7003],
      syncHost: "127.0.0.1",
      adminListen: "127.0.0.1:8080",
    });
    expect(cfg.senderId).toBe(5); // the loaded config is not changed
  });

  test("the fleet key wins over the tree's own; a wildcard sync host is dialed on loopback", () => {
    const cfg = validateConfig({ workers: 2, sync: { listen: "0.0.0.0:2323", key: "fleet key of sixteen+" } });
    const w = workerConfig(cfg, plan(1, { count: 2, syncPorts: [2323, 2324] }));
    expect(w.sync.key).toBe("fleet key of sixteen+");
    expect(w.sync.listen).toBe("0.0.0.0:2324");
    expect(w.sync.peers).toEqual(["127.0.0.1:2323"]);
  });

  test("config: sender ids that could collide, workers outside server mode, tcp.listen port 0", () => {
    const problems = (raw: Record<string, unknown>) => {
      try {
        validateConfig(raw);
        return [];
      } catch (e) {
        return (e as ConfigError).problems;
      }
    };
    expect(problems({ workers: 2, senderId: 1024 })[0]).toContain("must be below senderIdStride (1024)");
    expect(problems({ workers: 64, senderId: 3, senderIdStride: 2048 })[0]).toContain("over 65535");
    expect(problems({ workers: 2, mode: "peer", passphrase: "x" })[0]).toContain("server mode only");
    expect(problems({ workers: 2, tcp: { listen: ["127.0.0.1:0"], advertise: "127.0.0.1:1" } })[0]).toContain(
      "port 0 with workers",
    );
    expect(problems({ workers: "all" })[0]).toContain('an integer 1..256 or "auto"');
    expect(problems({ workers: "auto" })).toEqual([]);
  });
});

describe("merged metrics", () => {
  const w = (rx: number, clients: number, mem: number, ready: number) =>
    [
      "# HELP relay_rx_packets_total Packets in.",
      "# TYPE relay_rx_packets_total counter",
      `relay_rx_packets_total{listener="[::]:4444"} ${rx}`,
      "# HELP relay_clients Configured clients.",
      "# TYPE relay_clients gauge",
      `relay_clients ${clients}`,
      "# HELP process_resident_memory_bytes Resident memory size, bytes.",
      "# TYPE process_resident_memory_bytes gauge",
      `process_resident_memory_bytes ${mem}`,
      "# HELP relay_ready 1 when ready.",
      "# TYPE relay_ready gauge",
      `relay_ready ${ready}`,
      "# HELP relay_h A histogram.",
      "# TYPE relay_h histogram",
      `relay_h_bucket{le="0.5",x="a b}"} 2`,
      "relay_h_sum 1.25",
      "relay_h_count 2",
    ].join("\n");

  test("counters and histograms summed, replicated sizes the largest, memory summed, ready the smallest", () => {
    const out = mergeMetrics([w(10, 5, 100, 1), w(32, 5, 50, 0)]);
    expect(out).toContain('relay_rx_packets_total{listener="[::]:4444"} 42\n');
    expect(out).toContain("relay_clients 5\n");
    expect(out).toContain("process_resident_memory_bytes 150\n");
    expect(out).toContain("relay_ready 0\n");
    expect(out).toContain('relay_h_bucket{le="0.5",x="a b}"} 4\n');
    expect(out).toContain("relay_h_sum 2.5\n");
    expect(out.match(/# TYPE relay_clients gauge/g)?.length).toBe(1);
  });

  test("junk lines are skipped, not fatal", () => {
    expect(mergeMetrics(["relay_x{ 1", "no_value", "ok 3", "# TYPE"])).toBe("ok 3\n");
  });
});

describe("merged views", () => {
  test("/v1/tcp: flows of every worker tagged, counters summed", () => {
    const v = mergeTcp([
      { capture: ["10.0.0.1:4444"], stats: { takeovers: 1, held: { n: 2 } }, flows: [{ mux: 1 }], unicast: [] },
      { capture: ["10.0.0.1:4444"], stats: { takeovers: 2, held: { n: 3 } }, flows: [{ mux: 2 }], unicast: [{ r: 1 }] },
    ]);
    expect(v).toEqual({
      capture: ["10.0.0.1:4444"],
      stats: { takeovers: 3, held: { n: 5 } },
      flows: [
        { mux: 1, worker: 0 },
        { mux: 2, worker: 1 },
      ],
      unicast: [{ r: 1, worker: 1 }],
    });
  });

  test("/v1/noise: counts summed, sessions (replicated to every worker) the largest, under load if any is", () => {
    const v = mergeNoise([
      { publicKey: "K", sessions: 4, underLoad: false, dhOps: 8, handshakes: 2, macs: { badMac1: 5 } },
      { publicKey: "K", sessions: 3, underLoad: true, dhOps: 4, handshakes: 1, macs: { badMac1: 1 } },
    ]);
    expect(v).toEqual({ publicKey: "K", sessions: 4, underLoad: true, dhOps: 12, handshakes: 3, macs: { badMac1: 6 } });
  });

  test("/v1/clients: one entry per client, counters summed, the rest from the worker that heard it last", () => {
    const c = (w: number, ago: number | null, n: number) => ({
      mux: 7,
      endpoint: ago === null ? null : { address: `10.0.0.${w}` },
      lastSeenSecondsAgo: ago,
      packets: { in: n, out: n },
      bytes: { in: 10 * n, out: 0 },
      movedIn: w,
    });
    const [m] = mergeClients([[c(1, 5, 3)], [c(2, 0.5, 4)], [c(3, null, 0)]]);
    expect(m).toMatchObject({ endpoint: { address: "10.0.0.2" }, packets: { in: 7, out: 7 }, bytes: { in: 70 } });
    expect(m!.movedIn).toBe(6);
  });
});

describe("mesh: worker siblings learned from a peer", () => {
  const meshes: SyncMesh[] = [];
  afterAll(() => meshes.forEach((m) => m.stop()));

  test("a server dialing one worker of another links with all of that server's workers", async () => {
    const key = "sibling test fleet key";
    const base = { key, heartbeatMs: 200, staleMs: 5000, data: false };
    // B: two workers (nodes 2 and 1026) on two free ports; B1 dials B0, both know the list.
    const free = () => {
      const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      const p = l.port;
      l.stop(true);
      return p;
    };
    const siblings = [free(), free()];
    const member = (node: number, i: number, peers: { host: string; port: number }[]) =>
      new SyncMesh(
        new SyncStore(node),
        { ...base, node, listen: { host: "127.0.0.1", port: siblings[i]! }, peers, siblings, siblingHost: "127.0.0.1" },
        quiet,
      );
    const B0 = member(2, 0, []);
    const B1 = member(1026, 1, [{ host: "127.0.0.1", port: siblings[0]! }]);
    await B0.start();
    await B1.start();
    meshes.push(B0, B1);
    // A: a lone server configured with B0's address only learns B1 from B0's authentication.
    const A = new SyncMesh(
      new SyncStore(1),
      { ...base, node: 1, peers: [{ host: "127.0.0.1", port: siblings[0]! }] },
      quiet,
    );
    await A.start();
    meshes.push(A);
    await until("A linked with both of B's workers", () =>
      [2, 1026].every((n) => A.peers().some((p) => p.node === n && p.state === "up")),
    );
    expect(A.peers().map((p) => p.address)).toEqual(siblings.map((p) => `127.0.0.1:${p}`));
    // B1 links with A through A's dial (A has no listener): every pair of members has a link.
    await until("B1 sees A", () => B1.peers().some((p) => p.node === 1 && p.state === "up"));
  });
});

const isLinux = process.platform === "linux";

describe.if(isLinux)("a relay with two workers (real processes)", () => {
  const dir = mkdtempSync(join(tmpdir(), "workers-"));
  const procs: Bun.Subprocess[] = [];
  const clients: Client[] = [];
  afterAll(() => {
    for (const c of clients) c.sock?.close();
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
  });

  async function start(name: string) {
    const admin = freePort();
    const file = join(dir, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        workers: 2,
        senderId: 3,
        listen: ["127.0.0.1:0"],
        admin: { listen: `127.0.0.1:${admin}` },
        drainSeconds: 0.5,
        log: [`file:5,${join(dir, `${name}.log`)}`],
        sync: { hwmIntervalMs: 20, heartbeatMs: 200, readyGraceMs: 300 },
        clients: [
          { mux: 1, passphrase: "worker test one", routes: ["10.9.0.1/32"] },
          { mux: 2, passphrase: "worker test two", routes: ["10.9.0.2/32"] },
          { mux: 3, passphrase: "worker test three", routes: ["10.9.0.3/32"] },
        ],
      }),
    );
    const proc = Bun.spawn([process.execPath, `${ROOT}relay.ts`, "--config", file], {
      env: process.env,
      stdout: "ignore",
      stderr: "pipe",
    });
    procs.push(proc);
    const api = `http://127.0.0.1:${admin}`;
    await until(
      "the tree is ready",
      async () => (await fetch(`${api}/readyz`).catch(() => null))?.status === 200,
      20000,
    );
    const workers = (await (await fetch(`${api}/v1/workers`)).json()) as {
      workers: { pid: number; senderId: number; restarts: number; state: string }[];
    };
    const status = (await (await fetch(`${api}/v1/status`)).json()) as { listeners: { name: string }[] };
    const port = Number(status.listeners[0]!.name.split(":").pop());
    return { proc, api, port, workers: workers.workers };
  }

  const ipv4 = (src: number, dst: number, n: number) => {
    const p = new Uint8Array(28);
    p[0] = 0x45;
    p[3] = 28;
    p[8] = 64;
    p[9] = 17;
    p.set([10, 9, 0, src], 12);
    p.set([10, 9, 0, dst], 16);
    new DataView(p.buffer).setUint32(24, n);
    return p;
  };
  const metric = async (api: string, re: RegExp) => {
    const text = await (await fetch(`${api}/metrics`)).text();
    return [...text.matchAll(re)].reduce((s, m) => s + Number(m[1]), 0);
  };

  test("traffic, a replay from 40 source ports, a worker killed and restarted, SIGTERM", async () => {
    const t = await start("tree");
    expect(t.workers.map((w) => w.senderId)).toEqual([3, 1027]);
    const a = new Client(1, "worker test one");
    const b = new Client(2, "worker test two");
    clients.push(a, b);
    await a.open();
    await b.open();
    // Both clients announce themselves; then 200 packets each way.
    b.send(t.port, ipv4(2, 1, 0));
    a.send(t.port, ipv4(1, 2, 0));
    await until("first packets across", () =>
      b.got.length > 0 && a.got.length > 0
        ? true
        : (b.send(t.port, ipv4(2, 1, 0)), a.send(t.port, ipv4(1, 2, 0)), false),
    );
    const aBefore = a.got.length;
    const bBefore = b.got.length;
    for (let i = 1; i <= 200; i++) {
      a.send(t.port, ipv4(1, 2, i));
      b.send(t.port, ipv4(2, 1, i));
    }
    await until("200 each way", () => b.got.length - bBefore >= 200 && a.got.length - aBefore >= 200);
    expect(b.got.length - bBefore).toBe(200);
    expect(a.got.length - aBefore).toBe(200);

    // An on-path attacker copies a's next packet and sends the copy from 40 other source ports
    // at once, racing the original: SO_REUSEPORT alone would hash copies to the other worker,
    // before any sync could tell it about the original; steered by mux they all meet a's one
    // replay window.
    const socks = await Promise.all(
      Array.from({ length: 40 }, () => Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data() {} } })),
    );
    const replayed = b.got.length;
    a.send(t.port, ipv4(1, 2, 5000));
    const captured = a.last.slice();
    for (const s of socks) s.send(captured, t.port, "127.0.0.1");
    await Bun.sleep(300);
    for (const s of socks) s.close();
    expect(b.got.length - replayed).toBe(1); // the original, once
    expect(await metric(t.api, /^relay_drops_total\{reason="replay"\} (\d+)/gm)).toBe(40);
    // The same race on a client's very first packet (no endpoint known anywhere yet), the
    // attacker's copies ahead of the original (a faster path): without steering, copies hashed
    // to the worker that does not get the original are the first it sees of that seq.
    const c = new Client(3, "worker test three");
    clients.push(c);
    await c.open();
    const socks2 = await Promise.all(
      Array.from({ length: 40 }, () => Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data() {} } })),
    );
    const firstCopies = b.got.length;
    const first = new Uint8Array(2048);
    const len = c.session.seal(first, 0, 0x0800, ipv4(3, 2, 1));
    for (const s of socks2) s.send(first.subarray(0, len), t.port, "127.0.0.1");
    c.sock.send(first.subarray(0, len), t.port, "127.0.0.1");
    await Bun.sleep(300);
    for (const s of socks2) s.close();
    expect(b.got.length - firstCopies).toBe(1);
    // Each client's packets reached one worker only (the kernel steered them by mux).
    const perWorker = await Promise.all(
      [0, 1].map(
        async (w) =>
          (await (await fetch(`${t.api}/v1/clients?worker=${w}`)).json()) as {
            mux: number;
            packets: { in: number };
          }[],
      ),
    );
    for (const mux of [1, 2, 3]) {
      const ins = perWorker.map((list) => list.find((x) => x.mux === mux)!.packets.in);
      expect(ins.filter((n) => n > 0).length).toBe(1);
    }

    // a's endpoint did not move: b still reaches a.
    const aNow = a.got.length;
    b.send(t.port, ipv4(2, 1, 999));
    await until("b reaches a", () => a.got.length > aNow);

    // /metrics: one text for the tree; the clients' packets in counted once in all.
    const m = await (await fetch(`${t.api}/metrics`)).text();
    expect(m).toContain("relay_workers 2");
    expect(m).toContain("relay_clients 3\n");
    expect(m.match(/# TYPE relay_clients gauge/g)?.length).toBe(1);

    // Worker 1 killed with -9: the tree is not ready until it is back; traffic goes on.
    process.kill(t.workers[1]!.pid, "SIGKILL");
    await until("not ready while worker 1 is down", async () => (await fetch(`${t.api}/readyz`)).status === 503, 3000);
    await until("ready again", async () => (await fetch(`${t.api}/readyz`)).status === 200, 15000);
    const after = (await (await fetch(`${t.api}/v1/workers`)).json()) as {
      workers: { pid: number; restarts: number }[];
    };
    expect(after.workers[1]!.restarts).toBe(1);
    expect(after.workers[1]!.pid).not.toBe(t.workers[1]!.pid);
    expect(after.workers[0]!.pid).toBe(t.workers[0]!.pid);
    expect(await metric(t.api, /^relay_worker_restarts_total\{worker="1"\} (\d+)/gm)).toBe(1);
    const bAfter = b.got.length;
    for (let i = 1000; i < 1050; i++) a.send(t.port, ipv4(1, 2, i));
    await until("traffic after the restart", () => b.got.length - bAfter >= 50);

    // SIGTERM: every worker drains and exits, then the supervisor (exit 0).
    const pids = after.workers.map((w) => w.pid);
    t.proc.kill("SIGTERM");
    expect(await t.proc.exited).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 60000);

  test("the supervisor killed with -9: its workers stop by themselves", async () => {
    const t = await start("orphans");
    t.proc.kill("SIGKILL");
    await t.proc.exited;
    await until(
      "workers gone",
      () =>
        t.workers.every((w) => {
          try {
            process.kill(w.pid, 0);
            return false;
          } catch {
            return true;
          }
        }),
      5000,
    );
    const alive = t.workers.filter((w) => {
      try {
        process.kill(w.pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
  }, 30000);
});
