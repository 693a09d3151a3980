// tcp-anycast e2e (root): UDP to the anycast address is blocked at the router; both clients (this
// relay's client role, --transport tcp-anycast) hold one ordinary kernel TCP connection to the
// anycast address, which S1 and S2 both capture (tcp.capture) and terminate in userspace. Ping
// and iperf3 TCP pass; then R's route flips from S1 to S2 in the middle of a download: S2 takes
// both flows over, the clients' sockets are the same before and after (no RST, no reconnect in
// their logs), the download completes intact and its longest stall is reported.
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S1 (+10.201.0.1)      S1 10.204.0.1 ── 10.204.0.2 S2 (sync)
//   B 10.203.12.1 ─┘ └─ 10.203.2.1 S2 (+10.201.0.1)      R: UDP to 10.201.0.1 blackholed
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { AnycastPair, BUN, have, iperfMbps, isRoot, Lab, pingReceived, ROOT } from "./lib/netns.ts";

const ready = isRoot && have("iperf3") && have("ping") && have("ss");
if (!ready) console.warn("e2e tcp-anycast: skipped (needs root, iperf3, ping, ss)");

const ANY = AnycastPair.ANY;
const HELPER = `${ROOT}test/e2e/helpers/world.ts`;

describe.skipIf(!ready)("tcp-anycast through two anycast servers, UDP blocked (namespaces)", () => {
  const lab = new Lab("ta");
  const ns = { a: "", b: "" };
  const dir = `/tmp/${lab.prefix}-logs`;
  const servers: Record<"s1" | "s2", Subprocess | null> = { s1: null, s2: null };
  let pair: AnycastPair;
  /** The client's TCP connection to the anycast address as `ss` shows it ("local -> peer"), or "". */
  const socketOf = (k: "a" | "b") =>
    lab
      .exec(ns[k], ["ss", "-Htn", "state", "established", "dst", `${ANY}:4444`], { ok: true })
      .trim()
      .split(/\s+/)
      .slice(-2)
      .join(" -> ");
  const flows = (s: "s1" | "s2") =>
    JSON.parse(pair.admin(s, "/v1/tcp")) as {
      stats: Record<string, number>;
      flows: { flow: string; mux: number; state: string }[];
    };

  /** A's 16 MiB download from B's HTTP helper with `during` run mid-way; the result and the clients' logs. */
  const download = async (file: string, during: () => Promise<void>) => {
    const want = lab.exec(ns.a, [BUN, HELPER, "expect", "16"]).trim();
    const p = lab.spawn(ns.a, ["sh", "-c", `${BUN} ${HELPER} fetch http://10.99.0.2:8080/data > ${dir}/${file} 2>&1`]);
    await during();
    await p.exited;
    const got = JSON.parse(await Bun.file(`${dir}/${file}`).text()) as {
      bytes: number;
      sha256: string;
      ms: number;
      maxGapMs: number;
    };
    const logs = (await Bun.file(`${dir}/a.log`).text()) + (await Bun.file(`${dir}/b.log`).text());
    return { ...got, want, logs };
  };

  beforeAll(async () => {
    pair = new AnycastPair(lab, ["a", "b"]);
    ns.a = pair.clients.a!;
    ns.b = pair.clients.b!;
    lab.exec(pair.r, ["ip", "rule", "add", "pref", "10", "to", ANY, "ipproto", "udp", "blackhole"]);
    lab.exec(ns.a, ["mkdir", "-p", dir]);
    Object.assign(
      servers,
      pair.spawnServers(dir, () => ({ capture: [`${ANY}:4444`] })),
    );
    const capturing = (s: "s1" | "s2") => {
      try {
        return (JSON.parse(pair.admin(s, "/v1/tcp")) as { capture: string[] }).capture.length === 1;
      } catch {
        return false; // not listening yet
      }
    };
    await lab.until("both servers capture", () => capturing("s1") && capturing("s2"), 10000);
    pair.spawnRelayClients(dir, ["--transport", "tcp-anycast", "--tcp-keepalive", "2000"]);
    await pair.untilReachable("A reaches B over tcp-anycast");
  }, 40000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("ping and iperf3 TCP through the tunnel over anycast TCP (UDP to the anycast address is blocked)", async () => {
    expect(pingReceived(lab.exec(ns.a, ["ping", "-c", "10", "-i", "0.05", "-W", "2", "10.99.0.2"], { ok: true }))).toBe(
      10,
    );
    const srv = lab.spawn(ns.b, ["iperf3", "-s", "-B", "10.99.0.2", "-p", "5201"]);
    await Bun.sleep(300);
    const mbps = iperfMbps(lab.exec(ns.a, ["iperf3", "-c", "10.99.0.2", "-p", "5201", "-t", "3", "-J"], { ok: true }));
    await lab.stop(srv);
    console.log(`  tcp-anycast: iperf3 TCP A → B ${mbps.toFixed(0)} Mbit/s`);
    expect(mbps).toBeGreaterThan(1);
    const f = flows("s1");
    expect(f.flows.map((x) => x.mux).sort()).toEqual([1, 2]);
    expect(f.flows.every((x) => x.state === "ESTABLISHED")).toBe(true);
    expect(flows("s2").flows).toEqual([]);
  }, 30000);

  test("route flips S1 → S2 mid-download: S2 takes the flows over, same client sockets, download intact", async () => {
    const before = { a: socketOf("a"), b: socketOf("b") };
    expect(before.a).toContain(`${ANY}:4444`);
    lab.spawn(ns.b, [BUN, HELPER, "http", "10.99.0.2", "8080", "16", "4"], `${dir}/http.log`);
    await Bun.sleep(300);
    const got = await download("fetch.json", async () => {
      await Bun.sleep(700);
      pair.route("s2");
    });
    const s2 = flows("s2");
    const logs = got.logs;
    console.log(
      `  tcp-anycast flip: ${got.bytes} bytes in ${got.ms} ms, sha256 ${got.sha256 === got.want ? "matches" : "DIFFERS"}; longest stall ${got.maxGapMs} ms; S2 took over ${s2.stats.takeovers} flows, resyncs ${s2.stats.resyncs}`,
    );
    expect(got.bytes).toBe(16 * 1024 * 1024);
    expect(got.sha256).toBe(got.want);
    expect(s2.stats.takeovers).toBe(2);
    expect(s2.flows.map((x) => x.mux).sort()).toEqual([1, 2]);
    await lab.until("S1 forgot the flows", () => flows("s1").flows.length === 0, 5000);
    expect({ a: socketOf("a"), b: socketOf("b") }).toEqual(before);
    expect(logs).not.toContain("TCP connection lost");
    expect(logs).not.toContain("reconnected");
    expect(pingReceived(lab.exec(ns.a, ["ping", "-c", "5", "-i", "0.05", "-W", "2", "10.99.0.2"], { ok: true }))).toBe(
      5,
    );
  }, 60000);

  test("route back to S1 mid-download, then S1 killed (-9) with the route on S2: flows move twice, download intact", async () => {
    const before = { a: socketOf("a"), b: socketOf("b") };
    const got = await download("fetch2.json", async () => {
      await Bun.sleep(400);
      pair.route("s1");
      await Bun.sleep(400);
      servers.s1!.kill("SIGKILL");
      pair.route("s2");
    });
    const s2 = flows("s2");
    console.log(
      `  tcp-anycast flip back + kill -9: ${got.bytes} bytes in ${got.ms} ms, sha256 ${got.sha256 === got.want ? "matches" : "DIFFERS"}; longest stall ${got.maxGapMs} ms; S2 takeovers ${s2.stats.takeovers}, resyncs ${s2.stats.resyncs}`,
    );
    expect(got.bytes).toBe(16 * 1024 * 1024);
    expect(got.sha256).toBe(got.want);
    expect(s2.stats.takeovers).toBe(4);
    expect({ a: socketOf("a"), b: socketOf("b") }).toEqual(before);
    expect(got.logs).not.toContain("TCP connection lost");
  }, 60000);
});
