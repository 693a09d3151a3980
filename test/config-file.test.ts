// Config files (src/config-file.ts) and `--check`: the four formats, where a syntax error is,
// secrets from files and the environment, missing vs unknown keys in one format for the core
// and for plugins — the last through real `bun relay.ts --check` processes.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ConfigError, validateConfig } from "../src/config.ts";
import { jsonErrorAt, readConfigFile } from "../src/config-file.ts";
import { libcryptoVersion, loadLibcrypto } from "../src/satp/libcrypto.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const dir = mkdtempSync(`${tmpdir()}/relay-config-`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  writeFileSync(`${dir}/${name}`, text);
  return `${dir}/${name}`;
};
const problems = (f: () => unknown): string[] => {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
};
const SERVER = { mode: "server", clients: [{ mux: 1, passphrase: "secret one", routes: ["10.99.0.1/32"] }] };

describe("formats", () => {
  const same = {
    json: JSON.stringify({ $schema: "./schema/config.schema.json", ...SERVER }, null, 2),
    jsonc: `// a comment\n{\n  "mode": "server", /* inline */\n  "clients": [{ "mux": 1, "passphrase": "secret one", "routes": ["10.99.0.1/32"], },],\n}\n`,
    yaml: `mode: server\nclients:\n  - mux: 1\n    passphrase: secret one\n    routes: [10.99.0.1/32]\n`,
    toml: `mode = "server"\n[[clients]]\nmux = 1\npassphrase = "secret one"\nroutes = ["10.99.0.1/32"]\n`,
  };
  for (const [ext, text] of Object.entries(same))
    test(`.${ext} gives the same config`, () => {
      const raw = readConfigFile(file(`same.${ext}`, text));
      expect(raw).toEqual(SERVER);
      expect(validateConfig(raw).clients[0]!.mux).toBe(1);
    });

  test("syntax errors name the line (and column for JSON)", () => {
    expect(
      problems(() =>
        readConfigFile(file("bad.json", `{\n  "mode": "server",\n  "clients": [ { "mux": 1 "x": 2 } ]\n}\n`)),
      ),
    ).toEqual([`config ${dir}/bad.json: not valid JSON at line 3, column 27: expected "," or "}"`]);
    expect(problems(() => readConfigFile(file("bad2.json", `{ "mode": "server", }`)))[0]).toContain(
      "at line 1, column 21: expected a key in double quotes",
    );
    expect(problems(() => readConfigFile(file("bad.jsonc", `{\n // ok\n "a": [1, 2,,]\n}`)))[0]).toContain(
      "at line 3, column 13",
    );
    expect(problems(() => readConfigFile(file("bad.yaml", `mode: server\nclients:\n  - mux: [1\n`)))[0]).toContain(
      "not valid YAML near line",
    );
    expect(problems(() => readConfigFile(file("bad.toml", `mode = "server"\nclients = [1\nx = 2\n`)))[0]).toMatch(
      /not valid TOML near line [23]/,
    );
    expect(problems(() => readConfigFile(file("list.yaml", `- 1\n- 2\n`)))[0]).toContain("expected an object");
    expect(problems(() => readConfigFile(`${dir}/none.json`))[0]).toContain("cannot read: ENOENT");
  });

  test("the JSON scanner agrees with JSON.parse on valid and broken texts", () => {
    const texts = [
      '{"a":[1,2,{"b":null}],"c":"\\u00e9\\n","d":-1.5e3}',
      "[]",
      '"x"',
      "{",
      '{"a" 1}',
      "[1,]",
      '{"a":tru}',
      '"\n"',
    ];
    for (const t of texts) {
      let ok = true;
      try {
        JSON.parse(t);
      } catch {
        ok = false;
      }
      expect([t, jsonErrorAt(t, false) === null]).toEqual([t, ok]);
    }
  });
});

describe("secrets from files and the environment", () => {
  test("KFile (relative to the config, one trailing newline dropped) and KEnv, at any depth", () => {
    writeFileSync(`${dir}/client.pass`, "passphrase from a file\n");
    writeFileSync(`${dir}/fleet.key`, "fleet key from a file, long enough");
    const raw = readConfigFile(
      file(
        "secrets.json",
        JSON.stringify({
          mode: "server",
          clients: [
            { mux: 1, passphraseFile: "client.pass" },
            { mux: 2, passphraseEnv: "RELAY_TEST_PASS" },
          ],
          sync: { listen: "127.0.0.1:0", keyFile: "fleet.key" },
          admin: { tokenEnv: "RELAY_TEST_TOKEN" },
        }),
      ),
      { RELAY_TEST_PASS: "passphrase from the environment", RELAY_TEST_TOKEN: "an admin token of some length" },
    );
    const cfg = validateConfig(raw);
    expect(cfg.clients.map((c) => c.passphrase)).toEqual(["passphrase from a file", "passphrase from the environment"]);
    expect(cfg.sync.key).toBe("fleet key from a file, long enough");
    expect(cfg.admin.token).toBe("an admin token of some length");
  });

  test("a missing file or variable, or two sources for one secret, is an error naming the key", () => {
    const p = problems(() =>
      readConfigFile(
        file(
          "secrets-bad.json",
          JSON.stringify({
            clients: [
              { mux: 1, passphraseFile: "nope.pass" },
              { mux: 2, passphraseEnv: "RELAY_NOT_SET" },
              { mux: 3, passphrase: "x", passphraseFile: "y" },
            ],
          }),
        ),
        {},
      ),
    );
    expect(p).toEqual([
      "clients.0.passphraseFile: cannot read nope.pass: ENOENT",
      "clients.1.passphraseEnv: RELAY_NOT_SET is not set",
      "clients.2.passphraseFile: give one of passphrase, passphraseFile",
    ]);
  });
});

describe("--check (real processes)", () => {
  const check = async (path: string) => {
    const p = Bun.spawn([process.execPath, `${ROOT}relay.ts`, "--check", "--config", path], {
      env: process.env,
      stdout: "pipe",
      stderr: "pipe",
    });
    const code = await p.exited;
    return { code, out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text() };
  };

  test("a good config in each format: exit 0 and a summary; nothing opened (a peer config needs no TUN)", async () => {
    const crypto = `packet crypto ${loadLibcrypto() === null ? "node:crypto" : libcryptoVersion()}`;
    for (const ext of ["json", "jsonc", "yaml", "toml"]) {
      const r = await check(`${dir}/same.${ext}`);
      expect([ext, r.code, r.out.trim()]).toEqual([
        ext,
        0,
        `config OK: server mode, 1 client, plugins routes, ${crypto}`,
      ]);
    }
    const peer = await check(
      file("peer.yaml", "remoteHost: 192.0.2.1\nremotePort: 4444\ndev: tun-check0\npassphrase: a secret\nrole: left\n"),
    );
    expect([peer.code, peer.out.trim(), peer.err]).toEqual([0, `config OK: peer mode, ${crypto}`, ""]);
  });

  test("bad configs: exit 2; missing and unknown keys, core and plugin, in one format", async () => {
    const r = await check(file("bad-keys.yaml", "mode: server\nclients:\n  - passphrase: x\n    bogus: 1\n"));
    expect(r.code).toBe(2);
    expect(r.err).toContain("config error: clients.0.mux: missing (required)");
    expect(r.err).toContain("config error: clients.0.bogus: unknown key (not a config field; see --help)");
    const pl = await check(file("bad-plugin.toml", 'mode = "server"\n[[plugins]]\nuse = "nat"\nport = 5\n'));
    expect(pl.code).toBe(2);
    expect(pl.err).toContain("config error: plugins.0.address: missing: give address (IPv4), address6 (IPv6) or both");
    expect(pl.err).toContain("config error: plugins.0.port: unknown key (not an option of plugin nat)");
    const syn = await check(file("bad-syntax.json", '{"mode": "server",,}'));
    expect([syn.code, syn.err.trim()]).toEqual([
      2,
      `config error: config ${dir}/bad-syntax.json: not valid JSON at line 1, column 19: expected a key in double quotes`,
    ]);
  });
});

describe("host names where anytun takes them (-i, -M)", () => {
  test("names are resolved before validation; literals pass untouched; a name that does not resolve is an error", async () => {
    const { resolveHostNames } = await import("../src/config-file.ts");
    const raw = await resolveHostNames({
      interface: "localhost",
      sync: { listen: "localhost:2323", peers: ["localhost:2324", "192.0.2.7:2323", "[2001:db8::1]:2323"] },
    });
    expect(raw.interface).toMatch(/^(127\.0\.0\.1|::1)$/);
    const sync = raw.sync as { listen: string; peers: string[] };
    expect(sync.peers[0]).toMatch(/^(127\.0\.0\.1|\[::1\]):2324$/);
    expect(sync.peers.slice(1)).toEqual(["192.0.2.7:2323", "[2001:db8::1]:2323"]);
    expect(sync.listen).toMatch(/^(127\.0\.0\.1|\[::1\]):2323$/);
    let p: string[] = [];
    try {
      await resolveHostNames({ sync: { peers: ["no-such-host.invalid:2323"] } });
    } catch (e) {
      p = (e as ConfigError).problems;
    }
    expect(p[0]).toMatch(/^sync\.peers\.0: cannot resolve "no-such-host\.invalid" \(E/);
  });

  test("--check -M localhost (anytun's form) validates", async () => {
    const p = Bun.spawn(
      [
        process.execPath,
        `${ROOT}relay.ts`,
        "--check",
        "-M",
        "localhost:2324",
        "--sync-key",
        "a fleet key of some length",
      ],
      {
        env: process.env,
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    expect(await p.exited).toBe(0);
    expect(await new Response(p.stdout).text()).toContain("config OK: server mode");
  });
});
