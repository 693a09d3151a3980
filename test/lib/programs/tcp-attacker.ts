// Test helper (root, run inside a test namespace): a keyless attacker of full anycast TCP. It
// opens a TUN, routes the test prefix NET (e.g. 10.205.0.0/16, inside the lab only) to it and
// writes hand-made IPv4 TCP segments with sources in NET to DST:PORT; the kernel forwards them
// like any other host's. Replies to NET come back into the TUN and are counted.
//   bun tcp-attacker.ts DEV NET DST PORT syn RATE SECONDS   spoofed SYNs from random NET addresses
//   bun tcp-attacker.ts DEV NET DST PORT ooo COUNT          one real handshake (cookie and all),
//        then COUNT overlapping 1400-byte out-of-order segments on that connection, never the
//        next byte expected
//   bun tcp-attacker.ts DEV NET DST PORT spoof SRC SPORT COUNT SEQ ACK   COUNT segments as SRC:SPORT
//        (another host's flow), ACK set, 64 bytes of noise each; SEQ and ACK numbers or "rand"
// Prints one JSON line with what it sent and saw; exit 1 when the handshake failed.
import { openTun, configureLink } from "../../../src/tun.ts";
import { ACK, buildPacket, packetRoom, parsePacket, PSH, SYN } from "../../../src/tcp/segment.ts";

const [dev = "atk0", net = "10.205.0.0/16", dst = "10.201.0.1", portArg = "4444", mode = "syn", ...rest] =
  process.argv.slice(2);
const port = Number(portArg);
const ip = (s: string) => Uint8Array.from(s.split(".").map(Number));
const dstIp = ip(dst);
const [netBase] = net.split("/") as [string];
const base = ip(netBase);
const sh = (cmd: string[]) => {
  const r = Bun.spawnSync(cmd, { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
};

const tun = openTun({ name: dev });
configureLink(tun.name, { mtu: 1500, up: true });
sh(["ip", "route", "replace", net, "dev", tun.name]);
sh(["sysctl", "-qw", `net.ipv4.conf.${tun.name}.rp_filter=0`, "net.ipv4.conf.all.rp_filter=0"]);

let seed = 0x2545f491;
const rand = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
};
const out = new Uint8Array(packetRoom(1500));
const seen = { synAcks: 0, resets: 0, acks: 0, other: 0 };
let handshake: { seq: number; ack: number } | null = null;
let ours: Uint8Array | null = null;
let ourPort = 0;
tun.start((pkt) => {
  const p = parsePacket(pkt);
  if (p === null) return void seen.other++;
  const f = p.seg.flags;
  if (f & SYN && f & ACK) {
    seen.synAcks++;
    if (ours !== null && p.seg.dstPort === ourPort && p.dst.every((b, i) => b === ours![i]))
      handshake = { seq: p.seg.ack, ack: (p.seg.seq + 1) >>> 0 };
  } else if (f & 0x04) seen.resets++;
  else if (f & ACK) seen.acks++;
  else seen.other++;
});
const send = (src: Uint8Array, srcPort: number, seq: number, ack: number, flags: number, payload: Uint8Array) => {
  const n = buildPacket(
    out,
    { src, dst: dstIp },
    { srcPort, dstPort: port, seq, ack, flags, wnd: 65535, payload, ...(flags & SYN ? { mss: 1460, wscale: 7 } : {}) },
  );
  return tun.write(out.subarray(0, n));
};
const randomSource = () => {
  const a = base.slice();
  a[2] = 1 + (rand() % 250);
  a[3] = 1 + (rand() % 250);
  return a;
};
const EMPTY = new Uint8Array(0);

if (mode === "spoof") {
  const [src = "", sport = "0", count = "100", seqArg = "rand", ackArg = "rand"] = rest;
  const noise = new Uint8Array(64);
  let sent = 0;
  for (let i = 0; i < Number(count); i++) {
    for (let k = 0; k < noise.length; k++) noise[k] = rand() & 255;
    const seq = seqArg === "rand" ? rand() : (Number(seqArg) + i * 64) >>> 0;
    const ack = ackArg === "rand" ? rand() : Number(ackArg) >>> 0;
    if (send(ip(src), Number(sport), seq, ack, ACK | PSH, noise)) sent++;
    if (i % 100 === 99) await Bun.sleep(1);
  }
  await Bun.sleep(200);
  console.log(JSON.stringify({ mode, sent, ...seen }));
} else if (mode === "syn") {
  const rate = Number(rest[0] ?? 10000);
  const seconds = Number(rest[1] ?? 10);
  let sent = 0;
  let failed = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    for (; sent + failed < due;)
      if (send(randomSource(), 1024 + (rand() % 60000), rand(), 0, SYN, EMPTY)) sent++;
      else failed++;
    await Bun.sleep(5);
  }
  await Bun.sleep(300);
  const s = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({ mode, sent, failed, seconds: Math.round(s * 10) / 10, rate: Math.round(sent / s), ...seen }),
  );
} else {
  const count = Number(rest[0] ?? 30000);
  ours = base.slice();
  ours[2] = 255;
  ours[3] = 1;
  ourPort = 40000 + (rand() % 20000);
  const isn = rand();
  for (let i = 0; i < 5 && handshake === null; i++) {
    send(ours, ourPort, isn, 0, SYN, EMPTY);
    for (let w = 0; w < 20 && handshake === null; w++) await Bun.sleep(50);
  }
  if (handshake === null) {
    console.log(JSON.stringify({ mode, handshake: false, ...seen }));
    process.exit(1);
  }
  const hs = handshake as { seq: number; ack: number };
  send(ours, ourPort, hs.seq, hs.ack, ACK, EMPTY);
  await Bun.sleep(100);
  const piece = new Uint8Array(1400).fill(0x41);
  let sent = 0;
  for (let i = 0; i < count; i++) {
    const off = 1 + (rand() % (6 << 20)); // anywhere in (and beyond) a 4 MiB window, never at RCV.NXT
    if (send(ours, ourPort, (hs.seq + off) >>> 0, hs.ack, ACK | PSH, piece)) sent++;
    if (i % 200 === 199) await Bun.sleep(2); // let the kernel and the server keep up
  }
  await Bun.sleep(500);
  console.log(
    JSON.stringify({ mode, handshake: true, sent, bytes: sent * 1400, flow: `${ours.join(".")}|${ourPort}`, ...seen }),
  );
}
tun.close();
process.exit(0);
