// Relay mode in-process on loopback (no root): allocation over SATP control messages, raw
// datagrams both ways, only the named peer let through, quotas, release, expiry, and a second
// synced server (on 127.0.0.2) binding the same relay port.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { adminApp } from "../src/admin.ts";
import { validateConfig } from "../src/config.ts";
import { parseIp } from "../src/net/addr.ts";
import { Logger } from "../src/log.ts";
import { PT_CONTROL } from "../src/satp/codec.ts";
import { be16, be32, decodeControl, encodeControl, ERR, MSG, TLV, tlv, u16, u32 } from "../src/satp/control.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import { startRelayClient } from "../src/relay-client.ts";
import { Client, until } from "./lib/satp-client.ts";

const quiet = new Logger([], "text");
let s1: Server, s2: Server;
const c = new Client(1, "pass");
let peer: Bun.udp.Socket<"buffer">;
let third: Bun.udp.Socket<"buffer">;
const atPeer: { port: number; addr: string; data: string }[] = [];
let id = 0;

async function server(senderId: number, host: string, peers: string[]) {
  return Server.start(
    validateConfig({
      mode: "server",
      senderId,
      listen: [`${host}:0`],
      admin: { enabled: false },
      clients: [{ mux: 1, passphrase: "pass", routes: ["10.99.0.1/32"] }],
      plugins: [
        {
          use: "relay",
          address: host,
          ports: "41000-41255",
          allowPeers: ["127.0.0.0/8"],
          maxAllocationsPerClient: 2,
          maxBytesPerAllocation: 4000,
        },
      ],
      sync: { listen: `${host}:0`, peers, key: "relay test fleet key" },
    }),
    quiet,
    BUILTIN,
    process.cwd(),
  );
}

/** Sends a control message to S1 and waits for its answer. */
async function ask(type: number, tlvs: { t: number; v: Uint8Array }[]) {
  const n = c.control.length;
  const myId = ++id;
  c.send(s1.listeners[0]!.udp.port, encodeControl({ type, id: myId, tlvs }), 1, PT_CONTROL);
  await until("control answer", () => c.control.length > n);
  const a = decodeControl(c.control.at(-1)!)!;
  expect(a.id).toBe(myId);
  return a;
}
const allocate = (peerPort: number, lifetime?: number, addr = [127, 0, 0, 1]) =>
  ask(MSG.RELAY_ALLOCATE, [
    { t: TLV.PEER_ADDR, v: new Uint8Array(addr) },
    { t: TLV.PEER_PORT, v: be16(peerPort) },
    ...(lifetime === undefined ? [] : [{ t: TLV.LIFETIME, v: be32(lifetime) }]),
  ]);

beforeAll(async () => {
  s1 = await server(1, "127.0.0.1", []);
  s2 = await server(2, "127.0.0.2", [`127.0.0.1:${s1.mesh!.listenPort}`]);
  await c.open();
  peer = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: { data: (_s, buf, port, addr) => void atPeer.push({ port, addr, data: buf.toString() }) },
  });
  third = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
  await until("sync up", () => s2.mesh!.peers().some((p) => p.state === "up"));
});
afterAll(() => {
  s1.stop();
  s2.stop();
  c.sock.close();
  peer.close();
  third.close();
});

test("allocate, relay both ways, only the named peer gets through; S2 binds the same port", async () => {
  const a = await allocate(peer.port);
  expect(a.type).toBe(MSG.RELAY_ALLOCATED);
  const port = u16(tlv(a, TLV.RELAY_PORT))!;
  expect(port).toBeGreaterThanOrEqual(41000 + 16);
  expect(port).toBeLessThan(41000 + 32); // sender id 1's slice
  expect(u32(tlv(a, TLV.LIFETIME))).toBe(300);
  await Bun.sleep(50); // sockets bind asynchronously
  c.sock.send(Buffer.from("to peer"), port, "127.0.0.1");
  await until("peer got it", () => atPeer.length === 1);
  expect(atPeer[0]).toEqual({ port, addr: "127.0.0.1", data: "to peer" });
  peer.send(Buffer.from("to client"), port, "127.0.0.1");
  await until("client got it", () => c.raw.length === 1);
  expect(c.raw[0]!.port).toBe(port);
  expect(Buffer.from(c.raw[0]!.data).toString()).toBe("to client");
  const refused = () => s1.pluginEvents.get("relay\u0000refused") ?? 0;
  third.send(Buffer.from("let me in"), port, "127.0.0.1");
  await until("third party dropped", () => refused() === 1);
  // the same allocation on S2 (synced; S2 listens on 127.0.0.2 here, as on the anycast address)
  await Bun.sleep(100); // S2 binds the synced port asynchronously
  const view = (await (await adminApp(s2).request("/v1/relays")).json()) as {
    allocations: { port: number; listening: boolean }[];
  };
  expect(view.allocations).toContainEqual(expect.objectContaining({ port, listening: true }));
  peer.send(Buffer.from("via s2"), port, "127.0.0.2");
  await until("client got it via s2", () => c.raw.length === 2);
  expect(Buffer.from(c.raw[1]!.data).toString()).toBe("via s2");
});

test("quotas: allocations per client, bytes per allocation; refused peers", async () => {
  expect((await allocate(peer.port)).type).toBe(MSG.RELAY_ALLOCATED); // the second one
  const third = await allocate(peer.port);
  expect(third.type).toBe(MSG.ERROR);
  expect(u16(tlv(third, TLV.ERROR_CODE))).toBe(ERR.QUOTA);
  const priv = await allocate(7, undefined, [10, 1, 2, 3]);
  expect(u16(tlv(priv, TLV.ERROR_CODE))).toBe(ERR.REFUSED);
  // IPv6 forms: loopback, link-local, ULA, multicast, documentation, and the mapped and
  // compatible forms of refused IPv4 (a dual-stack socket sends ::ffff:127.0.0.1 to 127.0.0.1)
  const allocations = s1.store.entries("relay").length;
  for (const a of [
    "::1",
    "::",
    "fe80::1",
    "fd00::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",
    "::127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
  ]) {
    const r = await allocate(7, undefined, [...parseIp(a)!]);
    expect([a, u16(tlv(r, TLV.ERROR_CODE))]).toEqual([a, ERR.REFUSED]);
  }
  expect(s1.store.entries("relay").length).toBe(allocations); // zero allocations to refused peers
  const views = (await (await adminApp(s1).request("/v1/relays")).json()) as { allocations: { port: number }[] };
  const port = views.allocations[0]!.port;
  const before = atPeer.length;
  for (let i = 0; i < 10; i++) c.sock.send(Buffer.alloc(500), port, "127.0.0.1"); // 5000 bytes > 4000
  await until("over quota counted", () => (s1.pluginEvents.get("relay\u0000over-quota") ?? 0) >= 1);
  expect(atPeer.length - before).toBeLessThan(10);
});

test("the server itself is refused as a peer: its service ports even where allowPeers allows the address (the fleet's: test/own.test.ts)", async () => {
  const before = s1.store.entries("relay").length;
  const own = [
    ["S1's SATP port", [127, 0, 0, 1], s1.listeners[0]!.udp.port],
    ["S1's sync port", [127, 0, 0, 1], s1.mesh!.listenPort],
    ["S1's data channel", [127, 0, 0, 1], s1.mesh!.dataPort!],
    ["S1's relay range", [127, 0, 0, 1], 41000],
    ["S1's SATP port, v4-mapped", [...parseIp("::ffff:127.0.0.1")!], s1.listeners[0]!.udp.port],
  ] as const;
  for (const [what, addr, port] of own) {
    const r = await allocate(port, undefined, [...addr]);
    expect([what, u16(tlv(r, TLV.ERROR_CODE))]).toEqual([what, ERR.REFUSED]);
  }
  expect(s1.store.entries("relay").length).toBe(before); // zero allocations to the server itself
  // Another port on an allowed address of the server is the operator's choice (allowPeers 127.0.0.0/8).
  const ok = await allocate(peer.port);
  expect(ok.type === MSG.RELAY_ALLOCATED || u16(tlv(ok, TLV.ERROR_CODE)) === ERR.QUOTA).toBe(true);
});

test("release (lifetime 0) and expiry stop relaying", async () => {
  const views = (await (await adminApp(s1).request("/v1/relays")).json()) as { allocations: { port: number }[] };
  for (const a of views.allocations) {
    const r = await ask(MSG.RELAY_REFRESH, [
      { t: TLV.RELAY_PORT, v: be16(a.port) },
      { t: TLV.LIFETIME, v: be32(0) },
    ]);
    expect(r.type).toBe(MSG.RELAY_REFRESHED);
  }
  await until("released everywhere", () => s2.store.entries("relay").length === 0);
  const short = await allocate(peer.port, 1);
  const port = u16(tlv(short, TLV.RELAY_PORT))!;
  await until("expired", () => s1.store.entries("relay").length === 0, 4000);
  const n = atPeer.length;
  c.sock.send(Buffer.from("too late"), port, "127.0.0.1");
  await Bun.sleep(100);
  expect(atPeer.length).toBe(n);
  const unknown = await ask(MSG.RELAY_REFRESH, [{ t: TLV.RELAY_PORT, v: be16(port) }]);
  expect(u16(tlv(unknown, TLV.ERROR_CODE))).toBe(ERR.UNKNOWN);
});

test("the relay client role forwards a local UDP port through the relay and releases on stop", async () => {
  const echo = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: { data: (s, b, p, a) => void s.send(b, p, a) },
  });
  const localPort = 45000 + (process.pid % 1000);
  const cfg = validateConfig({
    mode: "relay-client",
    remoteHost: "127.0.0.1",
    remotePort: s1.listeners[0]!.udp.port,
    port: 0,
    mux: 1,
    senderId: 7, // client 1's test socket above is sender 0: a second process under the same key needs its own id
    role: "client",
    passphrase: "pass",
    relayClient: { peer: `127.0.0.1:${echo.port}`, local: `127.0.0.1:${localPort}` },
  });
  const rc = await startRelayClient(cfg, quiet);
  const app = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    socket: { data: (_s, b) => void got.push(b.toString()) },
  });
  const got: string[] = [];
  for (let i = 0; i < 20; i++) app.send(Buffer.from(`datagram ${i}`), localPort, "127.0.0.1");
  await until("echoes back through the relay", () => got.length === 20);
  expect(new Set(got).size).toBe(20);
  expect(rc.stats).toMatchObject({ toPeer: 20, fromPeer: 20, allocations: 1 });
  const port = rc.relayPort();
  expect(s1.store.get("relay", String(port))).toBeDefined();
  await rc.stop();
  await until("released", () => s1.store.get("relay", String(port)) === undefined);
  app.close();
  echo.close();
});
