// Logging (src/log.ts): logfmt quoting, JSON's reserved fields, journald priorities when stderr
// is the journal, syslog datagrams to a real unix socket (socat receives them), and a relay
// that refuses to start when its syslog socket is not there.
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { Logger, parseLogTarget } from "../src/log.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const dir = mkdtempSync(`${tmpdir()}/relay-log-`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const lines = (path: string) => readFileSync(path, "utf8").trim().split("\n");

test("text is logfmt: msg always quoted, values quoted when they need it, reserved names kept", () => {
  const path = `${dir}/text.log`;
  const log = new Logger([{ kind: "file", level: 5, path }], "text").child("sync");
  log.notice("peer up", { peer: "10.0.0.2:2323", why: 'said "hi" = ok', n: 3, empty: "", msg: "mine", level: "x" });
  const [line] = lines(path);
  expect(line).toMatch(
    /^time=\d{4}-\d\d-\d\dT[\d:.]+Z level=notice component=sync msg="peer up" peer=10\.0\.0\.2:2323 why="said \\"hi\\" = ok" n=3 empty="" _msg=mine _level=x$/,
  );
  // every pair parses back as key=value
  const pairs = line!.match(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)!;
  expect(pairs.length).toBe(10);
});

test("json: time, level, component and msg cannot be overwritten by a field", () => {
  const path = `${dir}/json.log`;
  new Logger([{ kind: "file", level: 5, path }], "json")
    .child("nat")
    .warn("ports low", { msg: "forged", level: "debug", time: 0, component: "x", left: 7 });
  const o = JSON.parse(lines(path)[0]!) as Record<string, unknown>;
  expect(o).toMatchObject({
    level: "warn",
    component: "nat",
    msg: "ports low",
    _msg: "forged",
    _level: "debug",
    _time: 0,
    _component: "x",
    left: 7,
  });
  expect(typeof o.time).toBe("string");
});

test("stderr that is the journal (JOURNAL_STREAM = its device:inode) gets syslog priorities; another stream does not", async () => {
  const script = `
    import { fstatSync } from "node:fs";
    import { Logger } from "${ROOT}src/log.ts";
    const st = fstatSync(2);
    const env = { JOURNAL_STREAM: process.argv[1] === "match" ? st.dev + ":" + st.ino : "1:2" };
    const log = new Logger([{ kind: "stderr", level: 5 }], "text", "", { env });
    log.error("e"); log.warn("w"); log.notice("n"); log.info("i"); log.debug("d");`;
  for (const mode of ["match", "other"]) {
    const p = Bun.spawn([process.execPath, "-e", script, mode], { env: process.env, stderr: "pipe", stdout: "ignore" });
    await p.exited;
    const got = (await new Response(p.stderr).text())
      .trim()
      .split("\n")
      .map((l) => /^(<\d>)?/.exec(l)![0]);
    expect([mode, got]).toEqual([mode, mode === "match" ? ["<3>", "<4>", "<5>", "<6>", "<7>"] : ["", "", "", "", ""]]);
  }
});

test.skipIf(Bun.which("socat") === null)(
  "syslog targets send RFC 3164 datagrams to the socket (facility, ident, pid)",
  async () => {
    const sock = `${dir}/log.sock`;
    const out = `${dir}/syslog.out`;
    const rx = Bun.spawn(["socat", "-u", `UNIX-RECV:${sock}`, `OPEN:${out},creat,append`], { stderr: "ignore" });
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await Bun.sleep(20);
      const log = new Logger([parseLogTarget("syslog:4,relay-test,local3")], "text", "", { syslogSocket: sock });
      log.warn("a warning", { n: 1 });
      log.debug("not sent: above the target's level");
      for (let i = 0; i < 100 && !existsSync(out); i++) await Bun.sleep(20);
      await Bun.sleep(100);
      expect(readFileSync(out, "utf8")).toBe(
        `<${19 * 8 + 4}>relay-test[${process.pid}]: level=warn msg="a warning" n=1`,
      );
    } finally {
      rx.kill();
    }
    expect(() => parseLogTarget("syslog:3,x,nofacility")).toThrow(/facility "nofacility"/);
  },
);

test("a relay whose syslog socket is missing refuses to start (exit 2), naming it", async () => {
  writeFileSync(
    `${dir}/relay.json`,
    JSON.stringify({ mode: "server", listen: ["127.0.0.1:0"], log: ["syslog:3"], syslogSocket: `${dir}/none.sock` }),
  );
  const p = Bun.spawn([process.execPath, `${ROOT}relay.ts`, "--config", `${dir}/relay.json`], {
    env: process.env,
    stdout: "ignore",
    stderr: "pipe",
  });
  const code = await p.exited;
  const err = await new Response(p.stderr).text();
  expect(code).toBe(2);
  expect(err).toContain(`cannot start: log syslog: ${dir}/none.sock is not a socket here`);
});
