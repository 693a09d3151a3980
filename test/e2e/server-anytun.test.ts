// Server e2e (root): `bun relay.ts` as the server with two real anytun 0.3.8 clients (own mux and
// passphrase each) and one client that is this relay's own peer role. Ping and iperf3 TCP between
// clients through the server, an IPv6 inner ping, a broadcast reaching both other clients.
// Namespaces: S (server) with a veth to each of A, B (anytun) and C (ours).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import {
  anytunClient,
  configureTun,
  have,
  iperf3,
  isRoot,
  Lab,
  pingReceived,
  relayClient,
  relayServer,
} from "../lib/netns.ts";

const ready = isRoot && have("anytun") && have("iperf3") && have("ping");
if (!ready) console.warn("e2e server-anytun: skipped (needs root, anytun, iperf3, ping; CI installs them)");

describe.skipIf(!ready)("server with anytun 0.3.8 clients (namespaces)", () => {
  const lab = new Lab("sv");
  const ns = { s: "", a: "", b: "", c: "" };
  const logDir = `/tmp/${lab.prefix}-logs`;

  beforeAll(async () => {
    for (const k of ["s", "a", "b", "c"] as const) ns[k] = lab.ns(k);
    lab.link(ns.a, "192.0.2.1/30", ns.s, "192.0.2.2/30");
    lab.link(ns.b, "192.0.2.5/30", ns.s, "192.0.2.6/30");
    lab.link(ns.c, "192.0.2.9/30", ns.s, "192.0.2.10/30");
    lab.exec(ns.s, ["mkdir", "-p", logDir]);
    const cfg = {
      senderId: 1,
      listen: ["[::]:4444"],
      admin: { listen: "127.0.0.1:8080" },
      clients: [
        { name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32", "fd00:99::1/128"] },
        { name: "b", mux: 2, passphrase: "secret of b", routes: ["10.99.0.2/32", "fd00:99::2/128"] },
        { name: "c", mux: 3, passphrase: "secret of c", routes: ["10.99.0.3/32"] },
      ],
      plugins: [{ use: "routes", networks: ["10.99.0.0/24"] }],
      log: ["stdout:4"],
    };
    writeFileSync(`${logDir}/server.json`, JSON.stringify(cfg));
    lab.spawn(ns.s, relayServer(`${logDir}/server.json`), `${logDir}/server.log`);
    lab.spawn(ns.a, anytunClient("192.0.2.2", 4444, 1, "secret of a"), `${logDir}/anytun-1.log`);
    lab.spawn(ns.b, anytunClient("192.0.2.6", 4444, 2, "secret of b"), `${logDir}/anytun-2.log`);
    lab.spawn(ns.c, relayClient("192.0.2.10", 4444, 3, "secret of c", "10.99.0.3/24"), `${logDir}/client-c.log`);
    for (const [k, i] of [
      ["a", 1],
      ["b", 2],
    ] as const) {
      await lab.until(`anytun device in ${k}`, () => lab.hasDevice(ns[k], "sat0"));
      configureTun(lab, ns[k], "sat0", `10.99.0.${i}/24`);
    }
    await lab.until("our client's device", () => lab.hasDevice(ns.c, "sat0"));
    await lab.until("server listening", () => lab.exec(ns.s, ["ss", "-uln"], { ok: true }).includes(":4444"));
    for (const k of ["b", "c"] as const) lab.exec(ns[k], ["sysctl", "-qw", "net.ipv4.icmp_echo_ignore_broadcasts=0"]);
    // Each client speaks once so the server learns its endpoint (what `anytun -r` does on first traffic).
    for (const k of ["a", "b", "c"] as const)
      lab.exec(ns[k], ["ping", "-c", "1", "-W", "1", "10.99.0.254"], { ok: true });
  }, 30000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("ping and iperf3 TCP between two anytun clients through the server", async () => {
    expect(pingReceived(lab.exec(ns.a, ["ping", "-c", "10", "-i", "0.05", "-w", "5", "10.99.0.2"], { ok: true }))).toBe(
      10,
    );
    const srv = lab.spawn(ns.b, ["iperf3", "-s", "-B", "10.99.0.2", "-p", "5201"]);
    await Bun.sleep(300);
    const mbps = await iperf3(lab, ns.a, "10.99.0.2", 5201, ["-t", "3"]);
    await lab.stop(srv);
    console.log(`  anytun A → server → anytun B: iperf3 TCP ${mbps.toFixed(0)} Mbit/s`);
    expect(mbps).toBeGreaterThan(1);
  }, 30000);

  test("an anytun client and this relay's client role through the server", async () => {
    expect(pingReceived(lab.exec(ns.a, ["ping", "-c", "10", "-i", "0.05", "-w", "5", "10.99.0.3"], { ok: true }))).toBe(
      10,
    );
    expect(pingReceived(lab.exec(ns.c, ["ping", "-c", "5", "-i", "0.05", "-w", "5", "10.99.0.1"], { ok: true }))).toBe(
      5,
    );
    const srv = lab.spawn(ns.c, ["iperf3", "-s", "-B", "10.99.0.3", "-p", "5202"]);
    await Bun.sleep(300);
    const mbps = await iperf3(lab, ns.a, "10.99.0.3", 5202, ["-t", "3"]);
    await lab.stop(srv);
    console.log(`  anytun A → server → relay client C: iperf3 TCP ${mbps.toFixed(0)} Mbit/s`);
    expect(mbps).toBeGreaterThan(1);
  }, 30000);

  test("IPv6 inner ping between anytun clients", () => {
    for (const [k, i] of [
      ["a", 1],
      ["b", 2],
    ] as const) {
      lab.exec(ns[k], ["sysctl", "-qw", "net.ipv6.conf.sat0.disable_ipv6=0"]);
      lab.exec(ns[k], ["ip", "-6", "addr", "replace", `fd00:99::${i}/64`, "dev", "sat0", "nodad"]);
    }
    const out = lab.exec(ns.a, ["ping", "-6", "-c", "5", "-i", "0.1", "-w", "5", "fd00:99::2"], { ok: true });
    expect(pingReceived(out)).toBe(5);
  });

  test("a broadcast from A reaches both other clients", () => {
    const out = lab.exec(ns.a, ["ping", "-b", "-c", "3", "-i", "0.2", "-W", "2", "10.99.0.255"], { ok: true });
    expect(out).toContain("from 10.99.0.2");
    expect(out).toContain("from 10.99.0.3");
  });
});
