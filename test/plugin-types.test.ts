// Types for plugins written out of tree: types/ is the declaration emit of src/plugin-sdk.ts
// (`npm run types`) and must match the source; a plugin project elsewhere that points
// "anytun-relay/plugin" at types/plugin-sdk.d.ts typechecks, and a wrong plugin does not.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname;
const TSC = `${ROOT}node_modules/.bin/tsc`;
const dir = mkdtempSync(`${tmpdir()}/relay-plugin-types-`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const files = (d: string): string[] =>
  readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? files(join(d, f)) : [join(d, f)]));

test("types/ is what `npm run types` makes from the source (regenerate it when this fails)", () => {
  const out = `${dir}/emit`;
  const r = Bun.spawnSync([TSC, "-p", `${ROOT}tsconfig.types.json`, "--outDir", out], { cwd: ROOT, stderr: "pipe" });
  expect(r.exitCode).toBe(0);
  const want = files(out)
    .map((f) => relative(out, f))
    .sort();
  const have = files(`${ROOT}types`)
    .map((f) => relative(`${ROOT}types`, f))
    .sort();
  expect(have).toEqual(want);
  for (const f of want)
    expect([f, readFileSync(`${ROOT}types/${f}`, "utf8")]).toEqual([f, readFileSync(`${out}/${f}`, "utf8")]);
});

test("an out-of-tree plugin typechecks against types/plugin-sdk.d.ts; a wrong one does not", () => {
  const project = `${dir}/my-plugin`;
  Bun.spawnSync(["mkdir", "-p", project]);
  writeFileSync(
    `${project}/tsconfig.json`,
    JSON.stringify({
      compilerOptions: {
        target: "ESNext",
        module: "Preserve",
        moduleResolution: "bundler",
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        allowImportingTsExtensions: true,
        types: [],
        paths: { "anytun-relay/plugin": [`${ROOT}types/plugin-sdk.d.ts`], valibot: [`${ROOT}node_modules/valibot`] },
      },
      include: ["*.ts"],
    }),
  );
  const good = `import * as v from "valibot";
import { definePlugin, drop, NEXT, type Packet } from "anytun-relay/plugin";
export default definePlugin({
  name: "tiny",
  options: v.strictObject({ limit: v.optional(v.number(), 10) }),
  create(ctx, opts) {
    const seen = ctx.keep("seen", () => ({ n: 0 }));
    const c = ctx.counter("seen");
    return {
      handle(p: Packet) {
        c.inc();
        return ++seen.n > opts.limit || p.data.length < 20 ? drop("tiny") : NEXT;
      },
      stop() {},
    };
  },
});
`;
  writeFileSync(`${project}/tiny.ts`, good);
  const ok = Bun.spawnSync([TSC, "-p", project], { stdout: "pipe", stderr: "pipe" });
  expect([ok.exitCode, ok.stdout.toString() + ok.stderr.toString()]).toEqual([0, ""]);
  writeFileSync(
    `${project}/tiny.ts`,
    good.replace('drop("tiny") : NEXT', '"drop" : NEXT').replace("opts.limit", "opts.limt"),
  );
  const bad = Bun.spawnSync([TSC, "-p", project], { stdout: "pipe", stderr: "pipe" });
  const out = bad.stdout.toString();
  expect(bad.exitCode).not.toBe(0);
  expect(out).toContain("limt");
  expect(out).toContain("Verdict");
});
