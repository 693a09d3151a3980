// SYN cookies (src/tcp/cookie.ts) and the endpoint a cookie opens (TcpEndpoint.synAck /
// fromCookie): a cookie made by one server checks out on another with the same secret, within
// the slots next to it; anything else (another secret, tuple, ISN, an old slot, a flipped bit)
// is refused; the endpoint it opens talks to a normal one.
import { describe, expect, test } from "bun:test";
import { MSS_TABLE, SLOT_MS, SynCookies } from "../src/tcp/cookie.ts";
import { TcpEndpoint } from "../src/tcp/endpoint.ts";
import { ACK, PSH, SYN, type Segment } from "../src/tcp/segment.ts";

const SECRET = new Uint8Array(32).fill(7);
const tuple = {
  src: Uint8Array.of(10, 205, 1, 2),
  dst: Uint8Array.of(10, 201, 0, 1),
  srcPort: 40001,
  dstPort: 4444,
};
const T0 = 1_800_000_000_000;

describe("SYN cookies", () => {
  test("made on one server, checked on another with the same secret: options come back", () => {
    let now = T0;
    const a = new SynCookies(SECRET, () => now);
    const b = new SynCookies(SECRET.slice(), () => now + 5000); // 5 s clock skew
    for (const [mss, wscale, want] of [
      [1460, 7, { mss: 1460, wscale: 7 }],
      [1400, undefined, { mss: 1300, wscale: undefined }],
      [500, 0, { mss: 536, wscale: 0 }],
      [9000, 14, { mss: 1460, wscale: 14 }],
    ] as const) {
      const c = a.make(tuple, 123456, { mss, wscale });
      expect(b.check(tuple, 123456, c)).toEqual(want);
    }
    expect(MSS_TABLE[0]).toBe(536);
    // Good in the next slot, refused two slots on.
    const c = a.make(tuple, 99, { mss: 1460, wscale: 7 });
    now += SLOT_MS;
    expect(a.check(tuple, 99, c)).not.toBeNull();
    now += SLOT_MS;
    expect(a.check(tuple, 99, c)).toBeNull();
  });

  test("another secret, tuple, ISN or any flipped bit is refused", () => {
    const a = new SynCookies(SECRET, () => T0);
    const other = new SynCookies(new Uint8Array(32).fill(8), () => T0);
    const c = a.make(tuple, 5, { mss: 1460, wscale: 7 });
    expect(other.check(tuple, 5, c)).toBeNull();
    expect(a.check({ ...tuple, srcPort: 40002 }, 5, c)).toBeNull();
    expect(a.check({ ...tuple, src: Uint8Array.of(10, 205, 1, 3) }, 5, c)).toBeNull();
    expect(a.check(tuple, 6, c)).toBeNull();
    let refused = 0;
    for (let bit = 0; bit < 32; bit++) if (a.check(tuple, 5, (c ^ (1 << bit)) >>> 0) === null) refused++;
    expect(refused).toBe(32);
  });

  test("blind guesses: 0 of 200,000 random final ACKs pass", () => {
    const a = new SynCookies(SECRET, () => T0);
    let seed = 12345;
    let passed = 0;
    for (let i = 0; i < 200_000; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      if (a.check(tuple, 5, seed) !== null) passed++;
    }
    expect(passed).toBe(0);
  });
});

describe("an endpoint opened by a cookie", () => {
  test("SYN → cookie SYN-ACK → final ACK with data: ESTABLISHED, data delivered, data back", () => {
    const cookies = new SynCookies(SECRET, () => T0);
    const opts = { localPort: 4444, remotePort: 40001, iss: 0, receiveBuffer: 1 << 20 };
    const echoed: string[] = [];
    const client = new TcpEndpoint(
      { localPort: 40001, remotePort: 4444, iss: 777 },
      { onData: (d) => echoed.push(new TextDecoder().decode(d)) },
    );
    client.connect(0);
    const [syn] = client.poll(0) as [Segment];
    expect(syn.flags).toBe(SYN);
    const iss = cookies.make(tuple, syn.seq, { mss: syn.mss ?? 536, wscale: syn.wscale });
    const synAck = TcpEndpoint.synAck(opts, syn, iss);
    expect(synAck).toMatchObject({ seq: iss, ack: syn.seq + 1, flags: SYN | ACK, wscale: 5 });
    client.input(synAck, 1);
    expect(client.state).toBe("ESTABLISHED");
    client.write(new TextEncoder().encode("hello"));
    const [ack] = client.poll(1) as [Segment];
    expect(ack.flags & ACK).toBeTruthy();
    // The server kept nothing: the final ACK alone rebuilds the endpoint.
    const peer = cookies.check(tuple, (ack.seq - 1) >>> 0, (ack.ack - 1) >>> 0)!;
    expect(peer).toEqual({ mss: 1460, wscale: client.rcvShift });
    const got: string[] = [];
    const server = TcpEndpoint.fromCookie({ ...opts, iss: (ack.ack - 1) >>> 0 }, (ack.seq - 1) >>> 0, peer, 1, {
      onData: (d) => got.push(new TextDecoder().decode(d)),
    });
    server.input(ack, 1);
    expect(server.state).toBe("ESTABLISHED");
    expect(got.join("")).toBe("hello");
    expect(server.sndWnd).toBe(ack.wnd << peer.wscale!);
    server.write(new TextEncoder().encode("world"));
    const back = server.poll(2);
    expect(back.length).toBe(1);
    expect(back[0]!.flags).toBe(ACK | PSH);
    expect(back[0]!.ack).toBe(ack.seq + 5);
    client.input(back[0]!, 3);
    expect(echoed.join("")).toBe("world");
  });
});
