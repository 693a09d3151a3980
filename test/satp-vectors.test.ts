// SATP codec and crypto against 55 packets captured between two real anytun 0.3.8 instances
// (test/fixtures/satp-vectors.json, copied from the reference kit).
import { afterAll, describe, expect, test } from "bun:test";
import { cryptoFor, VECTORS } from "./lib/vectors.ts";
import { HEADER_LEN, payloadTypeOf, readHeader, type Header } from "../src/satp/codec.ts";
import { OPEN_AUTH, OPEN_SHORT, setCryptoLibrary } from "../src/satp/crypto.ts";
import { deriveMaster } from "../src/satp/suite.ts";

const all = VECTORS;
const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("55 vectors are present", () => expect(all.length).toBe(55));
afterAll(() => setCryptoLibrary("auto"));

// Every vector on both crypto libraries (config cryptoLibrary): libcrypto through bun:ffi, node:crypto.
describe.each(["openssl", "node"] as const)("%s", (lib) => {
  describe.each(all.map((v) => [v.id, v] as const))("vector %s", (_id, v) => {
    const pkt = hex(v.udp_payload_hex);
    const inner = hex(v.inner_packet_hex);

    test("master key and salt match anytun-config", () => {
      if (v.kd_prf === "null") return;
      const m = deriveMaster(v.kd_prf, {
        passphrase: v.passphrase ?? undefined,
        keyHex: v.master_key_hex ?? undefined,
        saltHex: v.master_salt_hex ?? undefined,
      });
      expect(toHex(m.key)).toBe(v.anytun_config_master_key_hex);
      expect(toHex(m.salt)).toBe(v.anytun_config_master_salt_hex);
    });

    test("header decodes", () => {
      const h: Header = { seq: -1, senderId: -1, mux: -1 };
      readHeader(pkt, h);
      expect(h).toEqual({ seq: v.header.seq_nr, senderId: v.header.sender_id, mux: v.header.mux });
    });

    test("receiver opens: tag, payload type, plaintext", () => {
      const c = cryptoFor(v, v.receiver_role, lib);
      const h = v.header;
      const n = c.open(pkt, h.seq_nr, h.sender_id, h.mux, null);
      expect(n).toBe(2 + inner.length);
      const type = (c.plain[0]! << 8) | c.plain[1]!;
      expect(type).toBe(payloadTypeOf(inner, v.device_type === "tap"));
      expect(toHex(c.plain.subarray(2))).toBe(v.inner_packet_hex);
    });

    test("sender seals to byte-identical ciphertext and tag (into a dirty buffer)", () => {
      const c = cryptoFor(v, v.sender_role, lib);
      const buf = new Uint8Array(2048).fill(0xa5);
      const type = payloadTypeOf(inner, v.device_type === "tap");
      buf[HEADER_LEN] = type >>> 8;
      buf[HEADER_LEN + 1] = type & 255;
      buf.set(inner, HEADER_LEN + 2);
      const n = c.seal(v.header.seq_nr, v.sender_id, v.mux, buf, 2 + inner.length);
      expect(toHex(buf.subarray(0, n))).toBe(v.udp_payload_hex);
    });

    test("wrong role, wrong key, truncation and bit flips are rejected with a reason", () => {
      const h = v.header;
      if (v.auth_algo === "null") {
        // Nothing to check: anytun's null auth accepts any bytes. Only length is enforced.
        expect(cryptoFor(v, v.receiver_role, lib).open(pkt.subarray(0, 4), h.seq_nr, h.sender_id, h.mux, null)).toBe(
          OPEN_SHORT,
        );
        return;
      }
      expect(cryptoFor(v, v.sender_role, lib).open(pkt, h.seq_nr, h.sender_id, h.mux, null)).toBe(OPEN_AUTH);
      const other = { ...v, passphrase: "not the passphrase", master_key_hex: null, master_salt_hex: null };
      expect(cryptoFor(other, v.receiver_role, lib).open(pkt, h.seq_nr, h.sender_id, h.mux, null)).toBe(OPEN_AUTH);
      const rx = cryptoFor(v, v.receiver_role, lib);
      expect(rx.open(pkt.subarray(0, pkt.length - 1), h.seq_nr, h.sender_id, h.mux, null)).toBe(OPEN_AUTH);
      expect(rx.open(pkt.subarray(0, HEADER_LEN + v.auth_tag_length - 1), h.seq_nr, h.sender_id, h.mux, null)).toBe(
        OPEN_SHORT,
      );
      for (const at of [0, 5, 7, HEADER_LEN, pkt.length - 1]) {
        const bad = pkt.slice();
        bad[at]! ^= 0x10;
        const hh: Header = { seq: 0, senderId: 0, mux: 0 };
        readHeader(bad, hh);
        expect(rx.open(bad, hh.seq, hh.senderId, hh.mux, null)).toBe(OPEN_AUTH);
      }
    });
  });
});
