// The server as a destination (src/net/own.ts) and the ports its parts claim (src/net/ports.ts):
// own addresses in every form, the fleet's service ports, overlaps as config errors named by
// both parts — the last through a real `bun relay.ts` process.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { OwnEndpoints } from "../src/net/own.ts";
import { validateConfig } from "../src/config.ts";
import { ownEndpoints } from "../src/server-parts.ts";
import { parseIp } from "../src/net/addr.ts";
import { portOverlaps, type PortClaim } from "../src/net/ports.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const ip = (s: string) => {
  const b = parseIp(s)!;
  return { b, family: (b.length === 4 ? 4 : 6) as 4 | 6 };
};

describe("own endpoints", () => {
  let ifaces: Record<string, { address: string }[]> = {
    lo: [{ address: "127.0.0.1" }, { address: "::1" }],
    eth0: [{ address: "198.51.100.7" }, { address: "fe80::1%eth0" }],
  };
  let now = 0;
  const own = new OwnEndpoints(
    { addresses: ["203.0.113.9", "0.0.0.0", "relay.example"], ports: [4444, 2323, 8080], fleet: ["192.0.2.50"] },
    () => ifaces,
  );
  const refuses = (a: string, port: number, allowed = false) => {
    const { b, family } = ip(a);
    return own.refuses(b, 0, family, port, allowed, now);
  };

  test("its addresses, any port, in IPv4, ::ffff: and :: forms; allowed addresses only on other ports", () => {
    for (const a of ["198.51.100.7", "::ffff:198.51.100.7", "::198.51.100.7", "203.0.113.9", "fe80::1", "127.0.0.1"])
      expect([a, refuses(a, 9999)]).toEqual([a, true]);
    expect(refuses("198.51.100.8", 9999)).toBe(false);
    expect(refuses("198.51.100.7", 9999, true)).toBe(false); // the operator allowed it
    expect(refuses("198.51.100.7", 8080, true)).toBe(true); // its admin port: never
    expect(refuses("::ffff:198.51.100.7", 2323, true)).toBe(true);
  });

  test("the fleet's service ports, not its other ports; no one else's", () => {
    expect(refuses("192.0.2.50", 2323)).toBe(true);
    expect(refuses("192.0.2.50", 4444, true)).toBe(true);
    expect(refuses("192.0.2.50", 443)).toBe(false);
    expect(refuses("192.0.2.51", 2323)).toBe(false); // not a server of ours
  });

  test("with the NATS backend the NATS servers are the fleet: their ports refused, their others not", () => {
    const cfg = validateConfig({
      mode: "server",
      sync: {
        backend: "nats",
        key: "a fleet key of sixteen+",
        nats: { servers: ["nats://192.0.2.60:4333", "nats://[2001:db8::60]", "tls://nats.example:4444"] },
      },
    });
    const o = ownEndpoints(cfg, []);
    const at = (a: string, port: number) => {
      const { b, family } = ip(a);
      return o.refuses(b, 0, family, port, true, 0);
    };
    expect([at("192.0.2.60", 4333), at("2001:db8::60", 4222)]).toEqual([true, true]);
    expect([at("192.0.2.60", 80), at("192.0.2.61", 4333)]).toEqual([false, false]);
  });

  test("an address added to an interface counts after the refresh; ports bound at run time count", () => {
    expect(refuses("198.51.100.99", 1)).toBe(false);
    ifaces = { ...ifaces, lo: [...ifaces.lo!, { address: "198.51.100.99" }] };
    now += 5000;
    expect(refuses("198.51.100.99", 1)).toBe(true);
    own.addPort(50001);
    expect(refuses("192.0.2.50", 50001)).toBe(true);
    expect(own.describe().addresses).toContain("198.51.100.99");
  });
});

describe("port claims", () => {
  const c = (what: string, address: string, protos: PortClaim["protos"], from: number, to = from): PortClaim => ({
    what,
    address,
    protos,
    from,
    to,
  });

  test("overlaps need a shared protocol, meeting ranges and the same (or a wildcard) address", () => {
    expect(
      portOverlaps([c("listen.0", "10.0.0.1", ["udp"], 4444), c("tcp.listen.0", "10.0.0.1", ["tcp"], 4444)]),
    ).toEqual([]);
    expect(portOverlaps([c("a", "10.0.0.1", ["udp"], 4444), c("b", "10.0.0.2", ["udp"], 4444)])).toEqual([]);
    expect(portOverlaps([c("a", "10.0.0.1", ["udp"], 1, 100), c("b", "10.0.0.1", ["udp"], 101, 200)])).toEqual([]);
    expect(
      portOverlaps([
        c("plugins.0 (nat)", "192.0.2.53", ["udp", "tcp"], 20000, 59999),
        c("plugins.1 (relay)", "192.0.2.53", ["udp"], 40000, 40999),
      ]),
    ).toEqual([
      "plugins.1 (relay): udp ports 40000-40999 on 192.0.2.53 overlap plugins.0 (nat) (20000-59999 on 192.0.2.53)",
    ]);
    expect(
      portOverlaps([c("listen.0", "::", ["udp"], 4444), c("sync.listen", "10.0.0.1", ["tcp", "udp"], 4444)]),
    ).toEqual(["sync.listen: udp port 4444 on 10.0.0.1 overlap listen.0 (4444 on ::)"]);
    expect(portOverlaps([c("a", "::ffff:10.0.0.1", ["tcp"], 80), c("b", "10.0.0.1", ["tcp"], 80)]).length).toBe(1);
  });

  const dir = mkdtempSync(`${tmpdir()}/relay-ports-`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const start = async (cfg: object) => {
    writeFileSync(`${dir}/relay.json`, JSON.stringify(cfg));
    const p = Bun.spawn([process.execPath, `${ROOT}relay.ts`, "--config", `${dir}/relay.json`], {
      env: process.env,
      stdout: "ignore",
      stderr: "pipe",
    });
    const t = setTimeout(() => p.kill(), 10000);
    const code = await p.exited;
    clearTimeout(t);
    return { code, err: await new Response(p.stderr).text() };
  };

  test("a real relay refuses to start on overlapping ports and names both parts (nothing binds)", async () => {
    const r = await start({
      mode: "server",
      listen: ["127.0.0.1:4444"],
      admin: { enabled: true, listen: "127.0.0.1:4444" }, // TCP and UDP: no clash
      tcp: { capture: ["127.0.0.1:4444"], listen: ["127.0.0.1:4444"], advertise: "127.0.0.1:4444" },
      sync: { listen: "0.0.0.0:4444", key: "port test fleet key" },
      plugins: [
        { use: "nat", address: "127.0.0.1" },
        { use: "relay", address: "127.0.0.1", ports: "40000-40999" },
        { use: "routes" },
      ],
      log: ["stderr:3"],
    });
    expect(r.code).not.toBe(0);
    for (const m of [
      "cannot start: sync.listen: udp port 4444 on 0.0.0.0 overlap listen.0 (4444 on 127.0.0.1)",
      "tcp.capture.0: tcp port 4444 on 127.0.0.1 overlap tcp.listen.0 (4444 on 127.0.0.1)",
      "admin.listen: tcp port 4444 on 127.0.0.1 overlap sync.listen (4444 on 0.0.0.0)",
      "plugins.1 (relay): udp ports 40000-40999 on 127.0.0.1 overlap plugins.0 (nat) (20000-59999 on 127.0.0.1)",
    ])
      expect(r.err).toContain(m);
  }, 15000);
});
