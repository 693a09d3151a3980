// Path MTU through the tunnel (src/net/icmp.ts, src/net/pmtu.ts), no root: the too-big errors'
// bytes (types, MTU, quoted packet, sizes, checksums by the independent oracle), the packets that
// must never get one (ICMP errors, multicast, later fragments, an unspecified source), and a real
// server on loopback: A's 1450-byte packet with DF to B over a 1400-byte tunnel comes back to A as
// "fragmentation needed, MTU 1400" and never reaches B; without DF it goes through; IPv6 gets
// "packet too big"; a flood of oversize packets gets at most icmpRate errors per second.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectionSession } from "../src/client.ts";
import { PrefixTable } from "../src/net/lpm.ts";
import { PeerPath } from "../src/peer.ts";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { parseIp } from "../src/net/addr.ts";
import { checksum } from "../src/net/checksum.ts";
import { buildTooBig, errorAllowed } from "../src/net/icmp.ts";
import { newIpView, parseIpHeader } from "../src/net/ip.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import { refChecksumsOk } from "./lib/ip-ref.ts";
import { Client, sendInner, until } from "./lib/satp-client.ts";

/** An IPv4 or IPv6 packet of `size` bytes from src to dst (protocol `proto`, first payload byte `first`). */
function packet(
  src: string,
  dst: string,
  size: number,
  o: { df?: boolean; proto?: number; first?: number; frag?: number } = {},
) {
  const s = parseIp(src)!;
  const p = new Uint8Array(size);
  const proto = o.proto ?? 17;
  if (s.length === 16) {
    p.set([0x60, 0, 0, 0, (size - 40) >> 8, (size - 40) & 255, proto, 64], 0);
    p.set(s, 8);
    p.set(parseIp(dst)!, 24);
    p[40] = o.first ?? 0x11;
  } else {
    p.set([0x45, 0, size >> 8, size & 255, 0, 1, (o.df ?? true) ? 0x40 : 0, 0, 64, proto], 0);
    if (o.frag) {
      p[6] = (p[6]! & 0xe0) | ((o.frag >> 8) & 0x1f);
      p[7] = o.frag & 255;
    }
    p.set(s, 12);
    p.set(parseIp(dst)!, 16);
    const h = checksum(p, 0, 20);
    p.set([h >> 8, h & 255], 10);
    p[20] = o.first ?? 0x11;
  }
  return p;
}
const view = (p: Uint8Array) => {
  const v = newIpView();
  expect(parseIpHeader(p, v)).toBeNull();
  return v;
};

describe("too-big errors (net/icmp.ts)", () => {
  test("IPv4: type 3 code 4, the next-hop MTU, from the destination to the source, 576 bytes at most, checksums valid", () => {
    const p = packet("10.99.0.1", "10.99.0.2", 1450);
    const e = buildTooBig(p, view(p), 1400)!;
    expect(e.length).toBe(576);
    expect(refChecksumsOk(e)).toBe(true);
    expect([e[9], e[20], e[21], (e[26]! << 8) | e[27]!]).toEqual([1, 3, 4, 1400]);
    expect([...e.subarray(12, 16)]).toEqual([10, 99, 0, 2]); // from the destination
    expect([...e.subarray(16, 20)]).toEqual([10, 99, 0, 1]); // to the sender
    expect([...e.subarray(28, 48)]).toEqual([...p.subarray(0, 20)]); // the offending header quoted
    const small = packet("10.99.0.1", "10.99.0.2", 100);
    expect(buildTooBig(small, view(small), 1400)!.length).toBe(128);
  });

  test("IPv6: type 2 (packet too big), the MTU in 32 bits, 1280 bytes at most, the checksum over the pseudo-header", () => {
    const p = packet("fd00:99::1", "fd00:99::2", 1500);
    const e = buildTooBig(p, view(p), 1400)!;
    expect(e.length).toBe(1280);
    expect(refChecksumsOk(e)).toBe(true);
    expect([e[6], e[40], e[41], (e[44]! << 24) | (e[45]! << 16) | (e[46]! << 8) | e[47]!]).toEqual([58, 2, 0, 1400]);
    expect([...e.subarray(8, 24)]).toEqual([...parseIp("fd00:99::2")!]);
    expect([...e.subarray(24, 40)]).toEqual([...parseIp("fd00:99::1")!]);
  });

  test("never about an ICMP error, a multicast or broadcast destination, a later fragment, a source that is not unicast", () => {
    const never = [
      packet("10.99.0.1", "10.99.0.2", 1450, { proto: 1, first: 3 }), // dest unreachable
      packet("10.99.0.1", "10.99.0.2", 1450, { proto: 1, first: 11 }), // time exceeded
      packet("10.99.0.1", "224.0.0.5", 1450),
      packet("10.99.0.1", "255.255.255.255", 1450),
      packet("0.0.0.0", "10.99.0.2", 1450),
      packet("10.99.0.1", "10.99.0.2", 1450, { frag: 185 }),
      packet("fd00:99::1", "fd00:99::2", 1450, { proto: 58, first: 2 }), // a packet too big itself
      packet("fd00:99::1", "ff02::1", 1450),
      packet("::", "fd00:99::2", 1450),
    ];
    for (const p of never) {
      expect(errorAllowed(p, view(p))).toBe(false);
      expect(buildTooBig(p, view(p), 1400)).toBeNull();
    }
    for (const p of [
      packet("10.99.0.1", "10.99.0.2", 1450, { proto: 1, first: 8 }), // echo request: yes
      packet("fd00:99::1", "fd00:99::2", 1450, { proto: 58, first: 128 }),
    ])
      expect(buildTooBig(p, view(p), 1400)).not.toBeNull();
  });
});

describe("a server on loopback (mtu 1400)", () => {
  const servers: Server[] = [];
  const clients: Client[] = [];
  afterAll(() => {
    for (const s of servers) s.stop();
    for (const c of clients) c.sock.close();
  });
  const start = async (icmpRate?: number) => {
    const cfg = validateConfig({
      mode: "server",
      listen: ["127.0.0.1:0"],
      admin: { enabled: false },
      ...(icmpRate === undefined ? {} : { icmpRate }),
      clients: [
        { mux: 1, passphrase: "pass a", routes: ["10.99.0.1/32", "fd00:99::1/128"] },
        { mux: 2, passphrase: "pass b", routes: ["10.99.0.2/32", "fd00:99::2/128"] },
      ],
    });
    const s = await Server.start(cfg, new Logger([], "text"), BUILTIN, process.cwd());
    servers.push(s);
    const a = new Client(1, "pass a");
    const b = new Client(2, "pass b");
    for (const c of [a, b]) {
      await c.open();
      clients.push(c);
    }
    const port = s.listeners[0]!.udp.port;
    sendInner(b, port, packet("10.99.0.2", "10.99.0.1", 60));
    await until("B known", () => s.conns.get(2)!.endpoint !== null);
    sendInner(a, port, packet("10.99.0.1", "10.99.0.2", 60));
    await until("A known, B got its packet", () => b.got.length === 1);
    a.got.length = 0;
    b.got.length = 0;
    return { s, a, b, port };
  };

  test("1450 bytes with DF: A gets fragmentation needed (MTU 1400), B gets nothing; without DF and at 1400 it goes through; IPv6: packet too big", async () => {
    const { s, a, b, port } = await start();
    sendInner(a, port, packet("10.99.0.1", "10.99.0.2", 1450));
    await until("A's error", () => a.got.length === 1);
    const e = a.got[0]!;
    expect(refChecksumsOk(e)).toBe(true);
    expect([e[20], e[21], (e[26]! << 8) | e[27]!]).toEqual([3, 4, 1400]);
    sendInner(a, port, packet("10.99.0.1", "10.99.0.2", 1450, { df: false }));
    sendInner(a, port, packet("10.99.0.1", "10.99.0.2", 1400));
    await until("B got two", () => b.got.length === 2);
    expect(b.got.map((p) => p.length)).toEqual([1450, 1400]);
    sendInner(a, port, packet("fd00:99::1", "fd00:99::2", 1450));
    await until("A's second error", () => a.got.length === 2);
    const e6 = a.got[1]!;
    expect(refChecksumsOk(e6)).toBe(true);
    expect([e6[40], (e6[44]! << 24) | (e6[45]! << 16) | (e6[46]! << 8) | e6[47]!]).toEqual([2, 1400]);
    await Bun.sleep(50);
    expect(b.got.length).toBe(2);
    expect(s.dp.pmtu.tooBigs).toEqual({ dropped: 2, icmpSent: 2, icmpLimited: 0 });
  });

  test("200 oversize packets at once with icmpRate 20: 20 errors, the rest held back and counted, none forwarded", async () => {
    const { s, a, b, port } = await start(20);
    for (let i = 0; i < 200; i++) sendInner(a, port, packet("10.99.0.1", "10.99.0.2", 1450));
    await until("every packet handled", () => s.dp.pmtu.tooBigs.dropped === 200, 5000);
    await Bun.sleep(50);
    expect(s.dp.pmtu.tooBigs.icmpSent).toBeGreaterThanOrEqual(20);
    expect(s.dp.pmtu.tooBigs.icmpSent).toBeLessThanOrEqual(22); // the bucket refills while they arrive
    expect(s.dp.pmtu.tooBigs.icmpSent + s.dp.pmtu.tooBigs.icmpLimited).toBe(200);
    expect(a.got.length).toBe(s.dp.pmtu.tooBigs.icmpSent);
    expect(b.got.length).toBe(0);
  });

  test("icmpRate 0: oversize DF packets are dropped and counted, no error sent", async () => {
    const { s, a, b, port } = await start(0);
    for (let i = 0; i < 5; i++) sendInner(a, port, packet("10.99.0.1", "10.99.0.2", 1450));
    await until("handled", () => s.dp.pmtu.tooBigs.dropped === 5);
    await Bun.sleep(50);
    expect([a.got.length, b.got.length, s.dp.pmtu.tooBigs.icmpSent]).toEqual([0, 0, 0]);
  });
});

describe("the client roles (PeerPath)", () => {
  test("a device whose MTU was raised past `mtu`: a 1450-byte DF packet gets fragmentation needed back on the device, nothing is sealed", () => {
    const dir = mkdtempSync(join(tmpdir(), "pmtu-"));
    const cfg = validateConfig({ mode: "peer", remoteHost: "127.0.0.1", passphrase: "p", mtu: 1400, stateDir: dir });
    const { session, counters } = connectionSession(cfg, new Logger([], "text"));
    const written: Uint8Array[] = [];
    const queued: number[] = [];
    const path = new PeerPath(
      session,
      1,
      false,
      new PrefixTable<true>(),
      { write: (p) => (written.push(p.slice()), true), queue: (p) => (written.push(p.slice()), true) },
      new Logger([], "text"),
      { address: "127.0.0.1", port: 4444 },
      cfg,
    );
    path.out = { slot: () => new Uint8Array(2048), queue: (len: number) => void queued.push(len) } as never;
    path.fromDevice(packet("10.99.0.1", "10.99.0.2", 1450));
    expect(written.length).toBe(1);
    expect(refChecksumsOk(written[0]!)).toBe(true);
    expect([written[0]![20], written[0]![21], (written[0]![26]! << 8) | written[0]![27]!]).toEqual([3, 4, 1400]);
    expect(queued).toEqual([]);
    path.fromDevice(packet("10.99.0.1", "10.99.0.2", 1400));
    path.fromDevice(packet("10.99.0.1", "10.99.0.2", 1450, { df: false }));
    expect(queued.length).toBe(2);
    expect(path.pmtu.tooBigs).toEqual({ dropped: 1, icmpSent: 1, icmpLimited: 0 });
    counters.release();
    rmSync(dir, { recursive: true, force: true });
  });
});

test("icmpRate out of range, not an integer, or not a number: refused at config", () => {
  for (const icmpRate of [-1, 1.5, 100001, "100"])
    expect(() => validateConfig({ mode: "server", icmpRate } as never)).toThrow(/icmpRate/);
  expect(validateConfig({ mode: "server", icmpRate: 0 }).icmpRate).toBe(0);
});
