// Test helper (root, run inside a namespace): opens a TUN, gives it ADDR (CIDR) and answers ICMP
// echo requests sent to PEER by swapping addresses and rewriting type 8 → 0 in place.
// Usage: bun tun-echo.ts NAME ADDR PEER. Prints "ready <ifname>" once configured; SIGTERM closes it.
import { configureLink, openTun } from "../../../src/tun.ts";

const [name = "rtecho%d", addr = "10.77.0.1/24", peer = "10.77.0.2"] = process.argv.slice(2);
const peerBytes = peer.split(".").map(Number);
const dev = openTun({ name });
configureLink(dev.name, { address: addr, mtu: 1500, up: true });

const isPeer = (p: Uint8Array): boolean =>
  p[16] === peerBytes[0] && p[17] === peerBytes[1] && p[18] === peerBytes[2] && p[19] === peerBytes[3];

dev.start((p) => {
  const ihl = (p[0]! & 0x0f) * 4;
  if (p.length < ihl + 8 || p[0]! >> 4 !== 4 || p[9] !== 1 || p[ihl] !== 8 || !isPeer(p)) return;
  for (let i = 12; i < 16; i++) {
    const t = p[i]!;
    p[i] = p[i + 4]!;
    p[i + 4] = t; // IP header checksum is unchanged by the swap
  }
  p[ihl] = 0; // echo reply; checksum += 0x0800 in one's complement
  let sum = ((p[ihl + 2]! << 8) | p[ihl + 3]!) + 0x0800;
  sum = (sum & 0xffff) + (sum >> 16);
  p[ihl + 2] = sum >> 8;
  p[ihl + 3] = sum & 0xff;
  dev.write(p);
});

process.on("SIGTERM", () => {
  dev.close();
  console.log(`stats ${JSON.stringify(dev.stats)}`);
  process.exit(0);
});
console.log(`ready ${dev.name}`);
