// The config file's JSON Schema (schema/config.schema.json), generated from the valibot schema in
// src/config.ts with @valibot/to-json-schema, for editor completion and checks: a config may name
// it with "$schema". Descriptions are the README table's meanings (config-reference.ts); each
// secret key K also offers KFile and KEnv (src/config-file.ts). `bun scripts/config-schema.ts
// --write` regenerates it; test/config-schema.test.ts fails when it drifts.
import { toJsonSchema } from "@valibot/to-json-schema";
import { ConfigSchema } from "../src/config.ts";
import { SECRET_KEYS } from "../src/config-file.ts";
import { MEANING } from "./config-reference.ts";

export const SCHEMA_PATH = new URL("../schema/config.schema.json", import.meta.url).pathname;

type Node = {
  type?: string;
  properties?: Record<string, Node>;
  items?: Node;
  description?: string;
  [k: string]: unknown;
};

export function configSchema(): string {
  const s = toJsonSchema(ConfigSchema, { errorMode: "ignore", typeMode: "input" }) as Node;
  const walk = (n: Node, path: string) => {
    if (n.items) walk(n.items, `${path}[]`);
    if (!n.properties) return;
    for (const [k, child] of Object.entries(n.properties)) {
      const p = path ? `${path}.${k}` : k;
      const meaning = MEANING[p] ?? MEANING[p.replace(/\[\]/g, "")];
      if (meaning) child.description = meaning.replace(/`/g, "");
      walk(child, p.replace(/\[\]$/, ""));
    }
    for (const k of SECRET_KEYS)
      if (n.properties[k]) {
        n.properties[`${k}File`] = { type: "string", description: `file holding ${k} (relative to the config file)` };
        n.properties[`${k}Env`] = { type: "string", description: `environment variable holding ${k}` };
      }
  };
  walk(s, "");
  s.properties!.$schema = { type: "string", description: "this schema, for editors" };
  s.$id = "https://anytun-relay.invalid/config.schema.json";
  s.title = "anytun relay config";
  return JSON.stringify(s, null, 2) + "\n";
}

if (import.meta.main) {
  const text = configSchema();
  if (process.argv.includes("--write")) {
    await Bun.write(SCHEMA_PATH, text);
    console.log(`wrote ${SCHEMA_PATH}`);
  } else process.stdout.write(text);
}
