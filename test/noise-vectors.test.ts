// The Noise IK handshake (src/noise/handshake.ts) against the cacophony test vectors for
// Noise_IK_25519_AESGCM_SHA256 and Noise_IKpsk2_25519_AESGCM_SHA256 (test/fixtures/noise-vectors.json,
// copied unchanged from the snow library's set): both sides run with the vectors' keys and
// ephemerals, every message must be byte for byte the vector's ciphertext and decrypt to its
// payload on the other side, the handshake hashes must match, and the transport messages after
// the split alternate sides as the vectors do. Then: what must fail does.
import { describe, expect, test } from "bun:test";
import vectors from "./fixtures/noise-vectors.json";
import { keyPair, generateKeyPair, dh, parseKey, keyText } from "../src/noise/keys.ts";
import { HandshakeIK, CipherState, PROTOCOL, PROTOCOL_PSK2 } from "../src/noise/handshake.ts";

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_psks?: string[];
  init_static: string;
  init_ephemeral: string;
  init_remote_static: string;
  resp_prologue: string;
  resp_psks?: string[];
  resp_static: string;
  resp_ephemeral: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

describe("cacophony vectors", () => {
  test("both protocol names are in the fixtures", () => {
    expect((vectors.vectors as Vector[]).map((v) => v.protocol_name).sort()).toEqual([PROTOCOL, PROTOCOL_PSK2].sort());
  });

  for (const v of vectors.vectors as Vector[])
    test(`${v.protocol_name}: handshake, hash and ${v.messages.length - 2} transport messages byte for byte`, () => {
      const init = new HandshakeIK(true, {
        s: keyPair(hex(v.init_static)),
        e: keyPair(hex(v.init_ephemeral)),
        rs: hex(v.init_remote_static),
        prologue: hex(v.init_prologue),
        ...(v.init_psks ? { psk: hex(v.init_psks[0]!) } : {}),
      });
      const resp = new HandshakeIK(false, {
        s: keyPair(hex(v.resp_static)),
        e: keyPair(hex(v.resp_ephemeral)),
        prologue: hex(v.resp_prologue),
        ...(v.resp_psks ? { psk: hex(v.resp_psks[0]!) } : {}),
      });
      expect(toHex(keyPair(hex(v.resp_static)).pub)).toBe(v.init_remote_static);
      const [m1, m2, ...transport] = v.messages as [
        Vector["messages"][0],
        Vector["messages"][0],
        ...Vector["messages"],
      ];
      const c1 = init.writeMessage(hex(m1.payload));
      expect(toHex(c1)).toBe(m1.ciphertext);
      expect(toHex(resp.readMessage(c1)!)).toBe(m1.payload);
      expect(toHex(resp.rs!)).toBe(toHex(keyPair(hex(v.init_static)).pub)); // the responder learned who
      const c2 = resp.writeMessage(hex(m2.payload));
      expect(toHex(c2)).toBe(m2.ciphertext);
      expect(toHex(init.readMessage(c2)!)).toBe(m2.payload);
      expect([toHex(init.hash), toHex(resp.hash)]).toEqual([v.handshake_hash, v.handshake_hash]);
      const ci = init.split();
      const cr = resp.split();
      transport.forEach((m, i) => {
        const [tx, rx] = i % 2 === 0 ? [ci.send, cr.recv] : [cr.send, ci.recv];
        const c = tx.encrypt(new Uint8Array(0), hex(m.payload));
        expect(toHex(c)).toBe(m.ciphertext);
        expect(toHex(rx.decrypt(new Uint8Array(0), c)!)).toBe(m.payload);
      });
    });
});

describe("what must fail does", () => {
  const server = generateKeyPair();
  const client = generateKeyPair();
  const fresh = (psk?: Uint8Array) => ({
    init: new HandshakeIK(true, { s: client, e: generateKeyPair(), rs: server.pub, ...(psk ? { psk } : {}) }),
    resp: new HandshakeIK(false, { s: server, e: generateKeyPair(), ...(psk ? { psk } : {}) }),
  });

  test("every bit flip of message 1 or 2 is refused, and the refused handshake stays dead", () => {
    const { init } = fresh();
    const m1 = init.writeMessage(new TextEncoder().encode("hello"));
    for (let bit = 0; bit < m1.length * 8; bit += 7) {
      const bad = m1.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const r = new HandshakeIK(false, { s: server, e: generateKeyPair() });
      expect(r.readMessage(bad)).toBeNull();
      expect(r.readMessage(m1)).toBeNull(); // dead after a failure
    }
    const ok = fresh();
    const g1 = ok.init.writeMessage(new Uint8Array(0));
    expect(ok.resp.readMessage(g1)).not.toBeNull();
    const g2 = ok.resp.writeMessage(new Uint8Array(3));
    const bad2 = g2.slice();
    bad2[40]! ^= 0x80;
    expect(ok.init.readMessage(bad2)).toBeNull();
  });

  test("a responder with another static key, an initiator's other psk, short and empty messages: refused", () => {
    const { init } = fresh();
    const m1 = init.writeMessage(new Uint8Array(0));
    expect(new HandshakeIK(false, { s: generateKeyPair(), e: generateKeyPair() }).readMessage(m1)).toBeNull();
    const a = fresh(new Uint8Array(32).fill(1));
    const b = new HandshakeIK(false, { s: server, e: generateKeyPair(), psk: new Uint8Array(32).fill(2) });
    const p1 = a.init.writeMessage(new Uint8Array(0));
    expect(b.readMessage(p1)).not.toBeNull(); // psk2: the psk enters after message 1...
    const p2 = b.writeMessage(new Uint8Array(0));
    expect(a.init.readMessage(p2)).toBeNull(); // ...and message 2 fails
    for (const len of [0, 31, 32, 95])
      expect(new HandshakeIK(false, { s: server, e: generateKeyPair() }).readMessage(new Uint8Array(len))).toBeNull();
  });

  test("a low-order (all-zero) public key gives no shared secret; keys as wg's base64 text", () => {
    expect(dh(server, new Uint8Array(32))).toBeNull();
    expect(dh(server, new Uint8Array(31))).toBeNull();
    expect(parseKey(keyText(server.priv))).toEqual(server.priv);
    expect(() => parseKey("not a key")).toThrow(/44 characters of base64/);
    expect(() => parseKey(Buffer.alloc(31).toString("base64"))).toThrow(/32 bytes/);
  });

  test("transport: a replayed or reordered message fails to decrypt (the counter moved on); a forged one never does", () => {
    const { init, resp } = fresh();
    resp.readMessage(init.writeMessage(new Uint8Array(0)));
    init.readMessage(resp.writeMessage(new Uint8Array(0)));
    const a = init.split();
    const b = resp.split();
    const m0 = a.send.encrypt(new Uint8Array(0), new Uint8Array([1]));
    const m1 = a.send.encrypt(new Uint8Array(0), new Uint8Array([2]));
    expect(b.recv.decrypt(new Uint8Array(0), m1)).toBeNull(); // out of order: the nonce is 0 here
    expect(b.recv.decrypt(new Uint8Array(0), m0)).toEqual(new Uint8Array([1]));
    expect(b.recv.decrypt(new Uint8Array(0), m0)).toBeNull(); // replayed
    const forged = m1.slice();
    forged[0]! ^= 1;
    expect(b.recv.decrypt(new Uint8Array(0), forged)).toBeNull();
    expect(new CipherState(new Uint8Array(32)).decrypt(new Uint8Array(0), new Uint8Array(5))).toBeNull();
  });
});
