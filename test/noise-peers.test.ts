// The Noise suite's two ends over its wire format (src/noise/peers.ts, wire.ts, macs.ts,
// transport.ts), pure: a handshake and data both ways; two servers of one anycast group
// continuing one session never reuse a nonce and the client keeps a window per server; and the
// attacks — replayed data and initiations, forged and flooding initiations (counted Diffie-Hellman
// operations: none before mac1 checks out, none for a cookie), a forged cookie reply, an unknown
// client, a full session table, and 20,000 random datagrams that must each be refused by name.
import { describe, expect, test } from "bun:test";
import { dhOps, generateKeyPair } from "../src/noise/keys.ts";
import { Initiator, Responder, sendOn, type Session } from "../src/noise/peers.ts";
import * as wire from "../src/noise/wire.ts";
import { Rng } from "./lib/fuzz.ts";

const server = generateKeyPair();
const alice = generateKeyPair();
const SRC = "192.0.2.1:40000";
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

function responder(senderId = 1, maxSessions = 64) {
  return new Responder<string>(
    {
      key: server,
      senderId,
      clientOf: (pub) => (Buffer.from(pub).equals(Buffer.from(alice.pub)) ? "alice" : undefined),
      maxSessions,
    },
    0,
  );
}

/** Alice's handshake with `r`: both sessions. */
function connect(r: Responder<string>, now = 0) {
  const a = new Initiator(alice, server.pub);
  const res = r.receive(a.initiation(now), SRC, false, now);
  if (res.kind !== "session") throw new Error(`no session: ${JSON.stringify(res)}`);
  const got = a.receive(res.packet!, now);
  if (got.kind !== "session") throw new Error(`initiator: ${JSON.stringify(got)}`);
  return { a, client: got.session, server: res.session };
}

describe("handshake and data", () => {
  test("a handshake, then data both ways; the server's index carries its sender id", () => {
    const r = responder(7);
    const { a, client, server: s } = connect(r);
    expect(s.client).toBe("alice");
    expect(s.local >>> 16).toBe(7);
    expect([client.remote, s.remote]).toEqual([s.local, client.local]);
    const up = r.receive(sendOn(client, 0, bytes("ping")), SRC, false, 1);
    expect(up.kind === "data" && text(up.plaintext)).toBe("ping");
    const down = a.receive(sendOn(s, 7, bytes("pong")), 1);
    expect(down.kind === "data" && text(down.plaintext)).toBe("pong");
  });

  test("two servers continue one session: distinct nonces (sender id in the counter), a window each at the client", () => {
    const r1 = responder(1);
    const { a, server: s1 } = connect(r1);
    // S2 got the session's record (the fleet's sync): same keys, its own sequence
    const s2: Session<string> = { ...s1, sendSeq: 0, windows: s1.windows };
    const p1 = sendOn(s1, 1, bytes("from s1"));
    const p2 = sendOn(s2, 2, bytes("from s2"));
    const c1 = wire.decode(p1) as { counter: bigint };
    const c2 = wire.decode(p2) as { counter: bigint };
    expect(c1.counter).not.toBe(c2.counter); // same seq 0, different sender ids: never one nonce
    expect([wire.senderOfCounter(c1.counter), wire.senderOfCounter(c2.counter)]).toEqual([1, 2]);
    expect(a.receive(p1, 1).kind).toBe("data");
    expect(a.receive(p2, 1).kind).toBe("data"); // seq 0 again, but from another sender: new
    expect(a.receive(p2, 1)).toEqual({ kind: "drop", reason: "noise-replay" });
  });
});

describe("attacks", () => {
  test("replayed data is refused; reordered data within the window is taken", () => {
    const r = responder();
    const { client } = connect(r);
    const ps = [0, 1, 2, 3].map((i) => sendOn(client, 0, bytes(`m${i}`)));
    for (const i of [0, 2, 1, 3]) expect(r.receive(ps[i]!, SRC, false, 1).kind).toBe("data");
    for (const p of ps) expect(r.receive(p, SRC, false, 1)).toEqual({ kind: "drop", reason: "noise-replay" });
    const forged = ps[3]!.slice();
    forged[20]! ^= 1;
    expect(r.receive(forged, SRC, false, 1)).toEqual({ kind: "drop", reason: "noise-auth" });
    const moved = ps[3]!.slice();
    moved[8]! ^= 1; // the counter is authenticated (header as associated data)
    expect(r.receive(moved, SRC, false, 1)).toEqual({ kind: "drop", reason: "noise-auth" });
  });

  test("a replayed initiation is refused (its timestamp is not newer), and costs no session", () => {
    const r = responder();
    const a = new Initiator(alice, server.pub);
    const init = a.initiation(0);
    expect(r.receive(init, SRC, false, 0).kind).toBe("session");
    expect(r.receive(init.slice(), "198.51.100.9:1", false, 5)).toEqual({
      kind: "drop",
      reason: "noise-stale-initiation",
    });
    expect(r.sessions.size).toBe(1);
  });

  test("10,000 initiations with a bad mac1: no Diffie-Hellman at all, nothing kept", () => {
    const r = responder();
    const a = new Initiator(alice, server.pub);
    const base = a.initiation(0);
    const before = dhOps.count;
    for (let i = 0; i < 10_000; i++) {
      const p = base.slice();
      p[116 + (i % 16)]! ^= 1 + (i % 255); // mac1
      expect(r.receive(p, SRC, false, 0).kind).toBe("drop");
    }
    expect(dhOps.count - before).toBe(0);
    expect(r.macs.counts.badMac1).toBe(10_000);
    expect(r.sessions.size).toBe(0);
  });

  test("under load: initiations without a cookie get a cookie reply and no DH; the client takes it and gets in", () => {
    const r = responder();
    const a = new Initiator(alice, server.pub);
    const init = a.initiation(0); // the initiator's own DHs (es, ss) are not the responder's
    const before = dhOps.count;
    const first = r.receive(init, SRC, true, 0);
    expect(first.kind).toBe("reply");
    expect(dhOps.count - before).toBe(0);
    for (let i = 0; i < 1000; i++) r.receive(new Initiator(alice, server.pub).initiation(0), SRC, true, 0);
    expect(dhOps.count - before).toBe(1000 * 2); // the initiators' own (es, ss), none by the responder
    expect(r.macs.counts.cookiesSent).toBe(1001);
    // a forged cookie reply is refused; the real one is taken
    const reply = (first as { packet: Uint8Array }).packet;
    const forged = reply.slice();
    forged[30]! ^= 1;
    expect(a.receive(forged, 0)).toEqual({ kind: "drop", reason: "noise-cookie" });
    expect(a.receive(reply, 0)).toEqual({ kind: "cookie" });
    const again = r.receive(a.resend(1)!, SRC, true, 1);
    expect(again.kind).toBe("session");
    // a cookie is for one source address and port: the same one from another is no good
    const b = new Initiator(alice, server.pub);
    const cookie = r.receive(b.initiation(2), SRC, true, 2) as { kind: string; packet: Uint8Array };
    expect(cookie.kind).toBe("reply");
    expect(b.receive(cookie.packet, 2)).toEqual({ kind: "cookie" });
    expect(r.receive(b.resend(3)!, "203.0.113.5:9", true, 3).kind).toBe("reply");
  });

  test("an unknown client, a server with another key, a full session table: refused by name", () => {
    const r = responder(1, 1);
    const mallory = new Initiator(generateKeyPair(), server.pub);
    expect(r.receive(mallory.initiation(0), SRC, false, 0)).toEqual({ kind: "drop", reason: "noise-unknown-client" });
    const wrongServer = new Initiator(alice, generateKeyPair().pub);
    expect(r.receive(wrongServer.initiation(0), SRC, false, 0)).toEqual({ kind: "drop", reason: "noise-mac1" });
    connect(r);
    const late = new Initiator(alice, server.pub);
    expect(r.receive(late.initiation(1), SRC, false, 1)).toEqual({ kind: "drop", reason: "noise-sessions-full" });
    expect(r.counts).toMatchObject({ unknownClient: 1, sessionsFull: 1 });
  });

  test("20,000 random and mutated datagrams: never an exception, each refused by name", () => {
    const r = responder();
    const { client } = connect(r);
    // an initiation the server has accepted already: a mutation that still verifies is stale
    const old = new Initiator(alice, server.pub);
    const init = old.initiation(0);
    expect(r.receive(init, SRC, false, 0).kind).toBe("session");
    const seeds = [init, sendOn(client, 0, bytes("x"))];
    const rng = new Rng(19);
    const reasons: Record<string, number> = {};
    for (let i = 0; i < 20_000; i++) {
      let p: Uint8Array;
      if (i % 3 === 0) {
        p = new Uint8Array(rng.int(200));
        rng.fill(p);
        if (p.length > 4 && rng.chance(0.5)) p.set([1 + rng.int(4), 0, 0, 0]);
      } else {
        p = seeds[i % 2]!.slice();
        p[rng.int(p.length)]! ^= 1 + rng.int(255);
      }
      const res = r.receive(p, SRC, rng.chance(0.3), i);
      const key = res.kind === "drop" ? res.reason : res.kind;
      reasons[key] = (reasons[key] ?? 0) + 1;
    }
    console.log(`  noise fuzz: ${JSON.stringify(reasons)}`);
    expect(Object.keys(reasons).every((k) => k.startsWith("noise-") || k === "reply")).toBe(true);
    expect(reasons.data ?? 0).toBe(0);
    expect(reasons.session ?? 0).toBe(0);
  });
});

describe("timers and bounds (WireGuard's)", () => {
  test("1,000 handshakes by one client hold at most two sessions at the server; the one before the newest still carries data", () => {
    const r = responder();
    const a = new Initiator(alice, server.pub);
    const servers: Session<string>[] = [];
    for (let i = 0; i < 1000; i++) {
      const res = r.receive(a.initiation(i), SRC, false, i);
      if (res.kind !== "session") throw new Error(res.kind);
      a.receive(res.packet!, i);
      servers.push(res.session);
    }
    expect(r.sessions.size).toBe(2);
    const [older, newest] = [servers[998]!, servers[999]!];
    expect(a.receive(sendOn(older, 1, bytes("in flight")), 1000).kind).toBe("data"); // a.previous
    expect(a.receive(sendOn(newest, 1, bytes("new")), 1000).kind).toBe("data");
    const gone = a.previous!; // the client's previous is the server's older one
    expect(r.receive(sendOn({ ...gone, sendSeq: 100 }, 0, bytes("x")), SRC, false, 1000).kind).toBe("data");
    expect(
      r.receive(sendOn({ ...servers[0]!, remote: servers[0]!.local, sendSeq: 0 }, 0, bytes("x")), SRC, false, 1000),
    ).toEqual({
      kind: "drop",
      reason: "noise-no-session",
    });
  });

  test("no data on a session 180 s old; sweep forgets it; the initiator wants a new handshake after 120 s or 2^44 messages", () => {
    const r = responder();
    const { a, client, server: s } = connect(r, 0);
    expect(a.rekeyDue(119_999)).toBe(false);
    expect(a.rekeyDue(120_000)).toBe(true);
    expect(r.receive(sendOn(client, 0, bytes("late")), SRC, false, 180_000)).toEqual({
      kind: "drop",
      reason: "noise-expired",
    });
    expect(a.receive(sendOn(s, 1, bytes("late")), 180_000)).toEqual({ kind: "drop", reason: "noise-expired" });
    expect(r.sweep(179_999).length).toBe(0);
    expect(r.sweep(180_000).length).toBe(1);
    expect(r.sessions.size).toBe(0);
    client.sendSeq = 2 ** 44;
    expect(a.rekeyDue(1)).toBe(true);
    client.sendSeq = 2 ** 48 - 2 ** 13;
    expect(() => sendOn(client, 0, bytes("x"))).toThrow(/used up/);
  });
});
