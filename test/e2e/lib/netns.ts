// Network-namespace fixtures for e2e tests (root only). Every namespace name carries a unique
// prefix per test file; `cleanup()` kills what was spawned and deletes the namespaces, and must
// be called from afterAll even when a test failed. Traffic stays inside these namespaces.
import { spawn, spawnSync, type Subprocess } from "bun";
import { writeFileSync } from "node:fs";

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
  const r = spawnSync(cmd, { stdout: "pipe", stderr: "pipe", env: process.env });
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
    const p = spawn(["ip", "netns", "exec", ns, ...cmd], {
      stdout: out,
      stderr: out,
      stdin: "ignore",
      env: process.env,
    });
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

  /** Stops every process spawned so far (the namespaces stay). */
  async cleanupProcs(): Promise<void> {
    await Promise.all(this.procs.splice(0).map((p) => this.stop(p).catch(() => {})));
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

/**
 * Two servers S1 and S2 that both hold the anycast address ANY, behind router R, with a direct
 * sync link (10.204.0.1/30 – .2); clients hang off R (client i: 10.203.(11+i).1/30, default
 * route via R). Servers: 10.203.1.1 / 10.203.2.1, default route via R with source ANY, IP
 * forwarding on. R routes ANY to S1 until `route("s2")`.
 */
export class AnycastPair {
  static readonly ANY = "10.201.0.1";
  readonly r: string;
  readonly s1: string;
  readonly s2: string;
  readonly clients: Record<string, string> = {};
  /** Device names: S1's end of the sync link, and per client [client end, R end]. */
  readonly syncDev: string;
  readonly clientDevs: Record<string, [string, string]> = {};

  constructor(
    readonly lab: Lab,
    clientNames: readonly string[],
  ) {
    this.r = lab.ns("r");
    this.s1 = lab.ns("s1");
    this.s2 = lab.ns("s2");
    clientNames.forEach((name, i) => {
      const ns = (this.clients[name] = lab.ns(name));
      this.clientDevs[name] = lab.link(ns, `10.203.${11 + i}.1/30`, this.r, `10.203.${11 + i}.2/30`);
      lab.exec(ns, ["ip", "route", "add", "default", "via", `10.203.${11 + i}.2`]);
    });
    lab.link(this.s1, "10.203.1.1/30", this.r, "10.203.1.2/30");
    lab.link(this.s2, "10.203.2.1/30", this.r, "10.203.2.2/30");
    [this.syncDev] = lab.link(this.s1, "10.204.0.1/30", this.s2, "10.204.0.2/30");
    lab.exec(this.r, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for (const [s, gw] of [
      [this.s1, "10.203.1.2"],
      [this.s2, "10.203.2.2"],
    ] as const) {
      lab.exec(s, ["ip", "addr", "add", `${AnycastPair.ANY}/32`, "dev", "lo"]);
      lab.exec(s, ["ip", "route", "add", "default", "via", gw, "src", AnycastPair.ANY]);
      lab.exec(s, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    }
    this.route("s1");
  }

  server(s: "s1" | "s2"): string {
    return s === "s1" ? this.s1 : this.s2;
  }

  /** Points R's route for the anycast address at S1 or S2. */
  route(to: "s1" | "s2"): void {
    this.lab.exec(this.r, [
      "ip",
      "route",
      "replace",
      `${AnycastPair.ANY}/32`,
      "via",
      to === "s1" ? "10.203.1.1" : "10.203.2.1",
    ]);
  }

  /** The sync part of a server config (each lists the other; fast heartbeats for tests). */
  sync(id: 1 | 2): Record<string, unknown> {
    return {
      listen: `10.204.0.${id}:2323`,
      peers: [`10.204.0.${3 - id}:2323`],
      key: "e2e fleet key, not a secret",
      heartbeatMs: 200,
    };
  }

  /** A GET on a server's admin API (127.0.0.1:8080 inside its namespace); the body text. */
  admin(s: "s1" | "s2", path: string): string {
    return this.lab.exec(this.server(s), [
      BUN,
      "-e",
      `process.stdout.write(await (await fetch("http://127.0.0.1:8080${path}")).text())`,
    ]);
  }

  /** The value of the first /metrics line matching `re` (0 when none). */
  metric(s: "s1" | "s2", re: RegExp): number {
    const line = this.admin(s, "/metrics")
      .split("\n")
      .find((l) => re.test(l));
    return line === undefined ? 0 : Number(line.split(" ").pop());
  }

  /**
   * Starts this relay as server on S1 and S2 (sender ids 1 and 2, UDP on ANY:4444, clients
   * "a" mux 1 → 10.99.0.1/32 and "b" mux 2 → 10.99.0.2/32, synced), with `tcp(id)` as `tcp`.
   * Configs and logs go to `dir` as s1.json / s1.log; `extra` is laid over the top-level keys.
   */
  spawnServers(
    dir: string,
    tcp: (id: 1 | 2) => Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ): Record<"s1" | "s2", Subprocess> {
    const out = {} as Record<"s1" | "s2", Subprocess>;
    for (const [s, id] of [
      ["s1", 1],
      ["s2", 2],
    ] as const) {
      const cfg = {
        mode: "server",
        senderId: id,
        listen: [`${AnycastPair.ANY}:4444`],
        tcp: tcp(id),
        clients: [
          { name: "a", mux: 1, passphrase: "secret of a", routes: ["10.99.0.1/32"] },
          { name: "b", mux: 2, passphrase: "secret of b", routes: ["10.99.0.2/32"] },
        ],
        sync: this.sync(id),
        log: ["stdout:5"],
        drainSeconds: 0,
        ...extra,
      };
      writeFileSync(`${dir}/${s}.json`, JSON.stringify(cfg));
      out[s] = this.lab.spawn(this.server(s), [...RELAY, "--config", `${dir}/${s}.json`], `${dir}/${s}.log`);
    }
    return out;
  }

  /** Starts this relay's client role in A (mux 1, 10.99.0.1/24) and B (mux 2, 10.99.0.2/24) with `extra` flags. */
  spawnRelayClients(dir: string, extra: string[]): void {
    for (const [k, mux, inner] of [
      ["a", 1, "10.99.0.1/24"],
      ["b", 2, "10.99.0.2/24"],
    ] as const)
      this.lab.spawn(
        this.clients[k]!,
        [...RELAY, ...extra, "-r", AnycastPair.ANY, "-o", "4444", "-m", String(mux), "-e", "client"].concat([
          "-E",
          `secret of ${k}`,
          "-d",
          "sat0",
          "-n",
          inner,
          "-L",
          "stdout:5",
        ]),
        `${dir}/${k}.log`,
      );
  }

  /** Resolves once A pings B (10.99.0.2) through the tunnel (B pinging A alongside). */
  async untilReachable(what: string, ms = 20000): Promise<void> {
    const [a, b] = [this.clients.a!, this.clients.b!];
    await this.lab.until(
      what,
      () => {
        this.lab.exec(b, ["ping", "-c", "1", "-W", "1", "10.99.0.1"], { ok: true });
        return this.lab.exec(a, ["ping", "-c", "1", "-W", "1", "10.99.0.2"], { ok: true }).includes(" 0% packet loss");
      },
      ms,
    );
  }

  /** Resolves once S2 reports its sync link to S1 up. */
  async waitSync(ms = 15000): Promise<void> {
    await this.lab.until(
      "S2's sync link up",
      () => {
        try {
          return (JSON.parse(this.admin("s2", "/v1/peers")) as { peers: { state: string }[] }).peers[0]?.state === "up";
        } catch {
          return false;
        }
      },
      ms,
    );
  }
}
