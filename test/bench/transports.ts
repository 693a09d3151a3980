// Transports benchmark (root): the same two-server anycast topology as the e2e tests (AnycastPair),
// once per transport, in one run: SATP over UDP (this relay's client, and stock anytun 0.3.8 as
// reference), tcp-unicast and tcp-anycast (UDP to the anycast address blackholed at the router
// for the TCP rows). Per row: iperf3 TCP A → B through the tunnel, ping RTT, and the failover
// stall: a 16 MiB download B → A while R's route for the anycast address flips S1 → S2 (S1 stays
// up), then the same with S1 killed (-9); the stall is the longest wait between two body chunks
// at the downloader (the helper serves 64 KiB every 4 ms, so ~4 ms is "no stall").
//   bun test/bench/transports.ts [iperf-seconds=5]
import { AnycastPair, anytunClient, BUN, configureTun, have, iperfMbps, Lab, ROOT } from "../lib/netns.ts";

const secs = Number(process.argv[2] ?? 5);
if (process.getuid?.() !== 0 || !have("iperf3")) {
  console.error("needs root and iperf3");
  process.exit(2);
}
const ANY = AnycastPair.ANY;
const HELPER = `${ROOT}test/lib/programs/world.ts`;
type Row = {
  name: string;
  mbps: number;
  rttMs: number;
  flipStall: number;
  flipOk: boolean;
  killStall: number;
  killOk: boolean;
};
const rows: Row[] = [];

async function once(name: string, transport: "udp" | "tcp-unicast" | "tcp-anycast", anytun: boolean): Promise<Row> {
  const lab = new Lab("tb");
  const dir = `/tmp/${lab.prefix}-logs`;
  try {
    const pair = new AnycastPair(lab, ["a", "b"]);
    const ns = { a: pair.clients.a!, b: pair.clients.b! };
    if (transport !== "udp")
      lab.exec(pair.r, ["ip", "rule", "add", "pref", "10", "to", ANY, "ipproto", "udp", "blackhole"]);
    lab.exec(ns.a, ["mkdir", "-p", dir]);
    const servers = pair.spawnServers(dir, (id) =>
      transport === "tcp-unicast"
        ? { listen: [`${ANY}:4444`, `10.203.${id}.1:4444`], advertise: `10.203.${id}.1:4444` }
        : transport === "tcp-anycast"
          ? { capture: [`${ANY}:4444`] }
          : {},
    );
    await Bun.sleep(800);
    if (anytun)
      for (const [k, mux, inner] of [
        ["a", 1, "10.99.0.1/24"],
        ["b", 2, "10.99.0.2/24"],
      ] as const) {
        lab.spawn(ns[k], anytunClient(ANY, 4444, mux, `secret of ${k}`), `${dir}/${k}.log`);
        await lab.until(
          "sat0",
          () => lab.exec(ns[k], ["ip", "link", "show", "sat0"], { ok: true }).includes("sat0"),
          5000,
        );
        configureTun(lab, ns[k], "sat0", inner);
      }
    else pair.spawnRelayClients(dir, ["--transport", transport]);
    await pair.untilReachable("A reaches B");
    const ping = lab.exec(ns.a, ["ping", "-c", "20", "-i", "0.05", "-W", "2", "10.99.0.2"], { ok: true });
    const rttMs = Number(/= [\d.]+\/([\d.]+)\//.exec(ping)?.[1] ?? NaN);
    const srv = lab.spawn(ns.b, ["iperf3", "-s", "-B", "10.99.0.2", "-p", "5201"]);
    await Bun.sleep(300);
    const mbps = iperfMbps(
      lab.exec(ns.a, ["iperf3", "-c", "10.99.0.2", "-p", "5201", "-t", String(secs), "-J"], { ok: true }),
    );
    await lab.stop(srv);
    lab.spawn(ns.b, [BUN, HELPER, "http", "10.99.0.2", "8080", "16", "4"], `${dir}/http.log`);
    await Bun.sleep(300);
    const want = lab.exec(ns.a, [BUN, HELPER, "expect", "16"]).trim();
    const download = async (file: string, during: () => void) => {
      const p = lab.spawn(ns.a, [
        "sh",
        "-c",
        `${BUN} ${HELPER} fetch http://10.99.0.2:8080/data > ${dir}/${file} 2>&1`,
      ]);
      await Bun.sleep(500);
      during();
      await p.exited;
      const got = JSON.parse(await Bun.file(`${dir}/${file}`).text()) as {
        bytes: number;
        sha256: string;
        maxGapMs: number;
      };
      return { stall: got.maxGapMs, ok: got.sha256 === want };
    };
    const flip = await download("flip.json", () => pair.route("s2"));
    pair.route("s1");
    await Bun.sleep(1500); // flows settle back on S1 (takeover on the next segment)
    const kill = await download("kill.json", () => {
      servers.s1!.kill("SIGKILL");
      pair.route("s2");
    });
    return { name, mbps, rttMs, flipStall: flip.stall, flipOk: flip.ok, killStall: kill.stall, killOk: kill.ok };
  } finally {
    await lab.cleanup();
  }
}

const plan: [string, "udp" | "tcp-unicast" | "tcp-anycast", boolean][] = [
  ["udp (anytun 0.3.8 clients)", "udp", true],
  ["udp (relay clients)", "udp", false],
  ["tcp-unicast (relay clients)", "tcp-unicast", false],
  ["tcp-anycast (relay clients)", "tcp-anycast", false],
];
for (const [name, t, anytun] of plan) {
  if (anytun && !have("anytun")) continue;
  try {
    rows.push(await once(name, t, anytun));
  } catch (e) {
    console.error(`${name}: ${(e as Error).message}`);
  }
}
console.log(`bun ${Bun.version}; iperf3 ${secs} s; servers: this relay (two, synced); UDP blackholed for the TCP rows`);
console.log(
  "| transport | iperf3 TCP Mbit/s | ping avg ms | route flip: stall ms, intact | S1 kill -9 + flip: stall ms, intact |",
);
console.log("|---|---|---|---|---|");
for (const r of rows)
  console.log(
    `| ${r.name} | ${r.mbps.toFixed(0)} | ${r.rttMs.toFixed(3)} | ${r.flipStall}, ${r.flipOk ? "yes" : "NO"} | ${r.killStall}, ${r.killOk ? "yes" : "NO"} |`,
  );
