// Real NATS servers for tests and benchmarks (Debian's nats-server, never a mock): a cluster of
// `n` nodes on loopback ports with JetStream on, each its own process with its own store dir;
// kill one by PID, start it again, stop all (by PID, dirs removed).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { freePort } from "./util.ts";

export const haveNats = Bun.which("nats-server") !== null;

export { freePort };

export class NatsCluster {
  readonly ports: number[];
  private readonly routes: number[];
  private readonly procs: (Bun.Subprocess | null)[];
  private readonly dir = mkdtempSync(`${tmpdir()}/nats-test-`);

  constructor(readonly n: number) {
    this.ports = Array.from({ length: n }, freePort);
    this.routes = Array.from({ length: n }, freePort);
    this.procs = Array.from({ length: n }, () => null);
  }

  url(i: number): string {
    return `nats://127.0.0.1:${this.ports[i]}`;
  }

  get urls(): string[] {
    return this.ports.map((_, i) => this.url(i));
  }

  start(i: number): void {
    const others = this.routes.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`);
    const args = ["nats-server", "-a", "127.0.0.1", "-p", String(this.ports[i]), "-n", `n${i}`];
    args.push("-js", "-sd", `${this.dir}/n${i}`);
    if (this.n > 1) args.push("--cluster_name", "test", "--cluster", `nats://127.0.0.1:${this.routes[i]}`);
    if (others.length > 0) args.push("--routes", others.join(","));
    this.procs[i] = Bun.spawn(args, { stdout: "ignore", stderr: "ignore" });
  }

  /** Starts every node and waits until each takes TCP connections. */
  async up(): Promise<this> {
    for (let i = 0; i < this.n; i++) this.start(i);
    for (let i = 0; i < this.n; i++) await this.listening(i);
    await Bun.sleep(300); // routes between the nodes
    return this;
  }

  async listening(i: number): Promise<void> {
    const end = Date.now() + 5000;
    for (;;) {
      try {
        const s = await Bun.connect({ hostname: "127.0.0.1", port: this.ports[i]!, socket: { data() {} } });
        s.end();
        return;
      } catch {
        if (Date.now() > end) throw new Error(`nats-server n${i} did not listen on ${this.ports[i]}`);
        await Bun.sleep(50);
      }
    }
  }

  /** kill -9 of node i (its PID only). */
  async kill(i: number): Promise<void> {
    const p = this.procs[i];
    if (p === null || p === undefined) return;
    p.kill("SIGKILL");
    await p.exited;
    this.procs[i] = null;
  }

  async stop(): Promise<void> {
    for (let i = 0; i < this.n; i++) await this.kill(i);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
