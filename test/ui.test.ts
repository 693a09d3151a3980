// The admin status page (/ui) in a real headless Chromium (Debian's `chromium`) against a real
// relay process with an admin token: the page loads, asks nothing when given `#token=`, shows
// the clients; after a known burst of 5,000 packets its counts equal /v1/clients'; a screenshot
// is taken. The page's files carry no data, the data needs the token, and a foreign Host is 421.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { Client, ipv4 } from "./lib/satp-client.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const chromium = Bun.which("chromium") ?? Bun.which("chromium-browser");
const dir = mkdtempSync(`${tmpdir()}/relay-ui-`);
const ADMIN = 24400 + (process.pid % 400);
const UDP = ADMIN + 1000;
const TOKEN = "ui test admin token";
const BASE = `http://127.0.0.1:${ADMIN}`;
let relay: Subprocess;
const a = new Client(1, "secret of a");
const b = new Client(2, "secret of b");

/** Chromium's DOM of the page after its script ran for a while (virtual time). */
async function pageDom(extra: string[] = []): Promise<string> {
  const p = Bun.spawn(
    [
      chromium!,
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      `--user-data-dir=${dir}/chromium`,
      "--virtual-time-budget=4000",
      ...extra,
      "--dump-dom",
      `${BASE}/ui#token=${encodeURIComponent(TOKEN)}`,
    ],
    { stdout: "pipe", stderr: "ignore" },
  );
  const t = setTimeout(() => p.kill(), 30000);
  const dom = await new Response(p.stdout).text();
  await p.exited;
  clearTimeout(t);
  return dom;
}
const cellOf = (dom: string, mux: number, cls: string) =>
  Number(new RegExp(`<tr data-key="${mux}">.*?<td class="n ${cls}">(\\d+)</td>`).exec(dom)?.[1]);

describe.skipIf(chromium === null)("status page in headless Chromium", () => {
  beforeAll(async () => {
    writeFileSync(
      `${dir}/relay.json`,
      JSON.stringify({
        mode: "server",
        listen: [`127.0.0.1:${UDP}`],
        admin: { listen: `127.0.0.1:${ADMIN}`, token: TOKEN },
        clients: [
          { name: "alpha", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32"] },
          { name: "bravo", mux: 2, passphrase: "secret of b", routes: ["10.99.0.2/32"] },
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
      if ((await fetch(`${BASE}/readyz`).catch(() => null))?.status === 200) break;
      await Bun.sleep(25);
    }
    await a.open();
    await b.open();
  });
  afterAll(() => {
    relay.kill();
    a.sock.close();
    b.sock.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the page loads and shows the relay's clients", async () => {
    const dom = await pageDom();
    expect(dom).toContain('<span id="state" class="state ready">ready</span>');
    expect(dom).toMatch(/<tr data-key="1"><td>alpha<\/td>/);
    expect(dom).toMatch(/<tr data-key="2"><td>bravo<\/td>/);
    expect(dom).toContain("<polyline");
  }, 40000);

  test("after a burst of 5,000 packets the page's counts equal /v1/clients'; a screenshot", async () => {
    b.send(UDP, ipv4("10.99.0.2", "10.99.0.1", "bravo is here"));
    await Bun.sleep(100); // bravo's endpoint known before the burst
    for (let i = 0; i < 5000; i++) {
      a.send(UDP, ipv4("10.99.0.1", "10.99.0.2", `burst ${i}`));
      if (i % 250 === 249) await Bun.sleep(2);
    }
    type View = { mux: number; packets: { in: number; out: number }; bytes: { in: number; out: number } }[];
    const clients = async () =>
      (await (await fetch(`${BASE}/v1/clients`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as View;
    let api: View = [];
    for (let i = 0; i < 100; i++) {
      api = await clients();
      if (api.find((c) => c.mux === 1)!.packets.in >= 5000) break;
      await Bun.sleep(50);
    }
    await pageDom([`--screenshot=${dir}/status.png`, "--window-size=1200,800"]);
    const dom = await pageDom();
    const want = api.find((c) => c.mux === 1)!;
    const got = {
      in: cellOf(dom, 1, "packets-in"),
      bytesIn: cellOf(dom, 1, "bytes-in"),
      bravoOut: cellOf(dom, 2, "packets-out"),
    };
    console.log(
      `  status page: alpha ${got.in} packets in (API ${want.packets.in}), ${got.bytesIn} bytes; bravo ${got.bravoOut} out (API ${api.find((c) => c.mux === 2)!.packets.out}); screenshot ${statSync(`${dir}/status.png`).size} bytes`,
    );
    expect(want.packets.in).toBe(5000);
    expect(got.in).toBe(want.packets.in);
    expect(got.bytesIn).toBe(want.bytes.in);
    expect(got.bravoOut).toBe(api.find((c) => c.mux === 2)!.packets.out);
    expect(statSync(`${dir}/status.png`).size).toBeGreaterThan(5000);
  }, 60000);

  test("the page's files need no token but hold no data; the data does; a foreign Host is 421", async () => {
    const page = await fetch(`${BASE}/ui`);
    expect(page.status).toBe(200);
    expect(page.headers.get("Content-Security-Policy")).toContain("frame-ancestors 'none'");
    expect(await page.text()).not.toContain("alpha");
    expect((await fetch(`${BASE}/v1/status`)).status).toBe(401);
    expect((await fetch(`${BASE}/ui`, { headers: { Host: "attacker.example" } })).status).toBe(421);
  });
});
