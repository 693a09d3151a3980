// Helpers the unit tests share: a seeded PRNG (so a failure reproduces from its seed; no
// Math.random in tests) and bytes: concatenation, hex, literals.

/** mulberry32: a seeded generator of u32 values. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** A seeded generator of floats in [0, 1) (mulberry32). */
export function prng(seed: number): () => number {
  const u32 = mulberry32(seed);
  return () => u32() / 4294967296;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Bytes from numbers (one byte each) and strings (UTF-8): `bytes(3, "www", 0)`. */
export const bytes = (...parts: (number | string)[]) =>
  new Uint8Array(parts.flatMap((p) => (typeof p === "number" ? [p] : [...new TextEncoder().encode(p)])));

/** A TCP port free on 127.0.0.1 right now (bound and released). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}
