// Process policy (relay.ts exitOnUncaught) and the packet-callback guards (transport/udp.ts,
// tun.ts): a throw on the receive path of one datagram is a counted drop and the socket keeps
// reading; a throw that escapes every guard (here: a plugin's timer) is logged with its stack
// and ends the process with 70 so the supervisor restarts it — it never runs on.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { UdpTransport } from "../src/transport/udp.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const dir = mkdtempSync(`${tmpdir()}/relay-process-`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a datagram whose receive path throws is dropped and counted; the next one is read", async () => {
  const got: string[] = [];
  const errors: Error[] = [];
  const u = await UdpTransport.open(
    "127.0.0.1",
    0,
    (buf) => {
      const t = Buffer.from(buf).toString();
      if (t === "bad") throw new Error("a bug on the receive path");
      got.push(t);
    },
    (e) => void errors.push(e),
  );
  const tx = await Bun.udpSocket({ port: 0 });
  for (const m of ["one", "bad", "two"]) tx.send(Buffer.from(m), u.port, "127.0.0.1");
  for (let i = 0; i < 100 && got.length < 2; i++) await Bun.sleep(10);
  expect(got).toEqual(["one", "two"]);
  expect(u.stats.rxCallbackErrors).toBe(1);
  expect(errors.map((e) => e.message)).toEqual(["a bug on the receive path"]);
  tx.close();
  u.close();
});

test("an exception that escapes every guard ends the relay with exit code 70, logged with its stack", async () => {
  writeFileSync(
    `${dir}/boom.ts`,
    `import * as v from "valibot";
     import { definePlugin, NEXT } from "anytun-relay/plugin";
     export default definePlugin({
       name: "boom",
       options: v.strictObject({}),
       create() {
         setTimeout(() => { throw new Error("boom from a plugin timer"); }, 300);
         return { packet: () => NEXT };
       },
     });`,
  );
  writeFileSync(
    `${dir}/relay.json`,
    JSON.stringify({
      mode: "server",
      listen: ["127.0.0.1:0"],
      admin: { enabled: false },
      plugins: [{ use: "./boom.ts" }, { use: "routes" }],
      log: ["stderr:3"],
    }),
  );
  const p = Bun.spawn([process.execPath, `${ROOT}relay.ts`, "--config", `${dir}/relay.json`], {
    env: process.env,
    stdout: "ignore",
    stderr: "pipe",
  });
  const code = await p.exited;
  const err = await new Response(p.stderr).text();
  expect(code).toBe(70);
  expect(err).toContain("uncaught exception: exiting so the supervisor restarts the relay");
  expect(err).toContain("boom from a plugin timer");
  expect(err).toContain("boom.ts");
}, 15000);
