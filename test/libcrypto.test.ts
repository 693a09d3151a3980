// libcrypto through bun:ffi (src/satp/libcrypto.ts) against node:crypto: the same bytes for every
// suite, seq, length and damaged packet; every length that reaches C checked first; a host
// without libcrypto falls back (auto) or refuses to start (openssl).
import { afterAll, describe, expect, test } from "bun:test";
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { OPEN_AUTH, OPEN_REPLAY, OPEN_SHORT, SatpCrypto, setCryptoLibrary } from "../src/satp/crypto.ts";
import { aes, gcm, hmacSha1, loadLibcrypto } from "../src/satp/libcrypto.ts";
import { NoiseCrypto, type TransportKeys } from "../src/noise/crypto.ts";
import { HEADER_LEN, MAX_PACKET } from "../src/satp/codec.ts";
import { CIPHERS, deriveMaster, normalizeSuite, type Cipher } from "../src/satp/suite.ts";
import { ReplayWindow } from "../src/satp/replay.ts";

afterAll(() => setCryptoLibrary("auto"));

test("libcrypto loads on this host (Debian's libssl3)", () => {
  expect(loadLibcrypto()).not.toBeNull();
  expect(setCryptoLibrary("auto")).toBe("openssl");
});

describe("primitives equal node:crypto", () => {
  test("HMAC-SHA1 for keys of 0..64 bytes (longer and shorter than the last) and messages of 0..300", () => {
    const out = new Uint8Array(20);
    for (const k of [0, 3, 20, 64, 63, 21, 20, 19, 1, 0, 33, 2])
      for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 300]) {
        const key = randomBytes(k);
        const msg = randomBytes(n + 7); // only the first n bytes count
        hmacSha1(key, msg, n, out);
        expect(Buffer.from(out).toString("hex")).toBe(createHmac("sha1", key).update(msg.subarray(0, n)).digest("hex"));
      }
  });

  test("AES-CTR and AES-ECB for each key size, in place and into another array", () => {
    for (const kb of [16, 24, 32]) {
      const key = randomBytes(kb);
      const iv = randomBytes(16);
      for (const n of [1, 15, 16, 17, 1400, 4096]) {
        const src = new Uint8Array(randomBytes(n));
        const want = createCipheriv(`aes-${kb * 8}-ctr`, key, iv).update(src);
        const dst = new Uint8Array(n);
        aes(kb, "CTR").ctr(key, iv, src, dst, n);
        expect(Buffer.from(dst).equals(want)).toBe(true);
        const inPlace = src.slice();
        aes(kb, "CTR").ctr(key, iv, inPlace, inPlace, n);
        expect(Buffer.from(inPlace).equals(want)).toBe(true);
      }
      const blocks = new Uint8Array(randomBytes(80));
      const e = createCipheriv(`aes-${kb * 8}-ecb`, key, null).setAutoPadding(false);
      const ks = new Uint8Array(80);
      aes(kb, "ECB").ecbBlocks(key, blocks, ks, 80);
      expect(Buffer.from(ks).equals(e.update(blocks))).toBe(true);
    }
  });
});

test("AES-ECB keeps its key between calls and re-keys when the key changes (k1 k1 k2 k1 k2 k2)", () => {
  const keys = [randomBytes(16)];
  keys.push(Buffer.from(keys[0]!)); // the last byte differs only: a cache that compared less would mix them up
  keys[1]![15]! ^= 1;
  const blocks = new Uint8Array(randomBytes(64));
  const out = new Uint8Array(64);
  for (const k of [0, 0, 1, 0, 1, 1]) {
    aes(16, "ECB").ecbBlocks(keys[k]!, blocks, out, 64);
    const want = createCipheriv("aes-128-ecb", keys[k]!, null).setAutoPadding(false).update(blocks);
    expect(Buffer.from(out).equals(want)).toBe(true);
  }
});

describe("every length is checked before it reaches C", () => {
  const key = new Uint8Array(16);
  const iv = new Uint8Array(16);
  const bad: [string, () => void][] = [
    ["CTR len past src", () => aes(16, "CTR").ctr(key, iv, new Uint8Array(10), new Uint8Array(100), 11)],
    ["CTR len past dst", () => aes(16, "CTR").ctr(key, iv, new Uint8Array(100), new Uint8Array(10), 11)],
    ["CTR negative len", () => aes(16, "CTR").ctr(key, iv, new Uint8Array(10), new Uint8Array(10), -1)],
    ["CTR short key", () => aes(16, "CTR").ctr(new Uint8Array(15), iv, new Uint8Array(1), new Uint8Array(1), 1)],
    ["CTR key of another size", () => aes(32, "CTR").ctr(key, iv, new Uint8Array(1), new Uint8Array(1), 1)],
    ["CTR short iv", () => aes(16, "CTR").ctr(key, new Uint8Array(8), new Uint8Array(1), new Uint8Array(1), 1)],
    ["ECB partial block", () => aes(16, "ECB").ecbBlocks(key, new Uint8Array(32), new Uint8Array(32), 20)],
    ["ECB past dst", () => aes(16, "ECB").ecbBlocks(key, new Uint8Array(64), new Uint8Array(32), 64)],
    ["ECB zero", () => aes(16, "ECB").ecbBlocks(key, new Uint8Array(16), new Uint8Array(16), 0)],
    ["ECB through a CTR context", () => aes(16, "CTR").ecbBlocks(key, new Uint8Array(16), new Uint8Array(16), 16)],
    ["HMAC len past msg", () => hmacSha1(new Uint8Array(20), new Uint8Array(10), 11, new Uint8Array(20))],
    ["HMAC short out", () => hmacSha1(new Uint8Array(20), new Uint8Array(10), 10, new Uint8Array(19))],
    ["HMAC key over a block", () => hmacSha1(new Uint8Array(65), new Uint8Array(10), 10, new Uint8Array(20))],
    ["AES of 20-byte keys", () => aes(20, "CTR")],
  ];
  test.each(bad)("%s throws", (_name, f) => expect(f).toThrow());

  test("a refused call writes nothing", () => {
    const dst = new Uint8Array(10).fill(0xa5);
    expect(() => aes(16, "CTR").ctr(key, iv, new Uint8Array(100), dst, 11)).toThrow();
    expect(dst.every((b) => b === 0xa5)).toBe(true);
  });
});

const master = (kd: Cipher, pass: string) => deriveMaster(kd, { passphrase: pass });
const KEYED = CIPHERS.filter((c) => c !== "null");

function pair(cipher: Cipher, kdPrf: Cipher, tagLength: number, role: "left" | "right") {
  const { suite } = normalizeSuite({ cipher, auth: tagLength > 0 ? "sha1" : "null", tagLength, kdPrf });
  const m = master(kdPrf, `pass ${cipher} ${kdPrf}`);
  setCryptoLibrary("openssl");
  const o = new SatpCrypto(suite, m, role);
  setCryptoLibrary("node");
  const n = new SatpCrypto(suite, m, role);
  expect([o.native, n.native]).toEqual([true, false]);
  return { o, n, suite, m };
}

describe("SatpCrypto: libcrypto and node:crypto give the same bytes", () => {
  test("seal: every suite, random seqs, lengths 0..1500", () => {
    for (const cipher of CIPHERS)
      for (const kdPrf of ["null", ...KEYED] as Cipher[])
        for (const tag of [0, 4, 10, 20]) {
          const { o, n } = pair(cipher, kdPrf, tag, "left");
          for (let i = 0; i < 12; i++) {
            const len = i === 0 ? 0 : Math.floor(Math.random() * 1500);
            const seq = Math.floor(Math.random() * 0xffffffff);
            const a = new Uint8Array(HEADER_LEN + len + 20).fill(0x5a);
            a.set(randomBytes(len), HEADER_LEN);
            const b = a.slice();
            const la = o.seal(seq, 7, 3, a, len);
            const lb = n.seal(seq, 7, 3, b, len);
            expect(la).toBe(lb);
            expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
          }
        }
  });

  test("open: valid, damaged, truncated, oversize and replayed packets get the same answer", () => {
    for (const cipher of ["aes-ctr", "aes-ctr-256", "null"] as Cipher[])
      for (const tag of [0, 10, 20]) {
        const tx = pair(cipher, "aes-ctr", tag, "left");
        const rx = pair(cipher, "aes-ctr", tag, "right");
        const wo = new ReplayWindow(64);
        const wn = new ReplayWindow(64);
        for (let i = 0; i < 300; i++) {
          const len = Math.floor(Math.random() * 1400);
          const buf = new Uint8Array(HEADER_LEN + len + 20);
          buf.set(randomBytes(len), HEADER_LEN);
          const seq = i < 200 ? i : Math.floor(Math.random() * 220); // the last 100 mostly replays
          let pkt = buf.subarray(0, tx.o.seal(seq, 9, 1, buf, len));
          const kind = i % 5;
          if (kind === 1 && pkt.length > 0) pkt[Math.floor(Math.random() * pkt.length)]! ^= 1 << (i % 8);
          if (kind === 2) pkt = pkt.subarray(0, Math.floor(Math.random() * pkt.length));
          const ro = rx.o.open(pkt, seq, 9, 1, wo);
          const plainO = Buffer.from(rx.o.plain);
          const rn = rx.n.open(pkt, seq, 9, 1, wn);
          expect(ro).toBe(rn);
          if (ro > 0) expect(plainO.equals(Buffer.from(rx.n.plain))).toBe(true);
        }
        const big = new Uint8Array(MAX_PACKET + 1);
        expect(rx.o.open(big, 1, 9, 1, null)).toBe(OPEN_SHORT);
        if (tag > 0) {
          expect(rx.o.open(new Uint8Array(HEADER_LEN + tag), 1, 9, 1, null)).toBe(OPEN_AUTH);
          expect(rx.o.open(new Uint8Array(HEADER_LEN + tag - 1), 1, 9, 1, null)).toBe(OPEN_SHORT);
        }
      }
  });

  test("a replay through libcrypto is refused after the tag check, as with node:crypto", () => {
    const tx = pair("aes-ctr", "aes-ctr", 10, "left");
    const rx = pair("aes-ctr", "aes-ctr", 10, "right");
    const buf = new Uint8Array(200);
    const pkt = buf.subarray(0, tx.o.seal(5, 1, 0, buf, 100));
    const w = new ReplayWindow(64);
    expect(rx.o.open(pkt, 5, 1, 0, w)).toBe(100);
    expect(rx.o.open(pkt, 5, 1, 0, w)).toBe(OPEN_REPLAY);
  });
});

describe("a host without libcrypto", () => {
  // A fresh process: the library is loaded once per process, and here the name it tries is absent.
  const script = `
    import { loadLibcrypto, libcryptoError } from "${import.meta.dir}/../src/satp/libcrypto.ts";
    import { setCryptoLibrary, SatpCrypto, cryptoLibrary } from "${import.meta.dir}/../src/satp/crypto.ts";
    import { deriveMaster } from "${import.meta.dir}/../src/satp/suite.ts";
    const out = { loaded: loadLibcrypto(["libcrypto-absent.so.9"]) !== null, why: libcryptoError() };
    try { setCryptoLibrary("openssl"); out.openssl = "started"; } catch (e) { out.openssl = e.message; }
    out.auto = setCryptoLibrary("auto");
    const suite = { cipher: "aes-ctr", auth: "sha1", tagLength: 10, kdPrf: "aes-ctr" };
    const m = deriveMaster("aes-ctr", { passphrase: "p" });
    const c = new SatpCrypto(suite, m, "left");
    const buf = new Uint8Array(64);
    out.native = c.native;
    out.sealed = Buffer.from(buf.subarray(0, c.seal(1, 1, 0, buf, 20))).toString("hex");
    out.library = cryptoLibrary();
    console.log(JSON.stringify(out));
  `;

  test("auto falls back to node:crypto, openssl refuses and names why", async () => {
    const p = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
    expect(await p.exited, err).toBe(0);
    const r = JSON.parse(out);
    expect(r.loaded).toBe(false);
    expect(r.why).toContain("libcrypto-absent.so.9");
    expect(r.openssl).toContain('cryptoLibrary "openssl": libcrypto did not load');
    expect(r.openssl).toContain("libcrypto-absent.so.9");
    expect(r.auto).toBe("node");
    expect(r.native).toBe(false);
    expect(r.library).toBe("node");
    // The same packet as this process's libcrypto seals.
    setCryptoLibrary("openssl");
    const c = new SatpCrypto(
      { cipher: "aes-ctr", auth: "sha1", tagLength: 10, kdPrf: "aes-ctr" },
      deriveMaster("aes-ctr", { passphrase: "p" }),
      "left",
    );
    const buf = new Uint8Array(64);
    expect(Buffer.from(buf.subarray(0, c.seal(1, 1, 0, buf, 20))).toString("hex")).toBe(r.sealed);
  });
});

describe("the Noise suite's AES-256-GCM: libcrypto and node:crypto give the same bytes", () => {
  const keysOf = (i: number): TransportKeys => ({
    local: 100 + i,
    remote: 200 + i,
    send: new Uint8Array(randomBytes(32)),
    recv: new Uint8Array(randomBytes(32)),
    created: Date.now(),
  });
  const mirror = (k: TransportKeys): TransportKeys => ({
    ...k,
    local: k.remote,
    remote: k.local,
    send: k.recv,
    recv: k.send,
  });
  const make = (lib: "openssl" | "node", keys: TransportKeys[]) => {
    setCryptoLibrary(lib);
    const c = new NoiseCrypto();
    for (const k of keys) c.add(k);
    return c;
  };

  test("seal, open both ways, damage and keepalives; keys interleaved (the contexts' key cache)", () => {
    // two keys that differ in their last byte only: a cache that compared less would mix them up
    const ks = [keysOf(1), keysOf(2)];
    ks[1] = { ...ks[1]!, send: ks[0]!.send.slice(), recv: ks[0]!.recv.slice() };
    ks[1].send[31]! ^= 1;
    ks[1].recv[31]! ^= 1;
    const tx = ks.map((k) => ({ o: make("openssl", [k]), n: make("node", [k]) }));
    const rx = ks.map((k) => ({ o: make("openssl", [mirror(k)]), n: make("node", [mirror(k)]) }));
    for (let i = 0; i < 400; i++) {
      const w = Math.random() < 0.5 ? 0 : 1; // which key: interleaved at random
      const len = i % 37 === 0 ? 0 : Math.floor(Math.random() * 1400);
      const a = new Uint8Array(16 + len + 16 + 8).fill(0x33);
      a.set(randomBytes(len), 8);
      const b = a.slice();
      const la = tx[w]!.o.seal(i, 3, 0, a, len);
      const lb = tx[w]!.n.seal(i, 3, 0, b, len);
      expect(la).toBe(lb);
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      let pkt = a.subarray(0, la);
      const kind = i % 4;
      if (kind === 1) pkt[Math.floor(Math.random() * pkt.length)]! ^= 1 << (i % 8);
      if (kind === 2) pkt = pkt.subarray(0, Math.floor(Math.random() * pkt.length));
      const ro = rx[w]!.o.open(pkt, 0, 0, 0, null);
      const po = Buffer.from(rx[w]!.o.plain);
      const rn = rx[w]!.n.open(pkt, 0, 0, 0, null);
      expect(ro).toBe(rn);
      if (ro > 0) expect(po.equals(Buffer.from(rx[w]!.n.plain))).toBe(true);
      if (kind === 0 || kind === 3) expect(ro).toBe(len <= 2 ? 0 : len);
      // and the other key never opens it
      expect(rx[1 - w]!.o.open(a.subarray(0, la), 0, 0, 0, null)).toBe(OPEN_AUTH);
    }
  });

  test("a refused open leaves the last plaintext as it was (libcrypto decrypts before it knows the tag)", () => {
    for (const lib of ["openssl", "node"] as const) {
      const k = keysOf(9);
      const tx = make(lib, [k]);
      const rx = make(lib, [mirror(k)]);
      const buf = new Uint8Array(1500);
      const seal = (fill: number) => {
        buf.fill(fill, 8, 8 + 1200);
        return buf.slice(0, tx.seal(fill, 3, 0, buf, 1200));
      };
      const good = seal(0x11);
      const forged = seal(0x22);
      forged[forged.length - 1]! ^= 1;
      expect(rx.open(good, 0, 0, 0, null)).toBe(1200);
      const view = rx.plain; // a view, not a copy
      expect(rx.open(forged, 0, 0, 0, null)).toBe(OPEN_AUTH);
      expect(view.every((b) => b === 0x11)).toBe(true);
      expect(rx.plain.every((b) => b === 0x11)).toBe(true);
    }
  });

  test("GCM calls with lengths past their arrays throw before C", () => {
    const { seal, open } = gcm();
    const key = new Uint8Array(32);
    const nonce = new Uint8Array(12);
    const b = new Uint8Array(64);
    expect(() => seal.seal(key, nonce, b, 16, b, 65, b, 0)).toThrow();
    expect(() => seal.seal(key, nonce, b, 65, b, 10, b, 0)).toThrow();
    expect(() => seal.seal(key, nonce, b, 16, b, 10, b, 49)).toThrow(); // the tag would end past 64
    expect(() => seal.seal(new Uint8Array(16), nonce, b, 16, b, 10, b, 0)).toThrow();
    expect(() => seal.seal(key, new Uint8Array(8), b, 16, b, 10, b, 0)).toThrow();
    expect(() => open.open(key, nonce, b, 16, b, 10, new Uint8Array(9), b, 0)).toThrow();
    expect(() => open.open(key, nonce, b, 16, b, 10, b, b, 49)).toThrow();
    expect(() => open.seal(key, nonce, b, 16, b, 10, b, 0)).toThrow(); // a decrypting context
    expect(open.open(key, nonce, b, 16, b.subarray(16), 32, new Uint8Array(32), b, 48)).toBe(false); // a zero tag
  });
});
