// The admin API attacked as a web page or a local user would (black box: a real relay process,
// raw HTTP over loopback so every header is the test's): no secret in any view; a foreign Host
// (DNS rebinding) gets 421; a state-changing request with a foreign Origin, a cross-site fetch
// or a body type a page can send without a preflight gets 403 / 415 and changes nothing; bodies
// are capped (413); a plain `curl -X POST /drain` still works.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";

const ROOT = new URL("../", import.meta.url).pathname;
const dir = mkdtempSync(`${tmpdir()}/relay-admin-`);
const ADMIN = 23500 + (process.pid % 400);
const SECRETS = ["fleet key for the admin attack test", "client passphrase nobody may read"];
let relay: ReturnType<typeof Bun.spawn>;

/** One HTTP/1.1 request with exactly these headers; the status and body. */
async function raw(method: string, path: string, headers: Record<string, string>, body = "") {
  const chunks: Uint8Array[] = [];
  const done = Promise.withResolvers<void>();
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port: ADMIN,
    socket: { data: (_s, d) => void chunks.push(d), close: () => done.resolve(), error: () => done.resolve() },
  });
  const h = { Connection: "close", ...headers, ...(body ? { "Content-Length": String(Buffer.byteLength(body)) } : {}) };
  sock.write(
    `${method} ${path} HTTP/1.1\r\n${Object.entries(h)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("")}\r\n${body}`,
  );
  await done.promise;
  const text = Buffer.concat(chunks).toString();
  return { status: Number(text.split(" ")[1]), body: text.slice(text.indexOf("\r\n\r\n") + 4) };
}
const local = { Host: `127.0.0.1:${ADMIN}` };

beforeAll(async () => {
  writeFileSync(
    `${dir}/relay.json`,
    JSON.stringify({
      mode: "server",
      listen: ["127.0.0.1:0"],
      admin: { listen: `127.0.0.1:${ADMIN}`, hosts: ["relay.internal"] },
      clients: [
        { mux: 1, passphrase: SECRETS[1], routes: ["10.99.0.1/32"] },
        { name: "other", mux: 2, passphrase: "another client's secret", routes: ["10.98.0.0/24"] },
      ],
      sync: { listen: "127.0.0.1:0", key: SECRETS[0], readyGraceMs: 0 },
      plugins: [{ use: "routes" }],
      log: ["stderr:2"],
      drainSeconds: 0,
    }),
  );
  relay = Bun.spawn([process.execPath, `${ROOT}relay.ts`, "--config", `${dir}/relay.json`], {
    env: process.env,
    stdout: "ignore",
    stderr: "inherit",
  });
  for (let i = 0; i < 100; i++) {
    if ((await raw("GET", "/readyz", local).catch(() => ({ status: 0 }))).status === 200) return;
    await Bun.sleep(50);
  }
  throw new Error("relay did not become ready");
});
afterAll(async () => {
  relay.kill("SIGTERM");
  await relay.exited;
  rmSync(dir, { recursive: true, force: true });
});

test("no view and no metric carries a secret", async () => {
  for (const path of ["/v1/config", "/v1/clients", "/v1/peers", "/v1/plugins", "/v1/routes", "/metrics"]) {
    const r = await raw("GET", path, local);
    expect(r.status).toBe(200);
    for (const secret of SECRETS) expect(r.body).not.toContain(secret);
  }
  const cfg = JSON.parse((await raw("GET", "/v1/config", local)).body) as { sync: { key: string } };
  expect(cfg.sync.key).toBe("(set)");
});

test("a foreign Host (DNS rebinding) gets 421 on every route; IP literals, localhost and admin.hosts pass", async () => {
  for (const [m, p] of [
    ["GET", "/v1/config"],
    ["GET", "/readyz"],
    ["POST", "/drain"],
    ["PUT", "/v1/routes"],
  ])
    expect((await raw(m!, p!, { Host: "attacker.example" })).status).toBe(421);
  expect((await raw("GET", "/v1/clients", { Host: "attacker.example:8080" })).status).toBe(421);
  expect((await raw("GET", "/v1/clients", { Host: "127.0.0.1.attacker.example" })).status).toBe(421);
  for (const host of [`127.0.0.1:${ADMIN}`, `localhost:${ADMIN}`, "[::1]", "relay.internal", "RELAY.internal:1"])
    expect((await raw("GET", "/v1/clients", { Host: host })).status).toBe(200);
});

test("state-changing requests from a web page are refused and change nothing", async () => {
  const drain = (h: Record<string, string>, body = "") => raw("POST", "/drain", { ...local, ...h }, body);
  expect((await drain({ Origin: "http://attacker.example" })).status).toBe(403);
  expect((await drain({ Origin: "null" })).status).toBe(403);
  expect((await drain({ "Sec-Fetch-Site": "cross-site" })).status).toBe(403);
  expect((await drain({ "Content-Type": "text/plain" }, "x")).status).toBe(415);
  expect((await drain({ "Content-Type": "application/x-www-form-urlencoded" }, "a=1")).status).toBe(415);
  expect((await drain({ "Content-Type": "multipart/form-data; boundary=x" }, "--x--")).status).toBe(415);
  const route = JSON.stringify({ prefix: "10.99.0.128/25", mux: 1 });
  expect((await raw("PUT", "/v1/routes", { ...local, "Content-Type": "text/plain" }, route)).status).toBe(415);
  expect(
    (
      await raw(
        "PUT",
        "/v1/routes",
        { ...local, Origin: "https://attacker.example", "Content-Type": "application/json" },
        route,
      )
    ).status,
  ).toBe(403);
  expect((await raw("GET", "/readyz", local)).status).toBe(200); // still ready: nothing drained
  expect((await raw("GET", "/v1/routes", local)).body).not.toContain("10.99.0.128/25");
  // a body past 64 KiB is refused before it is read
  const big = JSON.stringify({ prefix: "10.99.0.0/24", mux: 1, pad: "x".repeat(70 * 1024) });
  expect((await raw("PUT", "/v1/routes", { ...local, "Content-Type": "application/json" }, big)).status).toBe(413);
  // same-origin JSON works
  expect(
    (
      await raw(
        "PUT",
        "/v1/routes",
        { ...local, Origin: `http://127.0.0.1:${ADMIN}`, "Content-Type": "application/json" },
        route,
      )
    ).status,
  ).toBe(200);
  // ... but not into another client's configured prefix (more specific or covering): 409
  for (const prefix of ["10.98.0.128/25", "10.0.0.0/8"]) {
    const r = await raw(
      "PUT",
      "/v1/routes",
      { ...local, "Content-Type": "application/json" },
      JSON.stringify({ prefix, mux: 1 }),
    );
    expect([prefix, r.status]).toEqual([prefix, 409]);
    expect(r.body).toContain("overlaps a configured route of client other (mux 2)");
  }
});

test("a plain curl -X POST /drain (no Origin, no body) still drains", async () => {
  expect((await raw("POST", "/drain", local)).status).toBe(200);
  expect((await raw("GET", "/readyz", local)).status).toBe(503);
});

test("POST /v1/clients/:mux/reset: unknown or malformed mux 404, cross-site refused, a real one bumps the epoch", async () => {
  for (const mux of ["abc", "70000", "-1", "1.5", "3"])
    expect((await raw("POST", `/v1/clients/${mux}/reset`, local)).status).toBe(404);
  expect((await raw("POST", "/v1/clients/1/reset", { ...local, Origin: "http://attacker.example" })).status).toBe(403);
  const r = await raw("POST", "/v1/clients/1/reset", local);
  expect(r.status).toBe(200);
  expect(JSON.parse(r.body)).toEqual({ mux: 1, epoch: 1 });
  const view = JSON.parse((await raw("GET", "/v1/clients", local)).body) as { replay: { epoch: number } }[];
  expect(view[0]!.replay.epoch).toBe(1);
});
