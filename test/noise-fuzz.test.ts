// 20,000 random and mutated datagrams through the server's real Noise receive path
// (test/lib/noise-server.ts: the noise.listen dispatch, the gate, the datapath's Noise receiver):
// none throws and each moves at least one counter. test/bench/noise.ts runs 1,000,000.
import { expect, test } from "bun:test";
import { Rng } from "./lib/fuzz.ts";
import { noiseServerPath } from "./lib/noise-server.ts";

test("20,000 datagrams on noise.listen: none throws, every one accepted or counted", () => {
  const path = noiseServerPath();
  const rng = new Rng(7);
  let uncounted = 0;
  for (let k = 0; k < 20_000; k++) {
    let p: Uint8Array;
    if (k % 3 === 0) {
      p = new Uint8Array(rng.int(200));
      rng.fill(p);
      if (p.length > 4 && rng.chance(0.5)) p.set([1 + rng.int(4), 0, 0, 0]);
    } else {
      p = path.seeds[k % 2]!.slice();
      p[rng.int(p.length)]! ^= 1 + rng.int(255);
    }
    if (path.feed(p) < 1) uncounted++;
  }
  expect(uncounted).toBe(0);
  // the unmutated seeds: the data packet opens (then the empty chain drops it by name)
  expect(path.feed(path.seeds[1]!)).toBeGreaterThanOrEqual(1);
  expect(path.dp.drops.auth).toBeGreaterThan(1000);
});
