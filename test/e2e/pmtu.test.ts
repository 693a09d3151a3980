// Path MTU through the tunnel e2e (root, tracepath, tcpdump): the underlay (A ↔ R ↔ S1/S2) has a
// 1280-byte MTU, so the servers run with `mtu` 1232 (1280 − SATP's 48 bytes over IPv4) while
// client A's TUN keeps 1400; the world host W's link has 1100. A's TCP SYN to W through the NAT is
// clamped to MSS 1192 (seen by tcpdump on W's link) and an 8 MiB HTTP download from W completes
// intact; tracepath from A reports pmtu 1232 (the server answers A's 1400-byte probes with
// "fragmentation needed") and then 1100 (R's error about the NATed probe, mapped back to A by the
// NAT); pings with DF over either MTU get the error with that MTU.
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S1 (+10.201.0.1)     these links: MTU 1280
//                   │ └ 10.203.2.1 S2 (+10.201.0.1)
//                   └ 203.0.113.1 ── 203.0.113.10 W ("world": no SATP)    this one: 1100
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { AnycastPair, BUN, have, isRoot, Lab, relayClient, relayServer, ROOT } from "../lib/netns.ts";

const ready = isRoot && have("tracepath") && have("tcpdump");
if (!ready) console.warn("e2e pmtu: skipped (needs root, tracepath from iputils-tracepath and tcpdump)");

const ANY = AnycastPair.ANY;
const WORLD = "203.0.113.10";
const HELPER = `${ROOT}test/lib/programs/world.ts`;
const UNDERLAY = 1280;
const MTU = UNDERLAY - 48;
const WORLD_MTU = 1100;

describe.skipIf(!ready)("path MTU through the tunnel, 1280-byte underlay (namespaces)", () => {
  const lab = new Lab("pm");
  const ns = { a: "", w: "" };
  const dir = `/tmp/${lab.prefix}-logs`;
  let pair: AnycastPair;
  let wDev = "";

  beforeAll(async () => {
    pair = new AnycastPair(lab, ["a"]);
    ns.a = pair.clients.a!;
    ns.w = lab.ns("w");
    const [w, wAtR] = lab.link(ns.w, `${WORLD}/24`, pair.r, "203.0.113.1/24");
    wDev = w;
    lab.exec(ns.w, ["ip", "route", "add", "default", "via", "203.0.113.1"]);
    lab.exec(ns.w, ["ip", "addr", "add", "203.0.113.11/24", "dev", w]); // a destination A knows nothing of
    // the underlay: every link SATP crosses; W's link smaller still
    for (const n of [ns.a, pair.r, pair.s1, pair.s2])
      for (const m of lab.exec(n, ["ip", "-o", "link", "show", "type", "veth"]).matchAll(/^\d+: ([^@:]+)/gm))
        if (m[1] !== wAtR) lab.exec(n, ["ip", "link", "set", m[1]!, "mtu", String(UNDERLAY)]);
    lab.exec(pair.r, ["ip", "link", "set", wAtR, "mtu", String(WORLD_MTU)]);
    lab.exec(ns.w, ["ip", "link", "set", w, "mtu", String(WORLD_MTU)]);
    lab.exec(ns.a, ["mkdir", "-p", dir]);
    for (const [s, id] of [
      ["s1", 1],
      ["s2", 2],
    ] as const) {
      const cfg = {
        mode: "server",
        senderId: id,
        listen: [`${ANY}:4444`],
        mtu: MTU,
        clients: [{ name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32"] }],
        plugins: [{ use: "routes" }, { use: "nat", address: ANY }],
        sync: pair.sync(id),
        log: ["stdout:4"],
        drainSeconds: 0,
      };
      writeFileSync(`${dir}/${s}.json`, JSON.stringify(cfg));
      lab.spawn(pair.server(s), relayServer(`${dir}/${s}.json`), `${dir}/${s}.log`);
    }
    lab.spawn(ns.w, [BUN, HELPER, "http", WORLD, "8080", "8", "0"], `${dir}/w-http.log`);
    lab.spawn(ns.a, relayClient(ANY, 4444, 1, "secret of a", "10.99.0.1/24"), `${dir}/a.log`);
    await lab.until("client device", () => lab.hasDevice(ns.a, "sat0"));
    await lab.until("route to the world via sat0", () => {
      try {
        lab.exec(ns.a, ["ip", "route", "replace", "203.0.113.0/24", "dev", "sat0"]);
        return true;
      } catch {
        return false;
      }
    });
    await pair.waitSync();
    await lab.until(
      "the world through the NAT",
      () => lab.exec(ns.a, ["ping", "-c", "1", "-W", "1", WORLD], { ok: true }).includes(" 0% packet loss"),
      15000,
    );
  }, 40000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("the client's SYN reaches the world with MSS 1192; an 8 MiB HTTP download through the tunnel and the NAT completes intact", async () => {
    const want = lab.exec(ns.a, [BUN, HELPER, "expect", "8"]).trim();
    const dump = lab.spawn(
      ns.w,
      ["tcpdump", "-i", wDev, "-nn", "-v", "-c", "1", "-l", "tcp[tcpflags] & tcp-syn != 0 and dst port 8080"],
      `${dir}/tcpdump.log`,
    );
    await Bun.sleep(500); // tcpdump listening
    lab.exec(ns.a, ["sh", "-c", `${BUN} ${HELPER} fetch http://${WORLD}:8080/data > ${dir}/fetch.json 2>&1`]);
    const got = JSON.parse(await Bun.file(`${dir}/fetch.json`).text()) as { bytes: number; sha256: string; ms: number };
    await Promise.race([dump.exited, Bun.sleep(2000)]);
    dump.kill();
    const syn = await Bun.file(`${dir}/tcpdump.log`).text();
    const mss = Number(/mss (\d+)/.exec(syn)?.[1]);
    const clamped = pair.metric("s1", /^relay_mss_clamped_total /);
    console.log(
      `  1280-byte underlay: SYN at W announces mss ${mss} (A's TUN 1400 would say 1360); HTTP ${got.bytes} bytes in ${got.ms} ms, sha256 ${got.sha256 === want ? "matches" : "DIFFERS"}; S1 clamped ${clamped}`,
    );
    expect(mss).toBe(MTU - 40);
    expect(clamped).toBeGreaterThanOrEqual(1);
    expect(got.bytes).toBe(8 * 1024 * 1024);
    expect(got.sha256).toBe(want);
  }, 60000);

  test("tracepath reports pmtu 1232 (the tunnel, from the server) and 1100 (the world link, R's error through the NAT); DF pings over either get the error", () => {
    const before = pair.metric("s1", /^relay_pmtu_total\{what="icmpSent"\}/);
    const mapped = () => pair.metric("s1", /^relay_plugin_events_total\{plugin="nat",event="in-icmp-errors"\}/);
    const mapped0 = mapped();
    const out = lab.exec(ns.a, ["tracepath", "-n", "-m", "4", WORLD], { ok: true });
    console.log(`  tracepath:\n${out.replace(/^/gm, "    ")}`);
    expect(out).toContain(`pmtu ${MTU}`);
    expect(out).toContain(`pmtu ${WORLD_MTU}`);
    expect(out).toMatch(/reached/);
    expect(pair.metric("s1", /^relay_pmtu_total\{what="icmpSent"\}/) - before).toBeGreaterThanOrEqual(1);
    expect(mapped() - mapped0).toBeGreaterThanOrEqual(1);
    // to destinations A has learned nothing about yet: the first big ping of each gets the error
    const tunnelBig = lab.exec(
      ns.a,
      ["ping", "-c", "2", "-W", "2", "-M", "do", "-s", String(1400 - 28), "203.0.113.1"],
      { ok: true },
    );
    expect(tunnelBig).toMatch(new RegExp(`mtu ?= ?${MTU}`));
    const worldBig = lab.exec(
      ns.a,
      ["ping", "-c", "2", "-W", "2", "-M", "do", "-s", String(MTU - 28), "203.0.113.11"],
      {
        ok: true,
      },
    );
    expect(worldBig).toMatch(new RegExp(`mtu ?= ?${WORLD_MTU}`));
    const fits = lab.exec(ns.a, ["ping", "-c", "2", "-W", "2", "-M", "do", "-s", String(WORLD_MTU - 28), WORLD], {
      ok: true,
    });
    expect(fits).toContain(" 0% packet loss");
  }, 40000);
});
