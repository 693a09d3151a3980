// The hold queue of packets waiting for a tcp-anycast takeover: order, expiry, byte cap.
import { expect, test } from "bun:test";
import type { Conn } from "../src/state.ts";
import { HoldQueue } from "../src/transport/hold.ts";

const conn = () => ({ held: [] }) as unknown as Conn;

test("released oldest first, as copies; expired after holdMs; refused past holdBytes", async () => {
  const limits = { holdMs: 60, holdBytes: 250 };
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
