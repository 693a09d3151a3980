// The server's real receive path for the Noise suite, in memory, for the fuzzers (the suite's
// test and test/bench/noise.ts): a Datapath with the Noise receiver, a NoiseGate over a real
// SyncStore with one configured client, and the noise.listen dispatch (server-noise.ts
// noiseDatagram). `feed` returns how many counters one datagram moved (at least 1: every input
// is accepted or counted); `seeds` are valid packets to mutate: an initiation (not yet accepted)
// and transport data of an established session, sealed by the real client code.
import { validateConfig } from "../../src/config.ts";
import { Datapath } from "../../src/datapath.ts";
import { HoldQueue } from "../../src/hold.ts";
import { Logger } from "../../src/log.ts";
import { NoiseCrypto, NoiseReceiver } from "../../src/noise/crypto.ts";
import { NoiseGate } from "../../src/noise/gate.ts";
import { generateKeyPair, keyText } from "../../src/noise/keys.ts";
import { Initiator } from "../../src/noise/peers.ts";
import { Chain } from "../../src/pipeline.ts";
import { RouteIndex } from "../../src/routing.ts";
import { PT_IPV4 } from "../../src/satp/codec.ts";
import { SatpSession } from "../../src/satp/session.ts";
import { noiseDatagram } from "../../src/server-noise.ts";
import { ConnTable } from "../../src/state.ts";
import { SyncStore } from "../../src/sync/store.ts";
import { memoryIngress } from "./fuzz-roles.ts";

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

export function noiseServerPath() {
  const group = generateKeyPair();
  const alice = generateKeyPair();
  const cfg = validateConfig({
    mode: "server",
    noise: { listen: ["127.0.0.1:0"], privateKeyFile: "/unused" },
    clients: [{ mux: 1, protocol: "noise", publicKey: keyText(alice.pub), routes: ["0.0.0.0/0", "::/0"] }],
  });
  const conns = new ConnTable();
  conns.replace(cfg.clients, cfg.crypto);
  const store = new SyncStore(1);
  const gate = new NoiseGate(
    { key: group, senderId: 1, maxSessions: 64, loadPerSecond: 1000, recordKeyMs: 600_000 },
    store,
    conns.all(),
  );
  const chain = new Chain([]);
  const routes = new RouteIndex(conns, store);
  const dp = new Datapath({
    conns,
    log: new Logger([], "text"),
    hold: new HoldQueue(() => ({ ms: 0, bytes: 0 })),
    cfg: () => cfg,
    chain: () => chain,
    holdUnknown: () => false,
    askMarks: () => false,
    sourceOwner: (pkt) => routes.sourceOwner(pkt),
    overBudget: () => false,
    endpointChanged: () => {},
    init: () => null as never,
  });
  dp.noiseRx = new NoiseReceiver((i) => gate.find(i));
  dp.accepting = true;
  const ingress = memoryIngress(true);
  let replies = 0;
  const count = () =>
    sum(dp.drops) +
    sum(Object.fromEntries(dp.pluginDrops)) +
    dp.keepalivesIn +
    ingress.sent +
    sum(gate.responder.counts) +
    sum(gate.responder.macs.counts) +
    gate.counts.handshakes +
    replies;

  // seeds: one accepted handshake (its session carries data), one fresh initiation
  const a = new Initiator(alice, group.pub);
  const now = Date.now();
  const r = a.receive(gate.handshake(a.initiation(now), "198.51.100.7:40000")!, now);
  if (r.kind !== "session") throw new Error("noise fuzz: no session");
  const client = new SatpSession(new NoiseCrypto(), 0, 0);
  const s = r.session;
  client.crypto.add({ local: s.local, remote: s.remote, send: s.sendKey, recv: s.recvKey, created: now });
  const buf = new Uint8Array(2048);
  const inner = new Uint8Array([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2]);
  const data = buf.slice(0, client.seal(buf, 0, PT_IPV4, inner));
  const seeds = [new Initiator(alice, group.pub).initiation(now), data];

  return {
    seeds,
    dp,
    gate,
    /** One datagram from 198.51.100.7:40000; the counters it moved. */
    feed(p: Uint8Array): number {
      const before = count();
      noiseDatagram(dp, gate, ingress, p, "198.51.100.7", 40000, () => void replies++);
      return count() - before;
    },
  };
}
