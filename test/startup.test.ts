// Startup as an operator meets it (real `bun relay.ts` processes on loopback): every bind error
// names the address, the port and the protocol and says what it means; the admin API is bound
// before the relay says it is ready.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";

const ROOT = new URL("../", import.meta.url).pathname;
const dir = mkdtempSync(`${tmpdir()}/relay-startup-`);
let tcp: Bun.TCPSocketListener<undefined>;
let udp: Bun.udp.Socket<"buffer">;
beforeAll(async () => {
  tcp = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  udp = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0 });
});
afterAll(() => {
  tcp.stop(true);
  udp.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(cfg: object) {
  writeFileSync(`${dir}/relay.json`, JSON.stringify({ mode: "server", log: ["stderr:4"], drainSeconds: 0, ...cfg }));
  const p = Bun.spawn([process.execPath, `${ROOT}relay.ts`, "--config", `${dir}/relay.json`], {
    env: process.env,
    stdout: "ignore",
    stderr: "pipe",
  });
  const t = setTimeout(() => p.kill(), 10000);
  const code = await p.exited;
  clearTimeout(t);
  return { code, err: await new Response(p.stderr).text() };
}

test("a port in use: exit 1 and a message naming the listener, its address, port and protocol", async () => {
  const inUse = "the port is in use (another process listens there";
  const cases: [object, string][] = [
    [{ listen: [`127.0.0.1:${udp.port}`], admin: { enabled: false } }, `listen 127.0.0.1:${udp.port} (UDP): ${inUse}`],
    [
      { listen: ["127.0.0.1:0"], admin: { listen: `127.0.0.1:${tcp.port}` } },
      `admin.listen 127.0.0.1:${tcp.port} (TCP): ${inUse}`,
    ],
    [
      {
        listen: ["127.0.0.1:0"],
        admin: { enabled: false },
        sync: { listen: `127.0.0.1:${tcp.port}`, key: "startup test fleet key" },
      },
      `sync.listen 127.0.0.1:${tcp.port} (TCP): ${inUse}`,
    ],
    [
      {
        listen: ["127.0.0.1:0"],
        admin: { enabled: false },
        tcp: { listen: [`127.0.0.1:${tcp.port}`], advertise: `127.0.0.1:${tcp.port}` },
      },
      `tcp.listen 127.0.0.1:${tcp.port} (TCP): ${inUse}`,
    ],
  ];
  for (const [cfg, want] of cases) {
    const r = await start(cfg);
    expect([want, r.code]).toEqual([want, 1]);
    expect(r.err).toContain(`cannot start: ${want}`);
    expect(r.err).not.toContain("server ready");
  }
}, 30000);

test("the admin API is bound before the relay says it is ready", async () => {
  writeFileSync(
    `${dir}/ok.json`,
    JSON.stringify({ mode: "server", listen: ["127.0.0.1:0"], admin: { listen: "127.0.0.1:0" }, log: ["stderr:3"] }),
  );
  const p = Bun.spawn([process.execPath, `${ROOT}relay.ts`, "--config", `${dir}/ok.json`], {
    env: process.env,
    stdout: "ignore",
    stderr: "pipe",
  });
  const reader = p.stderr.getReader();
  let text = "";
  const end = Date.now() + 10000;
  while (!text.includes("server ready") && Date.now() < end) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  p.kill();
  await p.exited;
  expect(text).toContain("server ready");
  expect(text.indexOf('msg="admin listening"')).toBeGreaterThanOrEqual(0);
  expect(text.indexOf('msg="admin listening"')).toBeLessThan(text.indexOf('msg="server ready"'));
});

test("at the default log level: a client's connect is a line, and a wrong passphrase is one warning per 10 s", async () => {
  const { Client, ipv4 } = await import("./lib/satp-client.ts");
  const port = 25000 + (process.pid % 400);
  writeFileSync(
    `${dir}/auth.json`,
    JSON.stringify({
      mode: "server",
      listen: [`127.0.0.1:${port}`],
      admin: { enabled: false },
      clients: [{ name: "a", mux: 1, passphrase: "the right one", routes: ["10.99.0.1/32"] }],
      drainSeconds: 0,
    }),
  );
  const p = Bun.spawn([process.execPath, `${ROOT}relay.ts`, "--config", `${dir}/auth.json`], {
    env: process.env,
    stdout: "ignore",
    stderr: "pipe",
  });
  await Bun.sleep(800);
  const wrong = new Client(1, "a wrong passphrase");
  const right = new Client(1, "the right one");
  await wrong.open();
  await right.open();
  const ports = { wrong: wrong.sock.port, right: right.sock.port };
  for (let i = 0; i < 50; i++) wrong.send(port, ipv4("10.99.0.1", "10.99.0.2", `guess ${i}`));
  right.send(port, ipv4("10.99.0.1", "10.99.0.2", "hello"));
  await Bun.sleep(300);
  p.kill();
  await p.exited;
  wrong.sock.close();
  right.sock.close();
  const err = await new Response(p.stderr).text();
  const warnings = err.split("\n").filter((l) => l.includes("packet failed authentication"));
  expect(warnings.length).toBe(1);
  expect(warnings[0]).toContain(`level=warn`);
  expect(warnings[0]).toContain(`mux=1 from=127.0.0.1:${ports.wrong}`);
  expect(err).toContain(`msg="client endpoint learned" mux=1 endpoint=127.0.0.1:${ports.right}`);
});
