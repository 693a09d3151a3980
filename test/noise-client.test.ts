// The client's handshake timers (src/noise/client.ts) against a real Responder, on a clock the
// test moves: an unanswered initiation is retried after RETRY_MS (a route that flipped during the
// handshake), a cookie reply is answered with mac2, a response installs keys and sends a
// keepalive at once, keys are renewed REKEY_AFTER_MS after their handshake (the old ones still
// open), a server silent for DEAD_MS while we send gets a new handshake, and a client that only
// receives sends a keepalive every KEEPALIVE_MS.
import { expect, test } from "bun:test";
import { DEAD_MS, KEEPALIVE_MS, NoiseClient, RETRY_MS } from "../src/noise/client.ts";
import { NoiseCrypto } from "../src/noise/crypto.ts";
import { generateKeyPair } from "../src/noise/keys.ts";
import { REKEY_AFTER_MS, Responder } from "../src/noise/peers.ts";
import { SatpSession } from "../src/satp/session.ts";

const server = generateKeyPair();
const alice = generateKeyPair();

function setup() {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const r = new Responder<string>({ key: server, senderId: 1, clientOf: () => "alice", maxSessions: 16 }, now);
  const sent: Uint8Array[] = [];
  const io = { keepalives: 0, rx: 0, tx: 0 };
  const session = new SatpSession(new NoiseCrypto(clock), 0, 64);
  const c = new NoiseClient(
    alice,
    server.pub,
    session,
    {
      send: (p) => void sent.push(p.slice()),
      keepalive: () => {
        io.keepalives++;
        io.tx = now;
      },
      lastReceived: () => io.rx,
      lastSent: () => io.tx,
    },
    clock,
  );
  /** The server answers the last initiation sent (under load: a cookie first). */
  const answer = (underLoad = false) => {
    const res = r.receive(sent.at(-1)!, "192.0.2.1:1", underLoad, now);
    if (res.kind === "reply" || res.kind === "session") c.receive(res.kind === "reply" ? res.packet : res.packet!);
    return res.kind;
  };
  return { c, r, sent, io, session, answer, advance: (ms: number) => ((now += ms), c.tick()), at: () => now };
}

test("retry after RETRY_MS, then a response: keys in and a keepalive at once", () => {
  const t = setup();
  t.c.start();
  t.c.stop(); // the test drives tick() itself
  expect(t.sent.length).toBe(1);
  t.advance(RETRY_MS - 1);
  expect(t.sent.length).toBe(1);
  t.advance(1);
  expect(t.sent.length).toBe(2); // the first initiation was lost (a flip): a new one, 1 s later
  expect(t.answer()).toBe("session");
  expect(t.session.crypto.keys.length).toBe(1);
  expect(t.io.keepalives).toBe(1);
  expect(t.c.counts.handshakes).toBe(1);
  t.advance(RETRY_MS * 3);
  expect(t.sent.length).toBe(2); // answered: no more initiations
});

test("a cookie reply under load: the same initiation again with mac2, then the session", () => {
  const t = setup();
  t.c.start();
  t.c.stop();
  expect(t.answer(true)).toBe("reply");
  expect(t.c.counts.cookies).toBe(1);
  expect(t.sent.length).toBe(2);
  // the same message and mac1; only mac2 (bytes 132..148) is new
  expect(Buffer.from(t.sent[1]!.subarray(0, 132)).equals(Buffer.from(t.sent[0]!.subarray(0, 132)))).toBe(true);
  expect(t.answer(true)).toBe("session");
});

test("rekey after REKEY_AFTER_MS (old keys kept), dead server after DEAD_MS, passive keepalive", () => {
  const t = setup();
  t.c.start();
  t.c.stop();
  t.answer();
  const first = t.session.crypto.keys[0]!.local;
  t.advance(1);
  t.io.rx = t.at(); // data came in after our keepalive
  t.advance(KEEPALIVE_MS - 2);
  expect(t.io.keepalives).toBe(1);
  t.advance(1); // received, sent nothing for KEEPALIVE_MS: a keepalive
  expect(t.io.keepalives).toBe(2);
  t.advance(REKEY_AFTER_MS - KEEPALIVE_MS - 1);
  expect(t.sent.length).toBe(1);
  t.advance(1);
  expect(t.sent.length).toBe(2); // a new handshake
  t.answer();
  expect(t.session.crypto.keys.map((k) => k.local)).toContain(first);
  expect(t.session.crypto.keys.length).toBe(2);
  // we send, nothing comes back for DEAD_MS: the servers lost us, a new handshake
  t.io.tx = t.at() + DEAD_MS;
  t.io.rx = t.at();
  t.advance(DEAD_MS);
  expect(t.sent.length).toBe(3);
});

test("5,000 random and mutated datagrams at the client: none throws, each is counted, at most the real response's keys go in", () => {
  const t = setup();
  t.c.start();
  t.c.stop();
  const res = t.r.receive(t.sent[0]!, "192.0.2.1:1", false, t.at());
  if (res.kind !== "session") throw new Error("no session");
  const real = res.packet!;
  let x = 1;
  const rnd = () => ((x = (x * 1103515245 + 12345) >>> 0), x >>> 24);
  for (let i = 0; i < 5000; i++) {
    const p = i % 2 === 0 ? real.slice() : new Uint8Array(rnd() % 160);
    if (i % 2 === 0) p[rnd() % p.length]! ^= 1 + (rnd() % 255);
    else for (let k = 0; k < p.length; k++) p[k] = rnd();
    t.c.receive(p);
  }
  // a change inside a response's mac2 (not checked without a cookie, as in WireGuard) leaves the
  // real response: it may complete the handshake once, and its state is then gone
  expect(t.c.counts.refused + t.c.counts.handshakes + t.c.counts.cookies).toBe(5000);
  expect(t.c.counts.handshakes).toBeLessThanOrEqual(1);
  expect(t.c.counts.cookies).toBe(0);
  expect(t.session.crypto.keys.length).toBe(t.c.counts.handshakes);
});
