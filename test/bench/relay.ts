// Relay benchmark (root): datagrams/s a plain UDP sink receives from a sender, in one run, over
// plain kernel forwarding and through this relay's relay mode (relay-client role → server's relay
// plugin → peer). The sender floods for a few seconds; the sink counts.
//   bun test/bench/relay.ts [seconds=5] [size=1200]
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S (+10.201.0.1, relay)
//                   └ 203.0.113.1 ── 203.0.113.10 P (sink)
import { readFileSync, writeFileSync } from "node:fs";
import { BUN, Lab, RELAY, ROOT } from "../lib/netns.ts";

const secs = Number(process.argv[2] ?? 5);
const size = Number(process.argv[3] ?? 1200);
if (process.getuid?.() !== 0) {
  console.error("needs root (network namespaces)");
  process.exit(2);
}
const ANY = "10.201.0.1";
const PEER = "203.0.113.10";
const lab = new Lab("rb");
const dir = `/tmp/${lab.prefix}-logs`;
const SINK = `const n = { c: 0 }; await Bun.udpSocket({ hostname: "${PEER}", port: Number(process.argv[1]), socket: { data() { n.c++; } } }); await Bun.sleep(${(secs + 2) * 1000}); console.log(n.c); process.exit(0);`;
const FLOOD = (host: string, port: number) =>
  `const s = await Bun.udpSocket({}); const b = new Uint8Array(${size}); const end = performance.now() + ${secs * 1000}; let sent = 0;
   while (performance.now() < end) { const batch = []; for (let i = 0; i < 32; i++) batch.push(b, ${port}, "${host}"); try { sent += s.sendMany(batch); } catch {} await new Promise((r) => setImmediate(r)); }
   console.log(sent); process.exit(0);`;
try {
  const a = lab.ns("a"),
    r = lab.ns("r"),
    s = lab.ns("s"),
    p = lab.ns("p");
  lab.link(a, "10.203.11.1/30", r, "10.203.11.2/30");
  lab.link(s, "10.203.1.1/30", r, "10.203.1.2/30");
  lab.link(p, `${PEER}/24`, r, "203.0.113.1/24");
  lab.exec(r, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  lab.exec(a, ["ip", "route", "add", "default", "via", "10.203.11.2"]);
  lab.exec(p, ["ip", "route", "add", "default", "via", "203.0.113.1"]);
  lab.exec(r, ["ip", "route", "add", `${ANY}/32`, "via", "10.203.1.1"]);
  lab.exec(s, ["ip", "addr", "add", `${ANY}/32`, "dev", "lo"]);
  lab.exec(s, ["ip", "route", "add", "default", "via", "10.203.1.2", "src", ANY]);
  lab.exec(a, ["mkdir", "-p", dir]);
  writeFileSync(
    `${dir}/s.json`,
    JSON.stringify({
      mode: "server",
      listen: [`${ANY}:4444`],
      clients: [{ mux: 1, passphrase: "bench", routes: ["10.99.0.1/32"] }],
      plugins: [{ use: "relay", address: ANY, maxBytesPerAllocation: 0 }],
      log: ["stdout:3"],
    }),
  );
  lab.spawn(s, [...RELAY, "--config", `${dir}/s.json`], `${dir}/s.log`);
  const rows: string[] = [];
  for (const [path, port] of [
    ["plain kernel forwarding", 7001],
    ["relay mode (client role + server)", 7002],
  ] as const) {
    const sink = Bun.spawn(["ip", "netns", "exec", p, BUN, "-e", SINK, String(port)], { stdout: "pipe" });
    let target = { host: PEER, port: port as number };
    let rc: ReturnType<typeof lab.spawn> | undefined;
    if (port === 7002) {
      rc = lab.spawn(
        a,
        [
          BUN,
          `${ROOT}relay.ts`,
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
          `${PEER}:${port}`,
          "--relay-local",
          "127.0.0.1:5000",
        ],
        `${dir}/rc.log`,
      );
      await lab.until("allocated", () => readFileSync(`${dir}/rc.log`, "utf8").includes("relay: "));
      target = { host: "127.0.0.1", port: 5000 };
    }
    await Bun.sleep(300);
    const sent = Number(lab.exec(a, [BUN, "-e", FLOOD(target.host, target.port)]).trim());
    const got = Number((await new Response(sink.stdout).text()).trim());
    if (rc) await lab.stop(rc);
    rows.push(`| ${path} | ${(sent / secs / 1000).toFixed(1)} | ${(got / secs / 1000).toFixed(1)} |`);
  }
  console.log(`bun ${Bun.version}; ${size}-byte datagrams, ${secs} s flood from A to P`);
  console.log("| path | offered kpps | received at P kpps |");
  console.log("|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  await lab.cleanup();
}
