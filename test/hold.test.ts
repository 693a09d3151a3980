// The one hold queue (src/hold.ts): order, copies, expiry, byte cap, off at hold.ms 0.
import { expect, test } from "bun:test";
import type { Conn } from "../src/state.ts";
import { HoldQueue } from "../src/hold.ts";

const conn = () => ({}) as unknown as Conn;

test("released oldest first, as copies; expired after hold.ms; refused past hold.bytes", async () => {
  const limits = { ms: 60, bytes: 250 };
  const q = new HoldQueue(() => limits);
  const a = conn();
  const b = conn();
  const p = new Uint8Array(100).fill(1);
  expect(q.hold(a, 0x0800, p)).toBe(true);
  p.fill(2); // the queue kept a copy
  expect(q.hold(a, 0x86dd, p)).toBe(true);
  expect(q.hold(b, 0x0800, p)).toBe(false); // 300 > 250 bytes
  expect(q.refused).toBe(1);
  const got: [number, number][] = [];
  q.release(a, (t, d) => (got.push([t, d[0]!]), true));
  expect(got).toEqual([
    [0x0800, 1],
    [0x86dd, 2],
  ]);
  expect(q.delivered).toBe(2);
  expect(q.hold(b, 0x0800, p)).toBe(true); // the bytes were given back
  await Bun.sleep(80);
  const late: number[] = [];
  q.release(b, (t) => (late.push(t), true));
  expect(late).toEqual([]);
  expect(q.expired).toBe(1);
});

test("hold.ms 0 holds nothing", () => {
  const limits = { ms: 0, bytes: 1000 };
  const q = new HoldQueue(() => limits);
  const a = conn();
  expect(q.hold(a, 0x0800, new Uint8Array(10))).toBe(false);
  limits.ms = 500;
  expect(q.hold(a, 0x0800, new Uint8Array(10))).toBe(true);
  expect(q.has(a)).toBe(true);
});
