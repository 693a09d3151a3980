// The server in-process on loopback (no root): UDP "clients" built from our own SATP codec talk
// to Server on port 0; routing, broadcast fan-out, drops, reload, and the admin API over HTTP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { adminApp } from "../src/admin.ts";
import { validateConfig, type Config } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import { Client, ipv4, until } from "./lib/satp-client.ts";

const quiet = new Logger([], "text");
const TOKEN = "test-token-0123456789";

function config(extra: Record<string, unknown> = {}): Config {
  return validateConfig({
    mode: "server",
    listen: ["127.0.0.1:0"],
    admin: { listen: "127.0.0.1:0", token: TOKEN },
    clients: [
      { name: "a", mux: 1, passphrase: "pass a", routes: ["10.99.0.1/32"] },
      { name: "b", mux: 2, passphrase: "pass b", routes: ["10.99.0.2/32", "10.98.0.0/25"] },
      { name: "c", mux: 3, passphrase: "pass c", routes: ["10.99.0.3/32"] },
    ],
    plugins: [{ use: "routes", networks: ["10.99.0.0/24"] }],
    ...extra,
  });
}

describe("server on loopback", () => {
  let server: Server;
  let http: ReturnType<typeof Bun.serve>;
  let port = 0;
  const a = new Client(1, "pass a");
  const b = new Client(2, "pass b");
  const c = new Client(3, "pass c");
  const url = (p: string) => `http://127.0.0.1:${http.port}${p}`;
  const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
  const metric = async (line: RegExp) => {
    const text = await (await fetch(url("/metrics"), auth)).text();
    const m = text.split("\n").find((l) => line.test(l));
    return m === undefined ? undefined : Number(m.split(" ").pop());
  };

  beforeAll(async () => {
    server = await Server.start(config(), quiet, BUILTIN, process.cwd());
    port = server.listeners[0]!.udp.port;
    http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: adminApp(server).fetch });
    await Promise.all([a.open(), b.open(), c.open()]);
    // every client speaks once so the server learns its endpoint (keepalive-like first packet)
    for (const x of [a, b, c]) x.send(port, ipv4(`10.99.0.${x.mux}`, "10.200.0.1", "hello"));
    await until("endpoints", () => server.conns.all().every((x) => x.endpoint !== null));
  });
  afterAll(() => {
    server.stop();
    http.stop(true);
    for (const x of [a, b, c]) x.sock.close();
  });

  test("unicast goes to the client whose route covers the destination, decrypted intact", async () => {
    const inner = ipv4("10.99.0.1", "10.99.0.2", "a to b");
    a.send(port, inner);
    await until("b receives", () => b.got.length > 0);
    expect(b.got.at(-1)).toEqual(inner);
    const inner2 = ipv4("10.99.0.1", "10.98.0.100", "a to b's /25");
    a.send(port, inner2);
    await until("b receives /25", () => b.got.length > 1);
    expect(b.got.at(-1)).toEqual(inner2);
    expect(a.got.length).toBe(0);
    expect(c.got.length).toBe(0);
  });

  test("broadcast to the network and 255.255.255.255 fan out to every other client", async () => {
    const [nb, nc] = [b.got.length, c.got.length];
    a.send(port, ipv4("10.99.0.1", "10.99.0.255", "subnet broadcast"));
    a.send(port, ipv4("10.99.0.1", "255.255.255.255", "limited broadcast"));
    a.send(port, ipv4("10.99.0.1", "224.0.0.251", "multicast"));
    await until("fan-out", () => b.got.length === nb + 3 && c.got.length === nc + 3);
    expect(a.got.length).toBe(0);
  });

  test("no route, wrong mux, bad tag: counted drops, nothing delivered", async () => {
    const before = [a.got.length, b.got.length, c.got.length];
    a.send(port, ipv4("10.99.0.1", "192.0.2.77", "nowhere"));
    a.send(port, ipv4("10.99.0.1", "10.99.0.2", "wrong mux"), 99);
    a.sock.send(new Uint8Array(40), port, "127.0.0.1"); // mux 0: no such client
    const forged = new Uint8Array(60);
    forged[7] = 2; // mux 2, garbage tag
    a.sock.send(forged, port, "127.0.0.1");
    await until("drops counted", () => server.drops.noroute >= 1 && server.drops.mux >= 2 && server.drops.auth >= 1);
    expect([a.got.length, b.got.length, c.got.length]).toEqual(before);
    expect(server.conns.get(2)!.endpoint!.port).toBe(b.sock.port); // a forged packet moved nothing
  });

  test("a client's send counter never wraps: at 2^32 packets the server refuses to send", async () => {
    const conn = server.conns.get(3)!;
    const saved = conn.seq;
    conn.seq = 0xffffffff;
    const n = c.got.length;
    a.send(port, ipv4("10.99.0.1", "10.99.0.3", "last seq"));
    await until("last one delivered", () => c.got.length === n + 1);
    a.send(port, ipv4("10.99.0.1", "10.99.0.3", "would wrap"));
    await until("refused", () => server.drops.exhausted === 1);
    expect(conn.seq).toBe(0x1_0000_0000);
    conn.seq = saved;
    await Bun.sleep(20);
    expect(c.got.length).toBe(n + 1);
  });

  test("metrics parse as Prometheus text and count what was sent", async () => {
    const res = await fetch(url("/metrics"), auth);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    for (const l of text.trimEnd().split("\n"))
      expect(l).toMatch(/^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{([a-z]+="[^"]*",?)+\})? -?[0-9.e+]+)$/);
    expect(await metric(/^relay_client_packets_total\{mux="1",client="a",direction="in"\}/)).toBe(a.seq - 1); // one had mux 99
    expect(await metric(/^relay_client_packets_total\{mux="2",client="b",direction="out"\}/)).toBe(b.got.length);
    expect(await metric(/^relay_drops_total\{reason="noroute"\}/)).toBe(server.drops.noroute);
    expect(await metric(/^relay_drops_total\{reason="auth"\}/)).toBeGreaterThanOrEqual(1);
    expect(await metric(/^relay_clients /)).toBe(3);
  });

  test("JSON views", async () => {
    const clients = (await (await fetch(url("/v1/clients"), auth)).json()) as { mux: number; endpoint: unknown }[];
    expect(clients.map((x) => x.mux)).toEqual([1, 2, 3]);
    expect(clients.every((x) => x.endpoint !== null)).toBe(true);
    const routes = (await (await fetch(url("/v1/routes"), auth)).json()) as {
      routes: { prefix: string; mux: number }[];
    };
    expect(routes.routes).toContainEqual({ prefix: "10.98.0.0/25", mux: 2 });
    const plugins = (await (await fetch(url("/v1/plugins"), auth)).json()) as { name: string }[];
    expect(plugins.map((p) => p.name)).toEqual(["routes"]);
    const cfg = JSON.stringify(await (await fetch(url("/v1/config"), auth)).json());
    expect(cfg).not.toContain("pass a");
    expect(cfg).not.toContain(TOKEN);
  });

  test("token: refused without it or with a wrong one; health stays open", async () => {
    expect((await fetch(url("/metrics"))).status).toBe(401);
    expect((await fetch(url("/v1/clients"), { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    expect((await fetch(url("/drain"), { method: "POST" })).status).toBe(401);
    expect((await fetch(url("/healthz"))).status).toBe(200);
    expect((await fetch(url("/nope"), auth)).status).toBe(404);
  });

  test("reload keeps sessions of unchanged clients and applies new ones", async () => {
    const seqB = server.conns.get(2)!.seq;
    const next = config();
    next.clients = [
      ...next.clients.slice(0, 2),
      { name: "d", mux: 4, passphrase: "pass d", routes: ["10.99.0.4/32"], role: "left" },
    ];
    await server.reload(next);
    expect(server.conns.get(3)).toBeUndefined();
    expect(server.conns.get(2)!.seq).toBe(seqB);
    expect(server.conns.get(2)!.endpoint).not.toBeNull();
    const n = b.got.length;
    a.send(port, ipv4("10.99.0.1", "10.99.0.2", "after reload"));
    await until("b after reload", () => b.got.length === n + 1);
    await expect(server.reload({ ...next, plugins: [{ use: "nonexistent" }] })).rejects.toThrow(
      /not a built-in plugin/,
    );
    expect(server.chain.entries.map((e) => e.name)).toEqual(["routes"]); // old chain still there
  });

  test("drain flips readiness", async () => {
    expect((await fetch(url("/readyz"))).status).toBe(200);
    expect((await fetch(url("/drain"), { method: "POST", ...auth })).status).toBe(200);
    const r = await fetch(url("/readyz"));
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ ready: false, state: "draining", reason: "draining" });
  });
});

describe("server config", () => {
  test("refuses a non-loopback admin address without a token", () => {
    expect(() => validateConfig({ mode: "server", admin: { listen: "0.0.0.0:8080" } })).toThrow(
      /admin.token: required/,
    );
    expect(() => validateConfig({ mode: "server", admin: { listen: "[::1]:8080" } })).not.toThrow();
  });
  test("duplicate mux and missing key material are field errors", () => {
    expect(() =>
      validateConfig({ clients: [{ mux: 1, passphrase: "x" }, { mux: 1, passphrase: "y" }, { mux: 2 }] }),
    ).toThrow(/clients\.1\.mux: 1 is already used by clients\.0[\s\S]*clients\.2\.passphrase: no key material/);
  });
  test("plugin options are validated by the plugin's schema", async () => {
    const cfg = config({ plugins: [{ use: "routes", networks: ["10.99.0.1/24"], bogus: 1 }] });
    await expect(Server.start(cfg, quiet, BUILTIN, process.cwd())).rejects.toThrow(
      /plugins\.0\.networks\.0: .*host bits[\s\S]*plugins\.0\.bogus: unknown key \(not an option of plugin routes\)/,
    );
  });
});
