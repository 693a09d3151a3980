// The container test (slow; `npm run test:container`, root): builds the real Dockerfile with
// podman and runs the image. `FROM oven/bun` cannot be pulled here, so a local stand-in with the
// same tags is made first: a Debian bookworm minbase rootfs (debootstrap, cached in
// /var/cache/anytun-relay-test) plus the `bun` binary of node_modules (the npm package) and the
// image's user "bun". Then, in network namespaces of its own:
//   1. the server image (USER bun, no capabilities) starts on a mounted config and its
//      HEALTHCHECK passes; start time and image size are printed;
//   2. two clients (this relay's client role, from the checkout) ping each other through it;
//   3. the TUN modes: the same image as a client (peer role) with NET_ADMIN and /dev/net/tun,
//      and as a server with the nat plugin and the sysctls passed on the run line (/proc/sys is
//      read-only in a container; the image has no sysctl binary), pinging a "world" namespace
//      through the NAT.
// podman here needs runc and raised default ulimits (crun fails on setrlimit in this VM); both
// are passed explicitly (CONTAINERS_CONF, --runtime). Prints one line per step and a summary;
// exit 0 only when every step passed. Everything it makes (containers, namespaces, the test
// image) is removed at the end, the cached base excepted.
import { spawnSync } from "bun";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { Lab, pingReceived, relayClient, ROOT } from "../lib/netns.ts";
import pkg from "../../package.json";

const BUN_VERSION = pkg.devDependencies.bun.replace(/^[\^~]/, "");
const BASE_TAGS = [`docker.io/oven/bun:${BUN_VERSION}`, `docker.io/oven/bun:${BUN_VERSION}-slim`];
const IMAGE = "localhost/anytun-relay:container-test";
const CACHE = "/var/cache/anytun-relay-test";
const work = mkdtempSync(`${tmpdir()}/relay-container-`);
const conf = `${work}/containers.conf`;
writeFileSync(conf, '[containers]\ndefault_ulimits = ["nofile=16384:16384", "nproc=4096:4096"]\n');
const env = { ...process.env, CONTAINERS_CONF: conf };
const results: { step: string; ok: boolean; detail: string }[] = [];
const containers: string[] = [];

function sh(
  cmd: string[],
  opts: { ok?: boolean; timeoutMs?: number } = {},
): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, { stdout: "pipe", stderr: "pipe", env, timeout: opts.timeoutMs ?? 600_000 });
  const res = { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
  if (res.code !== 0 && !opts.ok)
    throw new Error(`${cmd.join(" ")} → exit ${res.code}: ${res.err.trim().slice(-2000)}`);
  return res;
}
const podman = (args: string[], opts?: { ok?: boolean; timeoutMs?: number }) =>
  sh(["podman", "--runtime", "runc", ...args], opts);
function step(name: string, ok: boolean, detail: string): void {
  results.push({ step: name, ok, detail });
  console.log(`${ok ? "ok  " : "FAIL"} ${name}: ${detail}`);
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.log("container test: needs root (podman with network namespaces)");
    return process.env.CI ? 1 : 0;
  }
  const missing = ["podman", "runc", "debootstrap"].filter((c) => Bun.which(c) === null);
  if (missing.length) {
    console.log(`container test: missing ${missing.join(", ")} (apt-get install podman runc debootstrap)`);
    return process.env.CI ? 1 : 0;
  }

  // ---- the stand-in base image -------------------------------------------------------------
  let t = performance.now();
  if (podman(["image", "exists", BASE_TAGS[0]!], { ok: true }).code !== 0) {
    mkdirSync(CACHE, { recursive: true });
    const rootfs = `${CACHE}/bookworm-minbase`;
    if (!existsSync(`${rootfs}/etc/debian_version`)) {
      rmSync(rootfs, { recursive: true, force: true });
      sh(["debootstrap", "--variant=minbase", "bookworm", `${rootfs}.tmp`], { timeoutMs: 900_000 });
      sh(["mv", `${rootfs}.tmp`, rootfs]);
    }
    const stage = `${work}/base`;
    sh(["cp", "-a", rootfs, stage]);
    copyFileSync(`${ROOT}node_modules/bun/bin/bun.exe`, `${stage}/usr/local/bin/bun`);
    chmodSync(`${stage}/usr/local/bin/bun`, 0o755);
    sh(["chroot", stage, "useradd", "--uid", "1000", "--create-home", "--shell", "/bin/sh", "bun"]);
    // This machine reaches the registries through a TLS proxy whose CA is in the host's trust
    // store: the stand-in trusts it too (an image built elsewhere uses the real oven/bun base).
    const ca = "/etc/ssl/certs/ca-certificates.crt";
    const trust = existsSync(ca);
    if (trust) {
      mkdirSync(`${stage}/etc/ssl/certs`, { recursive: true });
      copyFileSync(ca, `${stage}${ca}`);
    }
    rmSync(`${stage}/var/cache/apt/archives`, { recursive: true, force: true });
    mkdirSync(`${stage}/var/cache/apt/archives/partial`, { recursive: true });
    const changes = `--change 'CMD ["bun"]'${trust ? ` --change 'ENV NODE_EXTRA_CA_CERTS=${ca}'` : ""}`;
    sh(["sh", "-c", `tar -C '${stage}' -c . | podman --runtime runc import ${changes} - ${BASE_TAGS[0]}`]);
    podman(["tag", BASE_TAGS[0]!, BASE_TAGS[1]!]);
    rmSync(stage, { recursive: true, force: true });
  }
  step("base stand-in", true, `${BASE_TAGS.join(", ")} (${((performance.now() - t) / 1000).toFixed(1)} s)`);

  // ---- the real Dockerfile -----------------------------------------------------------------
  t = performance.now();
  // docker format: OCI images drop HEALTHCHECK
  podman(
    ["build", "--format", "docker", "--pull=never", "--network", "host", "-t", IMAGE, "-f", `${ROOT}Dockerfile`, ROOT],
    { timeoutMs: 900_000 },
  );
  const size = Number(podman(["image", "inspect", "--format", "{{.Size}}", IMAGE]).out.trim());
  step(
    "build",
    true,
    `${IMAGE}, ${(size / 2 ** 20).toFixed(0)} MiB, built in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );

  const lab = new Lab("ct");
  try {
    // SRV holds the server container; A and B are clients; W is "the world" behind SRV.
    const srv = lab.ns("srv");
    const a = lab.ns("a");
    const b = lab.ns("b");
    const w = lab.ns("w");
    lab.link(a, "10.210.1.2/24", srv, "10.210.1.1/24");
    lab.link(b, "10.210.2.2/24", srv, "10.210.2.1/24");
    lab.link(w, "203.0.113.10/24", srv, "203.0.113.1/24");
    lab.exec(a, ["ip", "route", "add", "default", "via", "10.210.1.1"]);
    lab.exec(b, ["ip", "route", "add", "default", "via", "10.210.2.1"]);
    lab.exec(w, ["ip", "route", "add", "default", "via", "203.0.113.1"]);
    const cfgDir = `${work}/etc`;
    mkdirSync(cfgDir, { recursive: true });
    const clients = [
      { name: "a", mux: 1, passphrase: "container secret a", routes: ["10.99.0.1/32"] },
      { name: "b", mux: 2, passphrase: "container secret b", routes: ["10.99.0.2/32"] },
    ];
    writeFileSync(
      `${cfgDir}/server.json`,
      JSON.stringify({
        mode: "server",
        listen: ["0.0.0.0:4444"],
        clients,
        plugins: [{ use: "routes" }],
        drainSeconds: 0,
        cryptoLibrary: "openssl", // the image ships libcrypto: without it the server refuses to start
      }),
    );
    chmodSync(`${cfgDir}/server.json`, 0o644);

    // 1. the server image as it ships: USER bun, no capabilities, health checked.
    t = performance.now();
    const name = `${lab.prefix}-server`;
    containers.push(name);
    podman([
      "run",
      "-d",
      "--name",
      name,
      "--network",
      `ns:/run/netns/${srv}`,
      "--cap-drop",
      "ALL",
      "-v",
      `${cfgDir}/server.json:/etc/anytun-relay/config.json:ro`,
      IMAGE,
    ]);
    let healthy = false;
    for (let i = 0; i < 100 && !healthy; i++) {
      healthy = podman(["healthcheck", "run", name], { ok: true }).code === 0;
      if (!healthy) await Bun.sleep(100);
    }
    const startMs = performance.now() - t;
    const user = podman(["exec", name, "id", "-un"], { ok: true }).out.trim();
    step(
      "start + HEALTHCHECK",
      healthy,
      `healthy ${(startMs / 1000).toFixed(2)} s after podman run, running as ${user}`,
    );

    // 2. a tunnel between two namespaces through it
    lab.spawn(a, relayClient("10.210.1.1", 4444, 1, "container secret a", "10.99.0.1/24"), `${work}/a.log`);
    lab.spawn(b, relayClient("10.210.2.1", 4444, 2, "container secret b", "10.99.0.2/24"), `${work}/b.log`);
    await lab.until("client devices", () => lab.hasDevice(a, "sat0") && lab.hasDevice(b, "sat0"), 15000);
    await Bun.sleep(500);
    lab.exec(b, ["ping", "-c", "1", "-W", "2", "10.99.0.1"], { ok: true });
    const pings = pingReceived(lab.exec(a, ["ping", "-c", "20", "-i", "0.05", "-W", "2", "10.99.0.2"], { ok: true }));
    step("tunnel A → container → B", pings >= 19, `${pings}/20 pings`);

    // 3. TUN modes: a client container (NET_ADMIN, /dev/net/tun) in A in place of A's client...
    await lab.cleanupProcs();
    await Bun.sleep(300);
    const cname = `${lab.prefix}-client`;
    containers.push(cname);
    podman([
      "run",
      "-d",
      "--name",
      cname,
      "--network",
      `ns:/run/netns/${a}`,
      "--cap-drop",
      "ALL",
      "--cap-add",
      "NET_ADMIN",
      "--device",
      "/dev/net/tun",
      IMAGE,
      "bun",
      "relay.ts",
      "-r",
      "10.210.1.1",
      "-o",
      "4444",
      "-m",
      "1",
      "-s",
      "7", // a sender id of its own: its stateDir is new, so seq starts again (see "Restarting an anytun client")
      "-e",
      "client",
      "-E",
      "container secret a",
      "-d",
      "sat0",
      "-n",
      "10.99.0.1/24",
      "-L",
      "stdout:4",
    ]);
    lab.spawn(b, relayClient("10.210.2.1", 4444, 2, "container secret b", "10.99.0.2/24"), `${work}/b2.log`);
    await lab.until("client container's TUN", () => lab.hasDevice(a, "sat0") && lab.hasDevice(b, "sat0"), 15000);
    await Bun.sleep(500);
    lab.exec(b, ["ping", "-c", "1", "-W", "2", "10.99.0.1"], { ok: true });
    const tunPings = pingReceived(
      lab.exec(a, ["ping", "-c", "20", "-i", "0.05", "-W", "2", "10.99.0.2"], { ok: true }),
    );
    step("TUN in a container (client role)", tunPings >= 19, `${tunPings}/20 pings through the container's sat0`);

    // ... and a NAT server container with the sysctls on the run line (no sysctl binary inside)
    podman(["rm", "-f", "-t", "0", name], { ok: true });
    writeFileSync(
      `${cfgDir}/nat.json`,
      JSON.stringify({
        mode: "server",
        listen: ["0.0.0.0:4444"],
        clients,
        plugins: [{ use: "routes" }, { use: "nat", address: "203.0.113.1" }],
        drainSeconds: 0,
      }),
    );
    chmodSync(`${cfgDir}/nat.json`, 0o644);
    const nname = `${lab.prefix}-nat`;
    containers.push(nname);
    podman([
      "run",
      "-d",
      "--name",
      nname,
      "--network",
      `ns:/run/netns/${srv}`,
      "--cap-drop",
      "ALL",
      "--cap-add",
      "NET_ADMIN",
      "--device",
      "/dev/net/tun",
      "--sysctl",
      "net.ipv4.ip_forward=1",
      "--sysctl",
      "net.ipv4.conf.default.accept_local=1",
      "--sysctl",
      "net.ipv4.conf.default.rp_filter=0",
      "--sysctl",
      "net.ipv4.conf.all.rp_filter=0",
      "-v",
      `${cfgDir}/nat.json:/etc/anytun-relay/config.json:ro`,
      IMAGE,
    ]);
    const noSysctl = podman(["exec", nname, "sh", "-c", "command -v sysctl || echo none"], { ok: true }).out.trim();
    let natReady = false;
    for (let i = 0; i < 100 && !natReady; i++) {
      const l = podman(["logs", nname], { ok: true }); // the relay logs to stderr
      natReady = (l.out + l.err).includes("NAT ready");
      if (!natReady) await Bun.sleep(100);
    }
    await Bun.sleep(1500); // the clients' next keepalive re-learns their endpoints at the new server
    lab.exec(a, ["ip", "route", "replace", "203.0.113.0/24", "dev", "sat0"]);
    lab.exec(b, ["ping", "-c", "1", "-W", "2", "10.99.0.1"], { ok: true });
    const natPings = pingReceived(
      lab.exec(a, ["ping", "-c", "10", "-i", "0.1", "-W", "2", "203.0.113.10"], { ok: true }),
    );
    const logs = podman(["logs", nname], { ok: true });
    step(
      "NAT in a container (sysctls on the run line)",
      natReady && natPings >= 9,
      `NAT ready: ${natReady}; sysctl in the image: ${noSysctl}; ${natPings}/10 pings to the world namespace${natReady ? "" : `; logs: ${(logs.out + logs.err).slice(-600)}`}`,
    );
  } finally {
    for (const c of containers) podman(["rm", "-f", "-t", "0", c], { ok: true });
    await lab.cleanup();
    podman(["rmi", "-f", IMAGE], { ok: true });
    rmSync(work, { recursive: true, force: true });
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`container test: ${results.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

try {
  process.exit(await main());
} catch (e) {
  console.log(`FAIL container test: ${(e as Error).message}`);
  for (const c of containers) podman(["rm", "-f", "-t", "0", c], { ok: true });
  process.exit(1);
}
