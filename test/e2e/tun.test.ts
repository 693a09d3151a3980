// TUN via bun:ffi: name validation (any user), and an ICMP echo answered by a Bun TUN inside a
// throwaway network namespace (root): `ping -c 20` must get 20 replies, and closing the device
// must remove the interface. Traffic stays inside the namespace.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { openTun, TunError } from "../../src/tun.ts";
import { BUN, have, isRoot, Lab, pingReceived, ROOT } from "../lib/netns.ts";

test("openTun rejects a name longer than 15 bytes before any syscall", () => {
  expect(() => openTun({ name: "x".repeat(16) })).toThrow(TunError);
  expect(() => openTun({ name: "x".repeat(16) })).toThrow(/at most 15/);
});

const ready = isRoot && have("ping") && have("ip");
if (!ready) console.warn("e2e tun: skipped, needs root (creates a network namespace and a TUN device), ip and ping");

describe("TUN echo in a namespace", () => {
  const lab = new Lab("rt-tun-");
  const logs: string[] = [];
  afterAll(async () => {
    await lab.cleanup();
    for (const f of logs) rmSync(f, { force: true });
  });

  test.skipIf(!ready)(
    "a Bun TUN answers 20 of 20 pings (needs root)",
    async () => {
      const ns = lab.ns("echo");
      const log = `${tmpdir()}/${ns}.log`;
      logs.push(log);
      const helper = `${ROOT}test/lib/programs/tun-echo.ts`;
      const p = lab.spawn(ns, [BUN, helper, "rtecho%d", "10.77.0.1/24", "10.77.0.2"], log);
      const out = (): string => {
        try {
          return readFileSync(log, "utf8");
        } catch {
          return "";
        }
      };
      await lab
        .until("tun-echo to print ready", () => out().includes("ready ") || p.exitCode !== null)
        .catch((e) => {
          throw new Error(`${(e as Error).message}; its output: ${out()}`);
        });
      const dev = /ready (\S+)/.exec(out())?.[1];
      expect(dev, `tun-echo failed: ${out()}`).toBeDefined();

      const ping = lab.exec(ns, ["ping", "-c", "20", "-i", "0.01", "-w", "5", "10.77.0.2"], { ok: true });
      expect(pingReceived(ping), ping).toBe(20);

      await lab.stop(p);
      expect(out()).toContain('"txPackets":20');
      expect(lab.hasDevice(ns, dev!), "close() must remove the interface").toBe(false);
    },
    30000,
  );
});
