// The single binary (`npm run build` = bun build --compile): built into a temp directory, it
// answers --version/--help, refuses a bad config with exit code 2, loads a plugin by path
// (the relay provides "anytun-relay/plugin" and "valibot" to it), and — as root — runs the
// anycast e2e file (route flip with real anytun clients, sync, replay, kill -9) instead of
// `bun relay.ts` (RELAY_BIN).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { BUN, have, isRoot, ROOT } from "../lib/netns.ts";

const dir = mkdtempSync(`${tmpdir()}/relay-binary-`);
const bin = `${dir}/anytun-relay`;
const run = (args: string[], cwd = dir) =>
  Bun.spawnSync([bin, ...args], { cwd, stdout: "pipe", stderr: "pipe", env: process.env });

beforeAll(() => {
  const b = Bun.spawnSync([BUN, "build", "--compile", `${ROOT}relay.ts`, "--outfile", bin], {
    cwd: ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  if (b.exitCode !== 0) throw new Error(`build failed: ${b.stderr.toString()}`);
}, 60000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the binary answers --version and --help, and refuses a bad config with exit code 2", () => {
  expect(run(["--version"]).stdout.toString()).toMatch(/^anytun-relay \d+\.\d+\.\d+ \(bun /);
  expect(run(["--help"]).stdout.toString()).toContain("--sync-hosts");
  const bad = run(["--mode", "server", "-p", "nope"]);
  expect(bad.exitCode).toBe(2);
  expect(bad.stderr.toString()).toContain("config error: port:");
});

test("the binary loads examples/server.json with its plugin by path, from any directory", async () => {
  const p = Bun.spawn(
    [
      bin,
      "--config",
      `${ROOT}examples/server.json`,
      "-l",
      "127.0.0.1:0",
      "--admin-listen",
      "127.0.0.1:0",
      "--drain-seconds",
      "0",
      "-L",
      "stdout:3",
    ],
    {
      cwd: "/",
      stdout: "pipe",
      stderr: "pipe",
      env: process.env,
    },
  );
  const reader = p.stdout.getReader();
  let out = "";
  const end = Date.now() + 10000;
  while (!out.includes('"server ready"') && Date.now() < end) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  p.kill("SIGTERM");
  await p.exited;
  expect(out).toContain('"plugins":"steer,routes"');
}, 20000);

test.skipIf(!(isRoot && have("anytun")))(
  "as root: the anycast e2e test passes with the binary in place of bun relay.ts",
  () => {
    const r = Bun.spawnSync([BUN, "test", "test/e2e/anycast.test.ts"], {
      cwd: ROOT,
      env: { ...process.env, RELAY_BIN: bin },
      stdout: "pipe",
      stderr: "pipe",
    });
    const text = r.stderr.toString();
    const summary = /(\d+) pass\n\s*(\d+) fail/.exec(text);
    console.log(`  anycast e2e with the binary: ${summary ? `${summary[1]} pass, ${summary[2]} fail` : "no summary"}`);
    for (const line of text.split("\n"))
      if (line.startsWith("(fail)") || line.startsWith("error:")) console.log(`    ${line}`);
    expect(r.exitCode).toBe(0);
    expect(Number(summary?.[2] ?? 1)).toBe(0);
    expect(Number(summary?.[1] ?? 0)).toBeGreaterThanOrEqual(6);
  },
  180000,
);
