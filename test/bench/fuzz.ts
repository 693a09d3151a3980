// Long fuzz run of the SATP receive path (engine: test/lib/fuzz.ts).
//   bun test/bench/fuzz.ts [N=1000000] [seed=1]
// Prints the outcome counts per input source and inputs/s; exits 1 if any exception escaped the
// receive path or open broke its contract (anomaly), printing the first offending inputs in hex.
import { formatResult, runFuzz } from "../lib/fuzz.ts";

function intArg(s: string | undefined, dflt: number, what: string): number {
  if (s === undefined) return dflt;
  const n = Number(s.replace(/_/g, ""));
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`usage: bun test/bench/fuzz.ts [N=1000000] [seed=1]  (bad ${what}: ${s})`);
    process.exit(2);
  }
  return n;
}

const n = intArg(process.argv[2], 1_000_000, "N");
const seed = intArg(process.argv[3], 1, "seed");
console.log(`bun ${Bun.version} (${Bun.revision.slice(0, 9)}), fuzzing ${n} inputs, seed ${seed}`);
const t0 = performance.now();
const res = runFuzz(n, seed, (done) => {
  const s = (performance.now() - t0) / 1000;
  process.stderr.write(`\r${done} inputs, ${s.toFixed(1)} s`);
});
if (n >= 100_000) process.stderr.write("\n");
console.log(formatResult(res));
if (res.exceptions > 0 || res.anomalies > 0) {
  console.log(`FAIL: ${res.exceptions} exception(s), ${res.anomalies} anomal(ies)`);
  process.exit(1);
}
console.log("OK: no exception escaped");
