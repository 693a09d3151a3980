// Noise suite e2e (root): two of our clients (--protocol noise) through two synced servers that
// share the anycast address and one responder key, on noise.listen (UDP 51820). Ping and iperf3
// both ways; a route flip S1 → S2 and a kill -9 of S1 under ping every 10 ms (the session goes
// on at the other server from the fleet's record: at most the packet in flight lost); a packet
// captured at S1 replayed at S2 (refused); 10,000 forged initiations per second (no DH for a bad
// mac1, no cookie unless under load; under a valid-mac1 flood cookies, and a real client still
// connects within 1 s).
//
//   A 10.203.11.1 ─ R ─ 10.203.1.1 S1 (+10.201.0.1)      S1 10.204.0.1 ── 10.204.0.2 S2 (sync link)
//   B 10.203.12.1 ─┘ └─ 10.203.2.1 S2 (+10.201.0.1)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { generateKeyPair, keyText } from "../../src/noise/keys.ts";
import { AnycastPair, BUN, have, iperf3, isRoot, Lab, pingReceived, RELAY, relayServer, ROOT } from "../lib/netns.ts";

const ready = isRoot && have("ping") && have("iperf3");
if (!ready) console.warn("e2e noise: skipped (needs root, ping, iperf3; CI installs them)");

const ANY = AnycastPair.ANY;
const NOISE = 51820;
const PROBE = `${ROOT}test/lib/programs/noise-probe.ts`;

function pingTimes(out: string) {
  const times = [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)].map((m) => Number(m[1]));
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { times, sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
}

describe.skipIf(!ready)("noise suite: two of our clients through two synced servers (namespaces)", () => {
  const lab = new Lab("nz");
  const dir = `/tmp/${lab.prefix}-logs`;
  let pair: AnycastPair;
  let servers: Record<"s1" | "s2", Subprocess>;
  const keys = { group: generateKeyPair(), a: generateKeyPair(), b: generateKeyPair(), probe: generateKeyPair() };
  const keyFile = (k: keyof typeof keys) => `${dir}/${k}.key`;
  const serverPub = keyText(keys.group.pub);
  const noise = (s: "s1" | "s2") =>
    JSON.parse(pair.admin(s, "/v1/noise")) as {
      sessions: number;
      handshakes: number;
      cookieReplies: number;
      adopted: number;
      dhOps: number;
      macs: { badMac1: number; cookiesSent: number };
    };
  const metric = (s: "s1" | "s2", re: RegExp) => pair.metric(s, re);

  function startServer(s: "s1" | "s2", id: 1 | 2): Subprocess {
    const cfg = {
      mode: "server",
      senderId: id,
      listen: [`${ANY}:4444`],
      noise: { listen: [`${ANY}:${NOISE}`], privateKeyFile: keyFile("group") },
      crypto: { window: 64 },
      clients: [
        { name: "a", mux: 1, protocol: "noise", publicKey: keyText(keys.a.pub), routes: ["10.99.0.1/32"] },
        { name: "b", mux: 2, protocol: "noise", publicKey: keyText(keys.b.pub), routes: ["10.99.0.2/32"] },
        { name: "probe", mux: 3, protocol: "noise", publicKey: keyText(keys.probe.pub), routes: ["10.99.0.3/32"] },
      ],
      sync: { ...pair.sync(id), hwmIntervalMs: 50 },
      log: ["stdout:5"],
      drainSeconds: 0,
    };
    writeFileSync(`${dir}/${s}.json`, JSON.stringify(cfg));
    return lab.spawn(pair.server(s), relayServer(`${dir}/${s}.json`), `${dir}/${s}-${Date.now()}.log`);
  }

  function startClient(k: "a" | "b", inner: string): Subprocess {
    return lab.spawn(
      pair.clients[k]!,
      [
        ...RELAY,
        "-r",
        ANY,
        "-o",
        String(NOISE),
        "--protocol",
        "noise",
        "--server-public-key",
        serverPub,
        "--private-key-file",
        keyFile(k),
        "-d",
        "sat0",
        "-n",
        inner,
        "-L",
        "stdout:5",
      ],
      `${dir}/${k}.log`,
    );
  }

  async function pingAcross(secs: number, at: number, during: () => void) {
    const p = lab.spawn(pair.clients.a!, [
      "sh",
      "-c",
      `ping -D -i 0.01 -W 1 -c ${Math.round(secs * 100)} 10.99.0.2 > ${dir}/ping.out 2>&1`,
    ]);
    await Bun.sleep(at * 1000);
    during();
    await p.exited;
    return pingTimes(await Bun.file(`${dir}/ping.out`).text());
  }

  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    for (const k of Object.keys(keys) as (keyof typeof keys)[]) {
      writeFileSync(keyFile(k), `${keyText(keys[k].priv)}\n`);
      chmodSync(keyFile(k), 0o600);
    }
    pair = new AnycastPair(lab, ["a", "b"]);
    servers = { s1: startServer("s1", 1), s2: startServer("s2", 2) };
    await pair.waitSync();
    pair.route("s1");
    startClient("a", "10.99.0.1/24");
    startClient("b", "10.99.0.2/24");
    await pair.untilReachable("A reaches B over the Noise suite");
  }, 40000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("ping and iperf3 both ways; the clients show as protocol noise; both servers hold the sessions", async () => {
    expect(pingReceived(lab.exec(pair.clients.a!, ["ping", "-c", "10", "-i", "0.05", "-w", "5", "10.99.0.2"]))).toBe(
      10,
    );
    expect(pingReceived(lab.exec(pair.clients.b!, ["ping", "-c", "10", "-i", "0.05", "-w", "5", "10.99.0.1"]))).toBe(
      10,
    );
    const srv = lab.spawn(pair.clients.b!, ["iperf3", "-s", "-p", "5201"]);
    await Bun.sleep(300);
    const up = await iperf3(lab, pair.clients.a!, "10.99.0.2", 5201, ["-t", "2"]);
    const down = await iperf3(lab, pair.clients.a!, "10.99.0.2", 5201, ["-t", "2", "-R"]);
    srv.kill();
    console.log(`  noise: iperf3 TCP A → B ${up.toFixed(0)} Mbit/s, B → A ${down.toFixed(0)} Mbit/s`);
    expect(up).toBeGreaterThan(1);
    expect(down).toBeGreaterThan(1);
    const clients = JSON.parse(pair.admin("s1", "/v1/clients")) as { mux: number; protocol: string; suite: unknown }[];
    expect(clients.find((c) => c.mux === 1)).toMatchObject({
      protocol: "noise",
      suite: "Noise_IK_25519_AESGCM_SHA256",
    });
    const [n1, n2] = [noise("s1"), noise("s2")];
    expect(n1.handshakes).toBeGreaterThanOrEqual(2); // A's and B's
    expect(n2.adopted).toBeGreaterThanOrEqual(2); // S2 has them from the fleet, without a handshake of its own
    expect(n2.handshakes).toBe(0);
    expect(pair.admin("s1", "/v1/noise")).not.toContain(keyText(keys.group.priv));
    expect(metric("s1", /^relay_noise_sessions /)).toBeGreaterThanOrEqual(2);
  }, 60000);

  test("route flip S1 → S2 mid-ping (every 10 ms): at most the packet in flight lost, no new handshake", async () => {
    const hs = noise("s2").handshakes;
    const r = await pingAcross(3, 1, () => pair.route("s2"));
    console.log(`  noise flip: sent ${r.sent}, received ${r.received}`);
    expect(r.sent - r.received).toBeLessThanOrEqual(1);
    expect(noise("s2").handshakes).toBe(hs);
  }, 30000);

  test("a packet captured at S1 and replayed at S2 is refused", async () => {
    pair.route("s1");
    const file = `${dir}/probe.bin`;
    lab.exec(pair.clients.a!, [BUN, PROBE, "send", `${ANY}:${NOISE}`, serverPub, keyFile("probe"), file], { ok: true });
    await lab.until(
      "S1 took the probe's packet",
      () => metric("s1", /^relay_client_packets_total\{mux="3",client="probe",direction="in"\}/) === 1,
    );
    pair.route("s2");
    await Bun.sleep(300); // the session record and several hwm intervals
    const replays = metric("s2", /^relay_drops_total\{reason="replay"\}/);
    lab.exec(pair.clients.a!, [BUN, PROBE, "replay", `${ANY}:${NOISE}`, file]);
    await lab.until(
      "S2 refuses the replay",
      () => metric("s2", /^relay_drops_total\{reason="replay"\}/) === replays + 1,
    );
    expect(metric("s2", /^relay_client_packets_total\{mux="3",client="probe",direction="in"\}/)).toBe(0);
  }, 30000);

  test("10,000 forged initiations per second: no DH without mac1, cookies only under load, a real client connects within 1 s", async () => {
    pair.route("s2");
    const before = noise("s2");
    const bad = JSON.parse(
      lab.exec(pair.clients.a!, [BUN, PROBE, "flood", `${ANY}:${NOISE}`, serverPub, "bad", "10000", "2"], { ok: true }),
    ) as { sent: number; cookies: number };
    const afterBad = noise("s2");
    console.log(
      `  noise flood, bad mac1: sent ${bad.sent}, counted ${afterBad.macs.badMac1 - before.macs.badMac1}, DH ${afterBad.dhOps - before.dhOps}, cookies ${bad.cookies}`,
    );
    expect(bad.sent).toBeGreaterThanOrEqual(15000);
    expect(afterBad.macs.badMac1 - before.macs.badMac1).toBeGreaterThan(bad.sent * 0.9); // the rest: kernel drops
    expect(afterBad.dhOps).toBe(before.dhOps);
    expect(bad.cookies).toBe(0);
    expect(afterBad.cookieReplies).toBe(before.cookieReplies); // not under load

    // valid mac1 (the server's public key is public): load, so cookies; a real client meanwhile
    const flood = lab.spawn(pair.clients.b!, [
      "sh",
      "-c",
      `${BUN} ${PROBE} flood ${ANY}:${NOISE} ${serverPub} mac1 10000 3 > ${dir}/flood.out`,
    ]);
    await Bun.sleep(1000);
    const ms = lab
      .exec(pair.clients.a!, [BUN, PROBE, "connect", `${ANY}:${NOISE}`, serverPub, keyFile("probe")], { ok: true })
      .trim();
    await flood.exited;
    const mac1 = JSON.parse(await Bun.file(`${dir}/flood.out`).text()) as { sent: number; cookies: number };
    const afterMac1 = noise("s2");
    console.log(
      `  noise flood, valid mac1: sent ${mac1.sent}, cookie replies ${mac1.cookies}, DH ${afterMac1.dhOps - afterBad.dhOps}; a real client connected in ${ms} ms`,
    );
    expect(mac1.cookies).toBeGreaterThan(mac1.sent / 2);
    expect(ms).not.toBe("none");
    expect(Number(ms)).toBeLessThan(1000);
    // the tunnel itself kept working
    expect(pingReceived(lab.exec(pair.clients.a!, ["ping", "-c", "5", "-i", "0.05", "-w", "5", "10.99.0.2"]))).toBe(5);
  }, 60000);

  test("kill -9 of S1 under ping, route moved to S2: the session continues", async () => {
    pair.route("s1");
    await Bun.sleep(300);
    const r = await pingAcross(3, 1, () => {
      servers.s1.kill("SIGKILL");
      pair.route("s2");
    });
    console.log(`  noise kill -9 S1: sent ${r.sent}, received ${r.received}`);
    expect(r.sent - r.received).toBeLessThanOrEqual(2);
    expect(r.times.at(-1)! - r.times[0]!).toBeGreaterThan(2.5);
  }, 30000);
});
