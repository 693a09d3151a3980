// Fleet operations e2e (root), on the sync backend of the run (mesh, or NATS with E2E_SYNC=nats):
// the fleet key rotated in three reloads (SIGHUP) of both servers while A pings B every 10 ms —
// nothing lost beyond one packet, the servers linked again under the new key; then client B
// revoked by a reload of every server: its packets are dropped by both, wherever the route is;
// a server reloaded with a client table the other does not share is not ready, saying why.
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S1 (+10.201.0.1)      S1 10.204.0.1 ── 10.204.0.2 S2 (sync link)
//   B 10.203.12.1 ─┘ └─ 10.203.2.1 S2 (+10.201.0.1)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { AnycastPair, configureTun, have, isRoot, Lab, relayClient, relayServer } from "../lib/netns.ts";

const ready = isRoot && have("ping");
if (!ready) console.warn("e2e fleet-ops: skipped (needs root and ping)");

const ANY = AnycastPair.ANY;
const OLD = "e2e fleet key, not a secret";
const NEW = "the next e2e fleet key, also not secret";
const CLIENTS = [
  { name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32"] },
  { name: "b", mux: 2, passphrase: "secret of b", routes: ["10.99.0.2/32"] },
];

describe.skipIf(!ready)("fleet operations under traffic: key rotation, client revocation (namespaces)", () => {
  const lab = new Lab("fo");
  const dir = `/tmp/${lab.prefix}-logs`;
  let pair: AnycastPair;
  const servers: Partial<Record<"s1" | "s2", Subprocess>> = {};

  /** Writes S's config with these keys and clients (SIGHUP makes a running server read it). */
  function write(s: "s1" | "s2", key: string, acceptKeys: string[], clients = CLIENTS) {
    const id = s === "s1" ? 1 : 2;
    const cfg = {
      mode: "server",
      senderId: id,
      listen: [`${ANY}:4444`],
      clients,
      sync: { ...pair.sync(id), key, acceptKeys },
      log: ["stdout:5"],
      drainSeconds: 0,
    };
    writeFileSync(`${dir}/${s}.json`, JSON.stringify(cfg));
  }
  const reload = (s: "s1" | "s2") => servers[s]!.kill("SIGHUP");
  const peersUp = (s: "s1" | "s2") => {
    try {
      return (JSON.parse(pair.admin(s, "/v1/peers")) as { peers: { state: string }[] }).peers.filter(
        (p) => p.state === "up",
      ).length;
    } catch {
      return 0;
    }
  };
  const mux2 = (s: "s1" | "s2") =>
    (JSON.parse(pair.admin(s, "/v1/clients")) as { mux: number }[]).some((c) => c.mux === 2);
  const drops = (s: "s1" | "s2") => pair.metric(s, /^relay_drops_total\{reason="mux"\}/);

  /** A pings B every 10 ms for `secs`; `during` runs after 1 s. */
  async function pingAcross(secs: number, during: () => Promise<void>) {
    const n = secs * 100;
    const p = lab.spawn(pair.clients.a!, ["sh", "-c", `ping -i 0.01 -W 1 -c ${n} 10.99.0.2 > ${dir}/ping.out 2>&1`]);
    await Bun.sleep(1000);
    await during();
    await p.exited;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(await Bun.file(`${dir}/ping.out`).text());
    return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
  }

  beforeAll(async () => {
    pair = new AnycastPair(lab, ["a", "b"]);
    lab.exec(pair.clients.a!, ["mkdir", "-p", dir]);
    for (const s of ["s1", "s2"] as const) {
      write(s, OLD, []);
      servers[s] = lab.spawn(pair.server(s), relayServer(`${dir}/${s}.json`), `${dir}/${s}.log`);
    }
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

  test("the fleet key rotated in three reloads of both servers under ping every 10 ms: at most one lost", async () => {
    pair.route("s1");
    const linked = [peersUp("s1"), peersUp("s2")];
    const r = await pingAcross(6, async () => {
      for (const [key, accept] of [
        [OLD, [NEW]], // 1: every server accepts the next key
        [NEW, [OLD]], // 2: every server seals with it, still accepting the old
        [NEW, []], // 3: the old key goes
      ] as const) {
        for (const s of ["s1", "s2"] as const) {
          write(s, key, [...accept]);
          reload(s);
        }
        await Bun.sleep(1000);
      }
    });
    console.log(`  key rotation under ping: sent ${r.sent}, received ${r.received}`);
    expect(r.sent).toBe(600);
    expect(r.sent - r.received).toBeLessThanOrEqual(1);
    await lab.until(
      "linked again under the new key",
      () => peersUp("s1") === linked[0] && peersUp("s2") === linked[1],
      15000,
    );
    expect(await Bun.file(`${dir}/s1.log`).text()).toContain("fleet keys changed");
  }, 60000);

  test("client B revoked by a reload of every server: dropped by both, wherever the route is", async () => {
    for (const s of ["s1", "s2"] as const) {
      write(s, NEW, [], CLIENTS.slice(0, 1));
      reload(s);
    }
    await lab.until("B gone from both", () => !mux2("s1") && !mux2("s2"), 10000);
    for (const to of ["s1", "s2"] as const) {
      pair.route(to);
      const before = drops(to);
      const out = lab.exec(pair.clients.b!, ["ping", "-c", "5", "-i", "0.05", "-W", "1", "10.99.0.1"], { ok: true });
      expect(out).toContain("5 packets transmitted, 0 received");
      await lab.until(`B's packets dropped at ${to}`, () => drops(to) >= before + 5, 5000);
      expect(drops(to) - before).toBeGreaterThanOrEqual(5);
    }
  }, 60000);

  test("a server reloaded with a client table the other does not share is not ready and says why; back in step, ready", async () => {
    const readyz = (s: "s1" | "s2") =>
      JSON.parse(
        lab.exec(pair.server(s), [
          process.execPath,
          "-e",
          `const r = await fetch("http://127.0.0.1:8080/readyz"); process.stdout.write(JSON.stringify({ status: r.status, ...(await r.json()) }))`,
        ]),
      ) as { status: number; reason: string | null };
    write(
      "s1",
      NEW,
      [],
      [...CLIENTS.slice(0, 1), { name: "c", mux: 3, passphrase: "secret of c", routes: ["10.99.0.3/32"] }],
    );
    reload("s1");
    await lab.until("S1 not ready", () => readyz("s1").status === 503, 10000);
    // With workers the first 503 can come while S1's own workers still trade digests (a reloaded
    // worker differs from a sibling for a moment): wait for the view to settle, then check it.
    const differs = /config differs from the fleet's: clients \(node 2\)/;
    await lab.until("S1's reason settled", () => differs.test(readyz("s1").reason ?? ""), 10000).catch(() => {});
    expect(readyz("s1").reason).toMatch(differs); // (with workers: per worker)
    expect(readyz("s2")).toMatchObject({ status: 200, reason: null }); // the server that kept the fleet's view
    write("s1", NEW, [], CLIENTS.slice(0, 1));
    reload("s1");
    await lab.until("S1 ready again", () => readyz("s1").status === 200, 10000);
    expect(readyz("s1").reason).toBeNull();
  }, 40000);
});
