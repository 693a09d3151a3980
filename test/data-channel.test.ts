// The data channel between servers (src/sync/data.ts) on loopback, attacked: a captured datagram
// replayed, bit flips, a forged sender, another fleet key, a wrong recipient, short and oversize
// datagrams, a sender whose link went down. Each is refused and counted; only the original is
// delivered, once.
import { afterAll, expect, test } from "bun:test";
import { DataChannel, DATA_HEADER } from "../src/sync/data.ts";

const KEY = new Uint8Array(32).fill(7);
const I1 = "0101010101010101";
const I2 = "0202020202020202";
const opened: DataChannel[] = [];
const sockets: { close(): void }[] = [];
afterAll(() => {
  for (const d of opened) d.close();
  for (const s of sockets) s.close();
});

async function channel(key: Uint8Array, node: number, instance: string): Promise<DataChannel> {
  const d = new DataChannel([key], node, instance);
  await d.open("127.0.0.1", 0);
  opened.push(d);
  return d;
}

test("a forwarded packet is delivered once; replays, forgeries and strangers are counted drops", async () => {
  const captured: Uint8Array[] = [];
  const sniffer = await Bun.udpSocket({
    hostname: "127.0.0.1",
    socket: { data: (_s, b) => void captured.push(new Uint8Array(b)) },
  });
  sockets.push(sniffer);
  const s1 = await channel(KEY, 1, I1); // sender
  const s2 = await channel(KEY, 2, I2); // receiver
  const got: [number, number, string][] = [];
  s2.deliver((from, mux, pkt) => got.push([from, mux, Buffer.from(pkt).toString()]));
  s2.addPeer(1, "127.0.0.1", s1.port, I1);
  s1.addPeer(2, "127.0.0.1", sniffer.port, I2); // S1's datagrams to node 2 land on the attacker first

  expect(s1.reachable(2)).toBe(true);
  expect(s1.reachable(3)).toBe(false);
  expect(s1.forward(3, 7, new Uint8Array(20))).toBe(false); // no such peer: counted, nothing sent
  expect(s1.stats.unreachable).toBe(1);
  const pkt = new TextEncoder().encode("a sealed SATP packet, opaque here");
  expect(s1.forward(2, 7, pkt)).toBe(true);
  s1.refresh();
  const until = async (f: () => boolean) => {
    for (let i = 0; i < 100 && !f(); i++) await Bun.sleep(10);
  };
  await until(() => captured.length === 1);
  const d = captured[0]!;
  expect(d.length).toBe(DATA_HEADER + pkt.length + 16);
  const send = (b: Uint8Array) => sniffer.send(b, s2.port, "127.0.0.1");

  send(d); // the original
  send(d); // replayed
  send(d); // and again
  const flip = d.slice();
  flip[DATA_HEADER + 3]! ^= 1; // ciphertext
  send(flip);
  const hdr = d.slice();
  hdr[22]! ^= 1; // mux (in the AAD)
  send(hdr);
  const forgedFrom = d.slice();
  forgedFrom[6] = 9; // from node 9: no link
  send(forgedFrom);
  const wrongTo = d.slice();
  wrongTo[8] = 5;
  send(wrongTo);
  const otherInstance = d.slice();
  otherInstance[9]! ^= 0xff; // a restarted or impostor process of node 1
  send(otherInstance);
  send(d.subarray(0, DATA_HEADER + 10)); // short
  send(new Uint8Array(3000)); // oversize
  const foreign = d.slice();
  foreign[0] = 0x58;
  send(foreign);
  // another fleet key, same header fields
  const other = await channel(new Uint8Array(32).fill(8), 1, I1);
  other.addPeer(2, "127.0.0.1", s2.port, I2);
  other.forward(2, 7, pkt);
  await until(() => s2.stats.short + s2.stats.foreign + s2.stats.auth + s2.stats.replay + s2.stats.received >= 12);
  expect(got).toEqual([[1, 7, "a sealed SATP packet, opaque here"]]);
  expect(s2.stats).toMatchObject({ received: 1, replay: 2, auth: 3, foreign: 4, short: 2 });

  // The link to node 1 goes down: even a fresh, valid datagram from it is refused.
  s2.removePeer(1);
  s1.addPeer(2, "127.0.0.1", s2.port, I2);
  s1.forward(2, 7, pkt);
  await until(() => s2.stats.foreign >= 5);
  expect(s2.stats.foreign).toBe(5);
  expect(got.length).toBe(1);
});
