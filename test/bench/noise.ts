// Noise suite micro-benchmark (no root): what the pieces cost in this runtime, for sizing the
// responder under an initiation flood and the transport against SATP. Prints:
//   handshakes/s (initiator + responder, 4 + 4 X25519 each), responder initiations/s refused at
//   mac1 and answered with a cookie (no DH), transport seal and open packets/s at 100 and 1400 B
//   (the responder's own sessions, and the data path's: SatpSession + NoiseCrypto on each
//   cryptoLibrary), and the fuzz rate of the responder's receive path.
//   bun test/bench/noise.ts [seconds per figure = 1] [fuzz inputs = 1000000]
import { generateKeyPair } from "../../src/noise/keys.ts";
import { Initiator, Responder, sendOn } from "../../src/noise/peers.ts";
import { NoiseCrypto, NoiseReceiver } from "../../src/noise/crypto.ts";
import { SatpSession } from "../../src/satp/session.ts";
import { setCryptoLibrary } from "../../src/satp/crypto.ts";
import { PT_IPV4 } from "../../src/satp/codec.ts";
import { Rng } from "../lib/fuzz.ts";
import { noiseServerPath } from "../lib/noise-server.ts";

const secs = Number(process.argv[2] ?? 1);
const fuzzN = Number(process.argv[3] ?? 1_000_000);
const server = generateKeyPair();
const alice = generateKeyPair();
const responder = () =>
  new Responder<string>({ key: server, senderId: 1, clientOf: () => "alice", maxSessions: 1 << 20 }, 0);
const rate = (f: () => void) => {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < secs * 1000) {
    for (let i = 0; i < 50; i++) f();
    n += 50;
  }
  return n / ((performance.now() - t0) / 1000);
};

const r = responder();
const hs = rate(() => {
  const a = new Initiator(alice, server.pub);
  const res = r.receive(a.initiation(0), "192.0.2.1:1", false, 0);
  if (res.kind !== "session") throw new Error(res.kind);
  a.receive(res.packet!, 0);
  r.sessions.delete(res.session.local);
});
const init = new Initiator(alice, server.pub).initiation(0);
const bad = init.slice();
bad[120]! ^= 1;
const mac1 = rate(() => r.receive(bad, "192.0.2.1:1", false, 0));
const cookie = rate(() => r.receive(init, "192.0.2.1:1", true, 0));
const a = new Initiator(alice, server.pub);
const res = r.receive(a.initiation(0), "192.0.2.1:1", false, 0);
if (res.kind !== "session") throw new Error("no session");
a.receive(res.packet!, 0);
const s = res.session;
const rows: string[] = [];
for (const size of [100, 1400]) {
  const payload = new Uint8Array(size);
  const sealPps = rate(() => sendOn(s, 1, payload));
  const pkts = Array.from({ length: 200_000 }, () => sendOn(a.session!, 0, payload));
  let i = 0;
  const openPps = rate(() => r.receive(pkts[i++ % pkts.length]!, "192.0.2.1:1", false, 0));
  rows.push(`| responder's sessions | ${size} B | ${(sealPps / 1000).toFixed(0)}k | ${(openPps / 1000).toFixed(0)}k |`);
}
// The data path's transport (what clients and servers run per packet): a SatpSession with the
// handshake's keys in a NoiseCrypto, opened through a NoiseReceiver with a replay window.
for (const lib of ["openssl", "node"] as const) {
  setCryptoLibrary(lib);
  const now = Date.now();
  const tx = new SatpSession(new NoiseCrypto(), 0, 0);
  const cs = a.session!;
  tx.crypto.add({ local: cs.local, remote: cs.remote, send: cs.sendKey, recv: cs.recvKey, created: now });
  const rxs = new SatpSession(new NoiseCrypto(), 0, 1024);
  rxs.crypto.add({ local: s.local, remote: s.remote, send: s.sendKey, recv: s.recvKey, created: now });
  const rx = new NoiseReceiver((i) => (i === s.local ? rxs : undefined));
  for (const size of [100, 1400]) {
    const inner = new Uint8Array(size);
    const buf = new Uint8Array(size + 64);
    const sealPps = rate(() => tx.seal(buf, 0, PT_IPV4, inner));
    // fresh seqs only (the window refuses repeats): each of 100,000 sealed packets opened once
    const pkts = Array.from({ length: 100_000 }, () => buf.slice(0, tx.seal(buf, 0, PT_IPV4, inner)));
    let bad = 0;
    const t = performance.now();
    for (const p of pkts) if (rx.open(p) <= 0) bad++;
    const openPps = pkts.length / ((performance.now() - t) / 1000);
    rows.push(
      `| data path, cryptoLibrary ${lib} | ${size} B | ${(sealPps / 1000).toFixed(0)}k | ${(openPps / 1000).toFixed(0)}k${bad > 0 ? ` (${bad} refused!)` : ""} |`,
    );
  }
}
setCryptoLibrary("auto");
const fr = responder();
fr.receive(init, "192.0.2.1:1", false, 0); // accepted once: a mutation that still verifies is stale
const seeds = [init, sendOn(a.session!, 0, new Uint8Array(64))];
const rng = new Rng(20);
const reasons: Record<string, number> = {};
const t0 = performance.now();
for (let k = 0; k < fuzzN; k++) {
  let p: Uint8Array;
  if (k % 3 === 0) {
    p = new Uint8Array(rng.int(200));
    rng.fill(p);
    if (p.length > 4 && rng.chance(0.5)) p.set([1 + rng.int(4), 0, 0, 0]);
  } else {
    p = seeds[k % 2]!.slice();
    p[rng.int(p.length)]! ^= 1 + rng.int(255);
  }
  const out = fr.receive(p, "192.0.2.1:1", rng.chance(0.3), k);
  const key = out.kind === "drop" ? out.reason : out.kind;
  reasons[key] = (reasons[key] ?? 0) + 1;
}
const fuzzS = (performance.now() - t0) / 1000;

// the same mix through the server's whole receive path (noise.listen dispatch, gate, datapath)
const sp = noiseServerPath();
let uncounted = 0;
const t1 = performance.now();
for (let k = 0; k < fuzzN; k++) {
  let p: Uint8Array;
  if (k % 3 === 0) {
    p = new Uint8Array(rng.int(200));
    rng.fill(p);
    if (p.length > 4 && rng.chance(0.5)) p.set([1 + rng.int(4), 0, 0, 0]);
  } else {
    p = sp.seeds[k % 2]!.slice();
    p[rng.int(p.length)]! ^= 1 + rng.int(255);
  }
  if (sp.feed(p) < 1) uncounted++;
}
const serverS = (performance.now() - t1) / 1000;

console.log(`bun ${Bun.version}; Noise_IK_25519_AESGCM_SHA256, one core`);
console.log(`handshakes (both ends, 8 X25519): ${hs.toFixed(0)}/s`);
console.log(
  `responder, initiations with a bad mac1 (no DH): ${(mac1 / 1000).toFixed(0)}k/s; under load without a cookie (cookie reply, no DH): ${(cookie / 1000).toFixed(0)}k/s`,
);
console.log("| transport | payload | seal pkt/s | open + window pkt/s |");
console.log("|---|---|---|---|");
for (const row of rows) console.log(row);
console.log(
  `fuzz of the responder's receive path: ${fuzzN} inputs in ${fuzzS.toFixed(1)} s, 0 exceptions; ${JSON.stringify(reasons)}`,
);
console.log(
  `fuzz of the server's noise.listen path (dispatch, gate, datapath): ${fuzzN} inputs in ${serverS.toFixed(1)} s, 0 exceptions, ${uncounted} uncounted; drops ${JSON.stringify(Object.fromEntries(Object.entries(sp.dp.drops).filter(([, n]) => n > 0)))}`,
);
if (uncounted > 0) process.exitCode = 1;
