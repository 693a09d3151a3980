// The plugin chain (pipeline.ts): config order, the first verdict other than next wins, and a
// plugin's drop reasons are counted in its name (the one drop table: drops.ts + `name-…`).
import { expect, test } from "bun:test";
import { Chain, CONSUMED, declaredDrops, drop, NEXT, type Packet, type Verdict } from "../src/pipeline.ts";

const plugin = (name: string, v: Verdict) => ({
  name,
  use: name,
  options: {},
  instance: { handle: () => v, stop() {} },
});
const pkt = {} as Packet; // the handlers here do not read it

test("the first verdict other than next wins; falling off the end is the core's noroute", () => {
  expect(new Chain([plugin("a", NEXT), plugin("b", CONSUMED)]).run(pkt)).toBe(CONSUMED);
  expect(new Chain([plugin("a", NEXT)]).run(pkt)).toEqual({ kind: "drop", reason: "noroute" });
});

test("a plugin's drop reason is prefixed with its name unless it already is", () => {
  const c = new Chain([plugin("acme", drop("refused"))]);
  const v = c.run(pkt);
  expect(v).toEqual({ kind: "drop", reason: "acme-refused" });
  expect(c.run(pkt)).toBe(v); // one verdict object per reason: no allocation per packet
  expect(new Chain([plugin("nat", drop("nat-refused"))]).run(pkt)).toEqual({ kind: "drop", reason: "nat-refused" });
  expect([...declaredDrops()]).toContain("acme-refused");
});
