// The README's config reference is generated from the schema; this fails when they drift.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { configReference, configRows, END, MEANING, START } from "../scripts/config-reference.ts";

test("every config key has a meaning, and every meaning a key", () => {
  const keys = configRows().map((r) => r.key);
  expect(keys.filter((k) => MEANING[k] === undefined)).toEqual([]);
  expect(Object.keys(MEANING).filter((k) => !keys.includes(k))).toEqual([]);
});

test("README.md carries the current reference (run: bun scripts/config-reference.ts --write)", async () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  expect(readme).toContain(`${START}\n\n${await configReference()}\n\n${END}`);
});
