// Interop e2e (root): the real anytun 0.3.8 against `bun relay.ts` in both roles, default crypto
// and aes-ctr-256 with a 20-byte tag, non-zero mux and sender ids, on both packet crypto libraries. Ping and iperf3 TCP through
// the tunnel, both ways. Topology: namespaces ours <-veth 192.0.2.0/24-> theirs, tunnel 198.51.100.0/24.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BUN, configureTun, have, iperf3, isRoot, Lab, pingReceived, RELAY } from "../lib/netns.ts";

const ready = isRoot && have("anytun") && have("iperf3") && have("ping");
if (!ready) console.warn("e2e anytun-peer: skipped (needs root, anytun, iperf3, ping; CI installs them)");

const OURS = "192.0.2.1";
const THEIRS = "192.0.2.2";
const IN_OURS = "198.51.100.1";
const IN_THEIRS = "198.51.100.2";

interface Case {
  name: string;
  ourRole: "left" | "right";
  weDial: boolean; // we give -r; else the other side does and we learn the endpoint
  crypto: string[];
  ourExtra: string[];
  theirExtra: string[];
}

const CASES: Case[] = [
  {
    name: "default crypto, ours left dials, anytun right learns",
    ourRole: "left",
    weDial: true,
    crypto: [],
    ourExtra: [],
    theirExtra: [],
  },
  {
    name: "default crypto, anytun left dials, ours right learns",
    ourRole: "right",
    weDial: false,
    crypto: [],
    ourExtra: [],
    theirExtra: [],
  },
  {
    name: "aes-ctr-256 tag 20 mux 4660, ours left (sid 258) dials",
    ourRole: "left",
    weDial: true,
    crypto: ["-c", "aes-ctr-256", "-b", "20", "-m", "4660"],
    ourExtra: ["-s", "258"],
    theirExtra: ["-s", "772"],
  },
  {
    name: "aes-ctr-256 kd-256 tag 20 mux 4660, ours right (sid 772) learns, window 64",
    ourRole: "right",
    weDial: false,
    crypto: ["-c", "aes-ctr-256", "-k", "aes-ctr-256", "-b", "20", "-m", "4660", "-w", "64"],
    ourExtra: ["-s", "772"],
    theirExtra: ["-s", "258"],
  },
  {
    // the other packet crypto library (the cases above run on libcrypto, cryptoLibrary's auto)
    name: "default crypto on node:crypto (--crypto-library node), ours left dials",
    ourRole: "left",
    weDial: true,
    crypto: [],
    ourExtra: ["--crypto-library", "node"],
    theirExtra: [],
  },
];

describe.skipIf(!ready)("anytun 0.3.8 interop (namespaces)", () => {
  const lab = new Lab("at");
  let nsOurs = "";
  let nsTheirs = "";
  const logDir = `/tmp/${lab.prefix}-logs`;

  beforeAll(() => {
    nsOurs = lab.ns("o");
    nsTheirs = lab.ns("t");
    lab.link(nsOurs, `${OURS}/24`, nsTheirs, `${THEIRS}/24`);
    lab.exec(nsOurs, ["mkdir", "-p", logDir]);
  });
  afterAll(async () => {
    await lab.cleanup();
  });

  for (const [i, c] of CASES.entries()) {
    test(
      c.name,
      async () => {
        const pass = `interop passphrase ${i}`;
        const theirRole = c.ourRole === "left" ? "right" : "left";
        const ours = lab.spawn(
          nsOurs,
          [
            ...RELAY,
            "-d",
            "sat0",
            "-n",
            `${IN_OURS}/24`,
            "-e",
            c.ourRole,
            "-E",
            pass,
            "-L",
            "stdout:5",
            ...(c.weDial ? ["-r", THEIRS, "-o", "4444"] : []),
            ...c.crypto,
            ...c.ourExtra,
          ],
          `${logDir}/ours-${i}.log`,
        );
        const theirs = lab.spawn(
          nsTheirs,
          [
            "anytun",
            "-D",
            "-L",
            "stdout:3",
            "-t",
            "tun",
            "-d",
            "sat0",
            "-e",
            theirRole,
            "-E",
            pass,
            ...(c.weDial ? [] : ["-r", OURS, "-o", "4444"]),
            ...c.crypto,
            ...c.theirExtra,
          ],
          `${logDir}/theirs-${i}.log`,
        );
        try {
          await lab.until("our device", () => lab.hasDevice(nsOurs, "sat0"));
          await lab.until("anytun's device", () => lab.hasDevice(nsTheirs, "sat0"));
          configureTun(lab, nsTheirs, "sat0", `${IN_THEIRS}/24`);
          await Bun.sleep(300);
          if (!c.weDial) {
            // Forged first packets (another port, our mux and another one, garbage tags) must not
            // make our learning side adopt an endpoint, as one would with anytun.
            const forge = `const s = await Bun.udpSocket({ port: 9999 }); const b = new Uint8Array(60); b[6] = ${c.crypto.includes("4660") ? "0x12; b[7] = 0x34" : "0"}; s.send(b, 4444, "${OURS}"); b[7] = 7; s.send(b, 4444, "${OURS}"); await Bun.sleep(50); s.close();`;
            lab.exec(nsTheirs, [BUN, "-e", forge]);
            await Bun.sleep(100);
          }
          // The side that learns speaks second: the dialer's first ping teaches it the endpoint.
          const [first, firstDst, second, secondDst] = c.weDial
            ? [nsOurs, IN_THEIRS, nsTheirs, IN_OURS]
            : [nsTheirs, IN_OURS, nsOurs, IN_THEIRS];
          const p1 = lab.exec(first, ["ping", "-c", "5", "-i", "0.1", "-w", "5", firstDst], { ok: true });
          expect(pingReceived(p1)).toBeGreaterThanOrEqual(4); // the first may be lost to ARP-less start-up
          const p2 = lab.exec(second, ["ping", "-c", "5", "-i", "0.1", "-w", "5", secondDst], { ok: true });
          expect(pingReceived(p2)).toBe(5);

          const srv = lab.spawn(nsTheirs, ["iperf3", "-s", "-B", IN_THEIRS, "-p", "5201"]);
          await Bun.sleep(300);
          const up = await iperf3(lab, nsOurs, IN_THEIRS, 5201, ["-t", "2"]);
          const down = await iperf3(lab, nsOurs, IN_THEIRS, 5201, ["-t", "2", "-R"]);
          await lab.stop(srv);
          console.log(
            `  ${c.name}: iperf3 TCP ours→anytun ${up.toFixed(0)} Mbit/s, anytun→ours ${down.toFixed(0)} Mbit/s`,
          );
          expect(up).toBeGreaterThan(1);
          const ourLog = await Bun.file(`${logDir}/ours-${i}.log`).text();
          expect(ourLog).not.toContain(":9999");
          if (!c.weDial) expect(ourLog).toContain(`msg="peer endpoint learned" to=${THEIRS}:4444`);
          expect(down).toBeGreaterThan(1);
        } finally {
          await lab.stop(ours);
          await lab.stop(theirs);
        }
      },
      60000,
    );
  }
});
