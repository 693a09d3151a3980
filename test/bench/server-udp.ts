// Server forwarding rate on loopback, no root: starts `bun relay.ts` as a server (its own
// process), floods it from client A with pre-sealed SATP packets (replay window off, so a ring
// of sealed packets can be resent), counts what reaches client B decrypted, and reads the
// server's CPU time from /proc. Prints packets/s and CPU µs per forwarded packet.
//   bun test/bench/server-udp.ts [seconds=5] [payload=1400] [rate-pps=0 (flat out)]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { HEADER_LEN, PT_IPV4 } from "../../src/satp/codec.ts";
import { SatpCrypto } from "../../src/satp/crypto.ts";
import { deriveMaster } from "../../src/satp/suite.ts";

const secs = Number(process.argv[2] ?? 5);
const size = Number(process.argv[3] ?? 1400);
const rate = Number(process.argv[4] ?? 0);
const suite = { cipher: "aes-ctr", auth: "sha1", tagLength: 10, kdPrf: "aes-ctr" } as const;
const PORT = 47000 + (process.pid % 1000);
const dir = mkdtempSync(`${tmpdir()}/relay-bench-`);
writeFileSync(
  `${dir}/server.json`,
  JSON.stringify({
    mode: "server",
    listen: [`127.0.0.1:${PORT}`],
    admin: { enabled: false },
    drainSeconds: 0,
    crypto: { window: 0 }, // the ring of pre-sealed packets is resent (server mode defaults to 1024)
    clients: [
      { mux: 1, passphrase: "bench a", routes: ["10.99.0.1/32"] },
      { mux: 2, passphrase: "bench b", routes: ["10.99.0.2/32"] },
    ],
    log: ["stderr:2"],
  }),
);
const root = new URL("../../", import.meta.url).pathname;
const prof = process.env.BENCH_PROFILE
  ? ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
  : [];
const server = Bun.spawn([process.execPath, ...prof, `${root}relay.ts`, "--config", `${dir}/server.json`], {
  stderr: "inherit",
});
const cpu = () => {
  const f = readFileSync(`/proc/${server.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, seconds (CLK_TCK 100)
};

const a = new SatpCrypto(suite, deriveMaster("aes-ctr", { passphrase: "bench a" }), "right");
const b = new SatpCrypto(suite, deriveMaster("aes-ctr", { passphrase: "bench b" }), "right");
let got = 0,
  bad = 0;
const sink = await Bun.udpSocket({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    data(_s, buf) {
      const n = b.open(buf, buf.readUInt32BE(0), buf.readUInt16BE(4), buf.readUInt16BE(6), null);
      if (n > 2) got++;
      else bad++;
    },
  },
});
const src = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, connect: { hostname: "127.0.0.1", port: PORT } });
const seal = (c: SatpCrypto, mux: number, seq: number, dst: string) => {
  const inner = new Uint8Array(size);
  inner[0] = 0x45;
  inner[2] = size >> 8;
  inner[3] = size & 255;
  inner[9] = 17;
  inner.set([10, 99, 0, mux], 12);
  inner.set(dst.split(".").map(Number), 16);
  const buf = new Uint8Array(size + 64);
  buf[HEADER_LEN] = PT_IPV4 >> 8;
  buf[HEADER_LEN + 1] = PT_IPV4 & 255;
  buf.set(inner, HEADER_LEN + 2);
  return buf.slice(0, c.seal(seq, 0, mux, buf, size + 2));
};
await Bun.sleep(400);
// B speaks once so the server learns where B is.
sink.send(seal(b, 2, 0, "10.99.0.1"), PORT, "127.0.0.1");
const ring = Array.from({ length: 1024 }, (_, i) => seal(a, 1, i, "10.99.0.2"));
await Bun.sleep(100);

let sent = 0;
const t0 = performance.now();
const c0 = cpu();
const end = t0 + secs * 1000;
await new Promise<void>((done) => {
  const tick = () => {
    const now = performance.now();
    if (now >= end) return done();
    const want = rate > 0 ? Math.floor(((now - t0) / 1000) * rate) - sent : 64;
    for (let k = 0; k < Math.min(want, 256); k += 32) {
      const batch = [];
      for (let j = 0; j < 32; j++) batch.push(ring[(sent + j) & 1023]!);
      try {
        sent += src.sendMany(batch);
      } catch {
        /* buffer full */
      }
    }
    setImmediate(tick);
  };
  tick();
});
const elapsed = (performance.now() - t0) / 1000;
const c1 = cpu();
await Bun.sleep(200);
server.kill("SIGINT"); // drainSeconds 0: exits after the drain (and writes a --cpu-prof profile)
const killer = setTimeout(() => server.kill("SIGKILL"), 3000);
await server.exited;
clearTimeout(killer);
sink.close();
src.close();
rmSync(dir, { recursive: true });
const pps = got / elapsed;
console.log(`bun ${Bun.version}, ${size}-byte inner packets, ${secs}s${rate ? `, offered ${rate} pps` : ", flat out"}`);
console.log(
  `offered ${(sent / elapsed / 1000).toFixed(1)} kpps, forwarded+decrypted at B ${(pps / 1000).toFixed(1)} kpps (${((pps * size * 8) / 1e6).toFixed(0)} Mbit/s inner), bad ${bad}`,
);
console.log(
  `server CPU ${(c1 - c0).toFixed(2)} s = ${(((c1 - c0) / elapsed) * 100).toFixed(0)}% of a core, ${(((c1 - c0) / got) * 1e6).toFixed(2)} µs per forwarded packet`,
);
