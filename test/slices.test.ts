// Port slices (src/sync/slices.ts): members of the group claim distinct slices through the
// replicated table, the lower node id keeps a contested one, claims survive a restart, and
// forged claims (in another node's name) are refused.
import { describe, expect, test } from "bun:test";
import { SyncStore, type SyncRecord } from "../src/sync/store.ts";
import { PortSlices } from "../src/sync/slices.ts";

/** Stores joined by a function that delivers every local write to the others (a tiny mesh). */
function fleet(nodes: number[]): SyncStore[] {
  const stores = nodes.map((n) => new SyncStore(n));
  stores.forEach((s, i) =>
    s.onPublish((rec: SyncRecord) => {
      stores.forEach((o, j) => {
        if (j !== i) o.apply(rec, i);
      });
    }),
  );
  return stores;
}

describe("port slices", () => {
  test("alike members prefer distinct slices and keep them", () => {
    const [a, b] = fleet([1, 1025]);
    const sa = new PortSlices(a!, "nat", 16, 1, 2);
    const sb = new PortSlices(b!, "nat", 16, 1025, 3);
    expect([sa.index, sb.index]).toEqual([2, 3]);
    expect(sa.within(20000, 59999)).toEqual({ start: 25000, size: 2500 });
    expect(sb.moves + sa.moves).toBe(0);
  });

  test("two members claiming one slice: the lower node id keeps it, the other moves to a free one", () => {
    const [a, b, c] = fleet([7, 3, 9]);
    const s7 = new PortSlices(a!, "nat", 4, 7, 0);
    expect(s7.index).toBe(0);
    const s3 = new PortSlices(b!, "nat", 4, 3, 0); // sees 7's claim, but 3 < 7: keeps 0
    expect(s3.index).toBe(0);
    expect(s7.index).toBe(1); // 7 moved when 3's claim arrived
    expect(s7.moves).toBe(1);
    const s9 = new PortSlices(c!, "nat", 4, 9, 1); // 1 is 7's now: 9 takes the lowest free
    expect(s9.index).toBe(2);
    expect(a!.get("slice", "nat/9")).toEqual({ i: 2 });
  });

  test("a restarted member finds its claim in the snapshot and keeps it", () => {
    const [a] = fleet([5]);
    a!.apply({ table: "slice", key: "nat/5", value: { i: 11 }, t: Date.now() - 1000, node: 5 }, 1);
    const s = new PortSlices(a!, "nat", 16, 5, 5);
    expect(s.index).toBe(11);
  });

  test("more members than slices: the last shares the least claimed one, logged once", () => {
    const [a, b, c] = fleet([1, 2, 3]);
    const lines: string[] = [];
    new PortSlices(a!, "relay", 2, 1, 0);
    new PortSlices(b!, "relay", 2, 2, 1);
    const s = new PortSlices(c!, "relay", 2, 3, 0, (m) => lines.push(m));
    expect([0, 1]).toContain(s.index);
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("more members than port slices");
  });

  test("a claim in another node's name is refused; pools are apart", () => {
    const [a] = fleet([1]);
    const s = new PortSlices(a!, "nat", 16, 1, 4);
    const before = a!.recordsRefused;
    // node 2 writes a claim keyed as node 1's: refused, so it cannot push 1 off its slice
    a!.apply({ table: "slice", key: "nat/1", value: { i: 9 }, t: Date.now() + 10, node: 2 }, 1);
    a!.apply({ table: "slice", key: "nat/0", value: { i: 4 }, t: Date.now() + 10, node: 2 }, 1);
    expect(a!.recordsRefused - before).toBe(2);
    expect(s.index).toBe(4);
    // a relay claim on slice 4 does not touch the nat pool
    a!.apply({ table: "slice", key: "relay/0", value: { i: 4 }, t: Date.now() + 10, node: 0 }, 1);
    expect(s.index).toBe(4);
    a!.apply({ table: "slice", key: "nat/0", value: { i: 4 }, t: Date.now() + 20, node: 0 }, 1);
    expect(s.index).toBe(0); // node 0 < 1 took 4: moved to the lowest free
  });
});
