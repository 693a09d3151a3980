// The batched UDP socket (transport/mmsg.ts) on loopback: what arrives is what was sent, in
// order, with its source; GRO runs come out as the sender's datagrams; bad callbacks, oversize
// datagrams, a taken port and a close mid-batch are handled and counted.
import { afterEach, expect, test } from "bun:test";
import { SendBatch } from "../src/transport/batch.ts";
import { BatchUdp } from "../src/transport/mmsg.ts";
import { pollerStats, watched } from "../src/transport/poller.ts";

const open: BatchUdp[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
const tuning = (gro: boolean, gso: boolean) => ({ buffers: { receive: 4 << 20, send: 4 << 20 }, gso, gro });
const until = async (f: () => boolean, ms = 3000) => {
  const end = performance.now() + ms;
  while (!f() && performance.now() < end) await Bun.sleep(5);
  return f();
};
type Got = { data: Uint8Array; port: number; address: string };

function receiver(host: string, gro = false, extra: Partial<Parameters<typeof BatchUdp.open>[0]> = {}) {
  const got: Got[] = [];
  let drained = 0;
  const s = BatchUdp.open({
    host,
    port: 0,
    tuning: tuning(gro, false),
    onDatagram: (data, port, address) => got.push({ data: data.slice(), port, address }),
    onDrained: () => void drained++,
    ...extra,
  });
  open.push(s);
  return { s, got, drained: () => drained };
}

test("datagrams from a Bun socket arrive whole, in order, with their source, in batches", async () => {
  const r = receiver("127.0.0.1");
  const tx = await Bun.udpSocket({ hostname: "127.0.0.1" });
  const items: (Uint8Array | number | string)[] = [];
  for (let i = 0; i < 300; i++) items.push(new Uint8Array(100 + (i % 50)).fill(i & 255), r.s.port, "127.0.0.1");
  expect(tx.sendMany(items)).toBe(300);
  expect(await until(() => r.got.length === 300)).toBe(true);
  r.got.forEach((g, i) => {
    expect(g.data.length).toBe(100 + (i % 50));
    expect(g.data[0]).toBe(i & 255);
    expect(g.port).toBe(tx.port);
    expect(g.address).toBe("127.0.0.1");
  });
  expect(r.drained()).toBeGreaterThan(0);
  expect(r.drained()).toBeLessThan(300); // not a call per datagram
  expect(r.s.stats).toMatchObject({ received: 300, truncated: 0, errors: 0 });
  tx.close();
});

test("with UDP_GRO a GSO run arrives as one message, handed on as the sender's datagrams", async () => {
  const r = receiver("127.0.0.1", true);
  const tx = BatchUdp.open({ host: "127.0.0.1", port: 0, tuning: tuning(false, true), onDatagram: () => {} });
  open.push(tx);
  expect(tx.gso).not.toBeNull();
  const out = new SendBatch(tx, tx.gso);
  for (let i = 0; i < 20; i++) out.queue(new Uint8Array(i === 19 ? 300 : 1000).fill(i), r.s.port, "127.0.0.1");
  out.flush();
  expect(tx.gso!.runs).toBe(1);
  expect(await until(() => r.got.length === 20)).toBe(true);
  r.got.forEach((g, i) => {
    expect(g.data.length).toBe(i === 19 ? 300 : 1000);
    expect(g.data.every((b) => b === i)).toBe(true);
  });
  expect(r.s.stats.groRuns).toBe(1); // one message of 20 datagrams
});

test("without UDP_GRO (udpGro: false) the same run arrives datagram by datagram", async () => {
  const r = receiver("127.0.0.1", false);
  const tx = BatchUdp.open({ host: "127.0.0.1", port: 0, tuning: tuning(false, true), onDatagram: () => {} });
  open.push(tx);
  const out = new SendBatch(tx, tx.gso);
  for (let i = 0; i < 20; i++) out.queue(new Uint8Array(1000).fill(i), r.s.port, "127.0.0.1");
  out.flush();
  expect(tx.gso!.runs).toBe(1);
  expect(await until(() => r.got.length === 20)).toBe(true);
  r.got.forEach((g, i) => expect(g.data.every((b) => b === i) && g.data.length === 1000).toBe(true));
  expect(r.s.stats.groRuns).toBe(0);
});

test("an IPv6 socket: ::1 sources as text, IPv4 sources unmapped; a 65507-byte datagram whole", async () => {
  const r = receiver("::");
  const tx6 = await Bun.udpSocket({ hostname: "::1" });
  const tx4 = await Bun.udpSocket({ hostname: "127.0.0.1" });
  tx6.send(new Uint8Array(10), r.s.port, "::1");
  await until(() => r.got.length === 1);
  tx4.send(new Uint8Array(65507).fill(7), r.s.port, "127.0.0.1");
  expect(await until(() => r.got.length === 2)).toBe(true);
  expect(r.got[0]!.address).toBe("::1");
  expect(r.got[1]!.address).toBe("127.0.0.1");
  expect(r.got[1]!.data.length).toBe(65507);
  expect(r.got[1]!.data.every((b) => b === 7)).toBe(true);
  tx4.close();
  tx6.close();
});

test("a callback that throws loses its datagram only (counted); a taken port is refused by name", async () => {
  let n = 0;
  const r = receiver("127.0.0.1", false, {
    onDatagram: () => {
      if (++n % 2 === 0) throw new Error("bug");
    },
  });
  const tx = await Bun.udpSocket({ hostname: "127.0.0.1" });
  for (let i = 0; i < 10; i++) tx.send(new Uint8Array(1), r.s.port, "127.0.0.1");
  expect(await until(() => n === 10)).toBe(true);
  expect(r.s.stats.callbackErrors).toBe(5);
  expect(() => BatchUdp.open({ host: "127.0.0.1", port: r.s.port, onDatagram: () => {} })).toThrow(
    /cannot bind udp 127\.0\.0\.1:\d+: address in use/,
  );
  expect(() => BatchUdp.open({ host: "not-an-ip", port: 0, onDatagram: () => {} })).toThrow(/not an IP address/);
  tx.close();
});

test("close inside a callback: nothing more is delivered; the poller stops with the last socket", async () => {
  let n = 0;
  const r = receiver("127.0.0.1", false, { onDatagram: () => void (++n === 3 && r.s.close()) });
  const tx = await Bun.udpSocket({ hostname: "127.0.0.1" });
  const items: (Uint8Array | number | string)[] = [];
  for (let i = 0; i < 50; i++) items.push(new Uint8Array(1), r.s.port, "127.0.0.1");
  tx.sendMany(items);
  await until(() => n >= 3);
  await Bun.sleep(50);
  expect(n).toBe(3);
  open.splice(0);
  expect(watched()).toBe(0);
  r.s.close(); // idempotent
  tx.close();
});

test("reusePort: two sockets share a port", () => {
  const a = BatchUdp.open({ host: "127.0.0.1", port: 0, reusePort: true, onDatagram: () => {} });
  open.push(a);
  const b = BatchUdp.open({ host: "127.0.0.1", port: a.port, reusePort: true, onDatagram: () => {} });
  open.push(b);
  expect(b.port).toBe(a.port);
});

test("a burst of 4,000 datagrams: all delivered, in turns of at most 256, the loop running between them", async () => {
  const r = receiver("127.0.0.1");
  const tx = await Bun.udpSocket({ hostname: "127.0.0.1" });
  const d = new Uint8Array(100);
  let sent = 0;
  for (let i = 0; i < 4000; i += 50) {
    const items: (Uint8Array | number | string)[] = [];
    for (let j = 0; j < 50; j++) items.push(d, r.s.port, "127.0.0.1");
    sent += tx.sendMany(items);
  }
  expect(sent).toBe(4000);
  const w0 = { ...pollerStats };
  expect(await until(() => r.got.length === 4000, 5000)).toBe(true);
  // at most 4 receive calls of 64 per turn: 16 turns or more, most of them the busy path's
  // setImmediate (the event loop's other work runs between them)
  expect(pollerStats.wakes - w0.wakes).toBeGreaterThanOrEqual(4000 / 256);
  expect(pollerStats.busyTurns - w0.busyTurns).toBeGreaterThanOrEqual(4000 / 256 - 1);
  expect(r.drained()).toBeGreaterThanOrEqual(4000 / 64);
  tx.close();
}, 10000);
