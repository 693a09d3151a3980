// `relay.ts genkey` and `relay.ts pubkey`, as `wg genkey` / `wg pubkey`: a new private key on
// stdout (base64, clamped as RFC 7748 5 does it), and the public key of a private key read on
// stdin. Umask the file you keep the private key in: `umask 077; relay.ts genkey > client.key`.
import { randomBytes } from "node:crypto";
import { keyPair, keyText, parseKey } from "./keys.ts";

export function genkey(): string {
  const k = randomBytes(32);
  k[0]! &= 248;
  k[31]! &= 127;
  k[31]! |= 64;
  return keyText(k);
}

export function pubkey(privText: string): string {
  return keyText(keyPair(parseKey(privText, "private key on stdin")).pub);
}

/** The command's exit code; output on stdout, a clear error on stderr. */
export async function keyCommand(name: "genkey" | "pubkey"): Promise<number> {
  try {
    const out = name === "genkey" ? genkey() : pubkey(await Bun.stdin.text());
    process.stdout.write(`${out}\n`);
    return 0;
  } catch (e) {
    console.error(`${name}: ${(e as Error).message}`);
    return 1;
  }
}
