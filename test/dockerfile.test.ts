// The image itself is built and run by the slow container test (test/container/run.ts, podman).
// This quick one lints the Dockerfile and runs its CMD and HEALTHCHECK as the container would — the same files it copies, the config at its mount path
// (mapped to a temp file), as an unprivileged user (the image's USER bun) when we are root.
import { afterAll, expect, test } from "bun:test";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";

const ROOT = new URL("../", import.meta.url).pathname;
const text = readFileSync(`${ROOT}Dockerfile`, "utf8");
const lines = text
  .replace(/\\\n/g, " ")
  .split("\n")
  .filter((l) => l.trim() && !l.trimStart().startsWith("#"));
const instr = (name: string) => lines.filter((l) => l.trimStart().toUpperCase().startsWith(`${name} `));
const json = (l: string) => JSON.parse(l.slice(l.indexOf("["))) as string[];
const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { devDependencies: Record<string, string> };

test("lint: pinned bases matching our Bun, non-root user, healthcheck, JSON-form commands, no remote ADD", () => {
  const froms = instr("FROM");
  expect(froms.length).toBeGreaterThanOrEqual(2); // multi-stage
  const bun = pkg.devDependencies.bun!.replace(/^[\^~]/, "");
  for (const f of froms) {
    expect(f).toMatch(/^FROM oven\/bun:\d+\.\d+\.\d+(-slim)?( AS \w+)?$/);
    expect(f).toContain(`oven/bun:${bun}`);
  }
  expect(instr("ADD")).toEqual([]);
  const user = instr("USER");
  expect(user.length).toBe(1);
  expect(user[0]).not.toMatch(/root|\b0\b/);
  expect(lines.indexOf(user[0]!)).toBeLessThan(lines.indexOf(instr("CMD")[0]!));
  expect(instr("HEALTHCHECK").length).toBe(1);
  expect(instr("HEALTHCHECK")[0]).toContain('CMD ["');
  expect(instr("CMD").length).toBe(1);
  expect(instr("EXPOSE").join(" ")).toContain("4444/udp");
  for (const r of instr("RUN").filter((l) => l.includes("apt-get install"))) {
    expect(r).toContain("--no-install-recommends");
    expect(r).toContain("rm -rf /var/lib/apt/lists/*");
  }
  for (const c of instr("COPY").filter((l) => !l.includes("--from=")))
    for (const src of c.trim().split(/\s+/).slice(1, -1)) expect(existsSync(`${ROOT}${src}`)).toBe(true);
});

const dir = mkdtempSync(`${tmpdir()}/relay-image-`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the image's CMD starts the relay on the mounted config and its HEALTHCHECK passes", async () => {
  // the file set the image gets (COPY lines of the build stage) + its production node_modules
  const app = `${dir}/app`;
  for (const c of instr("COPY").filter((l) => !l.includes("--from=")))
    for (const src of c.trim().split(/\s+/).slice(1, -1)) cpSync(`${ROOT}${src}`, `${app}/${src}`, { recursive: true });
  // Copies, not links: the checkout may sit in a 0700 home the unprivileged user cannot enter.
  // what `bun install --production` puts there: the dependencies and theirs (hoisted), transitively
  const depsOf = (pkg: string) =>
    Object.keys((JSON.parse(readFileSync(pkg, "utf8")) as { dependencies?: object }).dependencies ?? {});
  const deps = new Set<string>();
  const walk = (names: string[]) => {
    for (const d of names)
      if (!deps.has(d)) {
        deps.add(d);
        walk(depsOf(`${ROOT}node_modules/${d}/package.json`));
      }
  };
  walk(depsOf(`${ROOT}package.json`));
  for (const d of deps) cpSync(`${ROOT}node_modules/${d}`, `${app}/node_modules/${d}`, { recursive: true });
  const bun = `${dir}/bun`;
  copyFileSync(process.execPath, bun);
  chmodSync(bun, 0o755);
  const port = 18000 + (process.pid % 1000);
  const config = `${dir}/config.json`;
  writeFileSync(
    config,
    JSON.stringify({
      mode: "server",
      listen: ["127.0.0.1:0"],
      admin: { listen: `127.0.0.1:${port}` },
      drainSeconds: 0,
      log: ["stdout:3"],
    }),
  );
  for (const p of [dir, app, config]) chmodSync(p, 0o755);
  Bun.spawnSync(["chmod", "-R", "a+rX", app]);
  // the image's state volume (ENV STATE_DIRECTORY), owned by its user
  const stateEnv = instr("ENV").find((l) => l.includes("STATE_DIRECTORY="));
  expect(stateEnv).toBeDefined();
  const state = `${dir}/state`;
  mkdirSync(state);
  chmodSync(state, 0o777);
  const asUser =
    process.getuid?.() === 0 ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--init-groups", "--"] : [];
  const swap = (argv: string[]) =>
    argv.map((a) => (a === "bun" ? bun : a === "/etc/anytun-relay/config.json" ? config : a));
  const cmd = swap(json(instr("CMD")[0]!));
  const relay = Bun.spawn([...asUser, ...cmd], {
    cwd: app,
    env: { ...process.env, STATE_DIRECTORY: state },
    stdout: "pipe",
    stderr: "pipe",
  });
  const health = swap(json(instr("HEALTHCHECK")[0]!.slice(instr("HEALTHCHECK")[0]!.indexOf("CMD"))));
  const env = { ...process.env, RELAY_ADMIN: `http://127.0.0.1:${port}` };
  let ok = false;
  for (let i = 0; i < 50 && !ok; i++) {
    await Bun.sleep(100);
    ok = Bun.spawnSync([...asUser, ...health], { cwd: app, env, stdout: "pipe" }).exitCode === 0;
  }
  relay.kill("SIGTERM");
  const code = await relay.exited;
  expect(ok).toBe(true);
  expect(code).toBe(0);
  expect(Bun.spawnSync([...asUser, ...health], { cwd: app, env }).exitCode).toBe(1); // and fails once it is gone
}, 20000);
