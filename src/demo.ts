// The embedded default: `bun relay.ts` with no config and no clients starts a server with one demo
// client whose passphrase is generated at start, answers ping at 10.99.0.1 itself (the `ping`
// plugin), and prints how to connect to it and what to ping. The commands it prints run from the
// checkout without a global Bun (`npx bun`, the npm package's binary) and name a real address
// of this host when it has one.
import { randomBytes } from "node:crypto";
import { networkInterfaces } from "node:os";
import type { Config } from "./config.ts";

export const DEMO_MUX = 1;
export const DEMO_ROUTE = "10.99.0.2/32";
/** The server's own address inside the demo tunnel (answered by the ping plugin). */
export const DEMO_SERVICE = "10.99.0.1";

/** Where a client on another host should send: the listen address, or this host's addresses. */
function addresses(cfg: Config): string[] {
  const listen = cfg.listen?.[0];
  const host = listen ? listen.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1") : (cfg.interface ?? "::");
  if (host !== "::" && host !== "0.0.0.0") return [host];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) if (!i.internal && i.family === "IPv4") out.push(i.address);
  return out;
}

/** Adds the demo client to a server config that has none; returns the lines to print (or []). */
export function addDemoClient(cfg: Config, passphrase = randomBytes(18).toString("base64url")): string[] {
  if (cfg.mode !== "server" || cfg.clients.length > 0) return [];
  cfg.clients = [{ name: "demo", mux: DEMO_MUX, passphrase, routes: [DEMO_ROUTE], role: "left" }];
  if (!cfg.plugins.some((p) => p.use === "ping"))
    cfg.plugins = [{ use: "ping", addresses: [DEMO_SERVICE] }, ...cfg.plugins];
  const port = cfg.listen ? cfg.listen[0]!.replace(/^.*:/, "") : String(cfg.port);
  const found = addresses(cfg);
  const host = found[0] ?? "SERVER_ADDRESS";
  const args = (h: string) => `-r ${h} -o ${port} -m ${DEMO_MUX} -e client -E ${passphrase} -n 10.99.0.2/24`;
  return [
    `No clients configured: serving one demo client (mux ${DEMO_MUX}, inner address 10.99.0.2, passphrase generated now).`,
    `Connect from another host (as root, in this checkout after npm install)${found.length > 1 ? ` — this host also has ${found.slice(1).join(", ")}` : ""}:`,
    `  npx bun relay.ts ${args(host)}`,
    "or with anytun 0.3.8:",
    `  anytun -D ${args(host)}`,
    `then: ping ${DEMO_SERVICE}   (the server answers it itself, through the tunnel)`,
    `On this host (as root, a second terminal; -p 0: the server has port ${port}): npx bun relay.ts ${args("127.0.0.1")} -p 0 -d demo0`,
    "A tunnel between network namespaces in a minute, nothing changed outside them (root): npx bun examples/three-pop/demo.ts",
    "Configure your own clients in a config file (see examples/server.json) and start with --config.",
  ];
}
