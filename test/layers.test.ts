// scripts/layers.ts: what counts as an import, which layer a file is in, and the tree as it is.
import { expect, test } from "bun:test";
import { check, layerOf, valueImports } from "../scripts/layers.ts";

test("value imports only: import type and all-type braces are left out", () => {
  const text = [
    'import type { A } from "./a.ts";',
    'import { type B, type C } from "./b.ts";',
    'import { type D, e } from "./d.ts";',
    'import * as f from "../f.ts";',
    'export { g } from "./g.ts";',
    'import x from "node:fs";',
  ].join("\n");
  expect(valueImports("src/sync/x.ts", text)).toEqual(["src/sync/d.ts", "src/f.ts", "src/sync/g.ts"]);
});

test("layers by path, first match", () => {
  expect(layerOf("src/net/addr.ts")).toBe(1);
  expect(layerOf("src/sync/store.ts")).toBe(2);
  expect(layerOf("src/sync/mesh.ts")).toBe(3);
  expect(layerOf("src/transport/framing.ts")).toBe(1);
  expect(layerOf("src/transport/udp.ts")).toBe(3);
  expect(layerOf("src/datapath.ts")).toBe(4);
  expect(layerOf("plugins/nat.ts")).toBe(5);
  expect(layerOf("src/workers/supervisor.ts")).toBe(6);
  expect(layerOf("relay.ts")).toBe(7);
  expect(() => layerOf("elsewhere/x.ts")).toThrow("no layer");
});

test("the tree keeps the order and has no cycle", () => {
  expect(check()).toEqual([]);
});
