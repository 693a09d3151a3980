// The 55 anytun 0.3.8 vectors (test/fixtures/satp-vectors.json) typed, and the SatpCrypto a
// vector's settings give for one role.
import vectors from "../fixtures/satp-vectors.json";
import { SatpCrypto, setCryptoLibrary } from "../../src/satp/crypto.ts";
import { deriveMaster, normalizeSuite, type AuthAlgo, type Cipher, type Role } from "../../src/satp/suite.ts";

export interface Vector {
  id: string;
  sender_role: Role;
  receiver_role: Role;
  passphrase: string | null;
  master_key_hex: string | null;
  master_salt_hex: string | null;
  anytun_config_master_key_hex: string;
  anytun_config_master_salt_hex: string;
  cipher: Cipher;
  auth_algo: AuthAlgo;
  auth_tag_length: number;
  kd_prf: Cipher;
  mux: number;
  sender_id: number;
  device_type: "tun" | "tap";
  udp_payload_hex: string;
  header: { seq_nr: number; sender_id: number; mux: number };
  inner_packet_hex: string;
}

export const VECTORS = vectors as Vector[];

/** `lib`: the library the SatpCrypto uses (the process's choice stays at it afterwards). */
export function cryptoFor(v: Vector, role: Role, lib?: "openssl" | "node"): SatpCrypto {
  if (lib !== undefined && setCryptoLibrary(lib) !== lib) throw new Error(`${lib} did not load`);
  const { suite } = normalizeSuite({
    cipher: v.cipher,
    auth: v.auth_algo,
    tagLength: v.auth_tag_length,
    kdPrf: v.kd_prf,
  });
  const master = deriveMaster(suite.kdPrf, {
    passphrase: v.passphrase ?? undefined,
    keyHex: v.master_key_hex ?? undefined,
    saltHex: v.master_salt_hex ?? undefined,
  });
  const c = new SatpCrypto(suite, master, role);
  if (lib !== undefined && c.native !== (lib === "openssl")) throw new Error(`SatpCrypto is not on ${lib}`);
  return c;
}
