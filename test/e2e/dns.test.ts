// DNS responder e2e (root, dig): servers S1 and S2 hold the anycast address 10.201.0.1 behind
// router R and are synced; both run the `dns` plugin for service address 10.99.0.53 (no client
// route covers it). Client A (this relay's client role, inner 10.99.0.1/24) asks with dig through
// the tunnel: the configured answers come from S1, and after the route flips to S2, byte-identical
// dig output comes from S2, over UDP and over TCP alike (RFC 7766). A TXT answer over 512 bytes
// asked without EDNS gets TC and dig's retry over TCP gets it whole, from both servers; 1,000
// concurrent TCP connections from the client stay within tcpConnections. NXDOMAIN and REFUSED are
// checked on both.
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S1 (+10.201.0.1)      S1 10.204.0.1 ── 10.204.0.2 S2 (sync link)
//                   └─ 10.203.2.1 S2 (+10.201.0.1)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { AnycastPair, BUN, have, isRoot, Lab, relayClient, relayServer, ROOT } from "../lib/netns.ts";

const ready = isRoot && have("dig");
if (!ready) console.warn("e2e dns: skipped (needs root and dig from the Debian package dnsutils)");

const ANY = AnycastPair.ANY;
const PORT = 4444;
const DNS = "10.99.0.53";
const HELPER = `${ROOT}test/lib/programs/world.ts`;
const MAX_TCP = 200;

const ZONES = [
  {
    name: "example.test",
    soa: { serial: 2024060101 },
    ns: ["ns1"],
    records: [
      { name: "ns1", type: "A", value: DNS },
      { name: "www", type: "A", value: "10.99.0.10" },
      { name: "www", type: "A", value: "10.99.0.11" },
      { name: "www", type: "AAAA", value: "fd00:99::10" },
      { name: "web", type: "CNAME", value: "www" },
      { name: "@", type: "TXT", value: "hello from the tunnel" },
      { name: "@", type: "MX", preference: 10, exchange: "mail" },
      { name: "mail", type: "A", value: "10.99.0.25", ttl: 60 },
      { name: "_sip._udp", type: "SRV", priority: 10, weight: 5, port: 5060, target: "ns1" },
      { name: "big", type: "TXT", value: Array.from({ length: 7 }, (_, i) => `${i}`.repeat(120)) },
    ],
  },
  { name: "0.99.10.in-addr.arpa", records: [{ name: "53", type: "PTR", value: "ns1.example.test." }] },
];

/** dig arguments of every query compared between S1 and S2. */
const QUERIES = [
  ["www.example.test", "A"],
  ["www.example.test", "AAAA"],
  ["web.example.test", "A"],
  ["example.test", "TXT"],
  ["example.test", "MX"],
  ["example.test", "SOA"],
  ["example.test", "NS"],
  ["_sip._udp.example.test", "SRV"],
  ["-x", DNS],
  ["nope.example.test", "A"],
  ["www.example.test", "MX"],
];

describe.skipIf(!ready)("dns: two synced anycast servers answer alike (namespaces, dig)", () => {
  const lab = new Lab("dn");
  const ns = { a: "", r: "", s1: "", s2: "" };
  const dir = `/tmp/${lab.prefix}-logs`;

  let pair: AnycastPair;
  const route = (to: "s1" | "s2") => pair.route(to);
  const admin = (s: "s1" | "s2", path: string) => pair.admin(s, path);
  /** Sum of the dns plugin's answer events (every rcode it sent) on one server. */
  const answered = (s: "s1" | "s2") =>
    admin(s, "/metrics")
      .split("\n")
      .filter((l) => /^relay_plugin_events_total\{plugin="dns",event="(answered|nodata|nxdomain|refused)"\}/.test(l))
      .reduce((n, l) => n + Number(l.split(" ").pop()), 0);
  const dig = (...args: string[]) => lab.exec(ns.a, ["dig", `@${DNS}`, "+time=2", "+tries=1", ...args], { ok: true });
  /** Everything dig shows of the answer, authority and additional sections (no id, no timing). */
  const sections = (args: string[]) => dig(...args, "+noall", "+answer", "+authority", "+additional");
  const status = (args: string[]) => /status: ([A-Z]+)/.exec(dig(...args, "+noall", "+comments"))?.[1];
  const dnsEvent = (s: "s1" | "s2", e: string) =>
    Number(
      new RegExp(`^relay_plugin_events_total\\{plugin="dns",event="${e}"\\} (\\d+)`, "m").exec(
        admin(s, "/metrics"),
      )?.[1] ?? 0,
    );
  /** Open DNS TCP connections (accepted - closed: summed over workers, like every counter). */
  const tcpOpen = (s: "s1" | "s2") => dnsEvent(s, "tcp-accepted") - dnsEvent(s, "tcp-closed");

  function startServer(s: "s1" | "s2") {
    const id = s === "s1" ? 1 : 2;
    const cfg = {
      mode: "server",
      senderId: id,
      listen: [`${ANY}:${PORT}`],
      clients: [{ name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32"] }],
      plugins: [
        { use: "dns", address: [DNS], zones: ZONES, tcpConnections: MAX_TCP, tcpPerClient: 1000 },
        { use: "routes" },
      ],
      sync: pair.sync(id),
      log: ["stdout:4"],
      drainSeconds: 0,
    };
    writeFileSync(`${dir}/${s}.json`, JSON.stringify(cfg));
    lab.spawn(pair.server(s), relayServer(`${dir}/${s}.json`), `${dir}/${s}.log`);
  }

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    pair = new AnycastPair(lab, ["a"]);
    Object.assign(ns, { a: pair.clients.a, r: pair.r, s1: pair.s1, s2: pair.s2 });
    startServer("s1");
    startServer("s2");
    await pair.waitSync();
    lab.spawn(ns.a, relayClient(ANY, PORT, 1, "secret of a", "10.99.0.1/24"), `${dir}/client.log`);
    await lab.until("sat0 in A", () => lab.hasDevice(ns.a, "sat0"));
    await lab.until(
      "a first answer through the tunnel",
      () => dig("www.example.test", "A", "+short").includes("10.99.0.10"),
      15000,
    );
  }, 40000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("configured answers from S1; identical dig output from S2 after the route flip", async () => {
    route("s1");
    expect(dig("www.example.test", "A", "+short")).toBe("10.99.0.10\n10.99.0.11\n");
    expect(dig("www.example.test", "AAAA", "+short")).toBe("fd00:99::10\n");
    expect(dig("web.example.test", "A", "+short")).toBe("www.example.test.\n10.99.0.10\n10.99.0.11\n");
    expect(dig("example.test", "TXT", "+short")).toBe('"hello from the tunnel"\n');
    expect(dig("example.test", "MX", "+short")).toBe("10 mail.example.test.\n");
    expect(dig("_sip._udp.example.test", "SRV", "+short")).toBe("10 5 5060 ns1.example.test.\n");
    expect(dig("-x", DNS, "+short")).toBe("ns1.example.test.\n");
    expect(dig("example.test", "SOA", "+short")).toBe(
      "ns1.example.test. hostmaster.example.test. 2024060101 3600 600 604800 60\n",
    );
    const s1Before = answered("s1");
    const s2Before = answered("s2");
    const fromS1 = QUERIES.map((q) => sections(q));
    expect(answered("s1")).toBe(s1Before + QUERIES.length);
    expect(fromS1[0]).toContain("www.example.test.\t300\tIN\tA\t10.99.0.10");
    expect(fromS1[9]).toContain("example.test.\t\t60\tIN\tSOA\tns1.example.test."); // NXDOMAIN's SOA

    // over TCP, the same sections
    const tcpBefore = dnsEvent("s1", "tcp-queries");
    const fromS1Tcp = QUERIES.map((q) => sections([...q, "+tcp"]));
    expect(dnsEvent("s1", "tcp-queries") - tcpBefore).toBe(QUERIES.length);
    for (let i = 0; i < QUERIES.length; i++)
      expect(`${QUERIES[i]!.join(" ")} +tcp\n${fromS1Tcp[i]}`).toBe(`${QUERIES[i]!.join(" ")} +tcp\n${fromS1[i]}`);

    route("s2");
    const fromS2 = QUERIES.map((q) => sections(q));
    expect(answered("s2")).toBe(s2Before + QUERIES.length);
    expect(answered("s1")).toBe(s1Before + 2 * QUERIES.length);
    for (let i = 0; i < QUERIES.length; i++)
      expect(`${QUERIES[i]!.join(" ")}\n${fromS2[i]}`).toBe(`${QUERIES[i]!.join(" ")}\n${fromS1[i]}`);
    const fromS2Tcp = QUERIES.map((q) => sections([...q, "+tcp"]));
    for (let i = 0; i < QUERIES.length; i++)
      expect(`${QUERIES[i]!.join(" ")} +tcp\n${fromS2Tcp[i]}`).toBe(`${QUERIES[i]!.join(" ")} +tcp\n${fromS1[i]}`);
  }, 60000);

  test("a TXT answer over 512 bytes without EDNS: TC over UDP, then dig's retry over TCP gets it whole, from S1 and, after a flip, S2", () => {
    for (const s of ["s1", "s2"] as const) {
      route(s);
      const udpOnly = dig("+noedns", "+ignore", "big.example.test", "TXT");
      expect(udpOnly).toMatch(/flags: qr aa tc/);
      const before = dnsEvent(s, "tcp-queries");
      const out = dig("+noedns", "big.example.test", "TXT", "+noall", "+answer", "+comments");
      expect(out).toContain(";; Truncated, retrying in TCP mode.");
      expect(out).toContain("status: NOERROR");
      for (let i = 0; i < 7; i++) expect(out).toContain(`"${String(i).repeat(120)}"`);
      expect(dnsEvent(s, "tcp-queries") - before).toBe(1);
      console.log(`  ${s}: TC over UDP, ${out.length} bytes of dig output over TCP`);
    }
  }, 30000);

  test(`1,000 concurrent TCP connections to the responder: at most tcpConnections (${MAX_TCP}) held, the rest reset and counted; dig +tcp again once they close`, async () => {
    route("s1");
    const refused0 = dnsEvent("s1", "tcp-refused");
    const rss0 = Number(/process_resident_memory_bytes (\d+)/.exec(admin("s1", "/metrics"))?.[1] ?? 0);
    const hold = lab.spawn(ns.a, [BUN, HELPER, "tcp-hold", DNS, "53", "1000", "3000"], `${dir}/tcp-hold.log`);
    let peak = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < 2500) {
      peak = Math.max(peak, tcpOpen("s1"));
      await Bun.sleep(100);
    }
    await hold.exited;
    const seen = JSON.parse((await Bun.file(`${dir}/tcp-hold.log`).text()).trim().split("\n").pop()!) as {
      connected: number;
      refused: number;
      other: number;
    };
    const rss = Number(/process_resident_memory_bytes (\d+)/.exec(admin("s1", "/metrics"))?.[1] ?? 0);
    const refused = dnsEvent("s1", "tcp-refused") - refused0;
    console.log(
      `  1,000 TCP connections: ${seen.connected} connected, ${seen.refused} refused, ${seen.other} other; S1 held at most ${peak}, refused ${refused}; RSS ${(rss0 / 2 ** 20).toFixed(0)} → ${(rss / 2 ** 20).toFixed(0)} MiB`,
    );
    expect(peak).toBeLessThanOrEqual(MAX_TCP);
    expect(seen.connected).toBeLessThanOrEqual(MAX_TCP);
    expect(seen.connected + seen.refused).toBe(1000);
    expect(refused).toBeGreaterThanOrEqual(1000 - MAX_TCP);
    await lab.until("S1's connections closed", () => tcpOpen("s1") === 0, 15000);
    expect(dig("+tcp", "www.example.test", "A", "+short")).toBe("10.99.0.10\n10.99.0.11\n");
  }, 60000);

  for (const s of ["s1", "s2"] as const)
    test(`NXDOMAIN in the zone, REFUSED outside it (${s})`, () => {
      route(s);
      const before = answered(s);
      expect(status(["nope.example.test", "A"])).toBe("NXDOMAIN");
      expect(status(["www.example.test", "MX"])).toBe("NOERROR"); // NODATA
      expect(status(["www.example.com", "A"])).toBe("REFUSED");
      expect(status(["version.bind", "TXT", "CH"])).toBe("REFUSED");
      expect(answered(s)).toBe(before + 4);
    }, 30000);
});
