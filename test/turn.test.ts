// Load shedding per event-loop turn (transport/turn.ts, config loopBudgetMs): a burst that one
// turn cannot finish within the budget is partly dropped as "overload" before any crypto, and a
// timer set before the burst still fires on time instead of after the whole burst.
import { afterAll, expect, test } from "bun:test";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { Server } from "../src/server.ts";
import { turnElapsed } from "../src/transport/turn.ts";
import { BUILTIN } from "../plugins/index.ts";
import { Client, ipv4, until } from "./lib/satp-client.ts";

const opened: { stop(): void }[] = [];
afterAll(() => {
  for (const o of opened) o.stop();
});

test("turnElapsed: 0 for the first callback of a turn, growing within it, 0 again next turn", async () => {
  await Bun.sleep(1); // a fresh turn
  const t0 = performance.now();
  expect(turnElapsed(t0)).toBe(0);
  expect(turnElapsed(t0 + 7)).toBe(7);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  expect(turnElapsed(t0 + 100)).toBe(0);
});

test("loopBudgetMs defaults to 0: no shedding", () => {
  expect(validateConfig({ mode: "server" }).loopBudgetMs).toBe(0);
  expect(() => validateConfig({ mode: "server", loopBudgetMs: -1 })).toThrow("loopBudgetMs");
});

test("a burst past loopBudgetMs is shed (counted overload), the rest is served, timers keep running", async () => {
  const cfg = validateConfig({
    mode: "server",
    listen: ["127.0.0.1:0"],
    admin: { enabled: false },
    loopBudgetMs: 2,
    udpBuffers: { receive: 8 << 20, send: 0 },
    clients: [
      { mux: 1, passphrase: "pass a", routes: ["10.99.0.1/32"] },
      { mux: 2, passphrase: "pass b", routes: ["10.99.0.2/32"] },
    ],
  });
  const server = await Server.start(cfg, new Logger([], "text"), BUILTIN, process.cwd());
  opened.push(server);
  const port = server.listeners[0]!.udp.port;
  const a = new Client(1, "pass a");
  const b = new Client(2, "pass b");
  await Promise.all([a.open(), b.open()]);
  opened.push({ stop: () => (a.sock.close(), b.sock.close()) });
  b.send(port, ipv4("10.99.0.2", "10.99.0.9", "hello"));
  await until("b known", () => server.conns.get(2)!.endpoint !== null);

  // 3000 sealed packets queued in the kernel at once: one receive turn on the server's side.
  const inner = ipv4("10.99.0.1", "10.99.0.2", "x".repeat(1000));
  for (let i = 0; i < 3000; i++) a.send(port, inner);
  let late = -1;
  const armedAt = performance.now();
  setTimeout(() => void (late = performance.now() - armedAt - 5), 5);
  await until("the burst handled", () => server.drops.overload + server.conns.get(1)!.rxPackets >= 2500, 5000);
  await until("timer fired", () => late >= 0, 2000);
  const served = server.conns.get(1)!.rxPackets;
  console.log(
    `  3000-packet burst, budget 2 ms: served ${served}, shed ${server.drops.overload}, timer ${late.toFixed(1)} ms late`,
  );
  expect(server.drops.overload).toBeGreaterThan(0);
  expect(served).toBeGreaterThan(0);
  expect(server.drops.auth + server.drops.replay).toBe(0);
});
