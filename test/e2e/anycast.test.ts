// Anycast e2e (root): servers S1 and S2 both hold 10.201.0.1 behind router R, synced over their
// own link; clients A and B reach the anycast address through R. The router's route is flipped
// mid-run while A pings B every 10 ms: nothing may be lost beyond one packet in flight — with
// real anytun 0.3.8 clients and with this relay's client role. Also: the split case (A lands on
// S1, B on S2), kill -9 of S1 under traffic, a cut and healed sync link converging, and a packet
// captured at S1 replayed to S2 after the flip being rejected.
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S1 (+10.201.0.1)      S1 10.204.0.1 ── 10.204.0.2 S2 (sync link)
//   B 10.203.12.1 ─┘ └─ 10.203.2.1 S2 (+10.201.0.1)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import type { Subprocess } from "bun";
import {
  AnycastPair,
  anytunClient,
  BUN,
  configureTun,
  have,
  isRoot,
  Lab,
  relayClient,
  ROOT,
  relayServer,
  WORKERS,
} from "../lib/netns.ts";

const ready = isRoot && have("anytun") && have("ping");
if (!ready) console.warn("e2e anycast: skipped (needs root, anytun, ping; CI installs them)");

const ANY = AnycastPair.ANY;
const PORT = 4444;

/** ping -D output → replies' timestamps (s), sent and received counts. */
function pingTimes(out: string) {
  const times = [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)].map((m) => Number(m[1]));
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { times, sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
}
const maxGapMs = (t: number[]) => t.slice(1).reduce((g, x, i) => Math.max(g, (x - t[i]!) * 1000), 0);

describe.skipIf(!ready)("anycast: two synced servers behind a router (namespaces)", () => {
  const lab = new Lab("ac");
  const ns = { a: "", b: "", r: "", s1: "", s2: "" };
  const dir = `/tmp/${lab.prefix}-logs`;
  const servers: Record<"s1" | "s2", Subprocess | null> = { s1: null, s2: null };
  let clients: Subprocess[] = [];
  let syncDev = "";
  let aDev = "";
  let rToA = "";

  let pair: AnycastPair;
  const route = (to: "s1" | "s2") => pair.route(to);
  const admin = (s: "s1" | "s2", path: string) => pair.admin(s, path);
  const metric = (s: "s1" | "s2", re: RegExp) => pair.metric(s, re);

  function startServer(s: "s1" | "s2") {
    const id = s === "s1" ? 1 : 2;
    const cfg = {
      mode: "server",
      senderId: id,
      listen: [`${ANY}:${PORT}`],
      crypto: { window: 64 },
      clients: [
        { name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32"] },
        { name: "b", mux: 2, passphrase: "secret of b", routes: ["10.99.0.2/32"] },
        { name: "probe", mux: 3, passphrase: "secret of probe", routes: ["10.99.0.3/32"] },
        // our own clients get their own muxes: a restarted client starts at seq 0, which the replay
        // window (64) would take for replays of the anytun clients' packets under the same mux
        { name: "a2", mux: 4, passphrase: "secret of a2", routes: ["10.99.1.1/32"] },
        { name: "b2", mux: 5, passphrase: "secret of b2", routes: ["10.99.1.2/32"] },
      ],
      sync: { ...pair.sync(id), hwmIntervalMs: 50 },
      log: ["stdout:4"],
      drainSeconds: 0,
    };
    writeFileSync(`${dir}/${s}.json`, JSON.stringify(cfg));
    servers[s] = lab.spawn(ns[s], relayServer(`${dir}/${s}.json`), `${dir}/${s}-${Date.now()}.log`);
  }

  let net = "10.99.0"; // inner network of the running clients

  async function startClients(kind: "anytun" | "ours") {
    for (const p of clients) await lab.stop(p);
    clients = [];
    net = kind === "anytun" ? "10.99.0" : "10.99.1";
    const muxBase = kind === "anytun" ? 0 : 3;
    for (const [k, i] of [
      ["a", 1],
      ["b", 2],
    ] as const) {
      const mux = String(muxBase + i);
      const pass = `secret of ${k}${kind === "anytun" ? "" : "2"}`;
      const extra = ["-p", String(PORT)];
      const args =
        kind === "anytun"
          ? anytunClient(ANY, PORT, Number(mux), pass, extra)
          : relayClient(ANY, PORT, Number(mux), pass, `${net}.${i}/24`, extra);
      await lab.until(`old sat0 gone in ${k}`, () => !lab.hasDevice(ns[k], "sat0"));
      clients.push(lab.spawn(ns[k], args, `${dir}/${kind}-${k}-${Date.now()}.log`));
      await lab.until(`sat0 in ${k}`, () => lab.hasDevice(ns[k], "sat0"));
      configureTun(lab, ns[k], "sat0", `${net}.${i}/24`);
    }
  }

  /** Both servers know both clients' endpoints (B speaks first, then A reaches B). */
  /**
   * Until both servers know both clients' endpoints and A reaches B: each round, B and A send one
   * ping each (a client's first packet teaches the servers where it is; a lost one is retried).
   */
  async function warmUp() {
    const muxes = net === "10.99.0" ? [1, 2] : [4, 5];
    const known = () => {
      const c = JSON.parse(admin("s2", "/v1/clients")) as { mux: number; endpoint: unknown }[];
      return c.filter((x) => muxes.includes(x.mux)).every((x) => x.endpoint !== null);
    };
    try {
      await lab.until(
        "both clients known and A reaches B",
        () => {
          lab.exec(ns.b, ["ping", "-c", "1", "-W", "1", `${net}.1`], { ok: true });
          const ok = lab
            .exec(ns.a, ["ping", "-c", "1", "-W", "1", `${net}.2`], { ok: true })
            .includes(" 0% packet loss");
          return ok && known();
        },
        15000,
      );
    } catch (e) {
      // what the servers saw, for the CI log
      for (const sv of ["s1", "s2"] as const)
        console.log(
          `${sv}: ${admin(sv, "/metrics")
            .split("\n")
            .filter((l) => /^relay_(drops|client_packets)_total/.test(l) && !/ 0$/.test(l))
            .join("; ")}`,
        );
      throw e;
    }
  }

  /** A pings B every 10 ms for `secs`; `during` runs after `at` seconds. */
  async function pingAcross(secs: number, at: number, during: () => void) {
    const count = Math.round(secs * 100);
    const p = lab.spawn(ns.a, ["sh", "-c", `ping -D -i 0.01 -W 1 -c ${count} ${net}.2 > ${dir}/ping.out 2>&1`]);
    await Bun.sleep(at * 1000);
    during();
    await p.exited;
    return pingTimes(await Bun.file(`${dir}/ping.out`).text());
  }

  beforeAll(async () => {
    pair = new AnycastPair(lab, ["a", "b"]);
    Object.assign(ns, { a: pair.clients.a, b: pair.clients.b, r: pair.r, s1: pair.s1, s2: pair.s2 });
    [aDev, rToA] = pair.clientDevs.a!;
    syncDev = pair.syncDev;
    lab.exec(ns.a, ["mkdir", "-p", dir]);
    startServer("s1");
    startServer("s2");
    await pair.waitSync();
  }, 30000);

  afterAll(async () => {
    await lab.cleanup();
  });

  for (const kind of ["anytun", "ours"] as const) {
    test(`route flip S1 → S2 with ${kind} clients: nothing lost beyond one in flight`, async () => {
      route("s1");
      await startClients(kind);
      await warmUp();
      const mux = kind === "anytun" ? 1 : 4;
      const moved = () => metric("s2", new RegExp(`^relay_client_moved_total\\{mux="${mux}"`));
      const movedBefore = moved();
      const r = await pingAcross(3, 1, () => route("s2"));
      console.log(
        `  ${kind} clients: sent ${r.sent}, received ${r.received}, largest gap ${maxGapMs(r.times).toFixed(0)} ms`,
      );
      expect(r.sent).toBe(300);
      expect(r.sent - r.received).toBeLessThanOrEqual(1);
      expect(moved()).toBeGreaterThan(movedBefore);
    }, 60000);
  }

  test("split: A's traffic lands on S1 while B's lands on S2", async () => {
    route("s2");
    lab.exec(ns.r, ["ip", "rule", "add", "pref", "100", "from", "10.203.11.1", "lookup", "101"]);
    lab.exec(ns.r, ["ip", "route", "add", `${ANY}/32`, "via", "10.203.1.1", "table", "101"]);
    try {
      const r = await pingAcross(2, 0, () => {});
      console.log(`  split: sent ${r.sent}, received ${r.received}`);
      expect(r.sent - r.received).toBeLessThanOrEqual(1);
      expect(metric("s1", /^relay_client_packets_total\{mux="4",client="a2",direction="in"\}/)).toBeGreaterThan(0);
    } finally {
      lab.exec(ns.r, ["ip", "rule", "del", "pref", "100"], { ok: true });
      lab.exec(ns.r, ["ip", "route", "flush", "table", "101"], { ok: true });
    }
  }, 30000);

  test("a packet captured at S1 and replayed to S2 after the flip is rejected", async () => {
    route("s1");
    const file = `${dir}/probe.bin`;
    lab.exec(ns.a, [
      BUN,
      `${ROOT}test/lib/programs/satp-probe.ts`,
      "send",
      `${ANY}:${PORT}`,
      "3",
      "secret of probe",
      "7",
      file,
    ]);
    await lab.until(
      "S1 accepted the probe",
      () => metric("s1", /^relay_client_packets_total\{mux="3",client="probe",direction="in"\}/) === 1,
    );
    route("s2");
    await Bun.sleep(300); // several hwm intervals
    const replays = metric("s2", /^relay_drops_total\{reason="replay"\}/);
    lab.exec(ns.a, [BUN, `${ROOT}test/lib/programs/satp-probe.ts`, "replay", `${ANY}:${PORT}`, file]);
    await lab.until(
      "S2 rejects the replay",
      () => metric("s2", /^relay_drops_total\{reason="replay"\}/) === replays + 1,
    );
    expect(metric("s2", /^relay_client_packets_total\{mux="3",client="probe",direction="in"\}/)).toBe(0);
  }, 30000);

  test("sync link cut and healed: the newer endpoint wins everywhere, one link per pair", async () => {
    route("s1");
    lab.exec(ns.s1, ["ip", "link", "set", syncDev, "down"]);
    await lab.until(
      "S2 notices the dead link (3 heartbeats; with workers, each of its links to S1's workers)",
      () =>
        (JSON.parse(admin("s2", "/v1/peers")) as { peers: { state: string; node: number | null }[] }).peers
          .filter((p) => p.node === null || p.node % 1024 === 1) // S1: sender id 1, its workers 1 + i * 1024
          .every((p) => p.state !== "up"),
      5000,
    );
    // A's traffic now comes from another address (as after a NAT rebinding) while only S1 sees it.
    lab.exec(ns.a, ["ip", "addr", "add", "10.203.11.5/32", "dev", aDev]);
    lab.exec(ns.r, ["ip", "route", "add", "10.203.11.5/32", "dev", rToA]);
    lab.exec(ns.a, ["ip", "route", "replace", "default", "via", "10.203.11.2", "src", "10.203.11.5"]);
    await lab.until(
      "A reaches B via S1",
      () => lab.exec(ns.a, ["ping", "-c", "1", "-W", "1", `${net}.2`], { ok: true }).includes(" 0% packet loss"),
      10000,
    );
    const s2Addr = () =>
      (JSON.parse(admin("s2", "/v1/clients")) as { mux: number; endpoint: { address: string } | null }[]).find(
        (c) => c.mux === 4,
      )!.endpoint?.address;
    expect(s2Addr()).toBe("10.203.11.1"); // S2 still has the old one
    lab.exec(ns.s1, ["ip", "link", "set", syncDev, "up"]);
    await lab.until("S2 converges on A's new endpoint", () => s2Addr() === "10.203.11.5", 20000);
    // One link per pair of members: S1's (first) worker has S2's workers and its own siblings. The
    // endpoint converges over the first link back; each dialer redials on its own backoff.
    const upLinks = () =>
      (JSON.parse(admin("s1", "/v1/peers")) as { peers: { state: string; worker?: number }[] }).peers.filter(
        (p) => p.state === "up" && (p.worker ?? 0) === 0,
      ).length;
    await lab.until("S1's links all back", () => upLinks() >= 2 * WORKERS - 1, 10000).catch(() => {});
    expect(upLinks()).toBe(2 * WORKERS - 1);
    route("s2");
    const r = await pingAcross(1, 0, () => {});
    expect(r.sent - r.received).toBeLessThanOrEqual(1);
  }, 60000);

  test("kill -9 of S1 under traffic, route moved to S2: the session continues", async () => {
    route("s1");
    await warmUp();
    const r = await pingAcross(3, 1, () => {
      servers.s1!.kill("SIGKILL");
      route("s2");
    });
    const gap = maxGapMs(r.times);
    console.log(`  kill -9 S1: sent ${r.sent}, received ${r.received}, largest gap ${gap.toFixed(0)} ms`);
    expect(r.sent - r.received).toBeLessThanOrEqual(2);
    expect(r.times.at(-1)! - r.times[0]!).toBeGreaterThan(2.5); // replies kept coming after the kill
  }, 60000);
});
