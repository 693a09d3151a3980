// Network-namespace fixtures for e2e tests (root only). Every namespace name carries a unique
// prefix per test file; `cleanup()` kills what was spawned and deletes the namespaces, and must
// be called from afterAll even when a test failed. Traffic stays inside these namespaces.
import { spawn, spawnSync, type Subprocess } from "bun";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

export const isRoot = process.getuid?.() === 0;
export const BUN = process.execPath;
export const ROOT = new URL("../../", import.meta.url).pathname;
/** How to run the relay: `bun relay.ts`, or the compiled single binary when RELAY_BIN is set. */
export const RELAY: readonly string[] = process.env.RELAY_BIN ? [process.env.RELAY_BIN] : [BUN, `${ROOT}relay.ts`];
/**
 * The sync backend of AnycastPair's servers: E2E_SYNC=nats runs a nats-server in each server's
 * namespace (clustered over the sync link) and syncs through it; the default is the mesh.
 */
export const SYNC: "mesh" | "nats" = process.env.E2E_SYNC === "nats" ? "nats" : "mesh";

/** Servers run with `--workers E2E_WORKERS` when it is set (CI runs the e2e files with 1 and 2). */
export const WORKERS = Number(process.env.E2E_WORKERS ?? "1") || 1;

/** Every descendant of `pid` (a server's workers), from /proc's parent links. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {}
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [c, pp] of parent) if (pp === p) (out.push(c), walk(c));
  };
  walk(pid);
  return out;
}

/** A process's start time (field 22 of /proc/PID/stat), or null when it is gone (or a zombie). */
export function startTime(pid: number): string | null {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
    return f[0] === "Z" ? null : f[19]!;
  } catch {
    return null;
  }
}

/** argv of a relay server on a config file (with the workers of this run). */
export function relayServer(configFile: string): string[] {
  return [...RELAY, "--config", configFile, ...(WORKERS > 1 ? ["--workers", String(WORKERS)] : [])];
}

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

  constructor(
    tag: string,
    /** ipv6: namespaces keep IPv6, quiet (no DAD, no router solicitations or advertisements taken). */
    private readonly opts: { ipv6?: boolean } = {},
  ) {
    // short: veth names derived from it must fit 15 chars
    this.prefix = `${tag}${(process.pid % 1000).toString(36)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`;
  }

  /** Creates namespace prefix-name with lo up, IPv6 off (no router solicitations), no rp_filter. */
  ns(name: string): string {
    const ns = `${this.prefix}-${name}`;
    run(["ip", "netns", "add", ns]);
    this.nss.push(ns);
    run(["ip", "-n", ns, "link", "set", "lo", "up"]);
    const v6 = this.opts.ipv6
      ? ["all", "default"].flatMap((c) => [
          `net.ipv6.conf.${c}.accept_dad=0`,
          `net.ipv6.conf.${c}.router_solicitations=0`,
          `net.ipv6.conf.${c}.accept_ra=0`,
        ])
      : ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"];
    for (const k of [...v6, "net.ipv4.conf.all.rp_filter=0"])
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

  /**
   * SIGTERM (SIGKILL after 3 s) to `p`, then the same to what it had started and left behind
   * (`npm start` and `npx` exit and leave their bun child running), each by PID as it was when
   * the stop began (its start time checked, so a reused PID is not signalled).
   */
  async stop(p: Subprocess): Promise<void> {
    if (p.exitCode !== null || p.signalCode !== null) return;
    const kids = descendants(p.pid).map((pid) => ({ pid, start: startTime(pid) }));
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 3000);
    await p.exited;
    clearTimeout(t);
    const alive = () => kids.filter((k) => k.start !== null && startTime(k.pid) === k.start);
    const signal = (sig: NodeJS.Signals) => {
      for (const k of alive())
        try {
          process.kill(k.pid, sig);
        } catch {}
    };
    signal("SIGTERM");
    const end = Date.now() + 3000;
    while (alive().length > 0 && Date.now() < end) await Bun.sleep(50);
    signal("SIGKILL");
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
// Tests that expect every reply run ping with -w (a deadline: ping waits for all of them), not
// -W: once a reply was seen, iputils lingers only two RTTs after the last request, so one reply
// late by a few milliseconds reads as lost (CI: 4 of 5 in 509 ms).
export function pingReceived(out: string): number {
  const m = /(\d+) (?:packets )?received/.exec(out);
  const got = m ? Number(m[1]) : 0;
  // A partial answer is what a flaky run leaves to read: ping's own lines (errors, which
  // sequence numbers came back) go to the log so the cause is not guessed afterwards (not for
  // one-ping probes: those poll until a path is up).
  const sent = /(\d+) packets transmitted/.exec(out);
  if (sent && Number(sent[1]) > 1 && Number(sent[1]) !== got)
    console.log(`  ping: ${got} of ${sent[1]}:\n${out.replace(/^/gm, "  | ")}`);
  return got;
}

/**
 * Mbit/s of one iperf3 client run in `ns` (`iperf3 -c HOST -p PORT ARGS -J`). iperf3's server
 * takes one test at a time and may still be closing the previous one: a run refused as busy or
 * with its control connection reset is retried once after 500 ms (the tunnel is not at fault).
 */
export async function iperf3(lab: Lab, ns: string, host: string, port: number, args: string[] = []): Promise<number> {
  const run = () => lab.exec(ns, ["iperf3", "-c", host, "-p", String(port), ...args, "-J"], { ok: true });
  try {
    return iperfMbps(run());
  } catch (e) {
    if (!/control message|busy|connect/.test(String(e))) throw e;
    await Bun.sleep(500);
    return iperfMbps(run());
  }
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

  /** The nats-server of each PoP (S1's, S2's) when the servers sync over NATS. */
  readonly nats: Subprocess[] = [];

  /** With `ipv6`: the same underlay dual-stack, the anycast address ANY6 on both servers too. */
  static readonly ANY6 = "2001:db8:201::1";

  constructor(
    readonly lab: Lab,
    clientNames: readonly string[],
    readonly syncKind: "mesh" | "nats" = SYNC,
    readonly opts: { ipv6?: boolean } = {},
  ) {
    this.r = lab.ns("r");
    this.s1 = lab.ns("s1");
    this.s2 = lab.ns("s2");
    // IPv6 (opts.ipv6): client i 2001:db8:c<i>::1/64 (R ::2), S1 2001:db8:1::1/64, S2 2001:db8:2::1/64
    const six = (ns: string, dev: string, addr: string) =>
      opts.ipv6 && lab.exec(ns, ["ip", "-6", "addr", "add", addr, "dev", dev, "nodad"]);
    clientNames.forEach((name, i) => {
      const ns = (this.clients[name] = lab.ns(name));
      const devs = (this.clientDevs[name] = lab.link(ns, `10.203.${11 + i}.1/30`, this.r, `10.203.${11 + i}.2/30`));
      lab.exec(ns, ["ip", "route", "add", "default", "via", `10.203.${11 + i}.2`]);
      six(ns, devs[0], `2001:db8:c${i}::1/64`);
      six(this.r, devs[1], `2001:db8:c${i}::2/64`);
      if (opts.ipv6) lab.exec(ns, ["ip", "-6", "route", "add", "default", "via", `2001:db8:c${i}::2`]);
    });
    const l1 = lab.link(this.s1, "10.203.1.1/30", this.r, "10.203.1.2/30");
    const l2 = lab.link(this.s2, "10.203.2.1/30", this.r, "10.203.2.2/30");
    for (const [s, [ds, dr], n] of [
      [this.s1, l1, 1],
      [this.s2, l2, 2],
    ] as const) {
      six(s, ds, `2001:db8:${n}::1/64`);
      six(this.r, dr, `2001:db8:${n}::2/64`);
      if (!opts.ipv6) continue;
      lab.exec(s, ["ip", "-6", "addr", "add", `${AnycastPair.ANY6}/128`, "dev", "lo"]);
      lab.exec(s, ["ip", "-6", "route", "add", "default", "via", `2001:db8:${n}::2`, "src", AnycastPair.ANY6]);
      lab.exec(s, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    }
    if (opts.ipv6) lab.exec(this.r, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
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
    if (syncKind === "nats")
      for (const id of [1, 2] as const)
        this.nats[id - 1] = lab.spawn(this.server(id === 1 ? "s1" : "s2"), [
          "nats-server",
          "-a",
          `10.204.0.${id}`,
          "-p",
          "4222",
          "-n",
          `pop${id}`,
          "--cluster_name",
          "e2e",
          "--cluster",
          `nats://10.204.0.${id}:6222`,
          "--routes",
          `nats://10.204.0.${3 - id}:6222`,
        ]);
  }

  server(s: "s1" | "s2"): string {
    return s === "s1" ? this.s1 : this.s2;
  }

  /** Points R's route for the anycast address (and ANY6 with ipv6) at S1 or S2. */
  route(to: "s1" | "s2"): void {
    this.lab.exec(this.r, [
      "ip",
      "route",
      "replace",
      `${AnycastPair.ANY}/32`,
      "via",
      to === "s1" ? "10.203.1.1" : "10.203.2.1",
    ]);
    if (this.opts.ipv6)
      this.lab.exec(this.r, [
        "ip",
        "-6",
        "route",
        "replace",
        `${AnycastPair.ANY6}/128`,
        "via",
        to === "s1" ? "2001:db8:1::1" : "2001:db8:2::1",
      ]);
  }

  /** The sync part of a server config (each lists the other; fast heartbeats for tests). */
  sync(id: 1 | 2): Record<string, unknown> {
    const key = "e2e fleet key, not a secret";
    if (this.syncKind === "nats")
      return {
        backend: "nats",
        // its own PoP's NATS first; the other's as the fallback
        nats: { servers: [`nats://10.204.0.${id}:4222`, `nats://10.204.0.${3 - id}:4222`], prefix: "e2e" },
        key,
        heartbeatMs: 200,
      };
    return { listen: `10.204.0.${id}:2323`, peers: [`10.204.0.${3 - id}:2323`], key, heartbeatMs: 200 };
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

  /** The non-zero drop counters of a server (/metrics lines), for a failing test's log. */
  drops(s: "s1" | "s2"): string {
    return this.admin(s, "/metrics")
      .split("\n")
      .filter(
        (l) => /^relay_(drops_total|plugin_events_total|transport_send_errors_total)\{/.test(l) && !l.endsWith(" 0"),
      )
      .join("\n");
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
      out[s] = this.lab.spawn(this.server(s), relayServer(`${dir}/${s}.json`), `${dir}/${s}.log`);
    }
    return out;
  }

  /** Starts this relay's client role in A (mux 1, 10.99.0.1/24) and B (mux 2, 10.99.0.2/24) with `extra` flags. */
  spawnRelayClients(dir: string, extra: string[], host: string = AnycastPair.ANY): void {
    for (const [k, mux, inner] of [
      ["a", 1, "10.99.0.1/24"],
      ["b", 2, "10.99.0.2/24"],
    ] as const)
      this.lab.spawn(
        this.clients[k]!,
        [...RELAY, ...extra, "-r", host, "-o", "4444", "-m", String(mux), "-e", "client"].concat([
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
