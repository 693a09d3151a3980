// TcpAnycast (transport/tcp-anycast.ts) over a fake capture device and a real SyncStore: what a
// segment of a flow another server published does here — a plausible one starts a tentative
// takeover that sends and publishes nothing until the first authenticated packet (bound), an
// implausible one is refused without a word, and a segment of no flow anywhere gets a RST.
import { expect, test } from "bun:test";
import type { CaptureOptions, PacketDevice } from "../src/capture.ts";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { SyncStore } from "../src/sync/store.ts";
import { ACK, buildPacket, packetRoom, parsePacket, RST, SYN } from "../src/tcp/segment.ts";
import { formatIp, parseIp } from "../src/net/addr.ts";
import type { FlowRecord } from "../src/transport/anycast-flow.ts";
import { TcpAnycast } from "../src/transport/tcp-anycast.ts";

const ANY = new Uint8Array([10, 201, 0, 1]);
const CLIENT = new Uint8Array([10, 203, 11, 1]);

/** A capture device that records what the table writes and lets the test inject segments. */
class FakeDevice implements PacketDevice {
  readonly name = "fake0";
  readonly stats = {
    rxPackets: 0,
    rxBytes: 0,
    txPackets: 0,
    txBytes: 0,
    txErrors: 0,
    rxErrors: 0,
    callbackErrors: 0,
    rxOffloaded: 0,
    offloadSwitches: 0,
  };
  readonly written: Uint8Array[] = [];
  opened: CaptureOptions | null = null;
  private onPacket: ((pkt: Uint8Array) => void) | null = null;
  start(onPacket: (pkt: Uint8Array) => void): void {
    this.onPacket = onPacket;
  }
  write(pkt: Uint8Array): boolean {
    this.written.push(pkt.slice());
    return true;
  }
  queue(pkt: Uint8Array): boolean {
    return this.write(pkt);
  }
  close(): void {}
  /** A whole packet, as the kernel would hand it over. */
  deliver(pkt: Uint8Array): void {
    this.onPacket!(pkt);
  }
  inject(seq: number, ack: number, flags = ACK, srcPort = 40000): void {
    const out = new Uint8Array(packetRoom(0));
    const n = buildPacket(
      out,
      { src: CLIENT, dst: ANY },
      { srcPort, dstPort: 4444, seq, ack, flags, wnd: 65535, payload: new Uint8Array(0) },
    );
    this.onPacket!(out.subarray(0, n));
  }
}

function table() {
  const dev = new FakeDevice();
  const cfg = validateConfig({ mode: "server", tcp: { capture: ["10.201.0.1:4444"] } });
  const store = new SyncStore(2);
  const t = new TcpAnycast(
    cfg.tcp,
    2,
    store,
    () => true,
    new Logger([], "text"),
    (mux) => mux === 1,
    new Uint8Array(32),
    Date.now,
    null,
    (o) => {
      dev.opened = o;
      return dev;
    },
  );
  t.start();
  return { t, dev, store, cfg };
}

const KEY = "10.203.11.1|40000|10.201.0.1|4444";
const rec = (over: Partial<FlowRecord> = {}): FlowRecord => ({
  o: 1,
  m: 1,
  is: 1000,
  ir: 5000,
  ms: 1460,
  ss: 0,
  rs: 0,
  sn: 2000,
  rn: 6000,
  k: 10000,
  ...over,
});

test("the device is opened with the capture's address and port, and no setup worker", () => {
  const { t, dev } = table();
  expect(dev.opened).toMatchObject({
    dev: "relay-tcp",
    targets: [{ address: "10.201.0.1", ports: [4444, 4444], protos: ["tcp"], icmp: false }],
    worker: null,
  });
  t.stop();
});

test("a plausible segment of a flow server 1 published: a tentative takeover that sends and publishes nothing", () => {
  const { t, dev, store } = table();
  store.apply({ table: "tcp", key: KEY, value: rec(), t: Date.now(), node: 1 }, 1);
  dev.inject(6000, 2000);
  expect(t.stats.tentative).toBe(1);
  expect(t.flows.get(KEY)?.tentativeUntil).toBeGreaterThan(0);
  expect(dev.written.length).toBe(0); // nothing to the client while tentative
  expect((store.get("tcp", KEY) as FlowRecord).o).toBe(1); // server 1 still owns it

  // the first authenticated packet on it (the datapath's `bound`) confirms it: published as ours
  t.bound(t.flows.get(KEY)!, 1);
  expect(t.stats.takeovers).toBe(1);
  expect((store.get("tcp", KEY) as FlowRecord).o).toBe(2);
  t.stop();
});

test("an implausible segment (SEQ a window away) of a published flow is refused, never answered", () => {
  const { t, dev, store, cfg } = table();
  store.apply({ table: "tcp", key: KEY, value: rec(), t: Date.now(), node: 1 }, 1);
  dev.inject(6000 + 3 * cfg.tcp.buffer, 2000);
  dev.inject(6000, 2000 - 2 * cfg.tcp.buffer);
  expect(t.stats.refused).toBe(2);
  expect(t.flows.size).toBe(0);
  expect(dev.written.length).toBe(0); // no RST for a synced flow
  t.stop();
});

test("a segment of no flow anywhere gets a RST; a record in a third server's name is refused by the store", () => {
  const { t, dev, store } = table();
  dev.inject(6000, 2000);
  expect(t.stats.resets).toBe(1);
  const rst = parsePacket(dev.written[0]!);
  expect(rst !== null && (rst.seg.flags & RST) !== 0).toBe(true);
  expect(rst!.seg.seq).toBe(2000); // RFC 9293 3.10.7.1: SEQ = the segment's ACK
  // node 3 writes a record owned by node 1: refused, so it cannot start a takeover here
  const before = store.recordsRefused;
  store.apply({ table: "tcp", key: KEY, value: rec({ o: 1 }), t: Date.now(), node: 3 }, 1);
  expect(store.recordsRefused - before).toBe(1);
  t.stop();
});

test("the former owner's refresh that crosses a confirmed takeover (older generation, later clock) does not move the flow back", () => {
  const { t, dev, store } = table();
  store.apply({ table: "tcp", key: KEY, value: rec({ g: 4 }), t: Date.now(), node: 1 }, 1);
  dev.inject(6000, 2000);
  t.bound(t.flows.get(KEY)!, 1);
  const ours = store.get("tcp", KEY) as FlowRecord;
  expect(ours).toMatchObject({ o: 2, g: 5 });
  // Server 1 refreshes before it learns of the takeover; its clock runs 50 ms ahead.
  const crossing = Date.now() + 50;
  store.apply({ table: "tcp", key: KEY, value: rec({ g: 4, sn: 2100 }), t: crossing, node: 1 }, 1);
  expect(t.stats.staleOwner).toBe(1);
  expect(t.stats.movedAway).toBe(0);
  expect(t.flows.get(KEY)?.closed).toBe(false);
  // Ours is republished at once, stamped after the record it replaces, so it wins everywhere.
  const again = store.version("tcp", KEY)!;
  expect(again.node).toBe(2);
  expect(again.t).toBeGreaterThan(crossing);
  expect(store.get("tcp", KEY)).toMatchObject({ o: 2, g: 5 });
  t.stop();
});

test("a newer takeover elsewhere (same or higher generation), or a record without one (a release before it), still moves the flow away", () => {
  for (const g of [5, 6, undefined]) {
    const { t, dev, store } = table();
    store.apply({ table: "tcp", key: KEY, value: rec({ g: 4 }), t: Date.now(), node: 1 }, 1);
    dev.inject(6000, 2000);
    t.bound(t.flows.get(KEY)!, 1);
    store.apply({ table: "tcp", key: KEY, value: rec({ o: 1, g }), t: Date.now() + 5, node: 1 }, 1);
    expect(t.stats.staleOwner).toBe(0);
    expect(t.stats.movedAway).toBe(1);
    t.stop();
  }
});

test("a record's generation must be an unsigned 32-bit integer", () => {
  for (const g of [-1, 1.5, 2 ** 32, "1"]) {
    const { t, store } = table();
    const before = store.recordsRefused;
    store.apply({ table: "tcp", key: KEY, value: { ...rec(), g }, t: Date.now(), node: 1 }, 1);
    expect(store.recordsRefused - before).toBe(1);
    t.stop();
  }
});

test("IPv6: a capture written non-canonically matches; a segment of no flow gets an IPv6 RST, a SYN an IPv6 SYN-ACK cookie", () => {
  const dev = new FakeDevice();
  const cfg = validateConfig({ mode: "server", tcp: { capture: ["[2001:DB8:201:0::1]:4444"] } });
  const t = new TcpAnycast(
    cfg.tcp,
    2,
    new SyncStore(2),
    () => true,
    new Logger([], "text"),
    () => true,
    new Uint8Array(32),
    Date.now,
    null,
    (o) => {
      dev.opened = o;
      return dev;
    },
  );
  t.start();
  expect(dev.opened!.targets[0]!.address).toBe("2001:DB8:201:0::1"); // ip -6 takes it as written
  const out = new Uint8Array(packetRoom(0));
  const seg = (flags: number) => {
    const n = buildPacket(
      out,
      { src: parseIp("2001:db8:c0::1")!, dst: parseIp("2001:db8:201::1")! },
      {
        srcPort: 40000,
        dstPort: 4444,
        seq: 6000,
        ack: 2000,
        flags,
        wnd: 65535,
        payload: new Uint8Array(0),
        ...(flags === SYN ? { mss: 1440 } : {}),
      },
    );
    return out.slice(0, n);
  };
  dev.deliver(seg(ACK));
  expect(t.stats.notCaptured).toBe(0);
  expect(t.stats.resets).toBe(1);
  const rst = parsePacket(dev.written[0]!)!;
  expect([rst.src.length, formatIp(rst.src), rst.seg.flags & RST, rst.seg.seq]).toEqual([
    16,
    "2001:db8:201::1",
    RST,
    2000,
  ]);
  dev.deliver(seg(SYN));
  const synAck = parsePacket(dev.written[1]!)!;
  expect([formatIp(synAck.dst), synAck.seg.flags]).toEqual(["2001:db8:c0::1", SYN | ACK]);
  expect(t.stats.cookiesSent).toBe(1);
  t.stop();
});

test("config: tcp.capture takes IPv4 and IPv6 addresses, not names", () => {
  expect(() =>
    validateConfig({ mode: "server", tcp: { capture: ["[2001:db8::1]:4444", "10.201.0.1:4444"] } }),
  ).not.toThrow();
  expect(() => validateConfig({ mode: "server", tcp: { capture: ["anycast.example:4444"] } })).toThrow(
    /is not an IP address/,
  );
});
