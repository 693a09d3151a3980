// The route-flip gap per sync backend (root): runs the anycast e2e file (real anytun 0.3.8 clients
// pinging every 10 ms through two servers in namespaces) once with the mesh and once over NATS
// (a nats-server per PoP namespace), and prints side by side what it measured: pings sent and
// received and the largest gap between replies, for the route flip and for kill -9 of S1.
//   bun test/bench/sync-flip.ts
import { ROOT } from "../lib/netns.ts";

const rows: string[][] = [];
for (const sync of ["mesh", "nats"]) {
  const p = Bun.spawnSync([process.execPath, "test", "test/e2e/anycast.test.ts"], {
    cwd: ROOT,
    env: { ...process.env, E2E_SYNC: sync },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = p.stdout.toString() + p.stderr.toString();
  const pick = (label: string) => {
    const m = new RegExp(`${label}: sent (\\d+), received (\\d+), largest gap (\\d+) ms`).exec(out);
    return m ? `${m[2]}/${m[1]}, gap ${m[3]} ms` : "n/a";
  };
  const summary = /(\d+) pass[\s\S]*?(\d+) fail/.exec(out);
  rows.push([
    sync,
    pick("anytun clients"),
    pick("ours clients"),
    pick("kill -9 S1"),
    summary ? `${summary[1]} pass, ${summary[2]} fail` : "?",
  ]);
}
console.log(`bun ${Bun.version}; A pings B every 10 ms for 3 s; route flipped (or S1 killed) after 1 s`);
console.log("| sync | flip, anytun clients | flip, our clients | kill -9 S1 | e2e file |");
console.log("|---|---|---|---|---|");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
