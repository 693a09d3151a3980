// DNS over TCP (plugins/dns/tcp.ts, RFC 7766): the connections room driven by a client made of
// the userspace TCP endpoint on a virtual clock (pure: segments shuttled by the test, losses and
// silences chosen by it), and the whole plugin behind a Server on loopback, where the segments go
// through the tunnel. Every bound is attacked: connection floods, a client over its share, an
// announced message longer than the buffer, a client that never reads, one that goes silent.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as v from "valibot";
import dnsPlugin from "../plugins/dns/index.ts";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { parseIp } from "../src/net/addr.ts";
import { buildUdp, newIpView, parseL4 } from "../src/net/ip.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import { Responder } from "../plugins/dns/answer.ts";
import { compileZones } from "../plugins/dns/zone.ts";
import { DnsTcp, type DnsTcpEvent, type DnsTcpLimits } from "../plugins/dns/tcp.ts";
import { TcpEndpoint } from "../src/tcp/endpoint.ts";
import { buildPacket, buildReset, packetRoom, parsePacket, RST, type Segment } from "../src/tcp/segment.ts";
import { TYPE } from "../plugins/dns/wire.ts";
import { answers, decode, query } from "./lib/dns.ts";
import { Client, sendInner, until } from "./lib/satp-client.ts";

const ZONES = [
  {
    name: "example.test",
    records: [
      { name: "www", type: "A", value: "10.99.0.10" },
      { name: "big", type: "TXT", value: Array.from({ length: 14 }, (_, i) => `${i % 10}`.repeat(100)) },
    ],
  },
];
const SERVICE = parseIp("10.99.0.53")!;
const CLIENT_IP = parseIp("10.99.0.1")!;

/** Frames a DNS message with its 2-byte length (RFC 1035 4.2.2). */
const framed = (...ms: Uint8Array[]) => {
  const out = new Uint8Array(ms.reduce((n, m) => n + 2 + m.length, 0));
  let at = 0;
  for (const m of ms) {
    out.set([m.length >> 8, m.length & 255], at);
    out.set(m, at + 2);
    at += 2 + m.length;
  }
  return out;
};
/** Splits a received stream into its messages (whole ones only). */
const unframe = (b: Uint8Array) => {
  const out: Uint8Array[] = [];
  for (let at = 0; at + 2 <= b.length;) {
    const len = (b[at]! << 8) | b[at + 1]!;
    if (at + 2 + len > b.length) break;
    out.push(b.slice(at + 2, at + 2 + len));
    at += 2 + len;
  }
  return out;
};

// ---- the connections room, pure -------------------------------------------------------------

const compiled = compileZones(v.parse(dnsPlugin.options, { address: ["10.99.0.53"], zones: ZONES }).zones).zones;
const udpResponder = new Responder(compiled, false);
const udpAnswer = (m: Uint8Array) => (udpResponder.respond(m), udpResponder.writer.buf.slice(0, udpResponder.length));

/** A DnsTcp, the packets it sent (to whom), and counted events; clients are plain objects. */
function room(limits: Partial<DnsTcpLimits> = {}) {
  const responder = new Responder(compiled, false, true);
  const sent: { to: object; pkt: Uint8Array }[] = [];
  const events: Partial<Record<DnsTcpEvent, number>> = {};
  let iss = 1000;
  const view = newIpView();
  const r = new DnsTcp<object>(
    { maxConnections: 64, perClient: 16, maxBytes: 4096, idleMs: 2000, ...limits },
    {
      answer(m) {
        const o = responder.respond(m);
        return o === "malformed" || o === "response" ? null : responder.writer.buf.subarray(0, responder.length);
      },
      send(to, pkt) {
        sent.push({ to, pkt: pkt.slice() });
        return true;
      },
      reset: (pkt) => (parseL4(pkt, view) === null ? buildReset(pkt, view) : null),
      count: (e) => void (events[e] = (events[e] ?? 0) + 1),
      iss: () => (iss += 7919),
    },
  );
  return { r, sent, events };
}

const out = new Uint8Array(packetRoom(65535));
/** A client: the userspace endpoint, what it received, its packets to the room. */
function client(port: number, who: object = {}) {
  const got: number[] = [];
  let finSeen = false;
  const ep = new TcpEndpoint(
    { localPort: port, remotePort: 53, iss: port * 1000 },
    { onData: (d) => got.push(...d), onPeerClosed: () => (finSeen = true) },
  );
  return {
    who,
    ep,
    get bytes() {
      return new Uint8Array(got);
    },
    get fin() {
      return finSeen;
    },
    /** The client's pending segments as IPv4 packets. */
    packets(now: number): Uint8Array[] {
      return ep.poll(now).map((s: Segment) => out.slice(0, buildPacket(out, { src: CLIENT_IP, dst: SERVICE }, s)));
    },
  };
}
type TestClient = ReturnType<typeof client>;

/** Runs the exchange for `ms` of virtual time in 10 ms steps; `down` false drops what the room sends. */
function run(
  rm: ReturnType<typeof room>,
  clients: TestClient[],
  t0: number,
  ms: number,
  o: { up?: boolean; down?: boolean } = {},
) {
  let now = t0;
  for (; now <= t0 + ms; now += 10) {
    for (const c of clients)
      for (const pkt of c.packets(now)) {
        const p = parsePacket(pkt);
        if (o.up !== false && p !== null) rm.r.segment(c.who, p, pkt, now);
      }
    rm.r.tick(now);
    const batch = rm.sent.splice(0);
    if (o.down === false) continue;
    for (const { to, pkt } of batch) {
      const p = parsePacket(pkt);
      const c = clients.find((x) => x.who === to && p !== null && p.seg.dstPort === x.ep.localPort);
      if (c !== undefined && p !== null) c.ep.input(p.seg, now);
    }
  }
  return now;
}

describe("DNS over TCP, the connections room", () => {
  test("three pipelined queries in one write: three answers in order, each as over UDP (it fits there), length-prefixed", () => {
    const rm = room();
    const c = client(40000);
    c.ep.connect(0);
    let now = run(rm, [c], 0, 100);
    expect(c.ep.state).toBe("ESTABLISHED");
    const qs = [
      query("www.example.test", TYPE.A, { id: 1 }),
      query("nope.example.test", TYPE.A, { id: 2 }),
      query("www.example.test", TYPE.AAAA, { id: 3 }),
    ];
    c.ep.write(framed(...qs));
    now = run(rm, [c], now, 200);
    const got = unframe(c.bytes);
    expect(got.map((m) => decode(m).id)).toEqual([1, 2, 3]);
    for (let i = 0; i < 3; i++) expect(got[i]).toEqual(udpAnswer(qs[i]!));
    expect(answers(decode(got[0]!))).toEqual(["www.example.test 300 1 10.99.0.10"]);
    expect(rm.events["tcp-queries"]).toBe(3);
    expect(rm.r.connections).toBe(1);
  });

  test("a query split byte by byte, then the client's FIN: answered, then the room's FIN; nothing kept", () => {
    const rm = room();
    const c = client(40001);
    c.ep.connect(0);
    let now = run(rm, [c], 0, 100);
    const q = framed(query("www.example.test", TYPE.A, { id: 9 }));
    for (const b of q) {
      c.ep.write(Uint8Array.of(b));
      now = run(rm, [c], now, 20);
    }
    c.ep.close(now);
    now = run(rm, [c], now, 300);
    expect(unframe(c.bytes).map((m) => decode(m).id)).toEqual([9]);
    expect(c.fin).toBe(true);
    expect(rm.r.connections).toBe(0);
  });

  test("an answer over 512 bytes (TC over UDP without EDNS) comes whole over TCP", () => {
    const rm = room();
    const c = client(40002);
    c.ep.connect(0);
    let now = run(rm, [c], 0, 100);
    const q = query("big.example.test", TYPE.TXT);
    expect(decode(udpAnswer(q)).tc).toBe(true);
    c.ep.write(framed(q));
    now = run(rm, [c], now, 200);
    const m = decode(unframe(c.bytes)[0]!);
    expect([m.tc, m.answer.length]).toEqual([false, 1]);
    expect(unframe(c.bytes)[0]!.length).toBeGreaterThan(1400);
  });

  test("idle: no query for idleMs gets the room's FIN; a client that then goes silent is reset idleMs later; the slot is free", () => {
    const rm = room({ idleMs: 500 });
    const c = client(40003);
    c.ep.connect(0);
    let now = run(rm, [c], 0, 100);
    expect(rm.r.connections).toBe(1);
    now = run(rm, [c], now, 600);
    expect(c.fin).toBe(true); // RFC 7766 6.2.3: the server closes idle connections
    // the client never answers the FIN (its segments are lost from here on)
    const d = client(40004);
    d.ep.connect(now);
    now = run(rm, [d], now, 100);
    now = run(rm, [d], now, 1200, { up: false });
    expect(rm.events["tcp-idle"]).toBeGreaterThanOrEqual(1);
    expect(rm.r.connections).toBe(0);
  });

  test("bounds: 16 connections per client, 64 in all; every SYN over them gets a RST and is counted", () => {
    const rm = room();
    const greedy = {};
    const many = Array.from({ length: 20 }, (_, i) => client(41000 + i, greedy));
    for (const c of many) c.ep.connect(0);
    let now = run(rm, many, 0, 100);
    expect(many.filter((c) => c.ep.state === "ESTABLISHED").length).toBe(16);
    expect(many.filter((c) => c.ep.state === "CLOSED").length).toBe(4); // reset
    const others = Array.from({ length: 60 }, (_, i) => client(42000 + i, { n: i % 6 }));
    for (const c of others) c.ep.connect(now);
    now = run(rm, others, now, 100);
    expect(rm.r.connections).toBe(64);
    expect(rm.events["tcp-refused"]).toBe(4 + 12);
    // the refused ones can connect once a slot is free
    many[0]!.ep.close(now);
    now = run(rm, many, now, 200);
    expect(rm.r.connections).toBe(63);
  });

  test("1,000 SYNs at once: at most the configured connections kept, the rest reset; state bounded", () => {
    const rm = room({ maxConnections: 100, perClient: 1000 });
    const flood = Array.from({ length: 1000 }, (_, i) => client(10000 + i));
    for (const c of flood) c.ep.connect(0);
    run(rm, flood, 0, 50);
    expect(rm.r.connections).toBe(100);
    expect(rm.events["tcp-refused"]).toBe(900);
    expect(rm.events["tcp-accepted"]).toBe(100);
  });

  test("a message announced longer than tcpBytes, or of length 0: RST, counted, nothing kept", () => {
    for (const head of [Uint8Array.of(0xff, 0xff, 1, 2, 3), Uint8Array.of(0, 0)]) {
      const rm = room({ maxBytes: 1024 });
      const c = client(40005);
      c.ep.connect(0);
      let now = run(rm, [c], 0, 100);
      c.ep.write(head);
      now = run(rm, [c], now, 100);
      expect(rm.events["tcp-oversize"]).toBe(1);
      expect(c.ep.state).toBe("CLOSED");
      expect(rm.r.connections).toBe(0);
    }
  });

  test("a client that never reads: answers stop at the send buffer, queries at the receive buffer; the idle rule ends it", () => {
    const rm = room({ maxBytes: 2048, idleMs: 1000 });
    const c = client(40006);
    c.ep.connect(0);
    let now = run(rm, [c], 0, 100);
    const q = framed(query("big.example.test", TYPE.TXT));
    let queued = 0;
    for (let i = 0; i < 200; i++) if (c.ep.write(q)) queued++;
    // the room's segments to the client are lost from here: nothing it sends is acknowledged
    let peak = 0;
    for (let t = 0; t < 3000; t += 100) {
      now = run(rm, [c], now, 100, { down: false });
      peak = Math.max(peak, rm.r.connections);
    }
    expect(queued).toBeGreaterThan(10);
    expect(rm.r.connections).toBe(0);
    expect((rm.events["tcp-idle"] ?? 0) + (rm.events["tcp-oversize"] ?? 0)).toBeGreaterThanOrEqual(1);
    expect(rm.events["tcp-queries"] ?? 0).toBeGreaterThanOrEqual(1);
    expect(rm.events["tcp-queries"] ?? 0).toBeLessThanOrEqual(2); // what fits 2048 bytes of send buffer
  });

  test("segments of no connection: a RST (SEQ = their ACK), none for a RST; stop() forgets all", () => {
    const rm = room();
    const c = client(40007);
    c.ep.connect(0);
    run(rm, [c], 0, 100);
    const ack = buildPacket(
      out,
      { src: CLIENT_IP, dst: SERVICE },
      { srcPort: 40999, dstPort: 53, seq: 5, ack: 777, flags: 0x10, wnd: 100, payload: new Uint8Array(0) },
    );
    const pkt = out.slice(0, ack);
    rm.r.segment({}, parsePacket(pkt)!, pkt, 200);
    const rst = parsePacket(rm.sent.at(-1)!.pkt)!;
    expect([rst.seg.flags & RST, rst.seg.seq]).toEqual([RST, 777]);
    const n = rm.sent.length;
    const r2 = buildPacket(
      out,
      { src: CLIENT_IP, dst: SERVICE },
      { srcPort: 40999, dstPort: 53, seq: 5, ack: 0, flags: RST, wnd: 0, payload: new Uint8Array(0) },
    );
    const pr = out.slice(0, r2);
    rm.r.segment({}, parsePacket(pr)!, pr, 200);
    expect(rm.sent.length).toBe(n);
    rm.r.stop();
    expect(rm.r.connections).toBe(0);
  });
});

// ---- the plugin in a server on loopback: segments through the tunnel ----------------------------

describe("DNS over TCP through the tunnel (a Server on loopback)", () => {
  let server: Server;
  let port = 0;
  const a = new Client(1, "secret of a");
  const quiet = new Logger([], "text");

  beforeAll(async () => {
    const cfg = validateConfig({
      mode: "server",
      listen: ["127.0.0.1:0"],
      admin: { enabled: false },
      clients: [{ name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32"] }],
      plugins: [
        { use: "dns", address: ["10.99.0.53"], zones: ZONES, tcpConnections: 8, tcpPerClient: 8 },
        { use: "routes" },
      ],
    });
    server = await Server.start(cfg, quiet, BUILTIN, process.cwd());
    port = server.listeners[0]!.udp.port;
    await a.open();
    a.send(port, buildUdp(CLIENT_IP, parseIp("10.250.0.1")!, 1, 9, new Uint8Array(2)));
    await until("endpoint", () => server.conns.all().every((c) => c.endpoint !== null));
  });
  afterAll(() => {
    server.stop();
    a.sock.close();
  });
  const events = (e: string) => server.pluginEvents.get(`dns\u0000${e}`) ?? 0;

  /** A TCP client inside the tunnel: its segments sealed to the server, the server's fed back. */
  async function tcpExchange(sport: number, data: Uint8Array, want: (got: Uint8Array) => boolean) {
    const c = client(sport);
    let seen = a.got.length;
    const pump = () => {
      const now = performance.now();
      for (; seen < a.got.length; seen++) {
        const p = parsePacket(a.got[seen]!);
        if (p !== null && p.seg.dstPort === sport) c.ep.input(p.seg, now);
      }
      for (const pkt of c.packets(now)) sendInner(a, port, pkt);
    };
    c.ep.connect(performance.now());
    const t = setInterval(pump, 5);
    try {
      await until("connected", () => (pump(), c.ep.state === "ESTABLISHED"));
      c.ep.write(data);
      await until("the answers", () => (pump(), want(c.bytes)));
      c.ep.close(performance.now());
      await until("closed", () => (pump(), c.ep.state === "CLOSED" || c.ep.state === "TIME-WAIT"));
    } finally {
      clearInterval(t);
    }
    return c.bytes;
  }

  test("dig +tcp alike: an A query and the > 512-byte TXT answered over the tunnel, the TXT whole", async () => {
    const got = await tcpExchange(
      45000,
      framed(query("www.example.test", TYPE.A, { id: 7 }), query("big.example.test", TYPE.TXT, { id: 8 })),
      (b) => unframe(b).length === 2,
    );
    const [m1, m2] = unframe(got).map(decode);
    expect(answers(m1!)).toEqual(["www.example.test 300 1 10.99.0.10"]);
    expect([m2!.id, m2!.tc, m2!.answer.length]).toEqual([8, false, 1]);
    expect(events("tcp-queries")).toBe(2);
    expect(events("answered")).toBe(2);
  });

  test("the plugin's bound holds through the tunnel: the 9th concurrent connection is reset, counted", async () => {
    const before = events("tcp-refused");
    const held = Array.from({ length: 9 }, (_, i) => client(46000 + i));
    let seen = a.got.length;
    for (const c of held) c.ep.connect(performance.now());
    await until("eight established, one reset", () => {
      const now = performance.now();
      for (; seen < a.got.length; seen++) {
        const p = parsePacket(a.got[seen]!);
        const c = p && held.find((x) => x.ep.localPort === p.seg.dstPort);
        if (c) c.ep.input(p.seg, now);
      }
      for (const c of held) for (const pkt of c.packets(now)) sendInner(a, port, pkt);
      return held.filter((c) => c.ep.state === "ESTABLISHED").length === 8 && held.some((c) => c.ep.state === "CLOSED");
    });
    expect(events("tcp-refused") - before).toBe(1);
    const d = server.chain.entries[0]!.instance.describe!() as { tcpOpen: number };
    expect(d.tcpOpen).toBe(8);
  });
});

describe('tcp: "reset" and "next" stay', () => {
  test("reset: a SYN to port 53 is answered with RST|ACK at once; next: it goes to the next plugin", async () => {
    const ctx = { log: new Logger([], "text"), counter: () => ({ inc() {} }), send: () => true } as never;
    const syn = buildPacket(
      out,
      { src: CLIENT_IP, dst: SERVICE },
      { srcPort: 40000, dstPort: 53, seq: 7, ack: 0, flags: 0x02, wnd: 1000, payload: new Uint8Array(0) },
    );
    const pkt = out.slice(0, syn);
    const packet = { from: null as never, type: 0x0800, data: pkt, listener: 0, now: 0 };
    const reset = await dnsPlugin.create(
      ctx,
      v.parse(dnsPlugin.options, { address: ["10.99.0.53"], zones: ZONES, tcp: "reset" }),
    );
    const verdict = reset.handle(packet);
    expect(verdict.kind).toBe("reply");
    const rst = parsePacket((verdict as { data: Uint8Array }).data)!;
    expect([rst.seg.flags, rst.seg.ack]).toEqual([RST | 0x10, 8]);
    reset.stop();
    const next = await dnsPlugin.create(
      ctx,
      v.parse(dnsPlugin.options, { address: ["10.99.0.53"], zones: ZONES, tcp: "next" }),
    );
    expect(next.handle(packet).kind).toBe("next");
    next.stop();
  });
});

describe("options attacked", () => {
  test("tcp limits out of range, not integers, or of the wrong type: refused at config", () => {
    const base = { address: ["10.99.0.53"], zones: ZONES };
    for (const bad of [
      { tcpConnections: 0 },
      { tcpConnections: 1.5 },
      { tcpPerClient: -1 },
      { tcpBytes: 100 }, // below a length prefix and a 512-byte message
      { tcpBytes: 70000 },
      { tcpIdleMs: 10 },
      { tcpIdleMs: "10000" },
      { tcp: "accept" },
    ])
      expect(v.safeParse(dnsPlugin.options, { ...base, ...bad }).success).toBe(false);
    expect(v.safeParse(dnsPlugin.options, { ...base, tcpBytes: 514, tcpIdleMs: 100 }).success).toBe(true);
  });
});
