// Network-namespace fixtures for e2e tests (root only). Every namespace name carries a unique
// prefix per test file; `cleanup()` kills what was spawned and deletes the namespaces, and must
// be called from afterAll even when a test failed. Traffic stays inside these namespaces.
import { spawn, spawnSync, type Subprocess } from "bun";

export const isRoot = process.getuid?.() === 0;
export const BUN = process.execPath;
export const ROOT = new URL("../../../", import.meta.url).pathname;
/** How to run the relay: `bun relay.ts`, or the compiled single binary when RELAY_BIN is set. */
export const RELAY: readonly string[] = process.env.RELAY_BIN ? [process.env.RELAY_BIN] : [BUN, `${ROOT}relay.ts`];

export function have(cmd: string): boolean {
  return spawnSync(["sh", "-c", `command -v ${cmd}`]).exitCode === 0;
}

/** Runs a command; throws with its stderr when it fails. */
export function run(cmd: string[], opts: { ok?: boolean } = {}): string {
  const r = spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0 && !opts.ok)
    throw new Error(`${cmd.join(" ")} → exit ${r.exitCode}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

export class Lab {
  readonly prefix: string;
  private readonly nss: string[] = [];
  private readonly procs: Subprocess[] = [];

  constructor(tag: string) {
    // short: veth names derived from it must fit 15 chars
    this.prefix = `${tag}${(process.pid % 1000).toString(36)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`;
  }

  /** Creates namespace prefix-name with lo up, IPv6 off (no router solicitations), no rp_filter. */
  ns(name: string): string {
    const ns = `${this.prefix}-${name}`;
    run(["ip", "netns", "add", ns]);
    this.nss.push(ns);
    run(["ip", "-n", ns, "link", "set", "lo", "up"]);
    for (const k of [
      "net.ipv6.conf.all.disable_ipv6=1",
      "net.ipv6.conf.default.disable_ipv6=1",
      "net.ipv4.conf.all.rp_filter=0",
    ])
      run(["ip", "netns", "exec", ns, "sysctl", "-qw", k], { ok: true });
    return ns;
  }

  /** veth pair between two namespaces with the given CIDR addresses; returns the device names. */
  link(a: string, addrA: string, b: string, addrB: string): [string, string] {
    const n = this.links++;
    const da = `v${this.prefix.slice(-5)}${n}a`;
    const db = `v${this.prefix.slice(-5)}${n}b`;
    run(["ip", "link", "add", da, "netns", a, "type", "veth", "peer", "name", db, "netns", b]);
    run(["ip", "-n", a, "addr", "add", addrA, "dev", da]);
    run(["ip", "-n", b, "addr", "add", addrB, "dev", db]);
    run(["ip", "-n", a, "link", "set", da, "up"]);
    run(["ip", "-n", b, "link", "set", db, "up"]);
    return [da, db];
  }
  private links = 0;

  exec(ns: string, cmd: string[], opts: { ok?: boolean } = {}): string {
    return run(["ip", "netns", "exec", ns, ...cmd], opts);
  }

  /** Starts a long-running process in a namespace; output goes to `log` (a file path) if given. */
  spawn(ns: string, cmd: string[], log?: string): Subprocess {
    const out = log ? Bun.file(log) : "ignore";
    const p = spawn(["ip", "netns", "exec", ns, ...cmd], { stdout: out, stderr: out, stdin: "ignore" });
    this.procs.push(p);
    return p;
  }

  /** Polls `check` every 50 ms until it returns true or `ms` pass. */
  async until(what: string, check: () => boolean, ms = 10000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (check()) return;
      await Bun.sleep(50);
    }
    throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }

  hasDevice(ns: string, dev: string): boolean {
    return spawnSync(["ip", "-n", ns, "link", "show", dev], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
  }

  async stop(p: Subprocess): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null) return;
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 3000);
    await p.exited;
    clearTimeout(t);
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.procs.map((p) => this.stop(p).catch(() => {})));
    for (const ns of this.nss.reverse()) spawnSync(["ip", "netns", "del", ns], { stderr: "ignore" });
  }
}

/** Mbit/s received from an iperf3 -J run (sum_received), or throws with iperf3's error. */
export function iperfMbps(json: string): number {
  const j = JSON.parse(json) as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  return (j.end?.sum_received?.bits_per_second ?? 0) / 1e6;
}

/** Received count from ping's summary line. */
export function pingReceived(out: string): number {
  const m = /(\d+) (?:packets )?received/.exec(out);
  return m ? Number(m[1]) : 0;
}

/** argv of a stock anytun 0.3.8 client (tun device sat0, role client) dialing host:port. */
export function anytunClient(
  host: string,
  port: number,
  mux: number,
  passphrase: string,
  extra: string[] = [],
): string[] {
  return [
    "anytun",
    "-D",
    "-L",
    "stdout:3",
    "-t",
    "tun",
    "-d",
    "sat0",
    "-e",
    "client",
    "-r",
    host,
    "-o",
    String(port),
    "-m",
    String(mux),
    "-E",
    passphrase,
    ...extra,
  ];
}

/** argv of this relay as a client (device sat0 with `inner` as its address) dialing host:port. */
export function relayClient(
  host: string,
  port: number,
  mux: number,
  passphrase: string,
  inner: string,
  extra: string[] = [],
): string[] {
  return [
    BUN,
    `${ROOT}relay.ts`,
    "-r",
    host,
    "-o",
    String(port),
    "-m",
    String(mux),
    "-e",
    "client",
    "-E",
    passphrase,
    "-d",
    "sat0",
    "-n",
    inner,
    "-L",
    "stdout:4",
    ...extra,
  ];
}

/** Address, MTU 1400 and link up on a tun another program created (anytun leaves it bare here). */
export function configureTun(lab: Lab, ns: string, dev: string, cidr: string): void {
  lab.exec(ns, ["ip", "addr", "replace", cidr, "dev", dev]);
  lab.exec(ns, ["ip", "link", "set", dev, "mtu", "1400", "up"]);
}
