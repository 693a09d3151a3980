// The Noise suite's packet codec (src/noise/wire.ts): each type at its one length, its fields at
// the documented offsets (little-endian indexes and counter), refusals named; and the counter
// split (sender id in the top 16 bits, 48-bit sequence).
import { expect, test } from "bun:test";
import * as wire from "../src/noise/wire.ts";

test("each type round-trips at its length, fields at their offsets; wrong lengths and types refused by name", () => {
  const noise1 = new Uint8Array(108).fill(7);
  const i = wire.encodeInitiation(0x11223344, noise1);
  expect([i.length, i[0], i[4], i[7]]).toEqual([148, 1, 0x44, 0x11]); // little-endian index
  expect(wire.decode(i)).toMatchObject({ type: 1, sender: 0x11223344, noise: noise1 });
  const r = wire.encodeResponse(5, 0xfffffffe, new Uint8Array(48).fill(9));
  expect(wire.decode(r)).toMatchObject({ type: 2, sender: 5, receiver: 0xfffffffe });
  const c = wire.encodeCookie(3, new Uint8Array(12).fill(1), new Uint8Array(32).fill(2));
  expect(wire.decode(c)).toMatchObject({ type: 3, receiver: 3, nonce: new Uint8Array(12).fill(1) });
  const t = new Uint8Array(40);
  wire.writeTransportHeader(t, 0x01020304, wire.counterOf(2, 77n));
  expect([...t.subarray(8, 16)]).toEqual([77, 0, 0, 0, 0, 0, 2, 0]);
  const d = wire.decode(t) as { type: 4; receiver: number; counter: bigint };
  expect([d.type, d.receiver, wire.senderOfCounter(d.counter), wire.seqOfCounter(d.counter)]).toEqual([
    4,
    0x01020304,
    2,
    77n,
  ]);
  expect(wire.decode(i.subarray(0, 147))).toBe("length");
  expect(wire.decode(t.subarray(0, 31))).toBe("length");
  expect(wire.decode(new Uint8Array([5, 0, 0, 0, 1]))).toBe("type");
  expect(wire.decode(new Uint8Array([1, 1, 0, 0]))).toBe("type"); // reserved bytes must be zero
  expect(wire.decode(new Uint8Array(3))).toBe("short");
  expect(() => wire.encodeInitiation(1, new Uint8Array(100))).toThrow(/108 bytes/);
});
