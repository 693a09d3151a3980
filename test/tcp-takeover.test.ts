// Takeover of a TCP flow between two servers, pure (no TUN): a client endpoint streams framed
// packets to S1 and receives S1's; mid-stream "routing" moves the client's segments to S2, which
// adopts the flow from S1's synced state plus the first segment it sees (as
// src/transport/tcp-anycast.ts does) while S1 is forgotten. Both directions carry on on the same
// client connection: never a RST, frames resume after the lenient reader's resync, and every
// frame that arrives is one that was sent, whole.
import { expect, test } from "bun:test";
import { TcpEndpoint, type FlowState } from "../src/tcp/endpoint.ts";
import { RST, SYN, type Segment } from "../src/tcp/segment.ts";
import { frame, FrameReader } from "../src/transport/framing.ts";

const MARK = [0x53, 0x41, 0x54, 0x50];
function packet(from: number, i: number): Uint8Array {
  const p = new Uint8Array(300 + ((i * 37) % 900)).fill(i & 255);
  p.set(MARK);
  p[4] = from;
  p[5] = i >> 8;
  p[6] = i & 255;
  p[p.length - 1] = p.subarray(0, p.length - 1).reduce((x, y) => x ^ y, 0);
  return p;
}
const authentic = (p: Uint8Array) =>
  p.length > 7 &&
  MARK.every((m, i) => p[i] === m) &&
  p.subarray(0, p.length - 1).reduce((x, y) => x ^ y, 0) === p.at(-1);
const idOf = (p: Uint8Array) => `${p[4]}:${(p[5]! << 8) | p[6]!}`;

class Reader {
  readonly r = new FrameReader(true, (b, at) => MARK.every((m, i) => b[at + i] === m));
  readonly got: string[] = [];
  forged = 0;
  push(d: Uint8Array): void {
    this.r.push(d);
    for (let p = this.r.next(); p !== null; p = this.r.next()) {
      if (authentic(p)) this.got.push(idOf(p));
      else {
        this.forged++;
        this.r.reject();
      }
    }
  }
}

test.each([
  ["S1 alive, route moved", false, 0],
  ["S1 gone, segments in flight lost at the flip", true, 0.3],
])("takeover: %s", (_name, s1Dead, lossAtFlip) => {
  let now = 0;
  const toClient = new Reader();
  const toServer = new Reader();
  const client = new TcpEndpoint(
    { localPort: 40000, remotePort: 4444, iss: 0xfffffc00 },
    { onData: (d) => toClient.push(d) },
  );
  let s1: TcpEndpoint | null = null;
  let s2: TcpEndpoint | null = null;
  const serverHooks = { onData: (d: Uint8Array) => toServer.push(d) };
  type Hop = { at: number; seg: Segment; to: "client" | "server" };
  const wire: Hop[] = [];
  let flipped = false;
  let rstToClient = 0;
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const send = (to: "client" | "server", segs: Segment[]) => {
    for (const s of segs) wire.push({ at: now + 5, seg: { ...s, payload: s.payload.slice() }, to });
  };
  client.connect(now);
  let sentUp = 0;
  let sentDown = 0;
  let flipAt = -1;
  for (let step = 0; step < 200000 && now < 20000; step++) {
    // Both sides write frames while they can; stop after 600 each.
    if (client.state === "ESTABLISHED" && sentUp < 600) {
      const f = frame(packet(1, sentUp));
      if (client.write(f)) sentUp++;
    }
    const srv = flipped ? s2 : s1;
    if (srv !== null && srv.state === "ESTABLISHED" && sentDown < 600) {
      const f = frame(packet(flipped ? 3 : 2, sentDown));
      if (srv.write(f)) sentDown++;
    }
    if (!flipped && sentUp >= 200 && sentDown >= 200) {
      flipped = true;
      flipAt = now;
      if (lossAtFlip > 0) for (let i = wire.length - 1; i >= 0; i--) if (rnd() < lossAtFlip) wire.splice(i, 1);
    }
    send("server", client.poll(now));
    if (s1 !== null && !(flipped && s1Dead)) {
      const segs = s1.poll(now);
      send("client", segs);
    }
    if (s2 !== null) send("client", s2.poll(now));
    wire.sort((a, b) => a.at - b.at);
    const next = Math.min(
      wire[0]?.at ?? Infinity,
      client.nextDeadline(),
      s1 !== null && !(flipped && s1Dead) ? s1.nextDeadline() : Infinity,
      s2?.nextDeadline() ?? Infinity,
      now + 1,
    );
    now = Math.max(now, next);
    while (wire.length > 0 && wire[0]!.at <= now) {
      const h = wire.shift()!;
      if (h.to === "client") {
        if (h.seg.flags & RST) rstToClient++;
        client.input(h.seg, now);
        continue;
      }
      if (!flipped) {
        if (s1 === null && h.seg.flags & SYN)
          s1 = TcpEndpoint.accept({ localPort: 4444, remotePort: 40000, iss: 0x7ffffff0 }, h.seg, now, serverHooks);
        else s1?.input(h.seg, now);
        continue;
      }
      if (s2 === null) {
        // S2 takes over from the synced record (S1's state as last published) and this segment.
        const st: FlowState = s1!.flowState();
        s2 = TcpEndpoint.adopt({ localPort: 4444, remotePort: 40000, iss: 0 }, st, h.seg, now, serverHooks);
        s2.input(h.seg, now);
        if (!s1Dead) s1!.forget(); // the old owner sees the new record and forgets the flow
      } else s2.input(h.seg, now);
    }
    if (
      sentUp >= 600 &&
      sentDown >= 600 &&
      client.buffered === 0 &&
      s2 !== null &&
      s2.buffered === 0 &&
      wire.length === 0
    )
      break;
  }
  const up = toServer.got;
  const down = toClient.got;
  console.log(
    `  ${_name}: flip at ${flipAt} ms; up ${up.length}/600 frames, down ${down.length}/600 frames; resyncs up ${toServer.r.resyncs} down ${toClient.r.resyncs}; done at ${now} ms`,
  );
  expect(rstToClient).toBe(0);
  expect(client.state).toBe("ESTABLISHED");
  expect(s2).not.toBeNull();
  // Every frame delivered is one that was sent, whole, and each side keeps order per sender.
  const order = (ids: string[], from: number) =>
    ids.filter((x) => x.startsWith(`${from}:`)).map((x) => Number(x.split(":")[1]));
  for (const [ids, froms] of [
    [up, [1]],
    [down, [2, 3]],
  ] as const)
    for (const f of froms) {
      const seq = order(ids, f);
      expect([...seq].sort((a, b) => a - b)).toEqual(seq);
      expect(new Set(seq).size).toBe(seq.length);
    }
  // The stream carries on after the flip: the last frames of both directions arrive.
  expect(order(up, 1).at(-1)).toBe(599);
  expect(order(down, 3).at(-1)).toBe(599);
  // Little is lost: what was in flight at the flip, at most.
  expect(up.length).toBeGreaterThan(550);
  expect(down.length).toBeGreaterThan(500);
});
