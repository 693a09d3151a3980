// Rolling upgrade e2e (root): a fleet of three is upgraded one server at a time under traffic,
// no flag day. All three start on the previous release (the commit before the sync-backend
// work, taken out of this repository's own history with `git archive`); real anytun 0.3.8
// clients ping every 10 ms through the anycast address. One server at a time is taken out of
// the route, stopped, started as this release, and given the route back — every step under ping,
// nothing lost beyond the packet in flight, and old and new servers syncing with each other.
//
//   A 10.203.11.1 ─┐           ┌ 10.203.1.1 S1 ┐
//   B 10.203.12.1 ─┴ R ────────┼ 10.203.2.1 S2 ┼ sync mesh 10.204.0.{1,2,3}/24 (bridge namespace M)
//                              └ 10.203.3.1 S3 ┘
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { anytunClient, BUN, configureTun, have, isRoot, Lab, relayServer, ROOT, run } from "../lib/netns.ts";

/** The previous release: the last commit before the NATS backend, consistency and versioning (c6717a3; the commits after it were recovered as one, 872236a). */
const PREVIOUS = "c6717a3";
const havePrevious =
  have("git") && Bun.spawnSync(["git", "-C", ROOT, "cat-file", "-e", `${PREVIOUS}^{commit}`]).exitCode === 0;
const ready = isRoot && have("anytun") && have("ping") && havePrevious;
if (!ready) console.warn("e2e upgrade: skipped (needs root, anytun, ping, and this repository's git history)");

const ANY = "10.201.0.1";

describe.skipIf(!ready)("rolling upgrade of a fleet of three, one server at a time (namespaces)", () => {
  const lab = new Lab("ug");
  const dir = `/tmp/${lab.prefix}-logs`;
  const prev = `/tmp/${lab.prefix}-previous`;
  const ns = { a: "", b: "", r: "", m: "" };
  const s: string[] = [];
  const procs: (Subprocess | null)[] = [null, null, null];
  const release: ("previous" | "this")[] = ["previous", "previous", "previous"];

  function start(i: number, which: "previous" | "this") {
    const id = i + 1;
    const cfg = {
      mode: "server",
      senderId: id,
      listen: [`${ANY}:4444`],
      crypto: { window: 64 },
      clients: [
        { name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32"] },
        { name: "b", mux: 2, passphrase: "secret of b", routes: ["10.99.0.2/32"] },
      ],
      // the mesh (the previous release has no other backend)
      sync: {
        listen: `10.204.0.${id}:2323`,
        peers: [1, 2, 3].filter((j) => j !== id).map((j) => `10.204.0.${j}:2323`),
        key: "e2e fleet key, not a secret",
        heartbeatMs: 200,
        hwmIntervalMs: 50,
      },
      log: ["stdout:4"],
      drainSeconds: 0,
    };
    writeFileSync(`${dir}/s${id}.json`, JSON.stringify(cfg));
    // the previous release predates workers: it runs as one process; this one with this run's workers
    const argv =
      which === "this"
        ? relayServer(`${dir}/s${id}.json`)
        : [BUN, `${prev}/relay.ts`, "--config", `${dir}/s${id}.json`];
    procs[i] = lab.spawn(s[i]!, argv, `${dir}/s${id}-${which}.log`);
    release[i] = which;
  }

  const admin = (i: number, path: string) =>
    lab.exec(s[i]!, [BUN, "-e", `process.stdout.write(await (await fetch("http://127.0.0.1:8080${path}")).text())`], {
      ok: true,
    });
  /** Peers up at server i (-1 while its admin does not answer). */
  const peersUp = (i: number) => {
    try {
      return (JSON.parse(admin(i, "/v1/peers")) as { peers: { state: string }[] }).peers.filter((p) => p.state === "up")
        .length;
    } catch {
      return -1;
    }
  };
  const route = (i: number): void =>
    void lab.exec(ns.r, ["ip", "route", "replace", `${ANY}/32`, "via", `10.203.${i + 1}.1`]);

  /** A pings B every 10 ms for `secs`; `during` runs after 1 s. Sent and received. */
  async function pingAcross(secs: number, during: () => Promise<void> | void) {
    const p = lab.spawn(ns.a, ["sh", "-c", `ping -i 0.01 -W 1 -c ${secs * 100} 10.99.0.2 > ${dir}/ping.out 2>&1`]);
    await Bun.sleep(1000);
    await during();
    await p.exited;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(await Bun.file(`${dir}/ping.out`).text());
    return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
  }

  let linked: number[] = [];

  beforeAll(async () => {
    rmSync(prev, { recursive: true, force: true });
    mkdirSync(prev, { recursive: true });
    run(["sh", "-c", `git -C ${ROOT} archive ${PREVIOUS} | tar -x -C ${prev}`]);
    symlinkSync(`${ROOT}node_modules`, `${prev}/node_modules`); // its dependencies are a subset of ours
    Object.assign(ns, { a: lab.ns("a"), b: lab.ns("b"), r: lab.ns("r"), m: lab.ns("m") });
    lab.link(ns.a, "10.203.11.1/30", ns.r, "10.203.11.2/30");
    lab.link(ns.b, "10.203.12.1/30", ns.r, "10.203.12.2/30");
    lab.exec(ns.a, ["ip", "route", "add", "default", "via", "10.203.11.2"]);
    lab.exec(ns.b, ["ip", "route", "add", "default", "via", "10.203.12.2"]);
    lab.exec(ns.r, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    lab.exec(ns.m, ["ip", "link", "add", "br0", "type", "bridge"]);
    lab.exec(ns.m, ["ip", "link", "set", "br0", "up"]);
    for (let i = 0; i < 3; i++) {
      const n = lab.ns(`s${i + 1}`);
      s.push(n);
      lab.link(n, `10.203.${i + 1}.1/30`, ns.r, `10.203.${i + 1}.2/30`);
      const [, mSide] = lab.link(n, `10.204.0.${i + 1}/24`, ns.m, `10.204.9.${i + 1}/32`);
      lab.exec(ns.m, ["ip", "link", "set", mSide, "master", "br0"]);
      lab.exec(n, ["ip", "addr", "add", `${ANY}/32`, "dev", "lo"]);
      lab.exec(n, ["ip", "route", "add", "default", "via", `10.203.${i + 1}.2`, "src", ANY]);
    }
    route(0);
    lab.exec(ns.a, ["mkdir", "-p", dir]);
    for (let i = 0; i < 3; i++) start(i, "previous");
    await lab.until("the previous fleet linked", () => [0, 1, 2].every((i) => peersUp(i) >= 2), 30000);
    linked = [0, 1, 2].map(peersUp);
    for (const [k, i] of [
      ["a", 1],
      ["b", 2],
    ] as const) {
      const c = k === "a" ? ns.a : ns.b;
      lab.spawn(c, anytunClient(ANY, 4444, i, `secret of ${k}`, ["-p", "4444"]), `${dir}/anytun-${k}.log`);
      await lab.until(`sat0 in ${k}`, () => lab.hasDevice(c, "sat0"));
      configureTun(lab, c, "sat0", `10.99.0.${i}/24`);
    }
    await lab.until(
      "A reaches B",
      () => {
        lab.exec(ns.b, ["ping", "-c", "1", "-W", "1", "10.99.0.1"], { ok: true });
        return lab.exec(ns.a, ["ping", "-c", "1", "-W", "1", "10.99.0.2"], { ok: true }).includes(" 0% packet loss");
      },
      15000,
    );
  }, 90000);

  afterAll(async () => {
    await lab.cleanup();
    rmSync(prev, { recursive: true, force: true });
  });

  test("S3, then S1, then S2 upgraded under ping every 10 ms, the route moved off and back: at most one lost per step", async () => {
    // [server to upgrade, where the route is meanwhile]
    const steps: [number, number][] = [
      [2, 0],
      [0, 1],
      [1, 0],
    ];
    for (const [up, meanwhile] of steps) {
      const off = await pingAcross(2, () => route(meanwhile));
      const upgrade = await pingAcross(3, async () => {
        await lab.stop(procs[up]!);
        start(up, "this");
      });
      await lab.until(
        `upgraded S${up + 1} linked with the fleet`,
        // at least the links of before (with workers an upgraded PoP is more than one member)
        () => [0, 1, 2].every((i) => peersUp(i) >= linked[i]!),
        30000,
      );
      await lab.until(`S${up + 1} ready`, () => admin(up, "/readyz").includes('"ready":true'), 15000);
      const back = await pingAcross(2, () => route(up));
      console.log(
        `  S${up + 1} → this release (fleet now ${release.join("/")}): route off ${off.received}/${off.sent}, ` +
          `during the upgrade ${upgrade.received}/${upgrade.sent}, route back ${back.received}/${back.sent}`,
      );
      expect([off.sent, upgrade.sent, back.sent]).toEqual([200, 300, 200]);
      for (const r of [off, upgrade, back]) {
        expect(r.sent - r.received).toBeLessThanOrEqual(1);
      }
    }
    expect(release).toEqual(["this", "this", "this"]);
  }, 180000);
});
