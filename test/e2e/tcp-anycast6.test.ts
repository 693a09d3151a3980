// Full anycast TCP on an IPv6 anycast address e2e (root): S1 and S2 capture [2001:db8:201::1]:4444
// (ip -6 policy rules applied and undone by the relay) and terminate the clients' TCP
// connections in userspace; UDP to that address is blocked at R, so the tunnel runs over TCP.
// A's 16 MiB download from B through the tunnel survives a route flip S1 → S2 (S2 takes both
// flows over, same client sockets) and then a kill -9 of S2 with the route moved back to S1.
//
//   A 2001:db8:c0::1 ─ R ─ 2001:db8:1::1 S1 (+2001:db8:201::1)     S1 10.204.0.1 ── 10.204.0.2 S2 (sync)
//   B 2001:db8:c1::1 ─┘ └ 2001:db8:2::1 S2 (+2001:db8:201::1)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { AnycastPair, BUN, have, isRoot, Lab, pingReceived, ROOT, WORKERS } from "../lib/netns.ts";

const ready = isRoot && have("ping") && have("ss");
if (!ready) console.warn("e2e tcp-anycast6: skipped (needs root, ping and ss)");

const ANY6 = AnycastPair.ANY6;
const HELPER = `${ROOT}test/lib/programs/world.ts`;

describe.skipIf(!ready)("tcp-anycast on an IPv6 anycast address, UDP blocked (namespaces)", () => {
  const lab = new Lab("t6", { ipv6: true });
  const ns = { a: "", b: "" };
  const dir = `/tmp/${lab.prefix}-logs`;
  let pair: AnycastPair;
  let servers: Record<"s1" | "s2", Subprocess>;

  const flows = (s: "s1" | "s2") =>
    JSON.parse(pair.admin(s, "/v1/tcp")) as {
      capture: string[];
      stats: Record<"takeovers", number>;
      flows: { flow: string; mux: number; tentative: boolean }[];
    };
  /** The client's TCP connection to the anycast address as `ss` shows it, or "". */
  const socketOf = (k: "a" | "b") =>
    lab
      .exec(ns[k], ["ss", "-Htn6", "state", "established", "dst", `[${ANY6}]:4444`], { ok: true })
      .trim()
      .split(/\s+/)
      .slice(-2)
      .join(" -> ");
  const download = async (file: string, during: () => Promise<void>) => {
    const want = lab.exec(ns.a, [BUN, HELPER, "expect", "16"]).trim();
    const p = lab.spawn(ns.a, ["sh", "-c", `${BUN} ${HELPER} fetch http://10.99.0.2:8080/data > ${dir}/${file} 2>&1`]);
    await during();
    await p.exited;
    const got = JSON.parse(await Bun.file(`${dir}/${file}`).text()) as { bytes: number; sha256: string; ms: number };
    return { ...got, want };
  };

  beforeAll(async () => {
    pair = new AnycastPair(lab, ["a", "b"], undefined, { ipv6: true });
    ns.a = pair.clients.a!;
    ns.b = pair.clients.b!;
    lab.exec(pair.r, ["ip", "-6", "rule", "add", "pref", "10", "to", ANY6, "ipproto", "udp", "blackhole"]);
    lab.exec(ns.a, ["mkdir", "-p", dir]);
    servers = pair.spawnServers(dir, () => ({ capture: [`[${ANY6}]:4444`] }), { listen: [`[${ANY6}]:4444`] });
    const capturing = (s: "s1" | "s2") => {
      try {
        return flows(s).capture.length === 1;
      } catch {
        return false; // not listening yet
      }
    };
    await lab.until("both servers capture", () => capturing("s1") && capturing("s2"), 10000);
    expect(lab.exec(pair.s1, ["ip", "-6", "rule", "show"])).toContain(`to ${ANY6} ipproto tcp dport 4444 lookup 160`);
    pair.spawnRelayClients(dir, ["--transport", "tcp-anycast", "--tcp-keepalive", "2000"], ANY6);
    await pair.untilReachable("A reaches B over tcp-anycast on IPv6");
    lab.spawn(ns.b, [BUN, HELPER, "http", "10.99.0.2", "8080", "16", "4"], `${dir}/http.log`);
    await Bun.sleep(300);
  }, 40000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("ping through the tunnel over the IPv6 anycast TCP connections; both flows on S1", () => {
    expect(pingReceived(lab.exec(ns.a, ["ping", "-c", "10", "-i", "0.05", "-w", "5", "10.99.0.2"], { ok: true }))).toBe(
      10,
    );
    expect(socketOf("a")).toContain(`[${ANY6}]:4444`);
    expect(
      flows("s1")
        .flows.map((f) => f.mux)
        .sort(),
    ).toEqual([1, 2]);
    expect(flows("s1").flows[0]!.flow).toContain(`|${ANY6}|4444`);
  });

  test("route flips S1 → S2 mid-download: S2 takes both flows over, same client sockets, download intact", async () => {
    const before = { a: socketOf("a"), b: socketOf("b") };
    const took = flows("s2").stats.takeovers;
    const got = await download("flip.json", async () => {
      await Bun.sleep(700);
      pair.route("s2");
    });
    const s2 = flows("s2");
    console.log(
      `  tcp-anycast over IPv6, flip: ${got.bytes} bytes in ${got.ms} ms, sha256 ${got.sha256 === got.want ? "matches" : "DIFFERS"}; S2 took over ${s2.stats.takeovers - took} flows`,
    );
    expect(got.bytes).toBe(16 * 1024 * 1024);
    expect(got.sha256).toBe(got.want);
    expect(s2.stats.takeovers - took).toBe(2);
    expect(s2.flows.map((x) => x.mux).sort()).toEqual([1, 2]);
    await lab.until("S1 forgot the flows", () => flows("s1").flows.length === 0, 5000);
    expect({ a: socketOf("a"), b: socketOf("b") }).toEqual(before);
  }, 60000);

  test("kill -9 of S2 (the server the flows are on), route back to S1: S1 takes them over, download intact", async () => {
    const before = { a: socketOf("a"), b: socketOf("b") };
    const took = flows("s1").stats.takeovers;
    const got = await download("kill.json", async () => {
      await Bun.sleep(700);
      servers.s2.kill(9);
      pair.route("s1");
    });
    // a flow that carried nothing since is confirmed by its next packet (the keepalive at the latest)
    await lab
      .until("S1 took both over", () => flows("s1").stats.takeovers - took >= 2, 10000)
      .catch(() =>
        console.log(
          `  S1 after the kill: ${JSON.stringify(flows("s1"))}\n  sockets: ${JSON.stringify({ a: socketOf("a"), b: socketOf("b") })}`,
        ),
      );
    console.log(
      `  tcp-anycast over IPv6, kill -9: ${got.bytes} bytes in ${got.ms} ms, sha256 ${got.sha256 === got.want ? "matches" : "DIFFERS"}; S1 took over ${flows("s1").stats.takeovers - took} flows`,
    );
    expect(got.bytes).toBe(16 * 1024 * 1024);
    expect(got.sha256).toBe(got.want);
    expect(flows("s1").stats.takeovers - took).toBe(2);
    expect({ a: socketOf("a"), b: socketOf("b") }).toEqual(before);
    // what kept the clients' sockets: the dead server's capture table still ends in a blackhole, so
    // its kernel dropped segments to the anycast port instead of resetting them (capture.ts). With
    // workers the supervisor is what is killed: its workers stop, and leave the setup as it was.
    if (WORKERS > 1)
      await lab.until(
        "S2's workers stopped (their capture TUN is gone)",
        () => !lab.exec(pair.s2, ["ip", "link", "show"], { ok: true }).includes("relay-tcp"),
        5000,
      );
    expect(lab.exec(pair.s2, ["ip", "-6", "rule", "show"], { ok: true })).toContain(
      `to ${ANY6} ipproto tcp dport 4444 lookup 160`,
    );
    expect(lab.exec(pair.s2, ["ip", "-6", "route", "show", "table", "160"], { ok: true })).toContain(
      "blackhole default",
    );
  }, 60000);
});
