// The embedded default: `bun relay.ts` with no config and no clients starts a server with one demo
// client whose passphrase is generated at start, and prints how to connect to it.
import { randomBytes } from "node:crypto";
import type { Config } from "./config.ts";

export const DEMO_MUX = 1;
export const DEMO_ROUTE = "10.99.0.2/32";

/** Adds the demo client to a server config that has none; returns the lines to print (or []). */
export function addDemoClient(cfg: Config): string[] {
  if (cfg.mode !== "server" || cfg.clients.length > 0) return [];
  const passphrase = randomBytes(18).toString("base64url");
  cfg.clients = [{ name: "demo", mux: DEMO_MUX, passphrase, routes: [DEMO_ROUTE], role: "left" }];
  const port = cfg.listen ? cfg.listen[0]!.replace(/^.*:/, "") : String(cfg.port);
  const host = cfg.interface ?? "SERVER_ADDRESS";
  const args = `-r ${host} -o ${port} -m ${DEMO_MUX} -e client -E ${passphrase} -n 10.99.0.2/24`;
  return [
    "No clients configured: serving one demo client (mux 1, inner address 10.99.0.2, passphrase generated now).",
    "Connect with this relay (as root):",
    `  bun relay.ts ${args}`,
    "or with anytun 0.3.8:",
    `  anytun -D ${args}`,
    "Configure your own clients in a JSON config (see examples/server.json) and start with --config.",
  ];
}
