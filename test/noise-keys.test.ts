// `relay.ts genkey` / `relay.ts pubkey` (src/noise/commands.ts) as real processes, against
// WireGuard's own `wg genkey` / `wg pubkey` (wireguard-tools, which CI installs): each derives the
// other's public keys, byte for byte; the vector's responder key gives the vector's public key;
// bad input is a clear error and exit 1.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { ROOT } from "./lib/netns.ts";

const relay = (args: string[], input = "") => {
  const r = spawnSync([process.execPath, `${ROOT}relay.ts`, ...args], { stdin: new TextEncoder().encode(input) });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};
const wg = (args: string[], input = "") =>
  spawnSync(["wg", ...args], { stdin: new TextEncoder().encode(input) }).stdout.toString();
const haveWg = spawnSync(["sh", "-c", "command -v wg"]).exitCode === 0;
if (!haveWg) console.warn("noise keys: the wg cross-checks are skipped (install wireguard-tools)");

describe("genkey / pubkey", () => {
  test("genkey prints a clamped 32-byte key in base64; pubkey derives the vector's public key", () => {
    const g = relay(["genkey"]);
    expect(g.code).toBe(0);
    const k = Buffer.from(g.out.trim(), "base64");
    expect([k.length, k[0]! & 7, k[31]! & 0xc0]).toEqual([32, 0, 0x40]);
    const vectorPriv = Buffer.from("4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893", "hex").toString(
      "base64",
    );
    const p = relay(["pubkey"], `${vectorPriv}\n`);
    expect(Buffer.from(p.out.trim(), "base64").toString("hex")).toBe(
      "31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62",
    );
  });

  test.skipIf(!haveWg)("the same public keys as wg, both ways", () => {
    for (let i = 0; i < 3; i++) {
      const ours = relay(["genkey"]).out;
      expect(relay(["pubkey"], ours).out).toBe(wg(["pubkey"], ours));
      const theirs = wg(["genkey"]);
      expect(relay(["pubkey"], theirs).out).toBe(wg(["pubkey"], theirs));
    }
  });

  test("pubkey of garbage, of a short key, of nothing: exit 1 with the reason", () => {
    for (const input of ["not a key\n", `${Buffer.alloc(31).toString("base64")}\n`, ""]) {
      const r = relay(["pubkey"], input);
      expect(r.code).toBe(1);
      expect(r.err).toContain("44 characters of base64");
      expect(r.out).toBe("");
    }
  });
});
