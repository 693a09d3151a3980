// Reload (SIGHUP → Server.reload) and plugins: a plugin file changed on disk is evaluated again,
// an unchanged one is not; plugin counters and PluginContext.keep state survive the re-creation,
// so quotas and byte counts are not reset by a reload.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import { Client, ipv4, until } from "./lib/satp-client.ts";

const dir = mkdtempSync(`${tmpdir()}/relay-reload-`);
const file = `${dir}/tag.ts`;
const plugin = (tag: string) => `
import * as v from "valibot";
import { definePlugin, drop } from "anytun-relay/plugin";
export default definePlugin({
  name: "tag",
  options: v.strictObject({}),
  create(ctx) {
    const seen = ctx.keep("seen", () => ({ n: 0 }));
    const hits = ctx.counter("hits");
    return {
      handle() {
        seen.n++;
        hits.inc();
        return drop("${tag}-" + seen.n);
      },
      stop() {},
    };
  },
});`;
let s: Server;
const c = new Client(1, "reload test");
afterAll(() => {
  s?.stop();
  c.sock?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a changed plugin file is loaded again on reload; its counters and kept state carry on", async () => {
  writeFileSync(file, plugin("first"));
  const cfg = () =>
    validateConfig({
      mode: "server",
      senderId: 77, // its own counter file: other tests' servers may still hold sender id 0
      listen: ["127.0.0.1:0"],
      clients: [{ mux: 1, passphrase: "reload test", routes: ["10.99.0.1/32"] }],
      plugins: [{ use: file }],
    });
  s = await Server.start(cfg(), new Logger([], "text"), BUILTIN, dir);
  await c.open();
  const port = s.listeners[0]!.udp.port;
  const send = () => c.send(port, ipv4("10.99.0.1", "10.99.0.2", "x"));
  send();
  send();
  await until("first version ran twice", () => s.pluginDrops.get("tag-first-2") === 1);

  // unchanged file: reload keeps the version; changed file: the new one runs
  await s.reload(cfg());
  send();
  await until("still the first version", () => s.pluginDrops.get("tag-first-3") === 1);
  writeFileSync(file, plugin("second"));
  utimesSync(file, new Date(), new Date(Date.now() + 2000)); // a different mtime, whatever the clock's grain
  await s.reload(cfg());
  send();
  await until("the second version, counting on from 3", () => s.pluginDrops.get("tag-second-4") === 1);
  expect(s.pluginEvents.get("tag\u0000hits")).toBe(4);
});

test("a reload gives full anycast TCP its new settings (limits, buffers, keep-alive bounds)", async () => {
  const before = s.tcpAnycast.settings.maxFlows;
  const next = validateConfig({
    mode: "server",
    senderId: 77,
    listen: ["127.0.0.1:0"],
    clients: [{ mux: 1, passphrase: "reload test", routes: ["10.99.0.1/32"] }],
    plugins: [{ use: file }],
    tcp: { maxFlows: 123, keepaliveMaxMs: 30000, pendingMs: 2500 },
  });
  await s.reload(next);
  expect(before).toBe(10000);
  expect(s.tcpAnycast.settings).toMatchObject({ maxFlows: 123, keepaliveMaxMs: 30000, pendingMs: 2500 });
});
