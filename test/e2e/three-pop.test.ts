// The three-PoP demo (examples/three-pop/demo.ts) runs as an operator would start it and all its
// checks pass (root; it builds its own namespaces, prefix "p3"), on the mesh and over NATS.
import { expect, test } from "bun:test";
import { BUN, have, isRoot, ROOT } from "../lib/netns.ts";

for (const nats of [false, true])
  test.skipIf(!(isRoot && have("ping") && (!nats || have("nats-server"))))(
    `bun examples/three-pop/demo.ts${nats ? " --nats" : ""}: every check ok`,
    () => {
      const r = Bun.spawnSync([BUN, `${ROOT}examples/three-pop/demo.ts`, ...(nats ? ["--nats"] : [])], {
        cwd: ROOT,
        stdout: "pipe",
        stderr: "pipe",
        env: process.env,
      });
      const out = r.stdout.toString();
      console.log(out.replace(/^/gm, "  ").trimEnd());
      expect(out).toContain("all checks passed");
      expect(out).not.toContain("FAIL");
      expect(r.exitCode).toBe(0);
    },
    120000,
  );
