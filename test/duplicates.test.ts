// scripts/duplicates.ts, the measure `bun run check` bounds: a copied block is found (and counted
// once however long), a renamed copy too (same shape), data tables and imports are not.
import { expect, test } from "bun:test";
import { findPairs, shape } from "../scripts/duplicates.ts";

const block = (name: string) =>
  [
    `function ${name}(p: Uint8Array, o: number): number {`,
    `  if (p.length < o + 4) return -1;`,
    `  const hi = (p[o]! << 8) | p[o + 1]!;`,
    `  const lo = (p[o + 2]! << 8) | p[o + 3]!;`,
    `  log.debug("read", { hi, lo });`,
    `  return (hi << 16) | lo;`,
    `}`,
    `export const x${name} = ${name}(new Uint8Array(8), 2) + 1;`,
  ].join("\n");

test("a block copied with other names is one pair, its length the whole run", () => {
  const pairs = findPairs([
    { file: "src/a.ts", text: `import { a } from "./x.ts";\n${block("readA")}\n` },
    { file: "src/b.ts", text: `// another file\n\n${block("readB")}\nconst other = 1;\n` },
  ]);
  expect(pairs.length).toBe(1);
  expect(pairs[0]!.lines).toBe(7); // the lone "}" carries no shape
  expect([pairs[0]!.a, pairs[0]!.b]).toEqual(["src/a.ts:2", "src/b.ts:3"]);
});

test("imports, data rows and field declarations are not logic; a shorter copy is no pair", () => {
  const imports = Array.from({ length: 8 }, (_, i) => `import { m${i} } from "./m${i}.ts";`).join("\n");
  const rows = Array.from({ length: 8 }, (_, i) => `  key${i}: "value ${i}",`).join("\n");
  const fields = Array.from({ length: 8 }, (_, i) => `  f${i}: number;`).join("\n");
  const five = block("c").split("\n").slice(0, 5).join("\n");
  const pairs = findPairs([
    { file: "src/a.ts", text: `${imports}\n${rows}\n${fields}\n${five}` },
    { file: "src/b.ts", text: `${imports}\n${rows}\n${fields}\n${five}` },
  ]);
  expect(pairs).toEqual([]);
  expect(shape("  const hi = (p[o]! << 8) | p[o + 1]!; // high")).toBe("consta=(a[a]!<<0)|a[a+0]!;");
  expect(shape("  });")).toBeNull();
});
