// SATP per-packet crypto throughput: seal and open packets/s (and Mbit/s of inner payload) per suite
// for 100- and 1400-byte inner packets.
//   bun test/bench/crypto.ts [seconds-per-case=1]
// Seal: copy the plaintext into a work buffer and seal it with a fresh seq (as the sender does).
// Open: a batch of real packets is sealed by the left role first, then the right role opens them
// (readHeader + open, no replay window so the batch can be reused); every open result is checked and
// the number that opened OK is printed beside the rate. No assertions: numbers only.
import { HEADER_LEN, PT_IPV4, readHeader, type Header } from "../../src/satp/codec.ts";
import { SatpCrypto } from "../../src/satp/crypto.ts";
import { deriveMaster, normalizeSuite, type AuthAlgo, type Cipher, type Suite } from "../../src/satp/suite.ts";

interface Case {
  name: string;
  cipher: Cipher;
  auth: AuthAlgo;
  tag: number;
  kd: Cipher;
}

const CASES: Case[] = [
  { name: "default aes-ctr/sha1/10, kd aes-ctr", cipher: "aes-ctr", auth: "sha1", tag: 10, kd: "aes-ctr" },
  { name: "aes-ctr-256/sha1/20, kd aes-ctr", cipher: "aes-ctr-256", auth: "sha1", tag: 20, kd: "aes-ctr" },
  { name: "aes-ctr-256/sha1/20, kd aes-ctr-256", cipher: "aes-ctr-256", auth: "sha1", tag: 20, kd: "aes-ctr-256" },
  { name: "aes-ctr-192/sha1/4, kd aes-ctr-192", cipher: "aes-ctr-192", auth: "sha1", tag: 4, kd: "aes-ctr-192" },
  { name: "null/sha1/10, kd aes-ctr", cipher: "null", auth: "sha1", tag: 10, kd: "aes-ctr" },
  { name: "null/null", cipher: "null", auth: "null", tag: 0, kd: "null" },
];
const SIZES = [100, 1400];
const BATCH = 2048;

const arg = process.argv[2];
const seconds = arg === undefined ? 1 : Number(arg);
if (!(seconds > 0) || !Number.isFinite(seconds)) {
  console.error(`usage: bun test/bench/crypto.ts [seconds-per-case=1]  (bad value: ${arg})`);
  process.exit(2);
}

function pair(c: Case): { tx: SatpCrypto; rx: SatpCrypto; suite: Suite } {
  const { suite } = normalizeSuite({ cipher: c.cipher, auth: c.auth, tagLength: c.tag, kdPrf: c.kd });
  const master = deriveMaster(suite.kdPrf, { passphrase: "satp bench passphrase" });
  return { tx: new SatpCrypto(suite, master, "left"), rx: new SatpCrypto(suite, master, "right"), suite };
}

/** Plaintext = payload type (IPv4) + an inner packet of `size` bytes with a plausible first byte. */
function plaintext(size: number): Uint8Array {
  const p = new Uint8Array(2 + size);
  p[0] = PT_IPV4 >>> 8;
  p[1] = PT_IPV4 & 255;
  for (let i = 2; i < p.length; i++) p[i] = (i * 131 + 7) & 255;
  p[2] = 0x45;
  return p;
}

/** Runs `op` in chunks of `chunk` calls until `ms` have passed; returns calls and elapsed ms. */
function timed(ms: number, chunk: number, op: (i: number) => void): { calls: number; ms: number } {
  let calls = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    for (let k = 0; k < chunk; k++) op(calls + k);
    calls += chunk;
    t = performance.now();
  } while (t - t0 < ms);
  return { calls, ms: t - t0 };
}

interface Row {
  seal: number;
  open: number;
  openedOk: number;
  opened: number;
  /** The first packet of the batch opened to exactly the sealed plaintext. */
  plainOk: boolean;
}

function bench(c: Case, size: number): Row {
  const { tx, rx, suite } = pair(c);
  const plain = plaintext(size);
  const plen = plain.length;
  const pktLen = HEADER_LEN + plen + suite.tagLength;

  // seal: fresh seq per packet, plaintext copied into the work buffer each time
  const work = new Uint8Array(pktLen + 16);
  let seq = 0;
  const sealOne = () => {
    work.set(plain, HEADER_LEN);
    tx.seal(seq++, 0, 0, work, plen);
  };
  timed(Math.min(200, seconds * 200), 64, sealOne); // warm-up
  const s = timed(seconds * 1000, 64, sealOne);

  // open: a batch of distinct real packets, opened by the other role
  const batch: Uint8Array[] = [];
  for (let i = 0; i < BATCH; i++) {
    const b = new Uint8Array(pktLen);
    b.set(plain, HEADER_LEN);
    const n = tx.seal(1_000_000 + i, 0x0102, 0x0304, b, plen);
    batch.push(b.subarray(0, n));
  }
  const h: Header = { seq: 0, senderId: 0, mux: 0 };
  let ok = 0;
  let opened = 0;
  const openOne = (i: number) => {
    const p = batch[i % BATCH]!;
    readHeader(p, h);
    if (rx.open(p, h.seq, h.senderId, h.mux, null) === plen) ok++;
    opened++;
  };
  timed(Math.min(200, seconds * 200), 64, openOne); // warm-up
  // content check once, outside the timing: the opened plaintext is the original
  readHeader(batch[0]!, h);
  const n0 = rx.open(batch[0]!, h.seq, h.senderId, h.mux, null);
  const same = n0 === plen && Buffer.compare(Buffer.from(rx.plain), Buffer.from(plain)) === 0;
  ok = 0;
  opened = 0;
  const o = timed(seconds * 1000, 64, openOne);
  return { seal: (s.calls * 1000) / s.ms, open: (o.calls * 1000) / o.ms, openedOk: ok, opened, plainOk: same };
}

const fmtRate = (x: number) => Math.round(x).toLocaleString("en-US").padStart(10);
const fmtMbit = (pps: number, size: number) => ((pps * size * 8) / 1e6).toFixed(0).padStart(8);

console.log(
  `bun ${Bun.version} (${Bun.revision.slice(0, 9)}), ${process.platform}/${process.arch}, ${navigator.hardwareConcurrency} cpus, ${seconds} s per case, Mbit/s = inner payload bytes only`,
);
const header = `${"suite".padEnd(38)} ${"inner".padStart(5)}  ${"seal pkt/s".padStart(10)} ${"Mbit/s".padStart(8)}  ${"open pkt/s".padStart(10)} ${"Mbit/s".padStart(8)}  opened ok`;
console.log(header);
console.log("-".repeat(header.length + 10));
for (const c of CASES) {
  for (const size of SIZES) {
    const r = bench(c, size);
    console.log(
      `${c.name.padEnd(38)} ${String(size).padStart(5)}  ${fmtRate(r.seal)} ${fmtMbit(r.seal, size)}  ${fmtRate(r.open)} ${fmtMbit(r.open, size)}  ${r.openedOk}/${r.opened}${r.plainOk ? "" : "  PLAINTEXT MISMATCH"}`,
    );
  }
}
