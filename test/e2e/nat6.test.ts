// Open tunnel on IPv6 (NAT66) e2e (root): two synced servers hold the anycast addresses
// 10.201.0.1 and 2001:db8:201::1 behind router R (the NAT is IPv6 only: `address6` alone); the SATP underlay is IPv6 (client A dials
// [2001:db8:201::1]:4444), and so does B, a stock anytun 0.3.8 client. A's inner IPv6 address 2001:db8:99::1 reaches the world host W
// (2001:db8:203::10, allowed: it is a documentation prefix, refused by default) through `nat`
// with `address6`: ping -6, an HTTP download that survives a route flip intact while W sees only
// the anycast IPv6 address, and a "packet too big" from R (W's link has MTU 1280) that reaches A
// through the NAT. A destination in a refused IPv6 range (fc00::/7) is refused and counted.
//
//   A 2001:db8:c0::1 ─ R ─ 2001:db8:1::1 S1 (+2001:db8:201::1)     S1 10.204.0.1 ── 10.204.0.2 S2 (sync)
//                      │ └ 2001:db8:2::1 S2 (+2001:db8:201::1)
//                      └ 2001:db8:203::1 ── 2001:db8:203::10 W ("world", MTU 1280)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import {
  AnycastPair,
  anytunClient,
  BUN,
  have,
  isRoot,
  Lab,
  pingReceived,
  relayClient,
  relayServer,
  ROOT,
} from "../lib/netns.ts";

const ready = isRoot && have("ping") && have("anytun");
if (!ready) console.warn("e2e nat6: skipped (needs root, ping and anytun)");

const ANY6 = AnycastPair.ANY6;
const WORLD6 = "2001:db8:203::10";
const INNER6 = "2001:db8:99::1";
const HELPER = `${ROOT}test/lib/programs/world.ts`;

describe.skipIf(!ready)("open tunnel on IPv6: NAT66 through two synced anycast servers (namespaces)", () => {
  const lab = new Lab("n6", { ipv6: true });
  const ns = { a: "", b: "", w: "" };
  const dir = `/tmp/${lab.prefix}-logs`;
  let pair: AnycastPair;
  const metric = (s: "s1" | "s2", re: RegExp) => pair.metric(s, re);

  beforeAll(async () => {
    pair = new AnycastPair(lab, ["a", "b"], undefined, { ipv6: true });
    ns.a = pair.clients.a!;
    ns.b = pair.clients.b!;
    ns.w = lab.ns("w");
    const [w, wAtR] = lab.link(ns.w, "203.0.113.10/24", pair.r, "203.0.113.1/24");
    lab.exec(ns.w, ["ip", "-6", "addr", "add", `${WORLD6}/64`, "dev", w, "nodad"]);
    lab.exec(pair.r, ["ip", "-6", "addr", "add", "2001:db8:203::1/64", "dev", wAtR, "nodad"]);
    lab.exec(ns.w, ["ip", "-6", "route", "add", "default", "via", "2001:db8:203::1"]);
    for (const [n, d] of [
      [ns.w, w],
      [pair.r, wAtR],
    ] as const)
      lab.exec(n, ["ip", "link", "set", d, "mtu", "1280"]);
    lab.exec(ns.a, ["mkdir", "-p", dir]);
    for (const [s, id] of [
      ["s1", 1],
      ["s2", 2],
    ] as const) {
      const cfg = {
        mode: "server",
        senderId: id,
        listen: [`[${ANY6}]:4444`],
        clients: [
          { name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32", `${INNER6}/128`] },
          { name: "b", mux: 2, passphrase: "secret of b", routes: ["10.99.0.2/32", "2001:db8:99::2/128"] },
        ],
        plugins: [{ use: "routes" }, { use: "nat", address6: ANY6, allow: ["2001:db8:203::/64"] }],
        sync: pair.sync(id),
        log: ["stdout:4"],
        drainSeconds: 0,
      };
      writeFileSync(`${dir}/${s}.json`, JSON.stringify(cfg));
      lab.spawn(pair.server(s), relayServer(`${dir}/${s}.json`), `${dir}/${s}.log`);
    }
    lab.spawn(ns.w, [BUN, HELPER, "http", WORLD6, "8080", "24", "8"], `${dir}/w-http.log`);
    lab.spawn(ns.a, relayClient(ANY6, 4444, 1, "secret of a", "10.99.0.1/24"), `${dir}/a.log`);
    // B: a stock anytun 0.3.8 client over the same IPv6 underlay
    lab.spawn(ns.b, anytunClient(ANY6, 4444, 2, "secret of b", ["-n", "10.99.0.2/24"]), `${dir}/b.log`);
    await lab.until("client devices", () => lab.hasDevice(ns.a, "sat0") && lab.hasDevice(ns.b, "sat0"));
    await lab.until("the inner IPv6 address and routes on sat0", () => {
      try {
        lab.exec(ns.a, ["ip", "-6", "addr", "replace", `${INNER6}/64`, "dev", "sat0", "nodad"]);
        lab.exec(ns.a, ["ip", "-6", "route", "replace", "2001:db8:203::/64", "dev", "sat0"]);
        lab.exec(ns.a, ["ip", "-6", "route", "replace", "fc00::/7", "dev", "sat0"]);
        lab.exec(ns.b, ["sysctl", "-qw", "net.ipv6.conf.sat0.disable_ipv6=0"]);
        lab.exec(ns.b, ["ip", "link", "set", "sat0", "up"]);
        lab.exec(ns.b, ["ip", "-6", "addr", "replace", "2001:db8:99::2/64", "dev", "sat0", "nodad"]);
        lab.exec(ns.b, ["ip", "-6", "route", "replace", "2001:db8:203::/64", "dev", "sat0"]);
        return true;
      } catch {
        return false;
      }
    });
    await pair.waitSync();
    await lab.until(
      "W through NAT66",
      () => lab.exec(ns.a, ["ping", "-6", "-c", "1", "-W", "1", WORLD6], { ok: true }).includes(" 0% packet loss"),
      15000,
    );
  }, 40000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("ping -6 through the NAT, from both servers", () => {
    for (const s of ["s1", "s2"] as const) {
      pair.route(s);
      const got = pingReceived(lab.exec(ns.a, ["ping", "-6", "-c", "5", "-i", "0.1", "-w", "5", WORLD6], { ok: true }));
      if (got !== 5) console.log(`  ${s} drops:\n${pair.drops(s)}`);
      expect(got).toBe(5);
    }
    pair.route("s1");
  });

  test("a stock anytun 0.3.8 client over the IPv6 underlay: ping -6 through NAT66, from both servers", () => {
    for (const s of ["s1", "s2"] as const) {
      pair.route(s);
      const got = pingReceived(lab.exec(ns.b, ["ping", "-6", "-c", "5", "-i", "0.1", "-w", "5", WORLD6], { ok: true }));
      if (got !== 5) console.log(`  ${s} drops:\n${pair.drops(s)}`);
      expect(got).toBe(5);
    }
    pair.route("s1");
  });

  test("an IPv6 HTTP download through NAT66 survives a route flip mid-transfer, intact; W sees only the anycast IPv6 address", async () => {
    pair.route("s1");
    const want = lab.exec(ns.a, [BUN, HELPER, "expect", "24"]).trim();
    const created = () => metric("s1", /^relay_plugin_events_total\{plugin="nat",event="bindings-created"\}/);
    const before = created();
    const p = lab.spawn(ns.a, [
      "sh",
      "-c",
      `${BUN} ${HELPER} fetch http://[${WORLD6}]:8080/data > ${dir}/fetch.json 2>&1`,
    ]);
    await Bun.sleep(1000);
    pair.route("s2");
    const t = Date.now();
    await p.exited;
    const got = JSON.parse(await Bun.file(`${dir}/fetch.json`).text()) as { bytes: number; sha256: string };
    const peers = [
      ...new Set(
        (await Bun.file(`${dir}/w-http.log`).text())
          .split("\n")
          .filter((l) => l.startsWith("GET from"))
          .map((l) => l.slice(9)),
      ),
    ];
    const s2In = metric("s2", /^relay_plugin_events_total\{plugin="nat",event="in"\}/);
    console.log(
      `  HTTP over NAT66: ${got.bytes} bytes, finished ${Date.now() - t} ms after the flip, sha256 ${got.sha256 === want ? "matches" : "DIFFERS"}; W saw ${peers.join(", ")}; S2 mapped ${s2In} packets in`,
    );
    expect(got.bytes).toBe(24 * 1024 * 1024);
    expect(got.sha256).toBe(want);
    expect(peers).toEqual([ANY6]);
    expect(created() - before).toBeGreaterThanOrEqual(1);
    expect(s2In).toBeGreaterThan(100); // the rest of the download came through S2's NAT
    const counts = (
      JSON.parse(pair.admin("s2", "/v1/status")) as { counts: { natBindings: number; nat6Bindings: number } }
    ).counts;
    expect(counts.nat6Bindings).toBeGreaterThanOrEqual(1); // the synced NAT66 bindings, shown by status
    expect(counts.natBindings).toBeGreaterThanOrEqual(counts.nat6Bindings);
  }, 60000);

  test("a packet too big from R (W's link: 1280) reaches A through the NAT; a ping that fits gets its reply", () => {
    pair.route("s1");
    const mapped = () => metric("s1", /^relay_plugin_events_total\{plugin="nat",event="in-icmp-errors"\}/);
    const before = mapped();
    const big = lab.exec(ns.a, ["ping", "-6", "-c", "2", "-W", "2", "-M", "do", "-s", "1352", WORLD6], { ok: true });
    console.log(`  ping -6 -s 1352 -M do: ${big.split("\n").find((l) => /mtu|too big/i.test(l)) ?? big}`);
    expect(big).toMatch(/mtu ?= ?1280|[Pp]acket too big/);
    expect(mapped() - before).toBeGreaterThanOrEqual(1);
    const fits = lab.exec(ns.a, ["ping", "-6", "-c", "2", "-W", "2", "-M", "do", "-s", String(1280 - 48), WORLD6], {
      ok: true,
    });
    expect(fits).toContain(" 0% packet loss");
  }, 30000);

  test("a destination in fc00::/7 (unique local) is refused and counted", async () => {
    pair.route("s1");
    const refused = () => metric("s1", /^relay_drops_total\{reason="nat-refused"\}/);
    const before = refused();
    lab.exec(ns.a, ["ping", "-6", "-c", "3", "-i", "0.1", "-W", "1", "fd00:6666::1"], { ok: true });
    await lab.until("refusals counted", () => refused() - before >= 3, 3000);
    expect(refused() - before).toBe(3);
  });
});
