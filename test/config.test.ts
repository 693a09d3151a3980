// Flags and config file → validated Config; bad input gives field-named errors and exit code 2.
import { describe, expect, test } from "bun:test";
import { readdirSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { ConfigError, validateConfig } from "../src/config.ts";
import { FLAGS, parseArgs } from "../src/flags.ts";
import { udpTuning } from "../src/transport/sockopt.ts";

function load(argv: string[]) {
  const cli = parseArgs(argv);
  if (cli.action !== "run") throw new Error(cli.action);
  return validateConfig(cli.raw);
}
function problems(argv: string[]): string[] {
  try {
    load(argv);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("anytun flags", () => {
  test("the README client line", () => {
    const c = load("-r HOST -o 4444 -e right -E secret -d tun0 -n 10.0.0.2/24".split(" "));
    expect(c).toMatchObject({
      remoteHost: "HOST",
      remotePort: 4444,
      role: "right",
      passphrase: "secret",
      dev: "tun0",
      ifconfig: "10.0.0.2/24",
    });
    expect(c).toMatchObject({ mode: "peer", port: 4444, mux: 0, senderId: 0, type: "tun", mtu: 1400 });
    expect(c.crypto).toEqual({
      cipher: "aes-ctr",
      auth: "sha1",
      tagLength: 10,
      kdPrf: "aes-ctr",
      window: 0,
      maxSenders: 64,
    });
  });

  test("every short flag and its long form map to the same key", () => {
    const values: Record<string, string> = {
      interface: "192.0.2.9",
      port: "5000",
      "remote-host": "h",
      "remote-port": "5001",
      dev: "sat1",
      type: "tap",
      ifconfig: "10.9.0.1/16",
      mtu: "1300",
      "post-up-script": "/bin/true",
      route: "10.0.0.0/8",
      mux: "7",
      "sender-id": "9",
      "window-size": "32",
      "kd-prf": "aes-ctr-256",
      role: "bob",
      passphrase: "p",
      key: "00".repeat(32),
      salt: "11".repeat(14),
      cipher: "aes-ctr-192",
      "auth-algo": "sha1",
      "auth-tag-length": "4",
      log: "stdout:4",
      "log-format": "json",
      "write-pid": "/tmp/x.pid",
      mode: "server",
      listen: "[::]:4444",
      "admin-listen": "127.0.0.1:9000",
      "admin-token": "0123456789abcdef0123",
      "drain-seconds": "2",
      workers: "2",
      "sync-key": "0123456789abcdef0123",
      transport: "udp",
      protocol: "noise",
      "server-public-key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
      "private-key-file": "/tmp/client.key",
      "tcp-keepalive": "5000",
      "tcp-probe": "100",
      "relay-peer": "203.0.113.1:7000",
      "relay-local": "127.0.0.1:5000",
      "relay-lifetime": "60",
      "crypto-library": "node",
    };
    for (const f of FLAGS) {
      if (f.long.startsWith("sync-") && f.long !== "sync-key") continue; // combined; tested below
      if (f.kind === "boolean") {
        for (const form of [`--${f.long}`, ...(f.short ? [`-${f.short}`] : [])]) {
          const cli = parseArgs(["-E", "p", form, ...(f.key === "ipv6Only" ? [] : [])]);
          expect(cli.action === "run" && cli.raw[f.key]).toBe(true);
        }
        continue;
      }
      const val = values[f.long];
      expect(val).toBeDefined();
      const forms = [[`--${f.long}`, val!], [`--${f.long}=${val}`], ...(f.short ? [[`-${f.short}`, val!]] : [])];
      for (const form of forms) {
        const cli = parseArgs(form);
        if (cli.action !== "run") throw new Error("run expected");
        const [head, tail] = f.key.split(".") as [string, string | undefined];
        const got = tail === undefined ? cli.raw[head] : (cli.raw[head] as Record<string, unknown>)[tail];
        const want = f.kind === "number" ? Number(val) : f.kind === "list" ? [val] : val;
        expect(got).toEqual(want);
      }
    }
  });

  test("anytun's -S -I -M become sync.listen and sync.peers (default port 2323)", () => {
    const cli = parseArgs([
      "-S",
      "2424",
      "-I",
      "10.0.0.1",
      "-M",
      "10.0.0.2,10.0.0.3:9,[fd00::1]:99,fd00::2",
      "--sync-key",
      "k".repeat(16),
    ]);
    expect(cli.action === "run" && cli.raw.sync).toEqual({
      key: "k".repeat(16),
      listen: "10.0.0.1:2424",
      peers: ["10.0.0.2:2323", "10.0.0.3:9", "[fd00::1]:99", "[fd00::2]:2323"],
    });
    const only = parseArgs(["--sync-port", "2323"]);
    expect(only.action === "run" && only.raw.sync).toEqual({ listen: "0.0.0.0:2323" });
    expect(() => load(["-S", "2323"])).toThrow(/sync\.key: required/);
  });

  test("role spellings", () => {
    for (const [r, want] of [
      ["alice", "left"],
      ["server", "left"],
      ["bob", "right"],
      ["client", "right"],
      ["left", "left"],
    ])
      expect(load(["-E", "p", "-e", r!]).role).toBe(want as "left" | "right");
  });

  test("repeatable -R and -L keep every value", () => {
    const c = load([
      "-E",
      "p",
      "-R",
      "10.0.0.0/8",
      "-R",
      "198.51.100.128/25",
      "-R",
      "2001:db8::/33",
      "-L",
      "stdout:5",
      "-L",
      "file:3,/tmp/x.log",
    ]);
    expect(c.route).toEqual(["10.0.0.0/8", "198.51.100.128/25", "2001:db8::/33"]);
    expect(c.log).toEqual(["stdout:5", "file:3,/tmp/x.log"]);
  });

  test("help and version", () => {
    expect(parseArgs(["--help"]).action).toBe("help");
    expect(parseArgs(["-h"]).action).toBe("help");
    expect(parseArgs(["--version"]).action).toBe("version");
  });
});

describe("errors name the field and the reason", () => {
  const cases: [string, string[], RegExp][] = [
    ["unknown flag", ["-E", "p", "--bogus"], /^--bogus: unknown flag/],
    ["stray argument", ["-E", "p", "extra"], /^extra: unexpected argument/],
    ["missing value", ["-E"], /^--passphrase: needs a value/],
    ["port not a number", ["-E", "p", "-p", "abc"], /^port: .*number/i],
    ["port too big", ["-E", "p", "-p", "70000"], /^port: /],
    ["bad cipher", ["-E", "p", "-c", "des"], /^crypto\.cipher: /],
    ["bad role", ["-E", "p", "-e", "middle"], /^role: /],
    ["route with host bits", ["-E", "p", "-R", "10.0.0.1/8"], /^route\.0: .*host bits.*10\.0\.0\.0\/8/],
    ["route too long", ["-E", "p", "-R", "10.0.0.0/33"], /^route\.0: prefix length/],
    ["bad ifconfig", ["-E", "p", "-n", "10.0.0.300/24"], /^ifconfig: /],
    ["no key material", ["-r", "192.0.2.1"], /^passphrase: no key material/],
    [
      "key length vs kd-prf",
      ["-K", "00112233445566778899aabbccddeeff", "-A", "0102030405060708090a0b0c0d0e", "-k", "aes-ctr-256"],
      /^key: 16 bytes given, kd-prf aes-ctr-256 needs 32/,
    ],
    ["bad salt", ["-E", "p", "-A", "0102"], /^salt: /],
    ["bad log target", ["-E", "p", "-L", "nowhere:3"], /^log\.0: /],
    ["ipv4 and ipv6 only", ["-E", "p", "-4", "-6"], /^ipv4Only: /],
    ["device name too long", ["-E", "p", "-d", "a-very-long-device-name"], /^dev: /],
  ];
  for (const [name, argv, re] of cases) test(name, () => expect(problems(argv).some((p) => re.test(p))).toBe(true));

  test("null cipher and null auth need no key material", () => {
    expect(load(["--mode", "peer", "-c", "null", "-a", "null"]).crypto.cipher).toBe("null");
  });
});

describe("config file", () => {
  const dir = mkdtempSync(`${tmpdir()}/relay-config-`);
  const file = (name: string, text: string) => {
    const p = `${dir}/${name}`;
    writeFileSync(p, text);
    return p;
  };

  test("flags override the file", () => {
    const p = file("a.json", JSON.stringify({ passphrase: "from file", port: 5000, route: ["10.0.0.0/8"] }));
    const c = load(["--config", p, "-p", "6000"]);
    expect(c.port).toBe(6000);
    expect(c.passphrase).toBe("from file");
    expect(c.route).toEqual(["10.0.0.0/8"]);
  });

  test("udpGso: on by default; anything but a boolean is refused by name", () => {
    expect(load(["--config", file("g0.json", JSON.stringify({ passphrase: "x" }))]).udpGso).toBe(true);
    expect(load(["--config", file("g1.json", JSON.stringify({ passphrase: "x", udpGso: false }))]).udpGso).toBe(false);
    for (const bad of ["yes", 1, null, {}])
      expect(
        problems(["--config", file("g2.json", JSON.stringify({ passphrase: "x", udpGso: bad }))]).some((p) =>
          p.startsWith("udpGso:"),
        ),
      ).toBe(true);
  });

  test("udpGro: on by default, reaches the sockets' tuning; anything but a boolean is refused by name", () => {
    const on = load(["--config", file("r0.json", JSON.stringify({ passphrase: "x" }))]);
    expect(on.udpGro).toBe(true);
    expect(udpTuning(on).gro).toBe(true);
    const off = load(["--config", file("r1.json", JSON.stringify({ passphrase: "x", udpGro: false }))]);
    expect(udpTuning(off).gro).toBe(false);
    for (const bad of ["yes", 1, null, {}])
      expect(
        problems(["--config", file("r2.json", JSON.stringify({ passphrase: "x", udpGro: bad }))]).some((p) =>
          p.startsWith("udpGro:"),
        ),
      ).toBe(true);
  });

  test("tunOffload: on by default, false taken; anything but a boolean is refused by name", () => {
    expect(load(["--config", file("o0.json", JSON.stringify({ passphrase: "x" }))]).tunOffload).toBe(true);
    expect(load(["--config", file("o1.json", JSON.stringify({ passphrase: "x", tunOffload: false }))]).tunOffload).toBe(
      false,
    );
    for (const bad of ["no", 0, null, []])
      expect(
        problems(["--config", file("o2.json", JSON.stringify({ passphrase: "x", tunOffload: bad }))]).some((p) =>
          p.startsWith("tunOffload:"),
        ),
      ).toBe(true);
  });

  test("cryptoLibrary: auto by default, openssl and node taken; anything else is refused by name", () => {
    expect(load(["--config", file("c0.json", JSON.stringify({ passphrase: "x" }))]).cryptoLibrary).toBe("auto");
    for (const ok of ["openssl", "node"] as const)
      expect(
        load(["--config", file("c1.json", JSON.stringify({ passphrase: "x", cryptoLibrary: ok }))]).cryptoLibrary,
      ).toBe(ok);
    for (const bad of ["OpenSSL", "boringssl", "", 1, null, true])
      expect(
        problems(["--config", file("c2.json", JSON.stringify({ passphrase: "x", cryptoLibrary: bad }))]).some((p) =>
          p.startsWith("cryptoLibrary:"),
        ),
      ).toBe(true);
  });

  test("unknown keys, bad JSON, missing file, non-object", () => {
    expect(problems(["--config", file("b.json", JSON.stringify({ passphrase: "x", prot: 1 }))])).toEqual([
      "prot: unknown key (not a config field; see --help)",
    ]);
    expect(problems(["--config", file("c.json", "{ nope")])[0]).toMatch(/not valid JSON/);
    expect(problems(["--config", `${dir}/missing.json`])[0]).toMatch(/cannot read: ENOENT/);
    expect(problems(["--config", file("d.json", "[1]")])[0]).toMatch(/expected an object/);
  });

  test("sync.backend nats: needs sync.nats and the key, takes no mesh listen/peers, one login, URLs checked", () => {
    const sync = (x: object) =>
      problems(["--config", file(`n${Math.random()}.json`, JSON.stringify({ mode: "server", sync: x }))]);
    const key = "a fleet key of sixteen+";
    const servers = ["nats://127.0.0.1:4222"];
    expect(sync({ backend: "nats", key })).toEqual(['sync.nats: required with sync.backend "nats" (at least servers)']);
    expect(sync({ backend: "nats", nats: { servers } })[0]).toMatch(/sync\.key: required with sync\.backend "nats"/);
    expect(sync({ backend: "nats", key, listen: "127.0.0.1:2323", nats: { servers } })[0]).toMatch(
      /for the mesh backend/,
    );
    expect(sync({ key, nats: { servers } })).toEqual(['sync.nats: set, but sync.backend is "mesh"']);
    expect(sync({ backend: "nats", key, nats: { servers, user: "u" } })).toEqual([
      "sync.nats: user and pass go together",
    ]);
    expect(sync({ backend: "nats", key, nats: { servers, token: "t", credsFile: "/x" } })[0]).toMatch(
      /one way to log in/,
    );
    expect(sync({ backend: "nats", key, nats: { servers: ["http://x"] } })[0]).toMatch(/nats:\/\/host:port/);
    expect(sync({ backend: "nats", key, nats: { servers, prefix: "a b" } })[0]).toMatch(/dot-separated tokens/);
    const ok = { backend: "nats", key, nats: { servers, user: "u", pass: "p", prefix: "pop.eu" } };
    const c = load(["--config", file("nats-ok.json", JSON.stringify({ mode: "server", sync: ok }))]);
    expect([c.sync.backend, c.sync.nats?.prefix, c.sync.nats?.servers]).toEqual(["nats", "pop.eu", servers]);
  });

  test("sync.acceptKeys and mssClamp: bounded, checked, and needing what they need", () => {
    const cfg = (x: object) =>
      problems(["--config", file(`k${Math.random()}.json`, JSON.stringify({ mode: "server", ...x }))]);
    const key = "a fleet key of sixteen+";
    expect(cfg({ sync: { acceptKeys: [key] } })[0]).toMatch(/sync\.acceptKeys: needs sync\.key/);
    expect(cfg({ sync: { key, listen: "127.0.0.1:0", acceptKeys: Array(5).fill(key) } })[0]).toMatch(/at most 4 keys/);
    expect(cfg({ sync: { key, listen: "127.0.0.1:0", acceptKeys: ["short"] } })[0]).toMatch(/at least 16 characters/);
    for (const bad of [100, 70000, 1400.5, "1400", null]) expect(cfg({ mssClamp: bad }).length).toBeGreaterThan(0);
    const ok = load(["--config", file("mss-ok.json", JSON.stringify({ mode: "server", mssClamp: 1200 }))]);
    expect(ok.mssClamp).toBe(1200);
  });

  test("every example config validates", () => {
    const dirUrl = new URL("../examples/", import.meta.url);
    const files = readdirSync(dirUrl).filter((f) => f.endsWith(".json"));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(() => load(["--config", new URL(f, dirUrl).pathname])).not.toThrow();
  });
});

describe("hold (tcp.holdMs / tcp.holdBytes are aliases)", () => {
  test("defaults, the new keys, the old keys, and a conflict named", () => {
    expect(validateConfig({}).hold).toEqual({ ms: 500, bytes: 16 << 20 });
    expect(validateConfig({ hold: { ms: 200, bytes: 1000 } }).hold).toEqual({ ms: 200, bytes: 1000 });
    const old = validateConfig({ tcp: { holdMs: 100, holdBytes: 2000 } });
    expect(old.hold).toEqual({ ms: 100, bytes: 2000 });
    expect(old.tcp.holdMs).toBe(100);
    expect(validateConfig({ hold: { ms: 100 }, tcp: { holdMs: 100 } }).hold.ms).toBe(100);
    expect(() => validateConfig({ hold: { ms: 100 }, tcp: { holdMs: 300 } })).toThrow(
      "tcp.holdMs: alias of hold.ms (100); set one of them",
    );
    expect(() => validateConfig({ hold: { ms: -1 } })).toThrow("hold.ms");
    expect(() => validateConfig({ hold: { seconds: 1 } })).toThrow("hold.seconds: unknown key");
  });
});
