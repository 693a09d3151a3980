// Places that share six or more lines of the same shape: every TypeScript file of the project
// (src/, plugins/, test/, scripts/, examples/, relay.ts), each line reduced to its shape —
// identifiers → `a`, numbers → `0`, strings and templates → `""`, comments and blank lines and
// lines of closing punctuation alone dropped — then every run of ≥ MIN equal shaped lines found
// in two places is one pair (overlapping windows of one run count once). Test-to-test pairs are
// listed apart (the bound is on the others).
//
//   bun scripts/duplicates.ts            the count and every pair outside test-to-test
//   bun scripts/duplicates.ts --max 20   also exit 1 when there are more pairs than that
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const ROOT = join(import.meta.dir, "..");
const MIN = 6;
const DIRS = ["src", "plugins", "test", "scripts", "examples"];
const SKIP = new Set(["node_modules", "types", ".git"]);

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files(p, out);
    else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** The shape of one line, or null for a line that carries nothing (blank, comment, closers). */
export function shape(line: string): string | null {
  const s = line
    .replace(/\/\/.*$/, "")
    .replace(/`(?:\\.|[^`\\])*`|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'/g, '""')
    .replace(/\b\d[\d_.xa-fA-Fn]*\b/g, "0")
    .replace(/[A-Za-z_$][\w$]*/g, (w) => (KEYWORDS.has(w) ? w : "a"))
    .replace(/\s+/g, "")
    .trim();
  if (s === "" || /^[})\];,]*$/.test(s) || s.startsWith("*") || s.startsWith("/*")) return null;
  if (/^(import|export)(\{|\*|type)[^=]*from""/.test(s) || s.startsWith('from""')) return null; // import lists
  if (/^a[,:;]?$|^a:(""|0|a|true|false|null),?$/.test(s)) return null; // a name or a literal member: data
  if (/^(""|a):?(""\+?)?,?$|^""\+?,?$/.test(s)) return null; // text: a key and its words
  if (/^(readonly)?a\??:[a|[\]""0<>.,]*;$/.test(s)) return null; // a field declaration: a type, not logic
  return s;
}

const KEYWORDS = new Set(
  "if else for while do return const let var function class new this throw try catch finally switch case break continue import export from type interface extends implements async await yield of in typeof instanceof null undefined true false void readonly private public static get set".split(
    " ",
  ),
);

interface Line {
  file: string;
  no: number;
  shape: string;
}

export function findPairs(all: { file: string; text: string }[]): { a: string; b: string; lines: number }[] {
  const lines: Line[][] = all.map(({ file, text }) =>
    text.split("\n").flatMap((l, i) => {
      const s = shape(l);
      return s === null ? [] : [{ file, no: i + 1, shape: s }];
    }),
  );
  // windows of MIN shaped lines by their joined shape
  const at = new Map<string, [number, number][]>();
  lines.forEach((ls, f) => {
    for (let i = 0; i + MIN <= ls.length; i++) {
      const win = ls.slice(i, i + MIN).map((l) => l.shape);
      if (new Set(win).size < 3) continue; // the same line over and over is a table, not logic
      const key = win.join("\n");
      let list = at.get(key);
      if (list === undefined) at.set(key, (list = []));
      list.push([f, i]);
    }
  });
  // a pair of places is a run: window (f1,i)~(f2,j) continued by (f1,i+1)~(f2,j+1) is the same pair
  const seen = new Set<string>();
  const pairs: { a: string; b: string; lines: number }[] = [];
  const same = (f1: number, i: number, f2: number, j: number) =>
    i < lines[f1]!.length && j < lines[f2]!.length && lines[f1]![i]!.shape === lines[f2]![j]!.shape;
  for (const list of at.values()) {
    if (list.length < 2 || list.length > 12) continue; // > 12 copies: boilerplate of the language, not logic
    for (let x = 0; x < list.length; x++)
      for (let y = x + 1; y < list.length; y++) {
        let [f1, i] = list[x]!;
        let [f2, j] = list[y]!;
        if (f1 === f2 && Math.abs(i - j) < MIN) continue; // a window overlapping itself
        while (i > 0 && j > 0 && same(f1, i - 1, f2, j - 1) && !(f1 === f2 && i - 1 === j)) {
          i--;
          j--;
        }
        const id = `${f1}:${i}|${f2}:${j}`;
        if (seen.has(id)) continue;
        seen.add(id);
        let n = 0;
        while (same(f1, i + n, f2, j + n)) n++;
        const A = lines[f1]![i]!;
        const B = lines[f2]![j]!;
        pairs.push({ a: `${A.file}:${A.no}`, b: `${B.file}:${B.no}`, lines: n });
      }
  }
  return pairs.sort((p, q) => q.lines - p.lines);
}

if (import.meta.main) {
  const max = process.argv.includes("--max") ? Number(process.argv[process.argv.indexOf("--max") + 1]) : Infinity;
  const paths = [...DIRS.flatMap((d) => files(join(ROOT, d))), join(ROOT, "relay.ts")];
  const pairs = findPairs(paths.map((p) => ({ file: relative(ROOT, p), text: readFileSync(p, "utf8") })));
  const isTest = (place: string) => place.startsWith("test/");
  const others = pairs.filter((p) => !(isTest(p.a) && isTest(p.b)));
  for (const p of others) console.log(`${String(p.lines).padStart(3)} lines  ${p.a}  ~  ${p.b}`);
  console.log(
    `duplicates: ${others.length} pairs of places share ${MIN}+ lines of the same shape` +
      ` (${pairs.length - others.length} more test-to-test)`,
  );
  if (others.length > max) {
    console.error(`duplicates: more than ${max}`);
    process.exit(1);
  }
}
