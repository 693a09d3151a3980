// NATS sync e2e (root): two anycast servers synced over a nats-server in each PoP's namespace,
// clustered over the sync link. The NATS node under S1 is killed (by its PID) while A pings B
// every 10 ms through S1: forwarding goes on with what S1 has, S1 moves to the other PoP's NATS,
// and state written afterwards on either side still converges; then the route flips to S2.
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S1 (+10.201.0.1, nats-server 10.204.0.1:4222)
//   B 10.203.12.1 ─┘ └─ 10.203.2.1 S2 (+10.201.0.1, nats-server 10.204.0.2:4222)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AnycastPair, BUN, configureTun, have, isRoot, Lab, relayClient } from "../lib/netns.ts";

const ready = isRoot && have("ping") && have("nats-server");
if (!ready) console.warn("e2e nats: skipped (needs root, ping, nats-server; CI installs them)");

const ANY = AnycastPair.ANY;

describe.skipIf(!ready)("sync over NATS: a NATS node killed mid-run (namespaces)", () => {
  const lab = new Lab("nt");
  const dir = `/tmp/${lab.prefix}-logs`;
  let pair: AnycastPair;

  const peers = (s: "s1" | "s2") =>
    JSON.parse(pair.admin(s, "/v1/peers")) as {
      backend: { kind: string; connected: boolean; server: string | null; reconnects: number };
      peers: { node: number; state: string }[];
    };
  const routes = (s: "s1" | "s2") =>
    (JSON.parse(pair.admin(s, "/v1/routes")) as { routes: { prefix: string; mux: number }[] }).routes;
  const putRoute = (s: "s1" | "s2", prefix: string, mux: number) =>
    lab.exec(pair.server(s), [
      BUN,
      "-e",
      `const r = await fetch("http://127.0.0.1:8080/v1/routes", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ prefix: "${prefix}", mux: ${mux} }) }); if (!r.ok) throw new Error(String(r.status));`,
    ]);

  /** A pings B every 10 ms for 3 s; `during` runs after 1 s. Sent and received. */
  async function pingAcross(during: () => Promise<void> | void) {
    const p = lab.spawn(pair.clients.a!, ["sh", "-c", `ping -i 0.01 -W 1 -c 300 10.99.0.2 > ${dir}/ping.out 2>&1`]);
    await Bun.sleep(1000);
    await during();
    await p.exited;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(await Bun.file(`${dir}/ping.out`).text());
    return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
  }

  beforeAll(async () => {
    pair = new AnycastPair(lab, ["a", "b"], "nats");
    lab.exec(pair.clients.a!, ["mkdir", "-p", dir]);
    pair.spawnServers(dir, () => ({}));
    await pair.waitSync();
    for (const [k, i] of [
      ["a", 1],
      ["b", 2],
    ] as const) {
      const ns = pair.clients[k]!;
      lab.spawn(ns, relayClient(ANY, 4444, i, `secret of ${k}`, `10.99.0.${i}/24`, ["-p", "4444"]), `${dir}/${k}.log`);
      await lab.until(`sat0 in ${k}`, () => lab.hasDevice(ns, "sat0"));
      configureTun(lab, ns, "sat0", `10.99.0.${i}/24`);
    }
    await lab.until(
      "A reaches B",
      () => {
        lab.exec(pair.clients.b!, ["ping", "-c", "1", "-W", "1", "10.99.0.1"], { ok: true });
        return lab
          .exec(pair.clients.a!, ["ping", "-c", "1", "-W", "1", "10.99.0.2"], { ok: true })
          .includes(" 0% packet loss");
      },
      15000,
    );
  }, 60000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("S1's NATS killed under ping: nothing lost beyond one; S1 moves to S2's NATS; later writes converge both ways", async () => {
    pair.route("s1");
    expect(peers("s1").backend).toMatchObject({ kind: "nats", connected: true, server: "10.204.0.1:4222" });
    const r = await pingAcross(async () => {
      await lab.stop(pair.nats[0]!);
    });
    console.log(`  S1's NATS killed under ping: sent ${r.sent}, received ${r.received}`);
    expect(r.sent).toBe(300);
    expect(r.sent - r.received).toBeLessThanOrEqual(1);
    await lab.until("S1 on S2's NATS", () => peers("s1").backend.server === "10.204.0.2:4222", 15000);
    expect(peers("s1").backend.reconnects).toBeGreaterThanOrEqual(1);
    expect(
      pair.metric("s1", /^relay_sync_backend_events_total\{backend="nats",event="reconnects"\}/),
    ).toBeGreaterThanOrEqual(1);
    expect(
      pair.metric("s1", /^relay_sync_backend_connected\{backend="nats",server="10\.204\.0\.2:4222"\}/),
    ).toBeGreaterThanOrEqual(1); // (summed over workers)
    await lab.until(
      "S1 and S2 peers again",
      () => peers("s1").peers.some((p) => p.node === 2 && p.state === "up"),
      10000,
    );
    putRoute("s2", "10.77.2.0/24", 2);
    putRoute("s1", "10.77.1.0/24", 1);
    const has = (s: "s1" | "s2", prefix: string) => routes(s).some((x) => x.prefix === prefix);
    await lab.until("routes converged", () => has("s1", "10.77.2.0/24") && has("s2", "10.77.1.0/24"), 10000);
    expect([has("s1", "10.77.2.0/24"), has("s2", "10.77.1.0/24")]).toEqual([true, true]);

    const flip = await pingAcross(() => pair.route("s2"));
    console.log(`  then the route flip S1 → S2: sent ${flip.sent}, received ${flip.received}`);
    expect(flip.sent - flip.received).toBeLessThanOrEqual(1);
  }, 90000);
});
