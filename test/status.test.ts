// `bun relay.ts status` against a real relay process (admin API with a token): the text view and
// --json agree with /v1/clients after known traffic; a wrong token and an unreachable relay are
// clear errors (exit 1).
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { Client, ipv4, until } from "./lib/satp-client.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const dir = mkdtempSync(`${tmpdir()}/relay-status-`);
const ADMIN = 24000 + (process.pid % 400);
const UDP = ADMIN + 500;
const TOKEN = "status test admin token";
const URL_ = `http://127.0.0.1:${ADMIN}`;
let relay: Subprocess;
const a = new Client(1, "secret of a");
const b = new Client(2, "secret of b");

const run = async (...args: string[]) => {
  const p = Bun.spawn([process.execPath, `${ROOT}relay.ts`, "status", ...args], {
    env: { ...process.env, RELAY_ADMIN_TOKEN: "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const code = await p.exited;
  return { code, out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text() };
};

beforeAll(async () => {
  writeFileSync(
    `${dir}/relay.json`,
    JSON.stringify({
      mode: "server",
      listen: [`127.0.0.1:${UDP}`],
      admin: { listen: `127.0.0.1:${ADMIN}`, token: TOKEN, openHealth: true },
      clients: [
        { name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32"] },
        { name: "b", mux: 2, passphrase: "secret of b", routes: ["10.99.0.2/32"] },
      ],
      log: ["stderr:2"],
      drainSeconds: 0,
    }),
  );
  relay = Bun.spawn([process.execPath, `${ROOT}relay.ts`, "--config", `${dir}/relay.json`], {
    env: process.env,
    stdout: "ignore",
    stderr: "inherit",
  });
  for (let i = 0; i < 200; i++) {
    const r = await fetch(`${URL_}/readyz`).catch(() => null);
    if (r?.status === 200) break;
    await Bun.sleep(25);
  }
  await a.open();
  await b.open();
  b.send(UDP, ipv4("10.99.0.2", "10.99.0.1", "b is here"));
  for (let i = 0; i < 50; i++) a.send(UDP, ipv4("10.99.0.1", "10.99.0.2", `from a ${i}`));
  await until("b got a's 50", () => b.got.length >= 50, 5000);
});
afterAll(() => {
  relay.kill();
  a.sock.close();
  b.sock.close();
  rmSync(dir, { recursive: true, force: true });
});

test("text: the relay, its listener, each client with endpoint, last seen and transfer", async () => {
  const r = await run("--admin", URL_, "--token", TOKEN);
  console.log(r.out.replace(/^/gm, "  | "));
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^relay: ready, node 0, up \d+s, anytun-relay \d+\.\d+\.\d+$/m);
  expect(r.out).toContain(`  listening: udp 127.0.0.1:${UDP} (in 51 packets`);
  expect(r.out).toContain("client a (mux 1)");
  expect(r.out).toContain(`  endpoint: 127.0.0.1:${a.sock.port} via udp 127.0.0.1:${UDP}`);
  expect(r.out).toMatch(
    /client a \(mux 1\)\n.*\n {2}last seen: [\d.]+ s ago\n {2}transfer: [\d.]+ KiB received \(50 packets\), 0 B sent \(0\)/,
  );
  expect(r.out).toMatch(/client b \(mux 2\)\n.*\n.*\n {2}transfer: .* received \(1 packets\), [\d.]+ KiB sent \(50\)/);
  expect(r.out).toContain("  drops: noendpoint 1"); // b spoke before a had an endpoint
});

test("--json is /v1/status and agrees with /v1/clients", async () => {
  const r = await run(`--admin=${URL_}`, `--token=${TOKEN}`, "--json");
  expect(r.code).toBe(0);
  const st = JSON.parse(r.out) as { clients: { mux: number; packets: { in: number; out: number } }[] };
  const clients = (await (
    await fetch(`${URL_}/v1/clients`, { headers: { Authorization: `Bearer ${TOKEN}` } })
  ).json()) as { mux: number; packets: { in: number; out: number } }[];
  expect(st.clients.map((c) => [c.mux, c.packets])).toEqual(clients.map((c) => [c.mux, c.packets]));
  expect(st.clients[0]!.packets).toEqual({ in: 50, out: 0 });
});

test("no or a wrong token, an unreachable relay, a bad argument: exit 1 (2) with the reason", async () => {
  const no = await run("--admin", URL_);
  expect([no.code, no.err.trim()]).toEqual([1, `status: ${URL_} answered 401 (give --token or RELAY_ADMIN_TOKEN)`]);
  const off = await run("--admin", "http://127.0.0.1:1");
  expect(off.code).toBe(1);
  expect(off.err).toContain("status: cannot reach the admin API at http://127.0.0.1:1");
  const bad = await run("--frobnicate");
  expect(bad.code).toBe(2);
});
