// The published JSON Schema of the config (schema/config.schema.json) is generated from the
// valibot schema and must not drift; it names every key, the KFile/KEnv forms of secrets and
// "$schema", and the repo's example configs use only keys it knows.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { configSchema, SCHEMA_PATH } from "../scripts/config-schema.ts";
import { ConfigSchema } from "../src/config.ts";

const ROOT = new URL("../", import.meta.url).pathname;
type Node = { properties?: Record<string, Node>; items?: Node; additionalProperties?: unknown };

test("schema/config.schema.json is generated (bun scripts/config-schema.ts --write when this fails)", () => {
  expect(readFileSync(SCHEMA_PATH, "utf8")).toBe(configSchema());
});

test("it names every top-level key, secrets' File/Env forms and $schema, and is closed like the config", () => {
  const s = JSON.parse(readFileSync(SCHEMA_PATH, "utf8")) as Node & { $schema: string };
  expect(s.$schema).toContain("json-schema.org");
  expect(Object.keys(s.properties!).sort()).toEqual(
    [
      ...Object.keys(ConfigSchema.entries),
      "$schema",
      "passphraseFile",
      "passphraseEnv",
      "keyFile",
      "keyEnv",
      "saltFile",
      "saltEnv",
    ].sort(),
  );
  const client = s.properties!.clients!.items!;
  for (const k of ["passphraseFile", "passphraseEnv", "keyFile", "keyEnv"])
    expect(Object.keys(client.properties!)).toContain(k);
  expect(Object.keys(s.properties!.admin!.properties!)).toContain("tokenFile");
  expect(Object.keys(s.properties!.sync!.properties!)).toContain("keyEnv");
  expect(s.additionalProperties).toBe(false);
});

test("the example configs use only keys the schema knows", () => {
  const s = JSON.parse(readFileSync(SCHEMA_PATH, "utf8")) as Node;
  const check = (x: unknown, n: Node | undefined, path: string): string[] => {
    if (n === undefined || typeof x !== "object" || x === null) return [];
    if (Array.isArray(x)) return x.flatMap((e, i) => check(e, n.items, `${path}${i}.`));
    if (!n.properties) return [];
    return Object.entries(x).flatMap(([k, v]) =>
      n.properties![k] === undefined ? [`${path}${k}`] : check(v, n.properties![k], `${path}${k}.`),
    );
  };
  for (const f of [
    "examples/server.json",
    "examples/peer-client.json",
    "examples/peer-aes256.json",
    "examples/noise-server.json",
    "examples/noise-client.json",
  ]) {
    const cfg = JSON.parse(readFileSync(`${ROOT}${f}`, "utf8")) as Record<string, unknown>;
    const { plugins: _, ...core } = cfg; // plugin options are each plugin's own schema
    expect([f, check(core, s, "")]).toEqual([f, []]);
  }
});
