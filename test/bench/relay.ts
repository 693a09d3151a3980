// Relay benchmark (root): datagrams/s a plain UDP sink receives from a sender, in one run, over
// plain kernel forwarding and through this relay's relay mode (relay-client role → server's relay
// plugin → peer). The sender floods for a few seconds; the sink counts.
//   bun test/bench/relay.ts [seconds=5] [size=1200]
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S (+10.201.0.1, relay)
//                   └ 203.0.113.1 ── 203.0.113.10 P (sink)
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { BUN, Lab, RELAY, ROOT } from "../lib/netns.ts";

const secs = Number(process.argv[2] ?? 5);
const size = Number(process.argv[3] ?? 1200);
const STEP = Number(process.argv[4] ?? 3);
if (process.getuid?.() !== 0) {
  console.error("needs root (network namespaces)");
  process.exit(2);
}
const ANY = "10.201.0.1";
const PEER = "203.0.113.10";
const lab = new Lab("rb");
const dir = `/tmp/${lab.prefix}-logs`;
const BLASTER = `${dir}/blaster`;
const SINK = `const n = { c: 0 }; await Bun.udpSocket({ hostname: "${PEER}", port: Number(process.argv[1]), socket: { data() { n.c++; } } }); await Bun.sleep(${(secs + 2) * 1000}); console.log(n.c); process.exit(0);`;
const FLOOD = (host: string, port: number) =>
  `const s = await Bun.udpSocket({}); const b = new Uint8Array(${size}); const end = performance.now() + ${secs * 1000}; let sent = 0;
   while (performance.now() < end) { const batch = []; for (let i = 0; i < 32; i++) batch.push(b, ${port}, "${host}"); try { sent += s.sendMany(batch); } catch {} await new Promise((r) => setImmediate(r)); }
   console.log(sent); process.exit(0);`;
// CPU seconds of a process (utime + stime; `ip netns exec` execs, so the pid is the relay's)
const cpu = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
};
/** UDP RcvbufErrors of a namespace, from /proc/net/snmp. */
const rcvbufErrors = (n: string): number => {
  const lines = lab
    .exec(n, ["cat", "/proc/net/snmp"])
    .split("\n")
    .filter((l) => l.startsWith("Udp:"));
  const [k, v] = [lines[0]!.split(/\s+/), lines[1]!.split(/\s+/)];
  return Number(v[k.indexOf("RcvbufErrors")]);
};
try {
  const a = lab.ns("a"),
    r = lab.ns("r"),
    s = lab.ns("s"),
    p = lab.ns("p");
  lab.link(a, "10.203.11.1/30", r, "10.203.11.2/30");
  lab.link(s, "10.203.1.1/30", r, "10.203.1.2/30");
  lab.link(p, `${PEER}/24`, r, "203.0.113.1/24");
  lab.exec(r, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  // The sinks' socket buffers (the Bun sink's default one too): 32 MiB, so what P counts is what
  // reached P, not what a burst overflowed in a 208 KiB buffer (GSO delivers runs at once).
  lab.exec(p, ["sysctl", "-qw", `net.core.rmem_max=${32 << 20}`, `net.core.rmem_default=${32 << 20}`]);
  lab.exec(a, ["ip", "route", "add", "default", "via", "10.203.11.2"]);
  lab.exec(p, ["ip", "route", "add", "default", "via", "203.0.113.1"]);
  lab.exec(r, ["ip", "route", "add", `${ANY}/32`, "via", "10.203.1.1"]);
  lab.exec(s, ["ip", "addr", "add", `${ANY}/32`, "dev", "lo"]);
  lab.exec(s, ["ip", "route", "add", "default", "via", "10.203.1.2", "src", ANY]);
  lab.exec(a, ["mkdir", "-p", dir]);
  if (Bun.spawnSync(["cc", "-O2", "-o", BLASTER, `${ROOT}test/bench/blaster.c`]).exitCode !== 0)
    throw new Error("cannot compile test/bench/blaster.c (apt-get install gcc)");
  writeFileSync(
    `${dir}/s.json`,
    JSON.stringify({
      mode: "server",
      listen: [`${ANY}:4444`],
      clients: [{ mux: 1, passphrase: "bench", routes: ["10.99.0.1/32"] }],
      plugins: [{ use: "relay", address: ANY, maxBytesPerAllocation: 0 }],
      drainSeconds: 0,
      log: ["stdout:3"],
    }),
  );
  // BENCH_PROFILE=dir: the server and the relay client write CPU profiles there (markdown too).
  const relayArgv = (name: string) =>
    process.env.BENCH_PROFILE && RELAY.length === 2
      ? [RELAY[0]!, "--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${process.env.BENCH_PROFILE}/${name}`, RELAY[1]!]
      : [...RELAY];
  const server = lab.spawn(s, [...relayArgv("server"), "--config", `${dir}/s.json`], `${dir}/s.log`);
  await Bun.sleep(1000);
  // The relay client runs through both paths (the plain one does not touch it).
  const rc = lab.spawn(
    a,
    [
      ...relayArgv("relay-client"),
      "--mode",
      "relay-client",
      "-r",
      ANY,
      "-p",
      "4444",
      "-m",
      "1",
      "-e",
      "client",
      "-E",
      "bench",
      "--relay-peer",
      `${PEER}:7002`,
      "--relay-local",
      "127.0.0.1:5000",
    ],
    `${dir}/rc.log`,
  );
  await lab.until("allocated", () => readFileSync(`${dir}/rc.log`, "utf8").includes("relay: "));
  const paths = [
    { name: "plain kernel forwarding", host: PEER, port: 7001, sinkPort: 7001 },
    { name: "relay mode (client role + server)", host: "127.0.0.1", port: 5000, sinkPort: 7002 },
  ];
  const relayCpu = () => cpu(server.pid) + cpu(rc.pid);

  // 1. The flood: a Bun sender flat out (as the issue measured it).
  const floodRows: string[] = [];
  for (const x of paths) {
    const sink = Bun.spawn(["ip", "netns", "exec", p, BUN, "-e", SINK, String(x.sinkPort)], { stdout: "pipe" });
    await Bun.sleep(300);
    const c0 = { s: cpu(server.pid), c: cpu(rc.pid) };
    const p0 = rcvbufErrors(p);
    const sent = Number(lab.exec(a, [BUN, "-e", FLOOD(x.host, x.port)]).trim());
    const load = `server ${(((cpu(server.pid) - c0.s) / secs) * 100).toFixed(0)}%, relay client ${(((cpu(rc.pid) - c0.c) / secs) * 100).toFixed(0)}%`;
    const got = Number((await new Response(sink.stdout).text()).trim());
    // what reached P's socket: what the sink read plus what overflowed its buffer meanwhile (the
    // Bun sink shares the two cores with the sender and, in relay mode, both relays)
    const atP = got + rcvbufErrors(p) - p0;
    // where datagrams were lost: each namespace's UDP receive-buffer drops (/proc/net/snmp)
    const drops = [a, s, p].map((n) => `${n.split("-").pop()} ${rcvbufErrors(n)}`).join(", ");
    floodRows.push(
      `| ${x.name} | ${(sent / secs / 1000).toFixed(1)} | ${(got / secs / 1000).toFixed(1)} | ${(atP / secs / 1000).toFixed(1)} | ${x.port === 5000 ? load : ""} | ${drops} |`,
    );
  }

  // 2. Capacity: a paced C load generator (sendmmsg) and a C sink (recvmmsg), both far cheaper
  // than a Bun process; the highest offered rate delivered with < 1% loss, found as capacity.ts
  // does (coarse steps up to the first loss, then bisections).
  const recs = Buffer.alloc((size + 2) * 256);
  for (let i = 0; i < 256; i++) recs.writeUInt16BE(size, i * (size + 2));
  writeFileSync(`${dir}/packets.bin`, recs);
  const step = async (x: (typeof paths)[number], rate: number) => {
    for (let i = 0; i < 20; i++) {
      const c = relayCpu();
      await Bun.sleep(250);
      if (relayCpu() - c < 0.02) break; // the last step's backlog is drained
    }
    const sink = Bun.spawn(["ip", "netns", "exec", p, BLASTER, "sink", PEER, String(x.sinkPort), String(STEP + 1)], {
      stdout: "pipe",
    });
    await Bun.sleep(300);
    const c0 = relayCpu();
    const out = lab.exec(a, [
      BLASTER,
      "send",
      x.host,
      String(x.port),
      `${dir}/packets.bin`,
      "1",
      String(rate),
      String(STEP),
    ]);
    const cpuS = relayCpu() - c0;
    const sent = Number(/sent (\d+)/.exec(out)?.[1] ?? 0);
    const got = Number(/received (\d+)/.exec(await new Response(sink.stdout).text())?.[1] ?? 0);
    return { loss: sent > 0 ? 1 - got / sent : 1, sent, got, cpuS };
  };
  const RATES = process.env.BENCH_RATE
    ? [Number(process.env.BENCH_RATE)]
    : [20000, 40000, 80000, 140000, 240000, 320000, 400000, 500000, 650000, 800000, 1000000, 1400000, 2000000];
  const capRows: string[] = [];
  const best: number[] = [];
  for (const x of paths) {
    let lo = 0;
    let hi = 0;
    let us = 0;
    let delivered = 0; // datagrams/s the sink counted at the best passing step (the generator may fall short of its rate)
    const ok = async (rate: number) => {
      const r = await step(x, rate);
      const cpuNote =
        x.port === 5000 ? `, relay CPU ${((r.cpuS * 1e6) / Math.max(1, r.got)).toFixed(1)} µs/datagram` : "";
      console.log(
        `  ${x.name}: offered ${rate}/s (sent ${Math.round(r.sent / STEP)}/s), loss ${(r.loss * 100).toFixed(2)}%${cpuNote}`,
      );
      if (r.loss < 0.01 && r.got / STEP > delivered) {
        us = (r.cpuS * 1e6) / Math.max(1, r.got);
        delivered = r.got / STEP;
      }
      return r.loss < 0.01;
    };
    for (const rate of RATES) {
      if (await ok(rate)) lo = rate;
      else {
        hi = rate;
        break;
      }
    }
    for (let i = 0; i < 3 && hi > 0; i++) {
      const mid = Math.round((lo + hi) / 2 / 1000) * 1000;
      if (mid <= lo || mid >= hi) break;
      if (await ok(mid)) lo = mid;
      else hi = mid;
    }
    best.push(delivered);
    capRows.push(
      `| ${x.name} | ${(lo / 1000).toFixed(0)}${hi === 0 ? "+" : ""} | ${(delivered / 1000).toFixed(0)} | ${x.port === 5000 ? us.toFixed(1) : ""} |`,
    );
  }
  await lab.stop(rc);

  console.log(`bun ${Bun.version}; ${size}-byte datagrams from A to P; ${os.cpus().length} cores, nothing pinned`);
  console.log(`\nFlood (a Bun sender flat out for ${secs} s; it takes a core of its own):`);
  console.log(
    "| path | offered kpps | received at P kpps | reached P's socket kpps | relay CPU (of a core) | UDP receive-buffer drops so far |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const r of floodRows) console.log(r);
  console.log(`\nCapacity (C sendmmsg sender paced, C recvmmsg sink, ${STEP} s steps):`);
  console.log(
    "| path | highest offered rate with < 1% loss, kpps | delivered there, kpps | relay CPU µs per datagram (client + server) |",
  );
  console.log("|---|---|---|---|");
  for (const r of capRows) console.log(r);
  console.log(
    `relay mode / plain forwarding (delivered): ${best[0] ? ((best[1]! / best[0]) * 100).toFixed(0) : "?"}%${capRows[0]!.includes("+") ? " (plain forwarding passed the highest step: its ceiling is higher)" : ""}`,
  );
} finally {
  await lab.cleanup();
}
