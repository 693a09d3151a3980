// Three PoPs in network namespaces, one command (root): `bun examples/three-pop/demo.ts`
//
// Three servers hold the anycast address 10.201.0.1 behind router R (each PoP's link), synced
// in a full mesh; two clients (this relay's client role) reach it through R; the servers run the
// dns, routes and nat plugins; a "world" host W speaks no SATP. The demo prints each check and
// moves the anycast route across the PoPs while A pings B. Everything lives in namespaces named
// "p3…" and is removed at the end (also on failure or Ctrl-C).
//
// With `--nats` the servers sync over NATS instead of the mesh: one nats-server per PoP (in its
// namespace, on the sync network), the three clustered; each relay lists its own PoP's first.
//
//   A 10.203.11.1 ─┐           ┌ 10.203.1.1 S1 ┐
//   B 10.203.12.1 ─┤ R ────────┼ 10.203.2.1 S2 ┼ sync mesh 10.204.0.{1,2,3}/24 (bridge namespace M)
//   W 203.0.113.10 ┘           └ 10.203.3.1 S3 ┘
import { writeFileSync } from "node:fs";
import { BUN, Lab, pingReceived, RELAY, relayClient } from "../../test/lib/netns.ts";

if (process.getuid?.() !== 0) {
  console.error("the demo needs root (it builds network namespaces)");
  process.exit(2);
}
const ANY = "10.201.0.1";
const WORLD = "203.0.113.10";
const HELPER = new URL("../../test/lib/programs/world.ts", import.meta.url).pathname;
const NATS = process.argv.includes("--nats");
const lab = new Lab("p3");
const dir = `/tmp/${lab.prefix}-demo`;
let failed = 0;
const check = (what: string, ok: boolean, detail = "") => {
  if (!ok) failed++;
  console.log(`${ok ? "ok  " : "FAIL"}  ${what}${detail ? `  (${detail})` : ""}`);
};
process.on("SIGINT", () => void lab.cleanup().then(() => process.exit(130)));

try {
  const ns = { a: lab.ns("a"), b: lab.ns("b"), w: lab.ns("w"), r: lab.ns("r"), m: lab.ns("m") };
  const s = [lab.ns("s1"), lab.ns("s2"), lab.ns("s3")];
  lab.link(ns.a, "10.203.11.1/30", ns.r, "10.203.11.2/30");
  lab.link(ns.b, "10.203.12.1/30", ns.r, "10.203.12.2/30");
  lab.link(ns.w, `${WORLD}/24`, ns.r, "203.0.113.1/24");
  lab.exec(ns.r, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  lab.exec(ns.m, ["ip", "link", "add", "br0", "type", "bridge"]);
  lab.exec(ns.m, ["ip", "link", "set", "br0", "up"]);
  s.forEach((n, i) => {
    lab.link(n, `10.203.${i + 1}.1/30`, ns.r, `10.203.${i + 1}.2/30`);
    const [, mSide] = lab.link(n, `10.204.0.${i + 1}/24`, ns.m, `10.204.9.${i + 1}/32`);
    lab.exec(ns.m, ["ip", "link", "set", mSide, "master", "br0"]);
    lab.exec(n, ["ip", "addr", "add", `${ANY}/32`, "dev", "lo"]);
    lab.exec(n, ["ip", "route", "add", "default", "via", `10.203.${i + 1}.2`, "src", ANY]);
  });
  for (const c of [ns.a, ns.b, ns.w])
    lab.exec(c, [
      "ip",
      "route",
      "add",
      "default",
      "via",
      c === ns.w ? "203.0.113.1" : c === ns.a ? "10.203.11.2" : "10.203.12.2",
    ]);
  const route = (i: number) => lab.exec(ns.r, ["ip", "route", "replace", `${ANY}/32`, "via", `10.203.${i + 1}.1`]);
  route(0);
  lab.exec(ns.a, ["mkdir", "-p", dir]);
  const others = (i: number) => [1, 2, 3].filter((j) => j !== i + 1);
  if (NATS)
    s.forEach((n, i) =>
      lab.spawn(
        n,
        ["nats-server", "-a", `10.204.0.${i + 1}`, "-p", "4222", "-n", `pop${i + 1}`, "--cluster_name", "three-pop"]
          .concat(["--cluster", `nats://10.204.0.${i + 1}:6222`])
          .concat([
            "--routes",
            others(i)
              .map((j) => `nats://10.204.0.${j}:6222`)
              .join(","),
          ]),
        `${dir}/nats${i + 1}.log`,
      ),
    );

  s.forEach((n, i) => {
    const cfg = {
      mode: "server",
      senderId: i + 1,
      listen: [`${ANY}:4444`],
      crypto: { window: 64 },
      clients: [
        { name: "alice", mux: 1, passphrase: "demo secret of alice", routes: ["10.99.0.1/32"] },
        { name: "bob", mux: 2, passphrase: "demo secret of bob", routes: ["10.99.0.2/32"] },
      ],
      plugins: [
        {
          use: "dns",
          address: ["10.99.0.53"],
          zones: [{ name: "demo.test", records: [{ name: "www", type: "A", value: WORLD }] }],
        },
        { use: "routes", networks: ["10.99.0.0/24"] },
        { use: "nat", address: ANY },
      ],
      sync: NATS
        ? {
            backend: "nats",
            nats: { servers: [i + 1, ...others(i)].map((j) => `nats://10.204.0.${j}:4222`), prefix: "three-pop" },
            key: "three-pop demo fleet key",
            heartbeatMs: 500,
          }
        : {
            listen: `10.204.0.${i + 1}:2323`,
            peers: others(i).map((j) => `10.204.0.${j}:2323`),
            key: "three-pop demo fleet key",
            heartbeatMs: 500,
          },
      log: ["stdout:3"],
      drainSeconds: 0,
    };
    writeFileSync(`${dir}/s${i + 1}.json`, JSON.stringify(cfg));
    lab.spawn(n, [...RELAY, "--config", `${dir}/s${i + 1}.json`], `${dir}/s${i + 1}.log`);
  });
  lab.spawn(ns.w, [BUN, HELPER, "http", WORLD, "8080", "8", "2"], `${dir}/w.log`);
  lab.spawn(ns.a, relayClient(ANY, 4444, 1, "demo secret of alice", "10.99.0.1/24"), `${dir}/a.log`);
  lab.spawn(ns.b, relayClient(ANY, 4444, 2, "demo secret of bob", "10.99.0.2/24"), `${dir}/b.log`);
  const admin = (i: number, path: string) => {
    try {
      return JSON.parse(
        lab.exec(s[i]!, [
          BUN,
          "-e",
          `process.stdout.write(await (await fetch("http://127.0.0.1:8080${path}")).text())`,
        ]),
      ) as unknown;
    } catch {
      return null;
    }
  };
  await lab.until(
    "sync mesh",
    () =>
      [0, 1, 2].every(
        (i) =>
          ((admin(i, "/v1/peers") as { peers: { state: string }[] } | null)?.peers ?? []).filter(
            (p) => p.state === "up",
          ).length === 2,
      ),
    20000,
  );
  check(NATS ? "sync over NATS: every server has 2 peers up" : "sync: full mesh, every server has 2 peers up", true);
  for (const c of [ns.a, ns.b]) await lab.until("client device", () => lab.hasDevice(c, "sat0"));
  await lab.until("routes via the tunnel", () => {
    try {
      lab.exec(ns.a, ["ip", "route", "replace", "203.0.113.0/24", "dev", "sat0"]);
      return true;
    } catch {
      return false;
    }
  });
  await lab.until(
    "B known",
    () => {
      lab.exec(ns.b, ["ping", "-c", "1", "-W", "1", "10.99.0.1"], { ok: true });
      return lab.exec(ns.a, ["ping", "-c", "1", "-W", "1", "10.99.0.2"], { ok: true }).includes(" 0% packet loss");
    },
    15000,
  );
  check(
    "tunnel: alice pings bob through the anycast address",
    pingReceived(lab.exec(ns.a, ["ping", "-c", "5", "-i", "0.1", "-W", "1", "10.99.0.2"], { ok: true })) === 5,
  );

  const dig = lab
    .exec(
      ns.a,
      [
        BUN,
        "-e",
        `
    const q = new Uint8Array([0x12,0x34,1,0,0,1,0,0,0,0,0,0,3,119,119,119,4,100,101,109,111,4,116,101,115,116,0,0,1,0,1]);
    const s = await Bun.udpSocket({ socket: { data(_s, b) { console.log([...b.subarray(b.length - 4)].join(".")); process.exit(0); } } });
    s.send(q, 53, "10.99.0.53"); setTimeout(() => process.exit(1), 2000);`,
      ],
      { ok: true },
    )
    .trim();
  check("dns: www.demo.test answered inside the tunnel by the anycast servers", dig === WORLD, dig);

  const want = lab.exec(ns.a, [BUN, HELPER, "expect", "8"]).trim();
  const got = JSON.parse(lab.exec(ns.a, [BUN, HELPER, "fetch", `http://${WORLD}:8080/data`])) as {
    sha256: string;
    bytes: number;
  };
  check("nat: 8 MiB over HTTP from a host that speaks no SATP, intact", got.sha256 === want, `${got.bytes} bytes`);

  const p = lab.spawn(ns.a, ["sh", "-c", `ping -D -i 0.01 -W 1 -c 400 10.99.0.2 > ${dir}/ping.out 2>&1`]);
  for (const i of [1, 2, 0]) {
    await Bun.sleep(1000);
    route(i);
  }
  await p.exited;
  const out = await Bun.file(`${dir}/ping.out`).text();
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  const lost = Number(m?.[1]) - Number(m?.[2]);
  check(
    "anycast: the route moves S1 → S2 → S3 → S1 during 400 pings every 10 ms",
    lost <= 3,
    `${m?.[1]} sent, ${lost} lost`,
  );
  const moved = [0, 1, 2].map(
    (i) =>
      ((admin(i, "/v1/clients") as { mux: number; movedIn: number }[] | null) ?? []).find((c) => c.mux === 1)
        ?.movedIn ?? 0,
  );
  check(
    "metrics: every PoP saw alice arrive from another PoP",
    moved.every((n) => n > 0),
    `movedIn per PoP ${moved.join("/")}`,
  );
} catch (e) {
  failed++;
  console.log(`FAIL  ${(e as Error).message}`);
} finally {
  await lab.cleanup();
}
console.log(failed === 0 ? "all checks passed" : `${failed} check(s) failed; logs in ${dir}`);
process.exit(failed === 0 ? 0 : 1);
