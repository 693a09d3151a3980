// The mark merge (sync/marks.ts) on its own: the merge rule, the epoch arithmetic, publication
// only of moved windows, and what a late-configured client adopts. One store, one conn table.
import { expect, test } from "bun:test";
import { validateConfig } from "../src/config.ts";
import { ConnTable } from "../src/state.ts";
import { byMax, markOf, ReplayMarks } from "../src/sync/marks.ts";
import { SyncStore, type SyncRecord } from "../src/sync/store.ts";

const cfg = validateConfig({
  mode: "server",
  clients: [
    { mux: 3, passphrase: "m3" },
    { mux: 4, passphrase: "m4" },
  ],
});
function setup() {
  const store = new SyncStore(1);
  const out: SyncRecord[] = [];
  store.onPublish((r) => out.push(r));
  const conns = new ConnTable();
  conns.replace(cfg.clients, cfg.crypto);
  const marks = new ReplayMarks(store, conns, 1000);
  return { store, conns, marks, out, c: conns.get(3)! };
}
const remote = (store: SyncStore, table: string, key: string, value: unknown, t = Date.now()) =>
  store.apply({ table, key, value, t, node: 2 }, 7);

test("byMax: only a larger number wins; markOf puts the epoch above every seq", () => {
  expect(byMax(5, 4)).toBe(true);
  expect(byMax(4, 4)).toBe(false);
  expect(byMax(3, 4)).toBe(false);
  expect(byMax(0, undefined)).toBe(true);
  expect(byMax(0, "x")).toBe(true);
  expect(byMax("9", 1)).toBe(false);
  expect(byMax(null, 1)).toBe(false);
  expect(markOf(0, 0xffffffff)).toBeLessThan(markOf(1, 0));
  expect(markOf(2, 5)).toBe(2 * 2 ** 32 + 5);
});

test("a remote mark raises the window (never lowers it); a lower or stale-epoch mark changes nothing", () => {
  const { store, c } = setup();
  remote(store, "hwm", "3/9", markOf(0, 500));
  expect(c.window(9)!.max).toBe(500);
  expect(c.window(9)!.accept(500)).toBe(false);
  expect(c.window(9)!.accept(501)).toBe(true);
  remote(store, "hwm", "3/9", markOf(0, 100), Date.now() + 60_000); // later by clock, lower by value
  expect(store.get("hwm", "3/9")).toBe(markOf(0, 500));
  expect(c.window(9)!.max).toBe(501);
  remote(store, "hwm", "5/1", markOf(0, 7)); // a client this server does not have
  remote(store, "hwm", "3/1", "junk");
  expect([...c.windows()].map(([s]) => s)).toEqual([9]);
  // a mark of a newer epoch resets first, then applies
  remote(store, "hwm", "3/8", markOf(2, 40));
  expect(c.epoch).toBe(2);
  expect([...c.windows()].map(([s, w]) => [s, w.max])).toEqual([[8, 40]]);
  remote(store, "hwm", "3/9", markOf(1, 900)); // older epoch: ignored even though larger seq
  expect(c.window(9)!.isStarted).toBe(false);
});

test("a remote reset epoch clears the windows once; the same or a lower epoch does nothing", () => {
  const { store, c } = setup();
  c.window(1)!.accept(10);
  remote(store, "rst", "3", 1);
  expect(c.epoch).toBe(1);
  expect([...c.windows()].length).toBe(0);
  c.window(1)!.accept(3);
  remote(store, "rst", "3", 1, Date.now() + 1000);
  expect(c.window(1)!.max).toBe(3);
  remote(store, "rst", "3", "2");
  expect(c.epoch).toBe(1);
  remote(store, "rst", "99", 5); // unknown client
});

test("publish sends only windows that moved, with their epoch; a local reset publishes the epoch", () => {
  const { marks, out, c } = setup();
  const hwm = () => out.filter((r) => r.table === "hwm").map((r) => [r.key, r.value]);
  marks.publish();
  expect(hwm()).toEqual([]);
  c.window(1)!.accept(10);
  c.window(2); // made but never started: nothing to publish
  marks.publish();
  marks.publish();
  expect(hwm()).toEqual([["3/1", 10]]);
  c.window(1)!.accept(11);
  marks.publish();
  expect(hwm()).toEqual([
    ["3/1", 10],
    ["3/1", 11],
  ]);
  expect(marks.reset(c)).toBe(1);
  expect(out.filter((r) => r.table === "rst").map((r) => [r.key, r.value])).toEqual([["3", 1]]);
  c.window(1)!.accept(11); // the same seq, now in epoch 1: a new mark
  marks.publish();
  expect(hwm().at(-1)).toEqual(["3/1", markOf(1, 11)]);
  expect(marks.marksOf(3)).toEqual([[1, markOf(1, 11)]]);
  expect(marks.marksOf(4)).toEqual([]);
  expect(marks.marksOf(77)).toEqual([]);
});

test("a mark learned from a peer is not published back", () => {
  const { store, marks, out, c } = setup();
  remote(store, "hwm", "3/9", markOf(0, 50));
  marks.publish();
  expect(out.filter((r) => r.table === "hwm")).toEqual([]);
  c.window(9)!.accept(51);
  marks.publish();
  expect(out.filter((r) => r.table === "hwm").map((r) => r.value)).toEqual([51]);
});

test("applyMarks (a peer's answer) and start/reload adopt what the store holds", () => {
  const { store, conns, marks, c } = setup();
  marks.applyMarks(c, [
    [1, markOf(0, 70)],
    [2, markOf(0, 5)],
  ]);
  expect([...c.windows()].map(([s, w]) => [s, w.max])).toEqual([
    [1, 70],
    [2, 5],
  ]);
  // records that arrive before the client exists here (it is added by a reload) are adopted then
  store.apply({ table: "rst", key: "6", value: 3, t: Date.now(), node: 2 }, 7);
  store.apply({ table: "hwm", key: "6/1", value: markOf(3, 44), t: Date.now(), node: 2 }, 7);
  store.apply({ table: "hwm", key: "6/2", value: markOf(2, 99), t: Date.now(), node: 2 }, 7);
  const more = validateConfig({ mode: "server", clients: [...cfg.clients, { mux: 6, passphrase: "m6" }] });
  conns.replace(more.clients, more.crypto);
  const six = conns.get(6)!;
  expect(six.epoch).toBe(3);
  expect([...six.windows()].filter(([, w]) => w.isStarted).map(([s, w]) => [s, w.max])).toEqual([[1, 44]]);
  expect(conns.get(3)!.window(1)!.max).toBe(70); // carried over by the reload, not re-adopted
  marks.start();
  marks.stop();
  expect(six.window(1)!.max).toBe(44);
});

test("a reset epoch the client already reached through a mark does not clear its windows again", () => {
  const { store, c } = setup();
  remote(store, "hwm", "3/1", markOf(2, 50)); // epoch 2 arrives with a mark first
  expect(c.epoch).toBe(2);
  remote(store, "rst", "3", 2); // then the reset itself
  expect(c.window(1)!.max).toBe(50);
  expect(c.window(1)!.accept(50)).toBe(false);
});

test("merged tables take numbers only, the first record too; a reset epoch above every mark is adopted", () => {
  const { store, conns, c } = setup();
  remote(store, "rst", "3", true);
  remote(store, "hwm", "3/4", "99");
  expect(store.get("rst", "3")).toBeUndefined();
  expect(store.get("hwm", "3/4")).toBeUndefined();
  expect(c.epoch).toBe(0);
  expect(store.set("hwm", "3/4", "junk")).toBeNull();
  // client 7 arrives by a reload after its reset (epoch 5) and an older mark (epoch 3)
  remote(store, "rst", "7", 5);
  remote(store, "hwm", "7/1", markOf(3, 44));
  const more = validateConfig({ mode: "server", clients: [...cfg.clients, { mux: 7, passphrase: "m7" }] });
  conns.replace(more.clients, more.crypto);
  const seven = conns.get(7)!;
  expect(seven.epoch).toBe(5);
  expect([...seven.windows()].filter(([, w]) => w.isStarted)).toEqual([]);
});

test("marksOf reports started windows only; stop() ends publication", async () => {
  const store = new SyncStore(1);
  const out: SyncRecord[] = [];
  store.onPublish((r) => out.push(r));
  const conns = new ConnTable();
  conns.replace(cfg.clients, cfg.crypto);
  const marks = new ReplayMarks(store, conns, 10);
  const c = conns.get(3)!;
  c.window(2); // made, never started
  c.window(1)!.accept(9);
  expect(marks.marksOf(3)).toEqual([[1, 9]]);
  marks.start();
  await Bun.sleep(40);
  expect(out.map((r) => [r.key, r.value])).toEqual([["3/1", 9]]);
  marks.stop();
  c.window(1)!.accept(10);
  await Bun.sleep(40);
  expect(out.length).toBe(1);
});

test("records for clients this server does not have, and sender ids past the cap, are ignored safely", () => {
  const { store, conns, marks, c } = setup();
  remote(store, "rst", "99", 4);
  remote(store, "hwm", "99/1", markOf(4, 9));
  marks.start(); // adopts: nothing to adopt them to, no throw
  marks.stop();
  const capped = validateConfig({ mode: "server", clients: [{ mux: 3, passphrase: "m3", crypto: { maxSenders: 1 } }] });
  conns.replace(capped.clients, capped.crypto);
  const d = conns.get(3)!;
  expect(d).not.toBe(c);
  d.window(1)!.accept(5);
  remote(store, "hwm", "3/2", markOf(0, 70)); // no room for sender 2
  expect([...d.windows()].map(([s]) => s)).toEqual([1]);
});

test("a reload does not reset a client whose epoch the store already holds", () => {
  const { store, conns, c } = setup();
  remote(store, "rst", "3", 1);
  c.window(1)!.accept(20);
  conns.replace(cfg.clients, cfg.crypto); // the same client, carried over; adopt runs again
  const again = conns.get(3)!;
  expect(again.epoch).toBe(1);
  expect(again.window(1)!.max).toBe(20);
  expect(again.window(1)!.accept(20)).toBe(false);
});
