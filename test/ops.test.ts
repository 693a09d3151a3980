// Operator examples are exercised: the systemd unit verifies with systemd-analyze, the BIRD
// snippet parses with bird -p, and the announce loop toggles BIRD (a birdc shim on PATH) from a
// real relay's /readyz: enable while ready, disable once drained.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";

const ROOT = new URL("../", import.meta.url).pathname;
const have = (cmd: string) => Bun.spawnSync(["sh", "-c", `command -v ${cmd}`]).exitCode === 0;
const dir = mkdtempSync(`${tmpdir()}/relay-ops-`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.skipIf(!have("systemd-analyze"))("the systemd unit verifies (and a broken one does not)", () => {
  const unit = readFileSync(`${ROOT}examples/ops/anytun-relay.service`, "utf8").replace(
    /^ExecStart=\S+/m,
    `ExecStart=${process.execPath}`,
  );
  writeFileSync(`${dir}/anytun-relay.service`, unit);
  const ok = Bun.spawnSync(["systemd-analyze", "verify", `${dir}/anytun-relay.service`], { stderr: "pipe" });
  expect(ok.stderr.toString()).toBe(""); // systemd-analyze prints problems on stderr
  expect(ok.exitCode).toBe(0);
  writeFileSync(`${dir}/broken.service`, unit.replace(/^ExecStart=\S+/m, "ExecStart=relative-binary"));
  expect(Bun.spawnSync(["systemd-analyze", "verify", `${dir}/broken.service`], { stderr: "pipe" }).exitCode).not.toBe(
    0,
  );
});

test.skipIf(!have("bird"))("the BIRD snippet parses", () => {
  const r = Bun.spawnSync(["bird", "-p", "-c", `${ROOT}examples/ops/bird.conf`], { stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
});

describe_announce();
function describe_announce() {
  let relay: ReturnType<typeof Bun.spawn>;
  const port = 19000 + (process.pid % 1000);
  beforeAll(async () => {
    writeFileSync(`${dir}/birdc`, `#!/bin/sh\necho "$@" >> ${dir}/birdc.log\n`);
    chmodSync(`${dir}/birdc`, 0o755);
    relay = Bun.spawn(
      [
        process.execPath,
        `${ROOT}relay.ts`,
        "-l",
        "127.0.0.1:0",
        "--admin-listen",
        `127.0.0.1:${port}`,
        "-L",
        "stderr:0",
      ],
      { stdout: "ignore", stderr: "ignore", env: process.env },
    );
    for (let i = 0; i < 50; i++) {
      await Bun.sleep(100);
      if ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200) break;
    }
  });
  afterAll(async () => {
    relay.kill("SIGTERM");
    relay.kill("SIGTERM");
    await relay.exited;
  });
  const loop = () =>
    Bun.spawnSync(["bash", `${ROOT}examples/ops/announce-while-ready.sh`], {
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, ONCE: "1", RELAY_ADMIN: `http://127.0.0.1:${port}` },
      stdout: "pipe",
    });
  test("announce loop: enable while /readyz is 200, disable after a drain", async () => {
    expect(loop().stdout.toString()).toContain("enable anycast (relay ready)");
    await fetch(`http://127.0.0.1:${port}/drain`, { method: "POST" });
    expect(loop().stdout.toString()).toContain("disable anycast (relay not ready)");
    expect(readFileSync(`${dir}/birdc.log`, "utf8")).toBe("enable anycast\ndisable anycast\n");
  });
}

test.skipIf(!have("socat"))(
  "sd_notify: READY=1 once ready, RELOADING=1 and READY=1 on SIGHUP, STOPPING=1 on SIGTERM; the pid file",
  async () => {
    const sock = `${dir}/notify.sock`;
    const out = `${dir}/notify.out`;
    // one datagram per line in the output (socat -u UNIX-RECV writes them back to back)
    const rx = Bun.spawn(["socat", "-u", `UNIX-RECV:${sock}`, `OPEN:${out},creat,append`], { stderr: "ignore" });
    for (let i = 0; i < 100 && !Bun.spawnSync(["test", "-S", sock]).success; i++) await Bun.sleep(20);
    const pidPath = `${dir}/relay.pid`;
    const port = 19500 + (process.pid % 400);
    const relay = Bun.spawn(
      [
        process.execPath,
        `${ROOT}relay.ts`,
        "-l",
        "127.0.0.1:0",
        "--admin-listen",
        `127.0.0.1:${port}`,
        "-L",
        "stderr:0",
        "-P",
        pidPath,
      ],
      {
        stdout: "ignore",
        stderr: "ignore",
        env: { ...process.env, NOTIFY_SOCKET: sock, STATE_DIRECTORY: `${dir}/state-notify` },
      },
    );
    const text = () => Bun.spawnSync(["cat", out]).stdout.toString();
    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 100 && !ok(); i++) await Bun.sleep(50);
      if (!ok()) throw new Error(`timeout: ${what}: ${text()}`);
    };
    try {
      await until("READY", () => text().includes("READY=1"));
      expect(readFileSync(pidPath, "utf8")).toBe(`${relay.pid}\n`);
      expect(text()).toContain(`MAINPID=${relay.pid}`);
      expect(text()).toMatch(/STATUS=serving 1 clients on 127\.0\.0\.1:\d+/);
      relay.kill("SIGHUP");
      await until("RELOADING then READY", () =>
        /READY=1[\s\S]*RELOADING=1\nMONOTONIC_USEC=\d+[\s\S]*READY=1/.test(text()),
      );
      relay.kill("SIGTERM");
      await until("STOPPING", () => text().includes("STOPPING=1"));
      relay.kill("SIGTERM");
      await relay.exited;
      expect(Bun.spawnSync(["test", "-e", pidPath]).success).toBe(false); // removed on stop
    } finally {
      relay.kill("SIGKILL");
      rx.kill();
    }
  },
  20000,
);
