// A server killed with -9 under traffic and started again with the same sender id (root,
// namespaces): no packet it sends after the restart reuses a (sender id, seq) it sent before —
// tcpdump on the client's link records every seq on the wire — and an anytun 0.3.8 client with a
// replay window (-w 64) keeps receiving it (it would drop a server that started again at seq 0).
// The send counter comes back from stateDir (satp/counter.ts); the test's stateDir is the one
// test/lib/state-dir.ts gives every relay the tests start.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import {
  anytunClient,
  BUN,
  configureTun,
  descendants,
  have,
  isRoot,
  Lab,
  pingReceived,
  relayServer,
  WORKERS,
} from "../lib/netns.ts";

const ready = isRoot && have("anytun") && have("ping") && have("tcpdump");
if (!ready) console.warn("e2e restart: skipped (needs root, anytun, ping, tcpdump; CI installs them)");

/** (sender id, seq) of every SATP datagram from `src` in a pcap file (Ethernet, IPv4, UDP). */
function satpFrom(file: string, src: string): { sid: number; seq: number }[] {
  const b = new Uint8Array(readFileSync(file));
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = dv.getUint32(0, true) === 0xa1b2c3d4;
  const want = src.split(".").map(Number);
  const out: { sid: number; seq: number }[] = [];
  for (let at = 24; at + 16 <= b.length;) {
    const len = dv.getUint32(at + 8, le);
    const p = at + 16;
    at = p + len;
    if (at > b.length || len < 14 + 20 + 8 + 8 || dv.getUint16(p + 12) !== 0x0800) continue;
    const ip = p + 14;
    const ihl = (b[ip]! & 15) * 4;
    if (b[ip + 9] !== 17 || want.some((x, i) => b[ip + 12 + i] !== x)) continue;
    const satp = ip + ihl + 8;
    out.push({ seq: dv.getUint32(satp), sid: dv.getUint16(satp + 4) });
  }
  return out;
}

describe.skipIf(!ready)("restart of a server with the same sender id (namespaces)", () => {
  const lab = new Lab("rs");
  const ns = { s: "", a: "", b: "" };
  const logDir = `/tmp/${lab.prefix}-logs`;
  let server: ReturnType<Lab["spawn"]>;
  let aDev = "";
  const startServer = () => {
    server = lab.spawn(ns.s, relayServer(`${logDir}/server.json`), `${logDir}/server.log`);
  };
  const admin = (path: string) =>
    lab.exec(ns.s, [BUN, "-e", `process.stdout.write(await (await fetch("http://127.0.0.1:8080${path}")).text())`], {
      ok: true,
    });
  const learn = async () => {
    await lab.until("server ready", () => admin("/readyz").includes('"ready":true'));
    // each client speaks until the server has its endpoint (what `anytun -r` does on first traffic)
    await lab.until("server knows both clients", () => {
      for (const k of ["a", "b"] as const) lab.exec(ns[k], ["ping", "-c", "1", "-W", "1", "10.99.0.254"], { ok: true });
      const view = JSON.parse(admin("/v1/clients")) as { endpoint: unknown }[];
      return view.length === 2 && view.every((c) => c.endpoint !== null);
    });
  };

  beforeAll(async () => {
    for (const k of ["s", "a", "b"] as const) ns[k] = lab.ns(k);
    aDev = lab.link(ns.a, "192.0.2.1/30", ns.s, "192.0.2.2/30")[0];
    lab.link(ns.b, "192.0.2.5/30", ns.s, "192.0.2.6/30");
    lab.exec(ns.s, ["mkdir", "-p", logDir]);
    writeFileSync(
      `${logDir}/server.json`,
      JSON.stringify({
        senderId: 1,
        listen: ["0.0.0.0:4444"],
        admin: { listen: "127.0.0.1:8080" },
        clients: [
          { name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32"] },
          { name: "b", mux: 2, passphrase: "secret of b", routes: ["10.99.0.2/32"] },
        ],
        plugins: [{ use: "routes", networks: ["10.99.0.0/24"] }],
        log: ["stdout:4"],
      }),
    );
    startServer();
    lab.spawn(ns.a, anytunClient("192.0.2.2", 4444, 1, "secret of a", ["-w", "64"]), `${logDir}/anytun-a.log`);
    lab.spawn(ns.b, anytunClient("192.0.2.6", 4444, 2, "secret of b"), `${logDir}/anytun-b.log`);
    for (const [k, i] of [
      ["a", 1],
      ["b", 2],
    ] as const) {
      await lab.until(`anytun device in ${k}`, () => lab.hasDevice(ns[k], "sat0"));
      configureTun(lab, ns[k], "sat0", `10.99.0.${i}/24`);
    }
    await learn();
  }, 30000);

  afterAll(async () => {
    await lab.cleanup();
  });

  test("kill -9 under traffic, restart: no (sender id, seq) on the wire twice; anytun -w 64 keeps receiving", async () => {
    const pcap = `${logDir}/a.pcap`;
    const dump = lab.spawn(ns.a, ["tcpdump", "-U", "-n", "-i", aDev, "-w", pcap, "udp", "port", "4444"]);
    await Bun.sleep(500);
    const before = pingReceived(
      lab.exec(ns.b, ["ping", "-c", "50", "-i", "0.01", "-W", "1", "10.99.0.1"], { ok: true }),
    );
    const flood = lab.spawn(ns.b, ["ping", "-i", "0.01", "-W", "1", "10.99.0.1"]); // traffic during the kill
    await Bun.sleep(300);
    // The whole tree at once: with workers, the supervisor and every worker (its children).
    const kids = descendants(server.pid);
    server.kill("SIGKILL");
    for (const k of kids) {
      try {
        process.kill(k, "SIGKILL");
      } catch {}
    }
    await server.exited;
    await Bun.sleep(200);
    startServer();
    await learn();
    const after = pingReceived(
      lab.exec(ns.b, ["ping", "-c", "50", "-i", "0.01", "-W", "1", "10.99.0.1"], { ok: true }),
    );
    await lab.stop(flood);
    await Bun.sleep(200);
    await lab.stop(dump);
    const seen = satpFrom(pcap, "192.0.2.2");
    const keys = seen.map((p) => `${p.sid}/${p.seq}`);
    const dupes = keys.length - new Set(keys).size;
    // The sender id that carried most (with workers, B's packets to A come from B's worker).
    const count = new Map<number, number>();
    for (const p of seen) count.set(p.sid, (count.get(p.sid) ?? 0) + 1);
    const main = [...count].sort((a, b) => b[1] - a[1])[0]?.[0];
    const mine = seen.filter((p) => p.sid === main);
    const restartAt = mine.findIndex((p, i) => i > 0 && p.seq - mine[i - 1]!.seq >= 1 << 19); // the jump past the reservation
    console.log(
      `  restart: ${seen.length} datagrams server → A on the wire, ${dupes} reused (sender id, seq); seqs ${seen[0]?.seq}… before, ${restartAt >= 0 ? mine[restartAt]!.seq : "?"}… after the restart; pings B → A (anytun -w 64) ${before}/50 before, ${after}/50 after`,
    );
    expect(seen.length).toBeGreaterThan(100);
    // Only this server's sender ids: 1, and with workers 1 + i * senderIdStride (1024).
    const ids = Array.from({ length: WORKERS }, (_, i) => 1 + i * 1024);
    expect([...count.keys()].every((sid) => ids.includes(sid))).toBe(true);
    expect(dupes).toBe(0);
    expect(restartAt).toBeGreaterThan(0); // the restarted server went on past its reservation
    expect(before).toBeGreaterThanOrEqual(49);
    expect(after).toBeGreaterThanOrEqual(49);
  }, 60000);
});
