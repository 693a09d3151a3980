// The reference relay for the capacity benchmark: the smallest correct SATP relay in Bun, to
// measure how close the product gets to this runtime's ceiling. It shares nothing with the
// product but node:crypto: its own SATP codec and per-packet key derivation (SPEC §2, §5-§7,
// aes-ctr-128, HMAC-SHA1 tag 10, passphrase keys), one Bun.udpSocket, and sendMany batches
// flushed once per event-loop turn. Every authenticated packet from any client (mux 1..N-1) is
// re-sealed for the last client (mux N, the sink), whose endpoint is learned from its first
// authenticated packet. No replay window (anytun's -w 0), no routing, no plugins, no sync.
//   bun test/bench/ref-relay.ts PORT CLIENTS PASSPHRASE_PREFIX
// (client mux m has passphrase PREFIX + m; prints "ready" once listening; SIGTERM stops it)
import { createCipheriv, createHash } from "node:crypto";

const port = Number(process.argv[2] ?? 4444);
const clients = Number(process.argv[3] ?? 2);
const prefix = process.argv[4] ?? "bench ";
const SINK = clients;
const TAG = 10;
const LEFT = { enc: 0x356a192b, salt: 0x77de68da, auth: 0xac3478d6 };
const RIGHT = { enc: 0xda4b9237, salt: 0x1b645389, auth: 0xc1dfd96e };
type Labels = typeof LEFT;

interface Master {
  key: Buffer;
  salt: Buffer;
  /** AES-128-ECB under the master key: the CTR keystream of SPEC §5 is ECB of its counter blocks. */
  ecb: ReturnType<typeof createCipheriv>;
}
const master = (pass: string): Master => {
  const key = createHash("sha256").update(pass).digest().subarray(16);
  const ecb = createCipheriv("aes-128-ecb", key, null);
  ecb.setAutoPadding(false);
  return { key, salt: createHash("sha1").update(pass).digest().subarray(6), ecb };
};
const masters = Array.from({ length: clients + 1 }, (_, m) => (m === 0 ? null : master(`${prefix}${m}`)));

/**
 * SPEC §5 for one packet: enc key (16), session salt (14) and auth key (20) for `seq` under
 * `l`'s labels, from one ECB call over four counter blocks (enc; salt; auth block 0 and 1).
 */
const blocks = Buffer.alloc(64);
// Session values, reused for every packet (copied out of the keystream: a subarray of the
// native output would cost an ArrayBuffer per packet).
const K = { enc: Buffer.alloc(16), salt: Buffer.alloc(14), auth: Buffer.alloc(20) };
function derive(m: Master, l: Labels, seq: number): typeof K {
  for (let b = 0; b < 4; b++) {
    const o = b * 16;
    const label = b === 0 ? l.enc : b === 1 ? l.salt : l.auth;
    m.salt.copy(blocks, o, 0, 14);
    blocks[o + 14] = 0;
    blocks[o + 15] = b === 3 ? 1 : 0; // the auth key's second block
    blocks[o + 6]! ^= label >>> 24;
    blocks[o + 7]! ^= (label >>> 16) & 255;
    blocks[o + 8]! ^= (label >>> 8) & 255;
    blocks[o + 9]! ^= label & 255;
    blocks[o + 10]! ^= seq >>> 24;
    blocks[o + 11]! ^= (seq >>> 16) & 255;
    blocks[o + 12]! ^= (seq >>> 8) & 255;
    blocks[o + 13]! ^= seq & 255;
  }
  const ks = m.ecb.update(blocks);
  for (let i = 0; i < 16; i++) K.enc[i] = ks[i]!;
  for (let i = 0; i < 14; i++) K.salt[i] = ks[16 + i]!;
  for (let i = 0; i < 20; i++) K.auth[i] = ks[32 + i]!;
  return K;
}
const ivBuf = Buffer.alloc(16);
/** SPEC §6: the payload IV for (session salt, mux, sender id, seq). */
function payloadIv(ss: Buffer, mux: number, sid: number, seq: number): Buffer {
  ss.copy(ivBuf, 0, 0, 14);
  ivBuf[14] = ivBuf[15] = 0;
  ivBuf.writeUInt16BE(ivBuf.readUInt16BE(4) ^ mux, 4);
  ivBuf.writeUInt16BE(ivBuf.readUInt16BE(6) ^ sid, 6);
  ivBuf.writeUInt32BE((ivBuf.readUInt32BE(10) ^ seq) >>> 0, 10);
  return ivBuf;
}
const mac = Buffer.alloc(64); // Bun.CryptoHasher.digest(buf) wants room for any digest

/** Verifies and decrypts in place; the plaintext length (type + inner) or -1. */
function open(buf: Buffer, m: Master, l: Labels): number {
  const seq = buf.readUInt32BE(0);
  const end = buf.length - TAG;
  const k = derive(m, l, seq);
  new Bun.CryptoHasher("sha1", k.auth).update(buf.subarray(0, end)).digest(mac);
  if (mac.compare(buf, end, buf.length, 20 - TAG, 20) !== 0) return -1;
  const iv = payloadIv(k.salt, buf.readUInt16BE(6), buf.readUInt16BE(4), seq);
  createCipheriv("aes-128-ctr", k.enc, iv).update(buf.subarray(8, end)).copy(buf, 8);
  return end - 8;
}

/** Seals plaintext buf[8, 8+n) in place as (seq, sid 0, mux); the datagram length. */
function seal(buf: Buffer, n: number, m: Master, l: Labels, seq: number, mux: number): number {
  buf.writeUInt32BE(seq, 0);
  buf.writeUInt16BE(0, 4);
  buf.writeUInt16BE(mux, 6);
  const k = derive(m, l, seq);
  const iv = payloadIv(k.salt, mux, 0, seq);
  createCipheriv("aes-128-ctr", k.enc, iv)
    .update(buf.subarray(8, 8 + n))
    .copy(buf, 8);
  new Bun.CryptoHasher("sha1", k.auth).update(buf.subarray(0, 8 + n)).digest(mac);
  mac.copy(buf, 8 + n, 20 - TAG, 20);
  return 8 + n + TAG;
}

let sink: { address: string; port: number } | null = null;
let seq = 0;
const queue: (Buffer | number | string)[] = [];
let armed = false;
let relayed = 0,
  bad = 0;
const flush = () => {
  armed = false;
  if (queue.length > 0) sock.sendMany(queue as never);
  queue.length = 0;
};
const sock = await Bun.udpSocket({
  hostname: "127.0.0.1",
  port,
  binaryType: "buffer",
  socket: {
    data(_s, buf, p, address) {
      if (buf.length < 8 + 2 + TAG) return void bad++;
      const mux = buf.readUInt16BE(6);
      const m = mux >= 1 && mux <= clients ? masters[mux]! : null;
      if (m === null) return void bad++;
      const n = open(buf, m, RIGHT);
      if (n < 0) return void bad++;
      if (mux === SINK) {
        sink = { address, port: p };
        return;
      }
      if (sink === null) return;
      // Bun's receive buffer is fresh per datagram: re-sealed in place (same length) and queued.
      seal(buf, n, masters[SINK]!, LEFT, seq++ >>> 0, SINK);
      queue.push(buf, sink.port, sink.address);
      relayed++;
      if (queue.length >= 3 * 64) flush();
      else if (!armed) {
        armed = true;
        setImmediate(flush);
      }
    },
  },
});
process.on("SIGTERM", () => {
  flush();
  console.log(`relayed ${relayed} bad ${bad}`);
  sock.close();
  process.exit(0);
});
console.log("ready");
