// Service plugins e2e (root): `local` and `nat` on two synced anycast servers behind a router.
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S1 (+10.201.0.1) ─ 192.168.50.1 ── 192.168.50.2 L (LAN of S1)
//                   │ └ 10.203.2.1 S2 (+10.201.0.1)        S1 10.204.0.1 ── 10.204.0.2 S2 (sync)
//                   └ 203.0.113.1 ── 203.0.113.10 W ("world": no SATP)
//
// Client A (this relay's client role, inner 10.99.0.1) reaches L via S1's `local` plugin and W
// via `nat` (source NAT to the anycast address, bindings synced). The route to the anycast
// address flips from S1 to S2 in the middle of an HTTP download and of a UDP exchange.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { BUN, have, isRoot, Lab, pingReceived, RELAY, relayClient, ROOT } from "./lib/netns.ts";

const ready = isRoot && have("ping");
if (!ready) console.warn("e2e services: skipped (needs root and ping)");

const ANY = "10.201.0.1";
const WORLD = "203.0.113.10";
const HELPER = `${ROOT}test/e2e/helpers/world.ts`;

describe.skipIf(!ready)("local delivery and open-tunnel NAT (namespaces)", () => {
  const lab = new Lab("sx");
  const ns = { a: "", r: "", s1: "", s2: "", w: "", l: "" };
  const dir = `/tmp/${lab.prefix}-logs`;
  const route = (to: "s1" | "s2") =>
    lab.exec(ns.r, ["ip", "route", "replace", `${ANY}/32`, "via", to === "s1" ? "10.203.1.1" : "10.203.2.1"]);
  const admin = (s: "s1" | "s2", path: string) =>
    lab.exec(ns[s], [BUN, "-e", `process.stdout.write(await (await fetch("http://127.0.0.1:8080${path}")).text())`]);
  const metric = (s: "s1" | "s2", re: RegExp) => {
    const line = admin(s, "/metrics")
      .split("\n")
      .find((l) => re.test(l));
    return line === undefined ? 0 : Number(line.split(" ").pop());
  };

  beforeAll(async () => {
    for (const k of ["a", "r", "s1", "s2", "w", "l"] as const) ns[k] = lab.ns(k);
    lab.link(ns.a, "10.203.11.1/30", ns.r, "10.203.11.2/30");
    lab.link(ns.s1, "10.203.1.1/30", ns.r, "10.203.1.2/30");
    lab.link(ns.s2, "10.203.2.1/30", ns.r, "10.203.2.2/30");
    lab.link(ns.w, `${WORLD}/24`, ns.r, "203.0.113.1/24");
    lab.link(ns.s1, "192.168.50.1/24", ns.l, "192.168.50.2/24");
    lab.link(ns.s1, "10.204.0.1/30", ns.s2, "10.204.0.2/30");
    lab.exec(ns.r, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    lab.exec(ns.a, ["ip", "route", "add", "default", "via", "10.203.11.2"]);
    lab.exec(ns.w, ["ip", "route", "add", "default", "via", "203.0.113.1"]);
    lab.exec(ns.l, ["ip", "route", "add", "10.99.0.0/24", "via", "192.168.50.1"]);
    for (const [s, gw] of [
      ["s1", "10.203.1.2"],
      ["s2", "10.203.2.2"],
    ] as const) {
      lab.exec(ns[s], ["ip", "addr", "add", `${ANY}/32`, "dev", "lo"]);
      lab.exec(ns[s], ["ip", "route", "add", "default", "via", gw, "src", ANY]);
      lab.exec(ns[s], ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    }
    route("s1");
    lab.exec(ns.a, ["mkdir", "-p", dir]);
    for (const [s, id] of [
      ["s1", 1],
      ["s2", 2],
    ] as const) {
      const cfg = {
        mode: "server",
        senderId: id,
        listen: [`${ANY}:4444`],
        clients: [{ name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32"] }],
        plugins: [
          ...(s === "s1" ? [{ use: "local", prefixes: ["192.168.50.0/24"] }] : []),
          { use: "routes" },
          { use: "nat", address: ANY },
        ],
        sync: {
          listen: `10.204.0.${id}:2323`,
          peers: [`10.204.0.${3 - id}:2323`],
          key: "e2e fleet key, not a secret",
          heartbeatMs: 200,
        },
        log: ["stdout:4"],
        drainSeconds: 0,
      };
      writeFileSync(`${dir}/${s}.json`, JSON.stringify(cfg));
      lab.spawn(ns[s], [...RELAY, "--config", `${dir}/${s}.json`], `${dir}/${s}.log`);
    }
    lab.spawn(ns.w, [BUN, HELPER, "http", WORLD, "8080", "24", "8"], `${dir}/w-http.log`);
    lab.spawn(ns.w, [BUN, HELPER, "udp-echo", WORLD, "9999"], `${dir}/w-udp.log`);
    lab.spawn(ns.a, relayClient(ANY, 4444, 1, "secret of a", "10.99.0.1/24"), `${dir}/a.log`);
    await lab.until("client device", () => lab.hasDevice(ns.a, "sat0"));
    // The client brings sat0 up itself; a route through a device that is not up yet is refused,
    // so retry until the kernel takes it (else traffic would bypass the tunnel).
    for (const net of ["203.0.113.0/24", "192.168.50.0/24", "10.250.0.0/16"])
      await lab.until(`route ${net} via sat0`, () => {
        try {
          lab.exec(ns.a, ["ip", "route", "replace", net, "dev", "sat0"]);
          return true;
        } catch {
          return false;
        }
      });
    await lab.until(
      "sync link up",
      () => {
        try {
          return (JSON.parse(admin("s2", "/v1/peers")) as { peers: { state: string }[] }).peers[0]?.state === "up";
        } catch {
          return false;
        }
      },
      15000,
    );
  }, 40000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("local: A reaches a host on S1's directly connected network, and back", () => {
    expect(
      pingReceived(lab.exec(ns.a, ["ping", "-c", "5", "-i", "0.1", "-W", "2", "192.168.50.2"], { ok: true })),
    ).toBe(5);
    expect(pingReceived(lab.exec(ns.l, ["ping", "-c", "3", "-i", "0.1", "-W", "2", "10.99.0.1"], { ok: true }))).toBe(
      3,
    );
  });

  test("nat: ICMP echo to the world through the NAT", () => {
    expect(pingReceived(lab.exec(ns.a, ["ping", "-c", "3", "-i", "0.1", "-W", "2", WORLD], { ok: true }))).toBe(3);
  });

  test("nat: an HTTP download survives a route flip mid-transfer, intact", async () => {
    route("s1");
    const want = lab.exec(ns.a, [BUN, HELPER, "expect", "24"]).trim();
    const created = () => metric("s1", /^relay_plugin_events_total\{plugin="nat",event="bindings-created"\}/);
    const createdBefore = created();
    const p = lab.spawn(ns.a, [
      "sh",
      "-c",
      `${BUN} ${HELPER} fetch http://${WORLD}:8080/data > ${dir}/fetch.json 2>&1`,
    ]);
    await Bun.sleep(1000);
    route("s2");
    const t = Date.now();
    await p.exited;
    const got = JSON.parse(await Bun.file(`${dir}/fetch.json`).text()) as { bytes: number; sha256: string };
    console.log(
      `  HTTP through NAT: ${got.bytes} bytes, finished ${Date.now() - t} ms after the flip, sha256 ${got.sha256 === want ? "matches" : "DIFFERS"}`,
    );
    expect(got.bytes).toBe(24 * 1024 * 1024);
    expect(got.sha256).toBe(want);
    expect(created()).toBe(createdBefore + 1); // the download went through the tunnel and S1's NAT
    expect(metric("s2", /^relay_plugin_events_total\{plugin="nat",event="in"\}/)).toBeGreaterThan(0); // S2 carried replies
    expect(await Bun.file(`${dir}/w-http.log`).text()).toBe(`GET from ${ANY}\n`); // W saw only the anycast address
  }, 60000);

  test("nat: a UDP exchange survives the flip back", async () => {
    route("s2");
    const p = lab.spawn(ns.a, ["sh", "-c", `${BUN} ${HELPER} udp-burst ${WORLD} 9999 300 10 > ${dir}/udp.json 2>&1`]);
    await Bun.sleep(1500);
    route("s1");
    await p.exited;
    const r = JSON.parse(await Bun.file(`${dir}/udp.json`).text()) as { sent: number; echoed: number };
    console.log(`  UDP through NAT across a flip: sent ${r.sent}, echoed ${r.echoed}`);
    expect(r.sent - r.echoed).toBeLessThanOrEqual(1);
  }, 30000);

  test("nat: a destination in 10.0.0.0/8 is refused and counted", async () => {
    route("s1");
    const before = metric("s1", /^relay_drops_total\{reason="nat-refused"\}/);
    lab.exec(ns.a, ["ping", "-c", "2", "-i", "0.1", "-W", "1", "10.250.0.1"], { ok: true });
    await lab.until("refusal counted", () => metric("s1", /^relay_drops_total\{reason="nat-refused"\}/) >= before + 2);
  });
});
