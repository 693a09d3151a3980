// Framing of SATP over TCP: partial reads, several frames per chunk, zero/huge lengths.
import { expect, test } from "bun:test";
import { frame, FrameReader } from "../src/transport/framing.ts";
import { concat } from "./lib/util.ts";

test("frames split anywhere and joined arbitrarily come out whole and in order", () => {
  const pkts = Array.from({ length: 50 }, (_, i) => new Uint8Array(1 + ((i * 37) % 1600)).fill(i));
  const stream = new Uint8Array(pkts.reduce((n, p) => n + 2 + p.length, 0));
  let o = 0;
  for (const p of pkts) {
    stream.set(frame(p), o);
    o += 2 + p.length;
  }
  for (const cut of [1, 2, 3, 7, 100, 1601, stream.length]) {
    const r = new FrameReader();
    const got: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += cut) {
      r.push(stream.subarray(i, i + cut));
      for (let p = r.next(); p !== null; p = r.next()) got.push(p.slice());
    }
    expect(r.error).toBeNull();
    expect(got).toEqual(pkts);
  }
});

test("a zero or over-long length is an error (the connection is then closed)", () => {
  for (const bad of [
    [0, 0],
    [0x06, 0x41],
    [0xff, 0xff],
  ]) {
    const r = new FrameReader();
    r.push(new Uint8Array([...bad, 1, 2, 3]));
    expect(r.next()).toBeNull();
    expect(r.error).toMatch(/frame length \d+ not in 1..1600/);
    r.push(frame(new Uint8Array([1])));
    expect(r.next()).toBeNull(); // stays failed
  }
});

// Lenient mode (tcp-anycast): a stream that resumes mid-frame after a takeover. "Authentic"
// here = what the consumer accepts; the server's is the SATP tag, this test's a marked packet.
const MARK = [0x53, 0x41, 0x54, 0x50];
function marked(i: number, len: number): Uint8Array {
  const p = new Uint8Array(len).fill(i & 255);
  p.set(MARK);
  p[len - 1] = p.subarray(0, len - 1).reduce((x, y) => x ^ y, 0);
  return p;
}
const authentic = (p: Uint8Array) =>
  p.length >= 5 &&
  MARK.every((m, i) => p[i] === m) &&
  p.subarray(0, p.length - 1).reduce((x, y) => x ^ y, 0) === p.at(-1);
function readAll(stream: Uint8Array, cut: number): { got: Uint8Array[]; r: FrameReader } {
  // The plausibility check of a candidate's first bytes, as the relay checks the SATP mux field.
  const r = new FrameReader(true, (b, at) => MARK.every((m, i) => b[at + i] === m));
  const got: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i += cut) {
    r.push(stream.subarray(i, i + cut));
    for (let p = r.next(); p !== null; p = r.next()) {
      if (authentic(p)) got.push(p.slice());
      else r.reject();
    }
  }
  return { got, r };
}

test("lenient: a stream cut mid-frame (takeover) resyncs on the next frame that authenticates", () => {
  const a = Array.from({ length: 5 }, (_, i) => marked(i, 200 + i * 97));
  const b = Array.from({ length: 5 }, (_, i) => marked(100 + i, 300 + i * 131));
  const aBytes = concat(a.map(frame));
  const bBytes = concat(b.map(frame));
  // The old server's bytes up to 3.5 frames, then the new server's from the middle of its 2nd frame.
  const cutA = aBytes.length - 2 - a[4]!.length - Math.floor((2 + a[3]!.length) / 2);
  const cutB = 2 + b[0]!.length + 40;
  const stream = concat([aBytes.subarray(0, cutA), bBytes.subarray(cutB)]);
  for (const cut of [1, 5, 333, stream.length]) {
    const { got, r } = readAll(stream, cut);
    expect(got).toEqual([a[0]!, a[1]!, a[2]!, b[2]!, b[3]!, b[4]!]);
    expect(r.error).toBeNull();
    expect(r.resyncs).toBeGreaterThanOrEqual(1);
    expect(r.skipped).toBeGreaterThan(0);
  }
});

test("lenient: zero filler, garbage and forged frames with plausible lengths are skipped, never fatal", () => {
  const good = Array.from({ length: 4 }, (_, i) => marked(i, 64 + i));
  const forged = frame(new Uint8Array(100).fill(7)); // a valid length, not authentic
  const stream = concat([
    frame(good[0]!),
    new Uint8Array(37), // zero filler (lengths 0)
    frame(good[1]!),
    forged,
    new Uint8Array([0xff, 0xff, 0x12]),
    frame(good[2]!),
    Uint8Array.from({ length: 5000 }, (_, i) => (i * 2654435761) >>> 24),
    frame(good[3]!),
  ]);
  const { got, r } = readAll(stream, 97);
  expect(got[0]).toEqual(good[0]!);
  expect(got[1]).toEqual(good[1]!);
  expect(got[2]).toEqual(good[2]!);
  expect(got[3]).toEqual(good[3]!);
  expect(got.length).toBe(4);
  expect(r.error).toBeNull();
  expect(r.resyncs).toBeGreaterThanOrEqual(3);
});
