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
import {
  AnycastPair,
  BUN,
  have,
  isRoot,
  Lab,
  pingReceived,
  relayClient,
  ROOT,
  relayServer,
  SYNC,
} from "../lib/netns.ts";

const ready = isRoot && have("ping");
if (!ready) console.warn("e2e services: skipped (needs root and ping)");

const ANY = AnycastPair.ANY;
const WORLD = "203.0.113.10";
const HELPER = `${ROOT}test/lib/programs/world.ts`;

describe.skipIf(!ready)("local delivery and open-tunnel NAT (namespaces)", () => {
  const lab = new Lab("sx");
  const ns = { a: "", w: "", l: "" };
  const dir = `/tmp/${lab.prefix}-logs`;
  let pair: AnycastPair;
  const route = (to: "s1" | "s2") => pair.route(to);
  const metric = (s: "s1" | "s2", re: RegExp) => pair.metric(s, re);

  beforeAll(async () => {
    pair = new AnycastPair(lab, ["a"]);
    ns.a = pair.clients.a!;
    ns.w = lab.ns("w");
    ns.l = lab.ns("l");
    lab.link(ns.w, `${WORLD}/24`, pair.r, "203.0.113.1/24");
    lab.link(pair.s1, "192.168.50.1/24", ns.l, "192.168.50.2/24");
    lab.exec(ns.w, ["ip", "route", "add", "default", "via", "203.0.113.1"]);
    lab.exec(ns.l, ["ip", "route", "add", "10.99.0.0/24", "via", "192.168.50.1"]);
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
          // The sync network is allowed (it is private): the server's own and the fleet's service
          // ports on it must still be refused.
          { use: "nat", address: ANY, allow: ["10.204.0.0/24"] },
        ],
        sync: pair.sync(id),
        log: ["stdout:4"],
        drainSeconds: 0,
      };
      writeFileSync(`${dir}/${s}.json`, JSON.stringify(cfg));
      lab.spawn(pair.server(s), relayServer(`${dir}/${s}.json`), `${dir}/${s}.log`);
    }
    lab.spawn(ns.w, [BUN, HELPER, "http", WORLD, "8080", "24", "8"], `${dir}/w-http.log`);
    lab.spawn(ns.w, [BUN, HELPER, "udp-echo", WORLD, "9999"], `${dir}/w-udp.log`);
    lab.spawn(ns.a, relayClient(ANY, 4444, 1, "secret of a", "10.99.0.1/24"), `${dir}/a.log`);
    await lab.until("client device", () => lab.hasDevice(ns.a, "sat0"));
    // The client brings sat0 up itself; a route through a device that is not up yet is refused,
    // so retry until the kernel takes it (else traffic would bypass the tunnel).
    for (const net of ["203.0.113.0/24", "192.168.50.0/24", "10.250.0.0/16", "10.204.0.0/24"])
      await lab.until(`route ${net} via sat0`, () => {
        try {
          lab.exec(ns.a, ["ip", "route", "replace", net, "dev", "sat0"]);
          return true;
        } catch {
          return false;
        }
      });
    await pair.waitSync();
  }, 40000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("local: A reaches a host on S1's directly connected network, and back", () => {
    const got = pingReceived(lab.exec(ns.a, ["ping", "-c", "5", "-i", "0.1", "-w", "5", "192.168.50.2"], { ok: true }));
    if (got !== 5) console.log(`  S1 drops:\n${pair.drops("s1")}`);
    expect(got).toBe(5);
    expect(pingReceived(lab.exec(ns.l, ["ping", "-c", "3", "-i", "0.1", "-w", "5", "10.99.0.1"], { ok: true }))).toBe(
      3,
    );
  });

  test("nat: ICMP echo to the world through the NAT", () => {
    expect(pingReceived(lab.exec(ns.a, ["ping", "-c", "3", "-i", "0.1", "-w", "5", WORLD], { ok: true }))).toBe(3);
  });

  test("nat: the server's own and the fleet's service ports are refused, even on an allowed network", async () => {
    route("s1");
    const refused = () => metric("s1", /^relay_drops_total\{reason="nat-refused"\}/);
    const before = refused();
    // (The server's own addresses off its service ports are refused unless allowed: test/own.test.ts;
    // A cannot route the anycast address itself through the tunnel.)
    const sync = SYNC === "nats" ? 4222 : 2323; // the mesh's sync port, or the NATS servers'
    const targets = [
      `10.204.0.1:${sync}`, // S1's own sync port (UDP: its data channel), or its PoP's NATS
      `10.204.0.2:${sync}`, // S2's sync port: a fleet server's service port (or the other NATS)
      "10.204.0.2:8080", // S2's admin port number (admin.listen default 127.0.0.1:8080 is a claim too)
    ];
    lab.exec(ns.a, [
      BUN,
      "-e",
      `const s = await Bun.udpSocket({});
       for (const t of ${JSON.stringify(targets)}) { const [h, p] = t.split(":"); try { s.send("x", Number(p), h); } catch {} await Bun.sleep(20); }
       await Bun.sleep(200); s.close();`,
    ]);
    await lab.until("refusals counted", () => refused() - before >= targets.length, 3000);
    console.log(`  nat refused the server itself: ${refused() - before}/${targets.length}`);
    expect(refused() - before).toBe(targets.length);
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
    expect(metric("s1", /^relay_drops_total\{reason="nat-refused"\}/) - before).toBe(2); // both pings, nothing NATed
  });
});
