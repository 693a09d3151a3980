// Durable send counters (satp/counter.ts) attacked as a crash would: kill -9 of the process that
// owns them, a second live process under the same sender id, a corrupt or unwritable state
// directory. The rule: no (key, sender id, seq) is ever sent twice.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { PT_IPV4 } from "../src/satp/codec.ts";
import { BLOCK, CounterFile, counterId, defaultStateDir } from "../src/satp/counter.ts";
import { SatpCrypto } from "../src/satp/crypto.ts";
import { SEAL_NOSTATE, SatpSession } from "../src/satp/session.ts";
import { deriveMaster } from "../src/satp/suite.ts";

const root = mkdtempSync(`${tmpdir()}/relay-counter-`);
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => `${root}/d${n++}`;
const suite = { cipher: "aes-ctr", auth: "sha1", tagLength: 10, kdPrf: "aes-ctr" } as const;
const session = () =>
  new SatpSession(new SatpCrypto(suite, deriveMaster("aes-ctr", { passphrase: "c" }), "left"), 1, 0);
const inner = new Uint8Array([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
const buf = new Uint8Array(2048);

test("a restart starts past everything reserved before; the file holds hashes, not keys", () => {
  const dir = fresh();
  const f = CounterFile.open(dir, "server-1");
  const s = session();
  const id = counterId([new Uint8Array([1, 2, 3]), 5, 1]);
  s.reserveFrom(f.slot(id));
  expect(f.flush()).toBe(true);
  for (let i = 0; i < 10; i++) expect(s.seal(buf, 1, PT_IPV4, inner)).toBeGreaterThan(0);
  expect(s.seq).toBe(10);
  f.release();
  const text = readFileSync(`${dir}/server-1.counters.json`, "utf8");
  expect(JSON.parse(text)).toEqual({ v: 1, counters: { [id]: BLOCK } });
  expect(id).toMatch(/^[0-9a-f]{32}$/);
  const g = CounterFile.open(dir, "server-1");
  const t = session();
  t.reserveFrom(g.slot(id));
  expect(t.seq).toBe(BLOCK); // never 0..9 again
  // crossing the reserved end writes the next block before the packet goes out
  const writes = g.writes;
  t.seq = g.slot(id).limit - 1;
  expect(t.seal(buf, 1, PT_IPV4, inner)).toBeGreaterThan(0);
  expect(g.writes).toBe(writes);
  expect(t.seal(buf, 1, PT_IPV4, inner)).toBeGreaterThan(0);
  expect(g.writes).toBe(writes + 1);
  expect(g.slot(id).limit).toBe(3 * BLOCK);
  g.release();
});

test("kill -9 of the owner: the lock is taken over and no seq it sent is sent again", async () => {
  const dir = fresh();
  const child = Bun.spawn(
    [
      process.execPath,
      "-e",
      `const { CounterFile } = await import(${JSON.stringify(new URL("../src/satp/counter.ts", import.meta.url).pathname)});
       const f = CounterFile.open(${JSON.stringify(dir)}, "server-2");
       const s = f.slot("abc"); f.flush(); s.extend(s.limit); console.log(s.limit); setInterval(() => {}, 1000);`,
    ],
    { stdout: "pipe" },
  );
  const reader = child.stdout.getReader();
  const line = new TextDecoder().decode((await reader.read()).value);
  expect(Number(line.trim())).toBe(2 * BLOCK);
  // while it lives, a second process under the same owner is refused, naming the fix
  expect(() => CounterFile.open(dir, "server-2")).toThrow(/sends under the same sender id.*own senderId or stateDir/);
  child.kill("SIGKILL");
  await child.exited;
  const f = CounterFile.open(dir, "server-2");
  expect(f.slot("abc").start).toBe(2 * BLOCK);
  f.release();
});

test("an owner killed but not reaped (a zombie: its parent died too, PID 1 does not reap) holds no lock", async () => {
  const dir = fresh();
  // sh starts a child that exits 0.2 s later, then becomes `sleep`, which never waits for it: a
  // zombie. (A child that exits at once can be reaped by sh itself before the exec.)
  const p = Bun.spawn(["sh", "-c", "sleep 0.2 & echo $!; exec sleep 5"], { stdout: "pipe" });
  const reader = p.stdout.getReader();
  const pid = Number(new TextDecoder().decode((await reader.read()).value).trim());
  const state = () => {
    const st = readFileSync(`/proc/${pid}/stat`, "utf8");
    return st.slice(st.lastIndexOf(")") + 2, st.lastIndexOf(")") + 3);
  };
  const end = performance.now() + 3000;
  while (state() !== "Z" && performance.now() < end) await Bun.sleep(10);
  expect(state()).toBe("Z"); // kill(pid, 0) still succeeds for it
  const st = readFileSync(`/proc/${pid}/stat`, "utf8");
  const start = st.slice(st.lastIndexOf(")") + 2).split(" ")[19];
  const first = CounterFile.open(dir, "server-7");
  first.release();
  writeFileSync(`${dir}/server-7.lock`, `${pid} ${start}`);
  const f = CounterFile.open(dir, "server-7"); // taken over, not refused
  f.release();
  p.kill("SIGKILL");
  await p.exited;
});

test("a corrupt state file or an unwritable stateDir refuses to start, naming the fix", () => {
  const dir = fresh();
  CounterFile.open(dir, "x").release();
  writeFileSync(`${dir}/x.counters.json`, '{"v":1,"counters":{"a":-5}}');
  expect(() => CounterFile.open(dir, "x")).toThrow(/not a send-counter file.*restore it from a backup/);
  writeFileSync(`${dir}/x.counters.json`, "{not json");
  expect(() => CounterFile.open(dir, "x")).toThrow(/not a send-counter file/);
  expect(() => CounterFile.open(dir, "x")).toThrow(/not a send-counter file/); // the failed opens left no lock
  writeFileSync(`${root}/a-file`, "");
  expect(() => CounterFile.open(`${root}/a-file/state`, "x")).toThrow(
    /stateDir .*set stateDir to a writable directory/,
  );
});

test("when the next block cannot be written, nothing past the reservation is sent (counted nostate)", () => {
  const dir = fresh();
  const f = CounterFile.open(dir, "y");
  const s = session();
  s.reserveFrom(f.slot("k"));
  s.seq = BLOCK - 1;
  expect(s.seal(buf, 1, PT_IPV4, inner)).toBeGreaterThan(0);
  rmSync(dir, { recursive: true }); // the disk went away
  expect(s.seal(buf, 1, PT_IPV4, inner)).toBe(SEAL_NOSTATE);
  expect(s.seq).toBe(BLOCK); // nothing consumed
  expect(f.writeErrors).toBe(1);
  expect(f.lastError).toBe("ENOENT");
});

test("stateDir's default: systemd's STATE_DIRECTORY, root's /var/lib, else the XDG state directory", () => {
  expect(defaultStateDir({ STATE_DIRECTORY: "/var/lib/x:/other" })).toBe("/var/lib/x");
  const root = process.getuid?.() === 0;
  expect(defaultStateDir({ HOME: "/home/u" })).toBe(
    root ? "/var/lib/anytun-relay" : "/home/u/.local/state/anytun-relay",
  );
  if (!root) {
    expect(defaultStateDir({ XDG_STATE_HOME: "/s", HOME: "/home/u" })).toBe("/s/anytun-relay");
    expect(defaultStateDir({})).toBeUndefined();
  }
});
