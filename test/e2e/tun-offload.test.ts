// TUN read offloads (root, two namespaces): a device opened with `offload` takes TCP super-packets
// and partial checksums from the kernel, and reads cut them back (net/tso.ts). The test wires two
// TUNs back to back through that code: X's stack sends through the offload device `ofa`, every
// packet read there is written to the plain device `ofb`, which was moved into namespace Y, and
// back. iperf3 TCP (X → Y and Y → X) and UDP (X → Y) must pass with Y's and X's stacks checking
// every checksum; the device must have cut super-packets (rxOffloaded > 0), delivered many more
// packets than it read super-packets, and dropped nothing as unreadable. While the UDP run
// carries all the bytes the device turns its offloads off, and TCP turns them on again.
//
//   X: ofa 10.214.0.1/24 (offload)  ══ this script ══  Y: ofb 10.214.0.2/24 (plain)
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { BUN, have, iperf3, isRoot, Lab, ROOT } from "../lib/netns.ts";

const ready = isRoot && have("iperf3");
if (!ready) console.warn("e2e tun-offload: skipped (needs root, iperf3)");

const script = (y: string) => `
import { openTun, configureLink, ip } from "${ROOT}src/tun.ts";
const a = openTun({ name: "ofa", batch: true, offload: true });
const b = openTun({ name: "ofb" });
configureLink("ofa", { address: "10.214.0.1/24", mtu: 1400, up: true });
if (!ip(["link", "set", "ofb", "netns", "${y}"]).ok) throw new Error("cannot move ofb");
a.start((p) => { b.write(p); });
b.start((p) => { a.write(p); });
console.log("READY " + JSON.stringify({ offloaded: a.offloaded }));
process.on("SIGTERM", () => {
  console.log("STATS " + JSON.stringify({ a: a.stats, b: b.stats }));
  a.close(); b.close();
  process.exit(0);
});
setInterval(() => console.log("STATE " + JSON.stringify({ offloaded: a.offloaded, switches: a.stats.offloadSwitches, cut: a.stats.rxOffloaded })), 250);
`;

describe.skipIf(!ready)("TUN read offloads (namespaces)", () => {
  const lab = new Lab("to");
  afterAll(async () => {
    await lab.cleanup();
  });

  test(
    "TCP super-packets are cut into segments both stacks accept; UDP checksums completed; UDP turns the offloads off, TCP on",
    { timeout: 40000 },
    async () => {
      const x = lab.ns("x");
      const y = lab.ns("y");
      const log = `/tmp/${lab.prefix}-offload.log`;
      const wire = lab.spawn(x, [BUN, "-e", script(y)], log);
      const text = () => (existsSync(log) ? readFileSync(log, "utf8") : "");
      await lab.until("the wire", () => text().includes("READY"));
      expect(text()).toContain('"offloaded":true');
      await lab.until("ofb in Y", () => lab.hasDevice(y, "ofb"));
      lab.exec(y, ["ip", "addr", "add", "10.214.0.2/24", "dev", "ofb"]);
      lab.exec(y, ["ip", "link", "set", "ofb", "mtu", "1400", "up"]);
      lab.spawn(y, ["iperf3", "-s", "-B", "10.214.0.2", "-p", "5201"]);
      await Bun.sleep(300);
      const up = await iperf3(lab, x, "10.214.0.2", 5201, ["-t", "2"]);
      const down = await iperf3(lab, x, "10.214.0.2", 5201, ["-t", "2", "-R"]);
      const state = () => {
        const l = text()
          .split("\n")
          .filter((x) => x.startsWith("STATE "))
          .pop();
        return JSON.parse(l!.slice(6)) as { offloaded: boolean; switches: number; cut: number };
      };
      expect(state().offloaded).toBe(true);
      // iperf3's server may still be closing the last test: one retry after 500 ms
      const udpRun = () =>
        lab.exec(x, ["iperf3", "-c", "10.214.0.2", "-p", "5201", "-u", "-b", "200M", "-l", "1300", "-t", "3", "-J"], {
          ok: true,
        });
      let out = udpRun();
      if (!out.includes('"sum"')) {
        await Bun.sleep(500);
        out = udpRun();
      }
      const udp = JSON.parse(out) as { end?: { sum?: { packets?: number; lost_packets?: number } } };
      await Bun.sleep(300);
      const afterUdp = state();
      const again = await iperf3(lab, x, "10.214.0.2", 5201, ["-t", "3"]);
      await Bun.sleep(300);
      const afterTcp = state();
      console.log(
        `  offloads: on → after UDP ${afterUdp.offloaded ? "on" : "off"} → after TCP ${afterTcp.offloaded ? "on" : "off"} (${afterTcp.switches} switches); TCP again ${again.toFixed(0)} Mbit/s`,
      );
      expect(afterUdp.offloaded).toBe(false);
      expect(afterUdp.switches).toBe(1);
      expect(afterTcp.offloaded).toBe(true);
      expect(afterTcp.switches).toBe(2);
      expect(afterTcp.cut).toBeGreaterThan(afterUdp.cut); // cutting again once back on
      expect(again).toBeGreaterThan(50);
      console.log(`  through the offload wire: TCP X → Y ${up.toFixed(0)} Mbit/s, Y → X ${down.toFixed(0)} Mbit/s`);
      wire.kill("SIGTERM");
      await wire.exited;
      const line = text()
        .split("\n")
        .find((l) => l.startsWith("STATS "))!;
      const st = JSON.parse(line.slice(6)) as {
        a: { rxPackets: number; rxOffloaded: number; rxErrors: number; callbackErrors: number };
      };
      console.log(`  ofa: ${st.a.rxOffloaded} super-packets cut, ${st.a.rxPackets} packets delivered`);
      expect(up).toBeGreaterThan(50);
      expect(down).toBeGreaterThan(50);
      // UDP: X's stack left the checksums partial; Y counts a datagram with a bad one as lost
      const sum = udp.end?.sum;
      expect(sum?.packets ?? 0).toBeGreaterThan(1000);
      expect((sum?.lost_packets ?? 0) / (sum?.packets ?? 1)).toBeLessThan(0.05);
      expect(st.a.rxOffloaded).toBeGreaterThan(100);
      expect(st.a.rxPackets).toBeGreaterThan(st.a.rxOffloaded * 2);
      expect(st.a.rxErrors).toBe(0);
      expect(st.a.callbackErrors).toBe(0);
    },
  );
});
