// Capacity benchmark (prints, asserts nothing): the server alone on loopback, pinned to one core,
// against a load generator that costs far less than it (test/bench/blaster.c: pre-sealed SATP
// packets from many client source ports, sendmmsg; a recvmmsg sink as client B), for the product
// (`bun relay.ts`, server mode) and the minimal reference relay (test/bench/ref-relay.ts) in the
// same run. For 100 B and 1400 B inner packets and 1 and 1000 sending clients it prints the
// highest offered rate delivered with < 1% loss and the relay's CPU µs per relayed packet.
//   bun test/bench/capacity.ts [seconds-per-step=3] [sizes=100,1400] [clients=1,1000] [relays]
// relays: a comma list of reference, product, product-w2 (the product with `workers: 2`, both
// workers on the relay's one core: what a second worker costs), product-w2-all (2 workers free to
// use every core, the load generator's too), product-node (one worker with `cryptoLibrary: "node"`:
// the reference's own crypto, so the ratio of the two is the rest of the path); default
// reference,product. CPU is the whole
// process tree's (supervisor and workers). Each step starts after the relay's socket backlog
// from the step before has drained.
// Both relays run with no replay window (anytun's -w 0) so a ring of pre-sealed packets can be
// resent; the product otherwise runs its full path (routing, source check, hold, metrics).
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { HEADER_LEN, PT_IPV4 } from "../../src/satp/codec.ts";
import { SatpCrypto } from "../../src/satp/crypto.ts";
import { deriveMaster } from "../../src/satp/suite.ts";
import { checksum } from "../../src/net/checksum.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const STEP = Number(process.argv[2] ?? 3);
const SIZES = (process.argv[3] ?? "100,1400").split(",").map(Number);
const CLIENTS = (process.argv[4] ?? "1,1000").split(",").map(Number);
type Kind = "reference" | "product" | "product-node" | "product-w2" | "product-w2-all";
const KINDS = (process.argv[5] ?? "reference,product").split(",") as Kind[];
const PREFIX = "capacity bench ";
const suite = { cipher: "aes-ctr", auth: "sha1", tagLength: 10, kdPrf: "aes-ctr" } as const;
const dir = mkdtempSync(`${tmpdir()}/relay-capacity-`);
const BLASTER = `${dir}/blaster`;
const cores = Number(Bun.spawnSync(["nproc"]).stdout.toString().trim());
const SERVER_CPU = String(cores - 1);
const LOAD_CPU = cores > 1 ? "0" : "0";
if (Bun.spawnSync(["cc", "-O2", "-o", BLASTER, `${ROOT}test/bench/blaster.c`]).exitCode !== 0)
  throw new Error("cannot compile test/bench/blaster.c (apt-get install gcc)");

/** Inner IPv4/UDP packet of `size` bytes from 10.98.x.y (client c's own address) to B. */
function inner(c: number, size: number, i: number): Uint8Array {
  const p = new Uint8Array(size);
  p.set([0x45, 0, size >> 8, size & 255, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 98, (c >> 8) & 255, c & 255, 10, 99, 0, 2]);
  const hc = checksum(p, 0, 20);
  p[10] = hc >> 8;
  p[11] = hc & 255;
  p.set([0x30, 0x39, 0x30, 0x39, (size - 20) >> 8, (size - 20) & 255, 0, 0], 20); // UDP, no checksum
  p[28] = i & 255;
  return p;
}

/** The packets file: client c (mux c) owns records c-1, c-1+C, ...; ~32k records in all. */
function packets(clients: number, size: number): string {
  const per = Math.max(8, Math.floor(32768 / clients));
  const cryptos = Array.from(
    { length: clients },
    (_, k) => new SatpCrypto(suite, deriveMaster("aes-ctr", { passphrase: `${PREFIX}${k + 1}` }), "right"),
  );
  const recs: Uint8Array[] = [];
  const buf = new Uint8Array(2048);
  /** Seals `pkt` as (seq, sender 0, mux) with `c`; the datagram's length in buf. */
  const sealIn = (c: SatpCrypto, seq: number, mux: number, pkt: Uint8Array) => {
    buf[HEADER_LEN] = PT_IPV4 >> 8;
    buf[HEADER_LEN + 1] = PT_IPV4 & 255;
    buf.set(pkt, HEADER_LEN + 2);
    return c.seal(seq, 0, mux, buf, pkt.length + 2);
  };
  for (let r = 0; r < per; r++)
    for (let k = 0; k < clients; k++) {
      const n = sealIn(cryptos[k]!, r, k + 1, inner(k + 1, size, r));
      const rec = new Uint8Array(2 + n);
      rec[0] = n >> 8;
      rec[1] = n & 255;
      rec.set(buf.subarray(0, n), 2);
      recs.push(rec);
    }
  const path = `${dir}/packets-${clients}-${size}.bin`;
  writeFileSync(path, Buffer.concat(recs));
  // the sink's hello: mux clients+1, from 10.99.0.2
  const b = new SatpCrypto(suite, deriveMaster("aes-ctr", { passphrase: `${PREFIX}${clients + 1}` }), "right");
  const hello = inner(0, 64, 0);
  hello.set([10, 99, 0, 2, 10, 99, 0, 1], 12);
  const n = sealIn(b, 0, clients + 1, hello);
  writeFileSync(`${dir}/hello-${clients}.bin`, buf.subarray(0, n));
  return path;
}

interface Relay {
  pid: number;
  /** CPU µs per second with no traffic (timers, sync heartbeats; more with more workers). */
  idleUs: number;
  stop(): Promise<void>;
}
const PORT = 46000 + (process.pid % 500);

async function startRelay(kind: Kind, clients: number): Promise<Relay> {
  let argv: string[];
  if (kind !== "reference") {
    const cfg = {
      mode: "server",
      workers: kind === "product" || kind === "product-node" ? 1 : 2,
      cryptoLibrary: kind === "product-node" ? "node" : "auto",
      listen: [`127.0.0.1:${PORT}`],
      admin: { enabled: false },
      crypto: { window: 0 },
      clients: [
        ...Array.from({ length: clients }, (_, k) => ({
          mux: k + 1,
          passphrase: `${PREFIX}${k + 1}`,
          routes: [`10.98.${((k + 1) >> 8) & 255}.${(k + 1) & 255}/32`],
        })),
        { mux: clients + 1, passphrase: `${PREFIX}${clients + 1}`, routes: ["10.99.0.2/32"] },
      ],
      udpBuffers: { receive: 32 << 20, send: 32 << 20 },
      log: ["stderr:1"],
      drainSeconds: 0,
      stateDir: `${dir}/state`,
    };
    writeFileSync(`${dir}/server.json`, JSON.stringify(cfg));
    argv = [process.execPath, `${ROOT}relay.ts`, "--config", `${dir}/server.json`];
  } else argv = [process.execPath, `${ROOT}test/bench/ref-relay.ts`, String(PORT), String(clients + 1), PREFIX];
  const cpus = kind === "product-w2-all" ? `0-${cores - 1}` : SERVER_CPU;
  const p = Bun.spawn(["taskset", "-c", cpus, ...argv], { stdout: "pipe", stderr: "inherit", env: process.env });
  await Bun.sleep(
    kind === "reference" ? 800 : kind === "product" || kind === "product-node" ? 1500 + clients : 3500 + clients,
  );
  const idle = cpuSeconds(p.pid);
  await Bun.sleep(1000);
  const idleUs = (cpuSeconds(p.pid) - idle) * 1e6; // what the relay costs with no traffic, per s
  return {
    pid: p.pid,
    idleUs,
    async stop() {
      p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), 3000);
      await p.exited;
      clearTimeout(t);
    },
  };
}

/** CPU seconds of `pid` and its descendants (a supervisor and its workers). */
const cpuSeconds = (pid: number): number => {
  let total = 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    total = (Number(f[11]) + Number(f[12])) / 100;
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    for (const k of kids === "" ? [] : kids.split(" ")) total += cpuSeconds(Number(k));
  } catch {
    // gone meanwhile
  }
  return total;
};

/** One step: offered `rate` for STEP s; delivered fraction and CPU µs per delivered packet. */
async function step(relay: Relay, file: string, clients: number, rate: number) {
  const sinkPort = PORT + 1000;
  // The relay's socket buffers may still hold the last step's backlog: wait until it is idle.
  for (let i = 0; i < 20; i++) {
    const c = cpuSeconds(relay.pid);
    await Bun.sleep(250);
    if ((cpuSeconds(relay.pid) - c) * 4e6 < relay.idleUs * 1.5 + 20000) break;
  }
  const sink = Bun.spawn(
    [
      "taskset",
      "-c",
      LOAD_CPU,
      BLASTER,
      "sink",
      "127.0.0.1",
      String(sinkPort),
      String(STEP + 1),
      "127.0.0.1",
      String(PORT),
      `${dir}/hello-${clients}.bin`,
    ],
    { stdout: "pipe" },
  );
  await Bun.sleep(300);
  const cpu0 = cpuSeconds(relay.pid);
  const send = Bun.spawnSync([
    "taskset",
    "-c",
    LOAD_CPU,
    BLASTER,
    "send",
    "127.0.0.1",
    String(PORT),
    file,
    String(clients),
    String(rate),
    String(STEP),
  ]);
  const cpu1 = cpuSeconds(relay.pid);
  const sent = Number(/sent (\d+)/.exec(send.stdout.toString())?.[1] ?? 0);
  const out = await new Response(sink.stdout).text();
  await sink.exited;
  const got = Number(/received (\d+)/.exec(out)?.[1] ?? 0);
  return {
    sent,
    got,
    loss: sent > 0 ? 1 - got / sent : 1,
    usPerPacket: got > 0 ? ((cpu1 - cpu0) * 1e6) / got : Infinity,
  };
}

// Both relays get the same socket buffers: the reference relay cannot set SO_RCVBUF (Bun has no
// API for it; the product does it through /proc and bun:ffi), so the system default is raised
// for the run (root) and put back afterwards.
const rmem = (v?: string) =>
  v === undefined
    ? readFileSync("/proc/sys/net/core/rmem_default", "utf8").trim()
    : writeFileSync("/proc/sys/net/core/rmem_default", v);
const rmemBefore = rmem() as string;
try {
  rmem(String(32 << 20));
} catch {
  console.log("  (not root: the reference relay keeps the default socket buffer; its loss is then the kernel's)");
}
process.on("exit", () => {
  try {
    rmem(rmemBefore);
  } catch {}
});

const RATES = [20000, 40000, 60000, 80000, 100000, 120000, 140000, 160000, 200000];
const rows: string[] = [];
for (const size of SIZES)
  for (const clients of CLIENTS) {
    const file = packets(clients, size);
    for (const kind of KINDS) {
      const relay = await startRelay(kind, clients);
      let best = { rate: 0, got: 0, us: 0 };
      let peak = 0;
      const tryRate = async (rate: number) => {
        const r = await step(relay, file, clients, rate);
        peak = Math.max(peak, Math.round(r.got / STEP));
        console.log(
          `  ${kind.padEnd(9)} ${String(size).padStart(4)} B ${String(clients).padStart(4)} clients: offered ${rate}/s → ${Math.round(r.got / STEP)}/s delivered, loss ${(r.loss * 100).toFixed(2)}%, ${r.usPerPacket.toFixed(1)} µs CPU/packet`,
        );
        if (r.loss < 0.01 && rate > best.rate) best = { rate, got: Math.round(r.got / STEP), us: r.usPerPacket };
        return r.loss < 0.01;
      };
      // Up in coarse steps until loss, then three bisections between the last good and the first bad.
      let lo = 0;
      let hi = 0;
      for (const rate of RATES) {
        if (await tryRate(rate)) lo = rate;
        else {
          hi = rate;
          break;
        }
      }
      for (let i = 0; i < 3 && hi > 0; i++) {
        const mid = Math.round((lo + hi) / 2 / 1000) * 1000;
        if (mid <= lo || mid >= hi) break;
        if (await tryRate(mid)) lo = mid;
        else hi = mid;
      }
      await relay.stop();
      rows.push(
        `| ${kind} | ${size} B | ${clients} | ${best.rate.toLocaleString("en")} | ${peak.toLocaleString("en")} | ${best.us.toFixed(1)} |`,
      );
    }
  }
console.log(
  "\n| relay | inner size | sending clients | highest offered pkt/s with < 1% loss | most delivered pkt/s | CPU µs per relayed packet (at that rate) |",
);
console.log("|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
console.log(
  `\n(${cores} cores: relay pinned to CPU ${SERVER_CPU}, blaster and sink to CPU ${LOAD_CPU}; ${STEP} s per step)`,
);
rmSync(dir, { recursive: true, force: true });
if (existsSync(dir)) process.exit(1);
