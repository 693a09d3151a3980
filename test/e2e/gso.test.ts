// UDP GSO over a real link (root, namespaces): A and B joined by a veth pair whose MTU is 1280.
// A run of 1200-byte datagrams goes as runs (the kernel cuts them; B counts every datagram, in
// order); a run of 1400-byte ones is past the path MTU, which the kernel refuses as a run
// (EINVAL): it is resent datagram by datagram (fragmented), every one arrives, and that
// destination gets no more runs while the other still does.
//
//   A 10.209.0.1 ── 10.209.0.2 B (+10.209.0.6)    MTU 1280
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BUN, isRoot, Lab, ROOT } from "../lib/netns.ts";

if (!isRoot) console.warn("e2e gso: skipped (needs root)");

const SINK = `
const got = [];
for (const host of ["10.209.0.2", "10.209.0.6"])
  await Bun.udpSocket({ hostname: host, port: 7000, socket: { data(_s, d) { got.push(host + ":" + d.length + ":" + d[0]); } } });
console.log("ready");
await Bun.sleep(Number(process.argv[1]));
console.log(JSON.stringify(got));
process.exit(0);`;

const SEND = `
import { openFds, tuneUdp } from "${ROOT}src/transport/sockopt.ts";
const before = openFds();
const s = await Bun.udpSocket({ hostname: "0.0.0.0", port: 0, socket: { error() {} } });
const { gso } = tuneUdp(s.port, before, { buffers: { receive: 0, send: 0 }, gso: true });
const report = [];
const batch = (to, size, n, tag) => {
  const items = [];
  for (let i = 0; i < n; i++) items.push(new Uint8Array(size).fill(tag + i), 7000, to);
  const sent = gso.send(items, n);
  report.push({ to, size, sent, runs: gso.runs, fallbacks: gso.fallbacks });
};
batch("10.209.0.2", 1200, 20, 0);   // runs
batch("10.209.0.2", 1400, 10, 100); // past the MTU: refused as a run, sent one by one
batch("10.209.0.2", 1200, 10, 200); // this destination: no runs now
batch("10.209.0.6", 1200, 10, 50);  // another destination: runs still
console.log(JSON.stringify(report));
process.exit(0);`;

describe.skipIf(!isRoot)("UDP GSO on a 1280-byte link (namespaces)", () => {
  const lab = new Lab("gs");
  let a = "";
  let b = "";
  beforeAll(() => {
    a = lab.ns("a");
    b = lab.ns("b");
    const [da] = lab.link(a, "10.209.0.1/30", b, "10.209.0.2/30");
    lab.exec(b, ["ip", "addr", "add", "10.209.0.6/32", "dev", "lo"]);
    lab.exec(a, ["ip", "route", "add", "10.209.0.6/32", "via", "10.209.0.2"]);
    for (const [n, dev] of [
      [a, da],
      [b, lab.exec(b, ["sh", "-c", "ls /sys/class/net | grep '^v'"]).trim()],
    ] as const)
      lab.exec(n, ["ip", "link", "set", dev, "mtu", "1280"]);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  test("runs arrive as datagrams; a run past the MTU is resent one by one and that destination gets no more runs", async () => {
    const sink = Bun.spawn(["ip", "netns", "exec", b, BUN, "-e", SINK, "3000"], { stdout: "pipe" });
    const reader = sink.stdout.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain("ready");
    const report = JSON.parse(lab.exec(a, [BUN, "-e", SEND]).trim()) as {
      to: string;
      size: number;
      sent: number;
      runs: number;
      fallbacks: number;
    }[];
    let rest = "";
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      rest += new TextDecoder().decode(r.value);
    }
    const got = JSON.parse(rest.trim().split("\n").pop()!) as string[];
    expect(report.map((r) => r.sent)).toEqual([20, 10, 10, 10]);
    // the 1200s went as a run; the 1400s were refused as one and resent; then no run to .2, one to .6
    expect(report[0]!.runs).toBe(1);
    expect(report[1]!.fallbacks).toBe(1);
    expect(report[1]!.runs).toBe(1);
    expect(report[2]!.runs).toBe(1);
    expect(report[3]!.runs).toBe(report[2]!.runs + 1);
    expect(report[3]!.fallbacks).toBe(1);
    const to2 = got.filter((g) => g.startsWith("10.209.0.2:"));
    const to6 = got.filter((g) => g.startsWith("10.209.0.6:"));
    expect(to2).toEqual([
      ...Array.from({ length: 20 }, (_, i) => `10.209.0.2:1200:${i}`),
      ...Array.from({ length: 10 }, (_, i) => `10.209.0.2:1400:${100 + i}`),
      ...Array.from({ length: 10 }, (_, i) => `10.209.0.2:1200:${200 + i}`),
    ]);
    expect(to6).toEqual(Array.from({ length: 10 }, (_, i) => `10.209.0.6:1200:${50 + i}`));
  });
});
