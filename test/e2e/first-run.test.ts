// An operator's first run on a fresh machine (root): a clean clone in a 0700 directory (as root's
// home is on Debian), the README's install command, `npm start` in a namespace S, and the client
// command the banner prints run exactly as printed in a namespace C whose PATH has no `bun`; the
// client then pings the address the banner names (answered by the server itself). The quick
// container test (run as an unprivileged user) passes in that 0700 clone too.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { have, isRoot, Lab, pingReceived, ROOT, run } from "../lib/netns.ts";

const ready = isRoot && have("git") && have("npm") && have("ping");
if (!ready) console.warn("e2e first-run: skipped (needs root, git, npm, ping)");

describe.skipIf(!ready)("first run from a fresh clone in a 0700 directory (namespaces)", () => {
  const lab = new Lab("fr");
  const home = mkdtempSync(`${tmpdir()}/relay-home-`);
  const clone = `${home}/anytun-relay`;
  const PATH = "/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"; // node and npm, no bun
  let s = "";
  let c = "";
  let banner = "";
  let remote: Subprocess | undefined;

  beforeAll(async () => {
    chmodSync(home, 0o700);
    run(["git", "clone", "-q", ROOT, clone]);
    const t = performance.now();
    run(["sh", "-c", `cd '${clone}' && npm install --no-audit --no-fund --prefer-offline >/dev/null 2>&1`]);
    console.log(`  npm install in the fresh clone: ${((performance.now() - t) / 1000).toFixed(1)} s`);
    s = lab.ns("s");
    c = lab.ns("c");
    lab.link(s, "10.220.0.1/24", c, "10.220.0.2/24");
    // `npm start`, as the README says, from the clone, in S
    lab.spawn(s, ["sh", "-c", `cd '${clone}' && PATH=${PATH} exec npm start --silent`], `${home}/server.log`);
    await lab.until(
      "the banner",
      () => {
        banner = run(["cat", `${home}/server.log`], { ok: true });
        return banner.includes("Configure your own clients");
      },
      30000,
    );
  }, 120000);

  afterAll(async () => {
    await lab.cleanup();
    rmSync(home, { recursive: true, force: true });
  });

  test("the banner names this host's address and prints a client command that works as printed, without bun on PATH", async () => {
    console.log(banner.replace(/^/gm, "  | ").trimEnd());
    const line = banner
      .split("\n")
      .find((l) => l.trim().startsWith("npx bun relay.ts -r "))!
      .trim();
    expect(line).toContain("-r 10.220.0.1 "); // S's real address, not SERVER_ADDRESS
    expect(run(["sh", "-c", `PATH=${PATH} command -v bun || echo none`]).trim()).toBe("none");
    remote = lab.spawn(c, ["sh", "-c", `cd '${clone}' && PATH=${PATH} exec ${line} -d sat0`], `${home}/client.log`);
    await lab.until("the client's device", () => lab.hasDevice(c, "sat0"), 20000);
    const target = /then: ping (\S+)/.exec(banner)![1]!;
    let got = 0;
    for (let i = 0; i < 40 && got === 0; i++) {
      got = pingReceived(lab.exec(c, ["ping", "-c", "1", "-W", "1", target], { ok: true }));
      if (got === 0) await Bun.sleep(250);
    }
    const pings = pingReceived(lab.exec(c, ["ping", "-c", "10", "-i", "0.1", "-w", "5", target], { ok: true }));
    console.log(`  client as printed: ping ${target} ${pings}/10`);
    expect(pings).toBe(10);
    // connects are visible at the default log level
    expect(run(["cat", `${home}/server.log`])).toContain('msg="client endpoint learned"');
  }, 60000);

  test("the banner's same-host command works too (next to the server, in S)", async () => {
    const line = /On this host.*?\): (npx bun relay\.ts .*)$/m.exec(banner)![1]!.trim();
    if (remote) await lab.stop(remote); // one client per mux at a time
    // its own state directory: the other host's client (same mux, same sender id) is not on this host
    lab.spawn(
      s,
      ["sh", "-c", `cd '${clone}' && PATH=${PATH} STATE_DIRECTORY='${home}/state-s' exec ${line}`],
      `${home}/client-s.log`,
    );
    await lab
      .until("the same-host client's device", () => lab.hasDevice(s, "demo0"), 20000)
      .catch((e) => {
        console.log(run(["cat", `${home}/client-s.log`], { ok: true }));
        throw e;
      });
    let got = 0;
    for (let i = 0; i < 40 && got === 0; i++) {
      got = pingReceived(lab.exec(s, ["ping", "-c", "1", "-W", "1", "-I", "demo0", "10.99.0.1"], { ok: true }));
      if (got === 0) await Bun.sleep(250);
    }
    expect(got).toBe(1);
  }, 60000);

  test("the quick container test, run as nobody, passes in the 0700 clone", () => {
    const out = run(["sh", "-c", `cd '${clone}' && PATH=${PATH} npx bun test test/dockerfile.test.ts 2>&1`], {
      ok: true,
    });
    expect(out).toMatch(/\b2 pass\b/);
    expect(out).toMatch(/\b0 fail\b/);
  }, 60000);
});
