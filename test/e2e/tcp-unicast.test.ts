// tcp-unicast e2e (root): UDP to the anycast address is blocked at the router; both clients (this
// relay's client role, --transport tcp-unicast) send INIT over TCP to the anycast address, are
// redirected to that server's unicast address and stream framed SATP. Ping and iperf3 TCP pass;
// S1 is killed in the middle of a download with the route moved to S2: the clients re-initialise
// through the anycast address to S2 and the download completes intact; the gap is reported.
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S1 (+10.201.0.1)      S1 10.204.0.1 ── 10.204.0.2 S2 (sync)
//   B 10.203.12.1 ─┘ └─ 10.203.2.1 S2 (+10.201.0.1)      R: UDP to 10.201.0.1:4444 blackholed
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { AnycastPair, BUN, have, iperf3, isRoot, Lab, pingReceived, ROOT } from "../lib/netns.ts";

const ready = isRoot && have("iperf3") && have("ping");
if (!ready) console.warn("e2e tcp-unicast: skipped (needs root, iperf3, ping)");

const ANY = AnycastPair.ANY;
const HELPER = `${ROOT}test/lib/programs/world.ts`;

describe.skipIf(!ready)("tcp-unicast through two anycast servers, UDP blocked (namespaces)", () => {
  const lab = new Lab("tu");
  const ns = { a: "", b: "" };
  const dir = `/tmp/${lab.prefix}-logs`;
  const servers: Record<"s1" | "s2", Subprocess | null> = { s1: null, s2: null };
  let pair: AnycastPair;
  const route = (to: "s1" | "s2") => pair.route(to);

  beforeAll(async () => {
    pair = new AnycastPair(lab, ["a", "b"]);
    ns.a = pair.clients.a!;
    ns.b = pair.clients.b!;
    lab.exec(pair.r, ["ip", "rule", "add", "pref", "10", "to", ANY, "ipproto", "udp", "blackhole"]);
    lab.exec(ns.a, ["mkdir", "-p", dir]);
    Object.assign(
      servers,
      pair.spawnServers(dir, (id) => ({
        listen: [`${ANY}:4444`, `10.203.${id}.1:4444`],
        advertise: `10.203.${id}.1:4444`,
      })),
    );
    route("s1");
    await Bun.sleep(500);
    pair.spawnRelayClients(dir, ["--transport", "tcp-unicast"]);
    await pair.untilReachable("A reaches B over tcp-unicast");
  }, 40000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("ping and iperf3 TCP through the tunnel over TCP (UDP to the anycast address is blocked)", async () => {
    expect(pingReceived(lab.exec(ns.a, ["ping", "-c", "10", "-i", "0.05", "-w", "5", "10.99.0.2"], { ok: true }))).toBe(
      10,
    );
    const srv = lab.spawn(ns.b, ["iperf3", "-s", "-B", "10.99.0.2", "-p", "5201"]);
    await Bun.sleep(300);
    const mbps = await iperf3(lab, ns.a, "10.99.0.2", 5201, ["-t", "3"]);
    await lab.stop(srv);
    console.log(`  tcp-unicast: iperf3 TCP A → B ${mbps.toFixed(0)} Mbit/s`);
    expect(mbps).toBeGreaterThan(1);
    const udpDrops = lab.exec(pair.r, ["ip", "-s", "rule", "show", "pref", "10"], { ok: true });
    expect(udpDrops).toContain("blackhole");
  }, 30000);

  test("S1 killed mid-download, route moved to S2: the clients re-initialise to S2 and the download completes", async () => {
    lab.spawn(ns.b, [BUN, HELPER, "http", "10.99.0.2", "8080", "8", "8"], `${dir}/http.log`);
    await Bun.sleep(300);
    const want = lab.exec(ns.a, [BUN, HELPER, "expect", "8"]).trim();
    const p = lab.spawn(ns.a, [
      "sh",
      "-c",
      `${BUN} ${HELPER} fetch http://10.99.0.2:8080/data > ${dir}/fetch.json 2>&1`,
    ]);
    await Bun.sleep(1000);
    servers.s1!.kill("SIGKILL");
    route("s2");
    await p.exited;
    const got = JSON.parse(await Bun.file(`${dir}/fetch.json`).text()) as { bytes: number; sha256: string };
    const gaps = [
      ...(await Bun.file(`${dir}/a.log`).text()).matchAll(
        /re-initialised through the anycast address" server=(\S+) gapMs=(\d+)/g,
      ),
    ];
    console.log(
      `  tcp-unicast failover: ${got.bytes} bytes, sha256 ${got.sha256 === want ? "matches" : "DIFFERS"}; A re-initialised to ${gaps.at(-1)?.[1]} after ${gaps.at(-1)?.[2]} ms`,
    );
    expect(got.bytes).toBe(8 * 1024 * 1024);
    expect(got.sha256).toBe(want);
    expect(gaps.at(-1)?.[1]).toBe("10.203.2.1:4444");
  }, 60000);
});
