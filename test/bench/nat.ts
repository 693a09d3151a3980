// NAT benchmark (root): in one run, iperf3 TCP and UDP from A to a "world" host W by plain
// kernel forwarding, and through the tunnel and the server's NAT (this relay's client → server
// with the nat plugin → W), each over IPv4 and over IPv6 (NAT66, `address6`). Also the binding
// table's creation rate in-process.
//   bun test/bench/nat.ts [seconds=5]
//
//   A 10.203.11.1 / 2001:db8:c0::1 ─ R ─ 10.203.1.1 / 2001:db8:1::1 S (+10.201.0.1, 2001:db8:201::1: nat)
//                                    └ 203.0.113.1 / 2001:db8:203::1 ── 203.0.113.10 / 2001:db8:203::10 W
import { readFileSync, writeFileSync } from "node:fs";
import { iperfMbps, Lab, RELAY, relayClient } from "../lib/netns.ts";
import { NatTable } from "../../plugins/nat/table.ts";
import { PROTO_UDP } from "../../src/net/ip.ts";
import { SyncStore } from "../../src/sync/store.ts";

const secs = Number(process.argv[2] ?? 5);
if (process.getuid?.() !== 0) {
  console.error("needs root (network namespaces)");
  process.exit(2);
}
const ANY = "10.201.0.1";
const WORLD = "203.0.113.10";
const ANY6 = "2001:db8:201::1";
const WORLD6 = "2001:db8:203::10";
const lab = new Lab("nb", { ipv6: true });
const dir = `/tmp/${lab.prefix}-logs`;
try {
  const a = lab.ns("a"),
    r = lab.ns("r"),
    s = lab.ns("s"),
    w = lab.ns("w");
  const six = (n: string, dev: string, addr: string) =>
    lab.exec(n, ["ip", "-6", "addr", "add", addr, "dev", dev, "nodad"]);
  for (const [n, [da, db], x, y] of [
    [a, lab.link(a, "10.203.11.1/30", r, "10.203.11.2/30"), "2001:db8:c0::1/64", "2001:db8:c0::2/64"],
    [s, lab.link(s, "10.203.1.1/30", r, "10.203.1.2/30"), "2001:db8:1::1/64", "2001:db8:1::2/64"],
    [w, lab.link(w, `${WORLD}/24`, r, "203.0.113.1/24"), `${WORLD6}/64`, "2001:db8:203::1/64"],
  ] as const) {
    six(n, da, x);
    six(r, db, y);
  }
  lab.exec(r, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
  lab.exec(a, ["ip", "-6", "route", "add", "default", "via", "2001:db8:c0::2"]);
  lab.exec(w, ["ip", "-6", "route", "add", "default", "via", "2001:db8:203::1"]);
  lab.exec(r, ["ip", "-6", "route", "add", `${ANY6}/128`, "via", "2001:db8:1::1"]);
  lab.exec(s, ["ip", "-6", "addr", "add", `${ANY6}/128`, "dev", "lo"]);
  lab.exec(s, ["ip", "-6", "route", "add", "default", "via", "2001:db8:1::2", "src", ANY6]);
  lab.exec(a, ["ip", "route", "add", "default", "via", "10.203.11.2"]);
  lab.exec(w, ["ip", "route", "add", "default", "via", "203.0.113.1"]);
  lab.exec(r, ["ip", "route", "add", `${ANY}/32`, "via", "10.203.1.1"]);
  lab.exec(s, ["ip", "addr", "add", `${ANY}/32`, "dev", "lo"]);
  lab.exec(s, ["ip", "route", "add", "default", "via", "10.203.1.2", "src", ANY]);
  lab.exec(a, ["mkdir", "-p", dir]);
  const cfg = {
    mode: "server",
    senderId: 1,
    listen: [`${ANY}:4444`],
    clients: [{ mux: 1, passphrase: "bench", routes: ["10.99.0.1/32", "2001:db8:99::1/128"] }],
    plugins: [{ use: "routes" }, { use: "nat", address: ANY, address6: ANY6, allow: ["2001:db8:203::/64"] }],
    log: ["stdout:3"],
    drainSeconds: 0,
  };
  writeFileSync(`${dir}/s.json`, JSON.stringify(cfg));
  // BENCH_PROFILE=dir: the server and the client write CPU profiles there (markdown too) when they stop.
  const prof = (name: string) =>
    process.env.BENCH_PROFILE
      ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${process.env.BENCH_PROFILE}/${name}`]
      : [];
  const server = lab.spawn(
    s,
    [RELAY[0]!, ...prof("server"), ...RELAY.slice(1), "--config", `${dir}/s.json`],
    `${dir}/s.log`,
  );
  lab.spawn(w, ["iperf3", "-s", "-B", WORLD], `${dir}/iperf.log`);
  lab.spawn(w, ["iperf3", "-s", "-B", WORLD6, "-p", "5202"], `${dir}/iperf6.log`);
  const clientArgv = relayClient(ANY, 4444, 1, "bench", "10.99.0.1/24", ["--mtu", "1400"]);
  clientArgv.splice(1, 0, ...prof("client"));
  const client = lab.spawn(a, clientArgv, `${dir}/a.log`);
  // CPU seconds of a process, user and system (`ip netns exec` execs, so the pid is the relay's).
  // System time includes the softirq work that runs in its context (veth forwarding, the
  // receiver's socket), so it is not all the relay's own.
  const cpu = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
  };
  const share = (a: { user: number; sys: number }, b: { user: number; sys: number }) => {
    const pct = (x: number) => ((x / secs) * 100).toFixed(0);
    return `${pct(b.user + b.sys - a.user - a.sys)}% (user ${pct(b.user - a.user)}%)`;
  };
  await lab.until("client", () => lab.hasDevice(a, "sat0"));
  await Bun.sleep(500);
  await lab.until("A's inner IPv6 address on sat0", () => {
    try {
      lab.exec(a, ["ip", "-6", "addr", "replace", "2001:db8:99::1/64", "dev", "sat0", "nodad"]);
      return true;
    } catch {
      return false;
    }
  });
  // UDP datagrams the kernel dropped at a full socket receive buffer in namespace `n` (/proc/net/snmp is per namespace)
  const rcvbufErrors = (n: string) => {
    const lines = lab
      .exec(n, ["cat", "/proc/net/snmp"])
      .split("\n")
      .filter((l) => l.startsWith("Udp: "));
    const [names, values] = [lines[0]!.split(/\s+/), lines[1]!.split(/\s+/)];
    return Number(values[names.indexOf("RcvbufErrors")]);
  };
  const run = (to: string, port: number, args: string[]) =>
    lab.exec(a, ["iperf3", "-c", to, "-p", String(port), "-t", String(secs), "-J", ...args], { ok: true });
  const udpPps = (json: string) => {
    const j = JSON.parse(json) as { end?: { sum?: { packets?: number; lost_packets?: number; seconds?: number } } };
    const sum = j.end?.sum;
    return sum?.packets && sum.seconds ? (sum.packets - (sum.lost_packets ?? 0)) / sum.seconds : 0;
  };
  const rows: string[] = [];
  for (const path of ["plain forwarding", "tunnel + NAT"] as const)
    for (const family of [4, 6] as const) {
      const [net, to, port] = family === 4 ? ["203.0.113.0/24", WORLD, 5201] : ["2001:db8:203::/64", WORLD6, 5202];
      const ipf = family === 4 ? "-4" : "-6";
      if (path === "tunnel + NAT") lab.exec(a, ["ip", ipf, "route", "replace", net, "dev", "sat0"]);
      else lab.exec(a, ["ip", ipf, "route", "del", net], { ok: true });
      const tcp = iperfMbps(run(to, port, []));
      const c0 = { s: cpu(server.pid), c: cpu(client.pid) };
      const rcvbuf0 = rcvbufErrors(s);
      const udp = udpPps(run(to, port, ["-u", "-b", process.env.BENCH_UDP_RATE ?? "0", "-l", "1300"]));
      // Where packets are lost: the client's TUN drops what it does not read in time (TX dropped).
      const dropped = lab.exec(a, ["sh", "-c", "cat /sys/class/net/sat0/statistics/tx_dropped"], { ok: true }).trim();
      const serverDropped = rcvbufErrors(s) - rcvbuf0;
      const load = `server ${share(c0.s, cpu(server.pid))}, client ${share(c0.c, cpu(client.pid))} of a core; sat0 dropped ${dropped} packets so far; the server's socket overflowed ${serverDropped} times in this run`;
      const name =
        path === "plain forwarding"
          ? `plain forwarding, IPv${family}`
          : family === 4
            ? "tunnel + NAT (IPv4)"
            : "tunnel + NAT66 (IPv6)";
      rows.push(
        `| ${name} | ${tcp.toFixed(0)} | ${(udp / 1000).toFixed(1)} | ${path === "plain forwarding" ? "" : load} |`,
      );
    }
  const t = new NatTable(
    new SyncStore(1),
    1,
    [20000, 59999],
    { udp: 300, tcpEstablished: 7440, tcpTransitory: 240, icmp: 60 },
    1 << 20,
  );
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) t.create(PROTO_UDP, 1 + (i % 500), 0x0a630001 + i, 40000 + (i % 1000), Date.now());
  const perSec = n / ((performance.now() - t0) / 1000);
  console.log(`bun ${Bun.version}; iperf3 ${secs}s, A → W (${WORLD}, ${WORLD6}), MTU 1400 tunnel`);
  console.log("| path | TCP Mbit/s | UDP 1300 B received kpps | relay CPU during the UDP run |");
  console.log("|---|---|---|---|");
  for (const r of rows) console.log(r);
  console.log(`binding creation (NatTable.create incl. the sync record): ${Math.round(perSec)} bindings/s in-process`);
} finally {
  await lab.cleanup();
}
