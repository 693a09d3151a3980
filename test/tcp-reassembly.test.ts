// Out-of-order reassembly (src/tcp/reassembly.ts) and the endpoint over it: overlaps are held
// once, the bounds hold against a hostile sender (issue 14: 30,000 overlapping out-of-order
// segments on one flow were all kept, 668x the window, with an O(n^2) insert).
import { describe, expect, test } from "bun:test";
import { Reassembly } from "../src/tcp/reassembly.ts";
import { TcpEndpoint } from "../src/tcp/endpoint.ts";
import { ACK, PSH, SYN, type Segment } from "../src/tcp/segment.ts";
import { prng } from "./lib/util.ts";

const add = (a: number, n: number) => (a + n) >>> 0;
const bytes = (n: number, from = 0) => Uint8Array.from({ length: n }, (_, i) => (from + i) % 251);
const join = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
/** Pops everything ready from `rcvNxt`: the bytes in order. */
const drain = (r: Reassembly, rcvNxt: number) => {
  const got: Uint8Array[] = [];
  for (let ready = r.popReady(rcvNxt); ready !== null; ready = r.popReady(rcvNxt))
    for (const c of ready) {
      got.push(c);
      rcvNxt = add(rcvNxt, c.length);
    }
  return { data: join(got), rcvNxt };
};

describe("reassembly", () => {
  test("overlapping pieces are held once; the first copy of a byte wins", () => {
    const r = new Reassembly();
    const base = 1000;
    expect(r.insert(base + 10, bytes(10, 10), false)).toBe("held");
    expect(r.insert(base + 15, bytes(10, 15), false)).toBe("held"); // 15..20 already held
    expect(r.bytes).toBe(15);
    expect(r.size).toBe(1); // 10..25 is one range
    expect(r.insert(base + 12, new Uint8Array(5).fill(99), false)).toBe("duplicate");
    expect(r.insert(base + 40, bytes(5, 40), false)).toBe("held");
    expect(r.size).toBe(2);
    // A piece covering both ranges and the gap between them fills only the gaps.
    expect(r.insert(base + 5, bytes(45, 5), false)).toBe("held");
    expect(r.size).toBe(1);
    expect(r.bytes).toBe(45);
    expect(r.popReady(base)).toBeNull(); // 1000..1005 is still a hole
    const { data, rcvNxt } = drain(r, base + 5);
    expect(data).toEqual(bytes(45, 5));
    expect(rcvNxt).toBe(base + 50);
    expect(r.bytes).toBe(0);
    expect(r.size).toBe(0);
  });

  test("RCV.NXT past the start of a range: the delivered part is cut", () => {
    const r = new Reassembly();
    r.insert(100, bytes(50, 100), false);
    const ready = r.popReady(120)!;
    expect(join(ready)).toEqual(bytes(30, 120));
  });

  test("sequence numbers wrap at 2^32", () => {
    const r = new Reassembly();
    const near = 2 ** 32 - 20;
    r.insert(add(near, 30), bytes(10, 30), false); // past the wrap
    r.insert(add(near, 10), bytes(20, 10), false); // straddles it
    expect(r.size).toBe(1);
    const { data, rcvNxt } = drain(r, add(near, 10));
    expect(data).toEqual(bytes(30, 10));
    expect(rcvNxt).toBe(add(near, 40));
  });

  test("a FIN is held at its sequence number; data beyond it is refused", () => {
    const r = new Reassembly();
    expect(r.insert(200, bytes(10), true)).toBe("held");
    expect(r.finSeq).toBe(210);
    expect(r.insert(205, bytes(10), false)).toBe("duplicate");
    expect(r.insert(190, bytes(10), false)).toBe("held");
  });

  test("the range and chunk bounds refuse a segment whole", () => {
    const r = new Reassembly(4, 6);
    for (let k = 0; k < 4; k++) expect(r.insert(1000 + k * 10, bytes(2), false)).toBe("held");
    expect(r.insert(1100, bytes(2), false)).toBe("full"); // a fifth hole
    expect(r.insert(1002, bytes(2), false)).toBe("held"); // joins a range: no new hole
    expect(r.insert(1012, bytes(2), false)).toBe("held"); // the sixth chunk
    expect(r.insert(1022, bytes(2), false)).toBe("full"); // a seventh chunk
    expect(r.size).toBe(4);
  });

  test("random overlapping pieces: every byte once, in order, same as the sent stream", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const rand = prng(seed);
      const total = 20000;
      const stream = bytes(total, seed);
      const r = new Reassembly(1 << 20, 1 << 20);
      const base = 2 ** 32 - 5000; // wraps on the way
      for (let i = 0; i < 3000; i++) {
        const from = 1 + Math.floor(rand() * (total - 1)); // offset 0 stays a hole
        const len = 1 + Math.floor(rand() * Math.min(600, total - from));
        r.insert(add(base, from), stream.subarray(from, from + len), false);
      }
      expect(r.bytes).toBeLessThanOrEqual(total);
      // Fill whatever is still missing, then deliver from the start.
      let rcvNxt = base;
      const got: Uint8Array[] = [stream.subarray(0, 1)];
      rcvNxt = add(rcvNxt, 1);
      for (;;) {
        const { data, rcvNxt: next } = drain(r, rcvNxt);
        got.push(data);
        rcvNxt = next;
        const off = (rcvNxt - base) >>> 0;
        if (off >= total) break;
        // The next hole: hand it over in order, as the endpoint does.
        got.push(stream.subarray(off, off + 1));
        rcvNxt = add(rcvNxt, 1);
      }
      expect(join(got)).toEqual(stream);
      expect(r.bytes).toBe(0);
    }
  });
});

describe("the endpoint under an out-of-order flood (the issue 14 attack)", () => {
  const IRS = 5_000_000;
  const WINDOW = 65536;
  const established = () => {
    const got: Uint8Array[] = [];
    const e = TcpEndpoint.accept(
      { localPort: 4444, remotePort: 40000, iss: 9_000_000, receiveBuffer: WINDOW },
      {
        srcPort: 40000,
        dstPort: 4444,
        seq: IRS,
        ack: 0,
        flags: SYN,
        wnd: 65535,
        mss: 1460,
        payload: new Uint8Array(0),
      },
      0,
      { onData: (d) => got.push(d.slice()) },
    );
    e.poll(0);
    e.input(
      {
        srcPort: 40000,
        dstPort: 4444,
        seq: IRS + 1,
        ack: 9_000_001,
        flags: ACK,
        wnd: 65535,
        payload: new Uint8Array(0),
      },
      1,
    );
    expect(e.state).toBe("ESTABLISHED");
    return { e, got };
  };
  const seg = (seq: number, payload: Uint8Array): Segment => ({
    srcPort: 40000,
    dstPort: 4444,
    seq,
    ack: 9_000_001,
    flags: ACK | PSH,
    wnd: 65535,
    payload,
  });

  test("30,000 overlapping out-of-order segments: held bytes stay within the window; the stream is intact", () => {
    const { e, got } = established();
    const rand = prng(14);
    const stream = bytes(WINDOW * 2);
    const t0 = performance.now();
    let maxHeld = 0;
    for (let i = 0; i < 30000; i++) {
      // Overlapping 1400-byte pieces anywhere in (and beyond) the window, never at RCV.NXT.
      const off = 1 + Math.floor(rand() * (WINDOW * 1.5));
      e.input(seg(add(IRS + 1, off), stream.subarray(off, off + 1400)), 2);
      e.poll(2);
      maxHeld = Math.max(maxHeld, (e as unknown as { held: Reassembly }).held.bytes);
    }
    const ms = performance.now() - t0;
    const held = (e as unknown as { held: Reassembly }).held;
    console.log(
      `  30,000 overlapping out-of-order segments: at most ${maxHeld} bytes held (window ${WINDOW}), ${held.size} ranges, ${ms.toFixed(0)} ms (${((ms * 1000) / 30000).toFixed(1)} µs each); refused ${e.counters.outOfOrderRefused}`,
    );
    expect(maxHeld).toBeLessThanOrEqual(WINDOW);
    expect(got.length).toBe(0);
    // The hole fills: everything held comes out in order, each byte once.
    e.input(seg(IRS + 1, stream.subarray(0, 1)), 3);
    let at = e.rcvNxt;
    while ((at - (IRS + 1)) >>> 0 < WINDOW) {
      const off = (at - (IRS + 1)) >>> 0;
      e.input(seg(at, stream.subarray(off, Math.min(off + 1400, WINDOW))), 4);
      at = e.rcvNxt;
    }
    const all = join(got);
    expect(all.length).toBeGreaterThanOrEqual(WINDOW);
    expect(all).toEqual(stream.subarray(0, all.length));
  });

  test("1-byte pieces at every other byte: the chunk bound refuses the rest, memory stays bounded", () => {
    const { e } = established();
    for (let off = 2; off < WINDOW; off += 2) e.input(seg(add(IRS + 1, off), new Uint8Array([1])), 2);
    const held = (e as unknown as { held: Reassembly }).held;
    console.log(
      `  1-byte pieces at every other byte of a ${WINDOW}-byte window: ${held.size} ranges, ${held.bytes} bytes held, ${e.counters.outOfOrderRefused} refused`,
    );
    expect(held.size).toBeLessThanOrEqual(64);
    expect(e.counters.outOfOrderRefused).toBe(WINDOW / 2 - 1 - held.size);
  });
});
