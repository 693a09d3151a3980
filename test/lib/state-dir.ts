// Test preload (bunfig.toml): every relay the tests start, in-process or spawned (they inherit the
// environment), keeps its durable state (send counters) in one fresh directory, removed at exit —
// never in the machine's /var/lib/anytun-relay or the user's state directory.
import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

if (process.env.ANYTUN_RELAY_TEST_STATE === undefined) {
  const dir = mkdtempSync(`${tmpdir()}/relay-test-state-`);
  process.env.ANYTUN_RELAY_TEST_STATE = dir;
  process.env.STATE_DIRECTORY = dir;
  const remove = () => rmSync(dir, { recursive: true, force: true });
  afterAll(remove); // in a preload: after every test file
  process.on("exit", remove);
}
