// Framing of SATP over TCP: partial reads, several frames per chunk, zero/huge lengths.
import { expect, test } from "bun:test";
import { frame, FrameReader } from "../src/transport/framing.ts";

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
