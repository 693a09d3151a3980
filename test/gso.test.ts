// UDP GSO sends (src/transport/gso.ts) on loopback: what receivers get is exactly what was
// queued, datagram by datagram and in order, whatever runs the batch was cut into; a batch
// mixing sizes, destinations and families; bad destinations; the fallback to Bun's sendMany.
import { afterEach, expect, test } from "bun:test";
import { SendBatch } from "../src/transport/batch.ts";
import { GsoSender, MAX_SEGMENTS } from "../src/transport/gso.ts";
import { openFds, tuneUdp } from "../src/transport/sockopt.ts";
import { UdpTransport } from "../src/transport/udp.ts";

const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

async function sink(hostname = "127.0.0.1") {
  const got: Uint8Array[] = [];
  const s = await Bun.udpSocket({
    hostname,
    port: 0,
    socket: {
      data(_s, d) {
        got.push(new Uint8Array(d));
      },
    },
  });
  closers.push(() => s.close());
  return { port: s.port, got, close: () => s.close() };
}

async function sender(hostname = "127.0.0.1") {
  const before = openFds();
  const s = await Bun.udpSocket({ hostname, port: 0, socket: { error() {} } }); // ICMP errors land here
  closers.push(() => s.close());
  const t = tuneUdp(s.port, before, { buffers: { receive: 0, send: 0 }, gso: true });
  expect(t.fd).toBeGreaterThanOrEqual(0);
  expect(t.gso).not.toBeNull();
  return { sock: s, gso: t.gso! };
}

const until = async (f: () => boolean) => {
  for (let i = 0; i < 100 && !f(); i++) await Bun.sleep(10);
};

/** Datagram i: `size` bytes, each the byte (i + 1), so order and boundaries show. */
const dgram = (i: number, size: number) => new Uint8Array(size).fill((i + 1) & 255);

test("a batch of runs arrives as the same datagrams, in order, at each receiver", async () => {
  const a = await sink();
  const b = await sink();
  const { gso } = await sender();
  const items: (Uint8Array | number | string)[] = [];
  const sizes: number[] = [];
  // 20 × 1200 to A (a run), 10 × 700 and one 100 (a run ending shorter), then 1300s alternating A, B
  for (let i = 0; i < 64; i++) {
    const size = i < 20 ? 1200 : i < 30 ? 700 : i === 30 ? 100 : 1300;
    const to = i < 31 ? a.port : i % 2 ? a.port : b.port;
    sizes.push(size);
    items.push(dgram(i, size), to, "127.0.0.1");
  }
  expect(gso.send(items, 64)).toBe(64);
  await until(() => a.got.length + b.got.length === 64);
  const expectA = items.filter((_, k) => k % 3 === 0).filter((_, i) => items[i * 3 + 1] === a.port);
  expect(a.got.map((d) => [d.length, d[0]])).toEqual(
    expectA.map((d) => [(d as Uint8Array).length, (d as Uint8Array)[0]]),
  );
  expect(b.got.length).toBe(64 - expectA.length);
  expect(gso.runs).toBeGreaterThanOrEqual(2);
  for (const d of [...a.got, ...b.got]) expect(d.every((x) => x === d[0])).toBe(true);
});

test("views into a larger buffer (subarrays with an offset) are sent as the view", async () => {
  const a = await sink();
  const { gso } = await sender();
  const big = new Uint8Array(8192);
  const items: (Uint8Array | number | string)[] = [];
  for (let i = 0; i < 5; i++) {
    const v = big.subarray(i * 1000 + 3, i * 1000 + 3 + 900);
    v.fill(i + 1);
    items.push(v, a.port, "127.0.0.1");
  }
  expect(gso.send(items, 5)).toBe(5);
  await until(() => a.got.length === 5);
  expect(a.got.map((d) => [d.length, d[0], d[899]])).toEqual([1, 2, 3, 4, 5].map((k) => [900, k, k]));
});

test("runs are cut at the kernel's segment limit and at 64 KiB of payload", async () => {
  const a = await sink();
  const { gso } = await sender();
  const items: (Uint8Array | number | string)[] = [];
  for (let i = 0; i < MAX_SEGMENTS; i++) items.push(dgram(i, 1472), a.port, "127.0.0.1"); // 94 KiB in all
  expect(gso.send(items, MAX_SEGMENTS)).toBe(MAX_SEGMENTS);
  await until(() => a.got.length === MAX_SEGMENTS);
  expect(a.got.map((d) => d[0])).toEqual(Array.from({ length: MAX_SEGMENTS }, (_, i) => (i + 1) & 255));
  expect(gso.runs).toBe(2);
});

test("an IPv6 socket sends runs to IPv6 and (mapped) IPv4 destinations", async () => {
  const v6 = await sink("::1");
  const v4 = await sink("127.0.0.1");
  const { gso } = await sender("::");
  const items: (Uint8Array | number | string)[] = [];
  for (let i = 0; i < 6; i++) items.push(dgram(i, 500), i < 3 ? v6.port : v4.port, i < 3 ? "::1" : "127.0.0.1");
  expect(gso.send(items, 6)).toBe(6);
  await until(() => v6.got.length + v4.got.length === 6);
  expect(v6.got.map((d) => d[0])).toEqual([1, 2, 3]);
  expect(v4.got.map((d) => d[0])).toEqual([4, 5, 6]);
});

test("destinations that are not addresses of the socket's family are not sent, the rest are", async () => {
  const a = await sink();
  const { gso } = await sender();
  const items: (Uint8Array | number | string)[] = [
    dgram(0, 100),
    a.port,
    "127.0.0.1",
    dgram(1, 100),
    a.port,
    "::1", // IPv6 on an IPv4 socket
    dgram(2, 100),
    a.port,
    "not an address",
    dgram(3, 100),
    a.port,
    "127.0.0.1",
  ];
  expect(gso.send(items, 4)).toBe(2);
  await until(() => a.got.length === 2);
  expect(a.got.map((d) => d[0])).toEqual([1, 4]);
});

test("a destination refusing datagrams (ICMP port unreachable) does not stop the batch", async () => {
  const a = await sink();
  const closed = await sink();
  const { gso } = await sender();
  // close the second sink: its port now answers with ICMP port unreachable
  const gone = closed.port;
  closed.close();
  const items: (Uint8Array | number | string)[] = [];
  for (let round = 0; round < 3; round++) {
    items.length = 0;
    for (let i = 0; i < 8; i++) items.push(dgram(i, 300), i % 2 ? gone : a.port, "127.0.0.1");
    gso.send(items, 8);
    await Bun.sleep(20);
  }
  await until(() => a.got.length === 12);
  expect(a.got.length).toBe(12); // 4 per round reached A, every round
});

test("SendBatch: with GSO the counts are the kernel's; once GSO is off it sends through sendMany", async () => {
  const a = await sink();
  const { sock, gso } = await sender();
  const batch = new SendBatch(sock, gso);
  for (let i = 0; i < 10; i++) batch.queue(dgram(i, 800), a.port, "127.0.0.1");
  batch.flush();
  expect(batch.sent).toBe(10);
  gso.off = "test";
  for (let i = 10; i < 15; i++) batch.queue(dgram(i, 800), a.port, "127.0.0.1");
  batch.flush();
  expect(batch.sent).toBe(15);
  await until(() => a.got.length === 15);
  expect(a.got.map((d) => d[0])).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
});

test("udpGso false: a UdpTransport sends without a GSO sender", async () => {
  const a = await sink();
  const t = await UdpTransport.open(
    "127.0.0.1",
    0,
    () => {},
    () => {},
    {
      buffers: { receive: 0, send: 0 },
      gso: false,
    },
  );
  closers.push(() => t.close());
  expect(t.out.gso).toBeNull();
  const on = await UdpTransport.open(
    "127.0.0.1",
    0,
    () => {},
    () => {},
    {
      buffers: { receive: 0, send: 0 },
      gso: true,
    },
  );
  closers.push(() => on.close());
  expect(on.out.gso).toBeInstanceOf(GsoSender);
  for (let i = 0; i < 3; i++) {
    on.slot().set(dgram(i, 600));
    on.queue(600, a.port, "127.0.0.1");
  }
  on.flush();
  await until(() => a.got.length === 3);
  expect(a.got.map((d) => d.length)).toEqual([600, 600, 600]);
});
