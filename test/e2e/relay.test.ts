// Relay mode e2e (root): two synced anycast servers with the relay plugin behind a router; client
// A runs this relay's relay-client role; peer P is plain socat (no SATP) echoing UDP; a third
// host T tries the relay port too.
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S1 (+10.201.0.1)      S1 10.204.0.1 ── 10.204.0.2 S2 (sync)
//                   │ └ 10.203.2.1 S2 (+10.201.0.1)
//                   ├ 203.0.113.1 ── 203.0.113.10 P (socat echo)
//                   └ 198.51.100.1 ── 198.51.100.20 T (third host)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { AnycastPair, BUN, have, isRoot, Lab, RELAY, ROOT, relayServer } from "../lib/netns.ts";

const ready = isRoot && have("socat");
if (!ready) console.warn("e2e relay: skipped (needs root and socat; CI installs it)");

const ANY = AnycastPair.ANY;
const PEER = "203.0.113.10";
const HELPER = `${ROOT}test/lib/programs/world.ts`;

describe.skipIf(!ready)("relay mode through two synced anycast servers (namespaces)", () => {
  const lab = new Lab("rl");
  const ns = { a: "", p: "", t: "" };
  const dir = `/tmp/${lab.prefix}-logs`;
  let client: Subprocess;
  let relayPort = 0;
  let pair: AnycastPair;
  const route = (to: "s1" | "s2") => pair.route(to);
  const admin = (s: "s1" | "s2", path: string) => pair.admin(s, path);
  const event = (s: "s1" | "s2", name: string) => {
    const re = new RegExp(`^relay_plugin_events_total\\{plugin="relay",event="${name}"\\} (\\d+)`, "m");
    return Number(re.exec(admin(s, "/metrics"))?.[1] ?? 0);
  };

  beforeAll(async () => {
    pair = new AnycastPair(lab, ["a"]);
    ns.a = pair.clients.a!;
    ns.p = lab.ns("p");
    ns.t = lab.ns("t");
    lab.link(ns.p, `${PEER}/24`, pair.r, "203.0.113.1/24");
    lab.link(ns.t, "198.51.100.20/24", pair.r, "198.51.100.1/24");
    lab.exec(ns.p, ["ip", "route", "add", "default", "via", "203.0.113.1"]);
    lab.exec(ns.t, ["ip", "route", "add", "default", "via", "198.51.100.1"]);
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
        plugins: [{ use: "relay", address: ANY, ports: "40000-40255" }],
        sync: pair.sync(id),
        log: ["stdout:4"],
        drainSeconds: 0,
      };
      writeFileSync(`${dir}/${s}.json`, JSON.stringify(cfg));
      lab.spawn(pair.server(s), relayServer(`${dir}/${s}.json`), `${dir}/${s}.log`);
    }
    lab.spawn(ns.p, ["socat", "-d", "-d", `UDP4-RECVFROM:7000,bind=${PEER},fork`, "EXEC:/bin/cat"], `${dir}/peer.log`);
    await pair.waitSync();
    client = lab.spawn(
      ns.a,
      [
        ...RELAY,
        "--mode",
        "relay-client",
        "-r",
        ANY,
        "-o",
        "4444",
        "-p",
        "4444",
        "-m",
        "1",
        "-e",
        "client",
        "-E",
        "secret of a",
        "--relay-peer",
        `${PEER}:7000`,
        "--relay-local",
        "127.0.0.1:5000",
        "--relay-lifetime",
        "4",
        "-L",
        "stdout:4",
      ],
      `${dir}/client.log`,
    );
    await lab.until("relay allocated", () => {
      const m = /relay: 10\.201\.0\.1:(\d+) ->/.exec(readFileSync(`${dir}/client.log`, "utf8"));
      if (m) relayPort = Number(m[1]);
      return relayPort !== 0;
    });
  }, 40000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("client ↔ plain UDP peer through the relay, across a route flip; the peer sees only the anycast address", async () => {
    const p = lab.spawn(ns.a, [
      "sh",
      "-c",
      `${BUN} ${HELPER} udp-burst 127.0.0.1 5000 300 10 > ${dir}/burst.json 2>&1`,
    ]);
    await Bun.sleep(1500);
    route("s2");
    await p.exited;
    const r = JSON.parse(await Bun.file(`${dir}/burst.json`).text()) as { sent: number; echoed: number };
    console.log(`  relay across a flip: sent ${r.sent}, echoed ${r.echoed}`);
    expect(r.sent - r.echoed).toBeLessThanOrEqual(2); // at most one in flight each way
    const senders = new Set(
      [...(await Bun.file(`${dir}/peer.log`).text()).matchAll(/receiving packet from AF=2 (\S+)/g)].map((m) => m[1]),
    );
    expect([...senders]).toEqual([`${ANY}:${relayPort}`]);
    expect(event("s2", "to-peer")).toBeGreaterThan(0);
  }, 30000);

  test("a third host's datagram to the relay port is dropped and counted", async () => {
    const before = event("s2", "refused");
    lab.exec(ns.t, [
      BUN,
      "-e",
      `const s = await Bun.udpSocket({}); s.send(Buffer.from("intruder"), ${relayPort}, "${ANY}"); await Bun.sleep(50); s.close();`,
    ]);
    await lab.until("refused counted", () => event("s2", "refused") >= before + 1);
    expect(event("s2", "refused")).toBe(before + 1); // one datagram, one count, nothing relayed
  });

  test("an allocation nobody refreshes expires and stops relaying", async () => {
    client.kill("SIGKILL"); // no release: the allocation must expire (lifetime 4 s)
    await lab.until(
      "expired on both servers",
      () => {
        const v = (s: "s1" | "s2") =>
          (JSON.parse(admin(s, "/v1/relays")) as { allocations: unknown[] }).allocations.length;
        return v("s1") === 0 && v("s2") === 0;
      },
      10000,
    );
    const allocations = (s: "s1" | "s2") =>
      (JSON.parse(admin(s, "/v1/relays")) as { allocations: unknown[] }).allocations;
    expect([allocations("s1"), allocations("s2")]).toEqual([[], []]);
  }, 20000);
});
