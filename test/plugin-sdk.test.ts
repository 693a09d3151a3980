// The SDK a plugin file imports ("anytun-relay/plugin", src/plugin-sdk.ts): its exports are the one
// list the relay registers, shared option schemas included, and a plugin loaded by path uses them.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as v from "valibot";
import { BUILTIN } from "../plugins/index.ts";
import { prepareChain } from "../src/pipeline.ts";
import * as sdk from "../src/plugin-sdk.ts";

const dir = mkdtempSync(`${tmpdir()}/relay-sdk-`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("the shared option schemas: cidr (with a check), interfaceName, portRange", () => {
  expect(v.safeParse(sdk.cidr(), "10.0.0.0/8").success).toBe(true);
  expect(v.safeParse(sdk.cidr(), "10.0.0.0/33").success).toBe(false);
  const v4 = sdk.cidr((p) => (p.addr.length !== 4 ? "IPv4 only" : null));
  expect(v.safeParse(v4, "2001:db8::/32").issues?.[0]?.message).toBe("IPv4 only");
  expect(v.safeParse(sdk.interfaceName, "relay-nat").success).toBe(true);
  expect(v.safeParse(sdk.interfaceName, "a-name-longer-than-15").success).toBe(false);
  expect(v.safeParse(sdk.portRange(16), "61000-61999").success).toBe(true);
  expect(v.safeParse(sdk.portRange(16), "80-100").issues?.[0]?.message).toContain("1024 <= LO");
  expect(v.safeParse(sdk.portRange(256), "20000-20100").success).toBe(false);
});

test("a plugin file gets every value export of the SDK from anytun-relay/plugin", async () => {
  const file = `${dir}/uses-sdk.ts`;
  writeFileSync(
    file,
    `import { definePlugin, NEXT, cidr, portRange, interfaceName } from "anytun-relay/plugin";
     import * as v from "valibot";
     export default definePlugin({
       name: "uses-sdk",
       options: v.strictObject({ nets: v.array(cidr()), ports: portRange(16), dev: interfaceName }),
       create() { return { handle: () => NEXT, stop() {} }; },
     });`,
  );
  const ok = await prepareChain([{ use: file, nets: ["10.1.0.0/16"], ports: "40000-40100", dev: "x0" }], BUILTIN, dir);
  expect(ok[0]!.def.name).toBe("uses-sdk");
  await expect(
    prepareChain([{ use: file, nets: ["10.1.0.0/99"], ports: "40000-40100", dev: "x0" }], BUILTIN, dir),
  ).rejects.toThrow(/plugins\.0\.nets\.0/);
});
