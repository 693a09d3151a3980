// The Noise suite's probe for the e2e tests, run inside a namespace:
//   bun noise-probe.ts send HOST:PORT SERVER_PUB PRIVATE_KEY_FILE FILE
//       a handshake as the client of PRIVATE_KEY_FILE, then one sealed ICMP echo request from
//       10.99.0.3 to 10.99.0.2; the sealed packet's bytes are saved to FILE
//   bun noise-probe.ts replay HOST:PORT FILE
//       the saved bytes sent again (a replay)
//   bun noise-probe.ts flood HOST:PORT SERVER_PUB bad|mac1 RATE SECONDS
//       forged initiations at RATE per second: with a bad mac1 (anyone can send these), or with a
//       valid one (an attacker who knows the server's public key); prints what it sent and the
//       cookie replies it got back
//   bun noise-probe.ts connect HOST:PORT SERVER_PUB PRIVATE_KEY_FILE
//       a real handshake, answering a cookie reply; prints the ms until the session (or "none")
import { readFileSync, writeFileSync } from "node:fs";
import { NoiseCrypto } from "../../../src/noise/crypto.ts";
import { keyPair, parseKey } from "../../../src/noise/keys.ts";
import { MacKeys, seal } from "../../../src/noise/macs.ts";
import { Initiator } from "../../../src/noise/peers.ts";
import { INITIATION_LEN, TYPE_INITIATION } from "../../../src/noise/wire.ts";
import { PT_IPV4 } from "../../../src/satp/codec.ts";
import { SatpSession } from "../../../src/satp/session.ts";

const [cmd, to, ...rest] = process.argv.slice(2);
const host = to!.slice(0, to!.lastIndexOf(":")).replace(/^\[|\]$/g, "");
const port = Number(to!.slice(to!.lastIndexOf(":") + 1));

let onData: (b: Uint8Array) => void = () => {};
const sock = await Bun.udpSocket({
  socket: {
    data(_s, buf) {
      onData(new Uint8Array(buf));
    },
  },
});

/** A handshake: the Initiator's session keys, answering one cookie reply; null after `ms`. */
async function handshake(serverPub: Uint8Array, keyFile: string, ms: number) {
  const ini = new Initiator(keyPair(parseKey(readFileSync(keyFile, "utf8"))), serverPub);
  const t0 = performance.now();
  const done = new Promise<ReturnType<Initiator["receive"]> | null>((resolve) => {
    onData = (b) => {
      const r = ini.receive(b, Date.now());
      if (r.kind === "cookie") {
        const again = ini.resend(Date.now());
        if (again !== null) sock.send(again, port, host);
      } else if (r.kind === "session") resolve(r);
    };
    setTimeout(() => resolve(null), ms);
  });
  sock.send(ini.initiation(Date.now()), port, host);
  const r = await done;
  return r === null || r.kind !== "session" ? null : { s: r.session, ms: performance.now() - t0 };
}

const ICMP = (() => {
  const p = new Uint8Array(28);
  p.set([0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 99, 0, 3, 10, 99, 0, 2, 8, 0, 0xf7, 0xfe, 0, 1, 0, 0]);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  p[10] = ~sum >>> 8;
  p[11] = ~sum & 255;
  return p;
})();

if (cmd === "send") {
  const [pub, keyFile, file] = rest as [string, string, string];
  const h = await handshake(parseKey(pub), keyFile, 3000);
  if (h === null) throw new Error("noise-probe: no handshake");
  const session = new SatpSession(new NoiseCrypto(), 0, 0);
  session.seq = 7;
  session.crypto.add({
    local: h.s.local,
    remote: h.s.remote,
    send: h.s.sendKey,
    recv: h.s.recvKey,
    created: Date.now(),
  });
  const buf = new Uint8Array(2048);
  const n = session.seal(buf, 0, PT_IPV4, ICMP);
  if (n < 0) throw new Error(`noise-probe: seal ${n}`);
  sock.send(buf.subarray(0, n), port, host);
  writeFileSync(file, buf.subarray(0, n));
} else if (cmd === "replay") {
  sock.send(readFileSync(rest[0]!), port, host);
} else if (cmd === "flood") {
  const [pub, kind, rate, seconds] = rest as [string, "bad" | "mac1", string, string];
  const keys = new MacKeys(parseKey(pub));
  let cookies = 0;
  onData = (b) => {
    if (b[0] === 3) cookies++;
  };
  const perTick = Math.max(1, Math.round(Number(rate) / 100));
  let sent = 0;
  const end = performance.now() + Number(seconds) * 1000;
  const p = new Uint8Array(INITIATION_LEN);
  while (performance.now() < end) {
    const batch: (Uint8Array | number | string)[] = [];
    for (let i = 0; i < perTick; i++) {
      crypto.getRandomValues(p);
      p[0] = TYPE_INITIATION;
      p[1] = p[2] = p[3] = 0;
      if (kind === "mac1") seal(p, keys, null);
      batch.push(p.slice(), port, host);
    }
    sock.sendMany(batch as never);
    sent += perTick;
    await Bun.sleep(10);
  }
  await Bun.sleep(200);
  console.log(JSON.stringify({ sent, cookies }));
} else if (cmd === "connect") {
  const [pub, keyFile] = rest as [string, string];
  const h = await handshake(parseKey(pub), keyFile, 5000);
  console.log(h === null ? "none" : String(Math.round(h.ms)));
}
sock.close();
