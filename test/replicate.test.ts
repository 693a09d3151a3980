// Replay marks across servers (sync/replicate.ts) attacked: a packet one server accepted is a
// replay at the other; an operator's reset reaches every server and old-epoch marks never come
// back; a server that joins late adopts what the store holds. Two stores linked in memory.
import { expect, test } from "bun:test";
import { validateConfig } from "../src/config.ts";
import { PT_IPV4 } from "../src/satp/codec.ts";
import { SatpCrypto } from "../src/satp/crypto.ts";
import { receiverFor, RX_REPLAY, SatpSession } from "../src/satp/session.ts";
import { deriveMaster } from "../src/satp/suite.ts";
import { ConnTable } from "../src/state.ts";
import { Replication } from "../src/sync/replicate.ts";
import { SyncStore } from "../src/sync/store.ts";

const cfg = validateConfig({ mode: "server", clients: [{ mux: 3, passphrase: "marks" }] });
const suite = { cipher: "aes-ctr", auth: "sha1", tagLength: 10, kdPrf: "aes-ctr" } as const;
const client = new SatpSession(new SatpCrypto(suite, deriveMaster("aes-ctr", { passphrase: "marks" }), "right"), 3, 0);
const inner = new Uint8Array([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
function packet(seq: number, sid = 0): Uint8Array {
  client.seq = seq;
  const b = new Uint8Array(2048);
  return b.slice(0, client.seal(b, sid, PT_IPV4, inner));
}

function server(node: number) {
  const store = new SyncStore(node);
  const conns = new ConnTable();
  conns.replace(cfg.clients, cfg.crypto);
  const rep = new Replication(
    store,
    conns,
    () => null,
    () => {},
    10,
  );
  return { store, conns, rep, open: (p: Uint8Array) => receiverFor(conns.get(3)!).open(p) };
}
function link(a: ReturnType<typeof server>, b: ReturnType<typeof server>) {
  a.store.onPublish((r) => b.store.apply(r, 1));
  b.store.onPublish((r) => a.store.apply(r, 2));
}
const settle = () => Bun.sleep(40); // > 2 publication intervals

test("server mode's default window is 1024; a mark published by one server makes the packet a replay at the other", async () => {
  expect(cfg.crypto.window).toBe(1024);
  const a = server(1),
    b = server(2);
  link(a, b);
  a.rep.start();
  b.rep.start();
  try {
    const p = packet(500);
    expect(a.open(p)).toBeGreaterThan(0);
    await settle();
    expect(b.open(p)).toBe(RX_REPLAY);
    expect(b.store.get("hwm", "3/0")).toBe(500); // epoch 0
    expect(b.open(packet(501))).toBeGreaterThan(0);
    expect(b.conns.get(3)!.newest).toBe(true);
  } finally {
    a.rep.stop();
    b.rep.stop();
  }
});

test("an operator's reset clears every server's windows; old-epoch marks lose; a late joiner adopts the reset", async () => {
  const a = server(1),
    b = server(2);
  link(a, b);
  a.rep.start();
  b.rep.start();
  try {
    for (let q = 0; q < 100; q++) expect(a.open(packet(q))).toBeGreaterThan(0);
    expect(b.open(packet(100, 1))).toBeGreaterThan(0); // another sender id, seen at b only
    await settle();
    expect(a.open(packet(0))).toBe(RX_REPLAY); // the client restarted: a replay everywhere
    expect(b.open(packet(0))).toBe(RX_REPLAY);
    expect(a.rep.marks.reset(a.conns.get(3)!)).toBe(1);
    expect(b.conns.get(3)!.epoch).toBe(1);
    expect([...b.conns.get(3)!.windows()].length).toBe(0);
    expect(b.open(packet(0))).toBeGreaterThan(0); // back in at seq 0, at either server
    expect(b.conns.get(3)!.newest).toBe(true);
    await settle();
    expect(a.open(packet(0))).toBe(RX_REPLAY); // ... and only once
    expect(a.store.get("hwm", "3/0")).toBe(2 ** 32 + 0);
    // b's old mark for sender 1 (epoch 0, seq 100) is still in the stores but no longer counts
    expect(a.store.get("hwm", "3/1")).toBe(100);
    expect(a.open(packet(5, 1))).toBeGreaterThan(0);
    // a server that starts now gets the snapshot: epoch 1, marks of epoch 1 only
    const c = server(3);
    for (const r of a.store.snapshot()) c.store.apply(r, 1);
    c.rep.start();
    c.rep.stop();
    expect(c.conns.get(3)!.epoch).toBe(1);
    expect(c.open(packet(0))).toBe(RX_REPLAY);
    expect(c.open(packet(1))).toBeGreaterThan(0);
    expect(c.open(packet(4, 1))).toBeGreaterThan(0); // sender 1's epoch-0 mark (100) did not count
  } finally {
    a.rep.stop();
    b.rep.stop();
  }
});
