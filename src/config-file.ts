// Reading a config file into a raw object (config.ts validates it). By extension:
//   .json   strict JSON; a syntax error names its line and column;
//   .jsonc  JSON with comments and trailing commas (Bun.JSONC);
//   .yaml / .yml (Bun.YAML), .toml (Bun.TOML); their errors name the first line at which the
//           text stops parsing.
// A top-level "$schema" (editor completion, schema/config.schema.json) is allowed and dropped.
//
// Secrets need not be inline: a secret key K (passphrase, key, salt, token) may be given as
// `KFile` (a path, relative to the config file; its content with one trailing newline removed)
// or `KEnv` (an environment variable's name), at any depth (clients[].passphraseFile,
// admin.tokenFile, sync.keyEnv). Exactly one of K, KFile, KEnv; a missing file or variable is a
// config error naming the key.
import { hostPortText } from "./net/addr.ts";
import { lookup } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { ConfigError } from "./config.ts";

export const SECRET_KEYS = ["passphrase", "key", "salt", "token"] as const;

/** Reads and parses `path`; throws ConfigError("config FILE: ...") naming what is wrong and where. */
export function readConfigFile(
  path: string,
  env: Record<string, string | undefined> = process.env,
): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError([
      `config ${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    ]);
  }
  const obj = parseText(path, text);
  if (typeof obj !== "object" || obj === null || Array.isArray(obj))
    throw new ConfigError([`config ${path}: expected an object (a table of keys) at the top level`]);
  const raw = { ...(obj as Record<string, unknown>) };
  delete raw.$schema;
  const problems: string[] = [];
  const out = resolveSecrets(raw, "", dirname(resolve(path)), env, problems) as Record<string, unknown>;
  if (problems.length) throw new ConfigError(problems);
  return out;
}

function parseText(path: string, text: string): unknown {
  const ext = extname(path).toLowerCase();
  const fail = (what: string, where: string, msg: string) =>
    new ConfigError([`config ${path}: not valid ${what}${where}: ${msg.replace(/^\w+ Parse error: /, "")}`]);
  if (ext === ".yaml" || ext === ".yml" || ext === ".toml") {
    const [what, parse] = ext === ".toml" ? ["TOML", Bun.TOML.parse] : ["YAML", Bun.YAML.parse];
    try {
      return parse(text);
    } catch (e) {
      throw fail(what, ` near line ${firstBadLine(text, parse)}`, (e as Error).message);
    }
  }
  if (ext === ".jsonc") {
    try {
      return Bun.JSONC.parse(text);
    } catch (e) {
      const at = jsonErrorAt(text, true);
      throw fail("JSONC", at ? ` at line ${at.line}, column ${at.col}` : "", (e as Error).message);
    }
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = jsonErrorAt(text, false);
    throw fail("JSON", at ? ` at line ${at.line}, column ${at.col}` : "", at?.message ?? (e as Error).message);
  }
}

/** The first line L such that the text up to L no longer parses (the parser gives no position). */
function firstBadLine(text: string, parse: (s: string) => unknown): number {
  const lines = text.split("\n");
  for (let n = 1; n <= lines.length; n++) {
    try {
      parse(lines.slice(0, n).join("\n"));
    } catch {
      return n;
    }
  }
  return lines.length;
}

/**
 * Where a JSON text first breaks (1-based line and column) and why; null when it is valid. A
 * small scanner of RFC 8259 (with `comments`: // and /* *\/ comments and trailing commas).
 */
export function jsonErrorAt(text: string, comments: boolean): { line: number; col: number; message: string } | null {
  let i = 0;
  const at = (message: string) => {
    const before = text.slice(0, i).split("\n");
    return { line: before.length, col: before.at(-1)!.length + 1, message };
  };
  const ws = () => {
    for (;;) {
      while (i < text.length && " \t\r\n".includes(text[i]!)) i++;
      if (comments && text.startsWith("//", i)) {
        while (i < text.length && text[i] !== "\n") i++;
      } else if (comments && text.startsWith("/*", i)) {
        const end = text.indexOf("*/", i + 2);
        i = end < 0 ? text.length : end + 2;
      } else return;
    }
  };
  type Err = ReturnType<typeof at>;
  const value = (): Err | null => {
    ws();
    const c = text[i];
    if (c === undefined) return at("unexpected end of the text");
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      i++;
      ws();
      if (text[i] === close) return (i++, null);
      for (;;) {
        if (c === "{") {
          ws();
          if (text[i] !== '"') return at("expected a key in double quotes");
          const e = str();
          if (e) return e;
          ws();
          if (text[i] !== ":") return at('expected ":" after the key');
          i++;
        }
        const e = value();
        if (e) return e;
        ws();
        if (text[i] === ",") {
          i++;
          ws();
          if (comments && text[i] === close) return (i++, null);
          continue;
        }
        if (text[i] === close) return (i++, null);
        return at(
          text[i] === undefined ? `unexpected end of the text (missing "${close}")` : `expected "," or "${close}"`,
        );
      }
    }
    if (c === '"') return str();
    const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (m === null) return at(`unexpected ${JSON.stringify(c)}`);
    i += m[0].length;
    return null;
  };
  const str = (): Err | null => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === "\n") return at("line break inside a string");
      if (text[i] === "\\") {
        i++;
        if (!'"\\/bfnrtu'.includes(text[i] ?? "")) return at("bad escape in a string");
      }
      i++;
    }
    if (i >= text.length) return at("unterminated string");
    i++;
    return null;
  };
  const e = value();
  if (e) return e;
  ws();
  return i < text.length ? at("unexpected text after the value") : null;
}

/** Replaces every KFile / KEnv of a secret key K by K's value (see the header). */
function resolveSecrets(
  x: unknown,
  path: string,
  dir: string,
  env: Record<string, string | undefined>,
  problems: string[],
): unknown {
  if (Array.isArray(x)) return x.map((e, i) => resolveSecrets(e, `${path}${i}.`, dir, env, problems));
  if (typeof x !== "object" || x === null) return x;
  const o: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(x)) o[k] = resolveSecrets(val, `${path}${k}.`, dir, env, problems);
  for (const k of SECRET_KEYS) {
    const file = o[`${k}File`];
    const name = o[`${k}Env`];
    if (file === undefined && name === undefined) continue;
    const given = [k, `${k}File`, `${k}Env`].filter((n) => o[n] !== undefined);
    if (given.length > 1) {
      problems.push(`${path}${given[1]}: give one of ${given.join(", ")}`);
      continue;
    }
    delete o[`${k}File`];
    delete o[`${k}Env`];
    if (file !== undefined) {
      if (typeof file !== "string" || file === "") {
        problems.push(`${path}${k}File: expected a file name`);
        continue;
      }
      try {
        o[k] = readFileSync(resolve(dir, file), "utf8").replace(/\r?\n$/, "");
      } catch (e) {
        problems.push(
          `${path}${k}File: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        );
      }
    } else {
      const v = typeof name === "string" ? env[name] : undefined;
      if (typeof name !== "string" || name === "") problems.push(`${path}${k}Env: expected a variable name`);
      else if (v === undefined || v === "") problems.push(`${path}${k}Env: ${name} is not set`);
      else o[k] = v;
    }
  }
  return o;
}

/**
 * anytun takes host names for -i (interface) and -M (sync hosts); so do we: a name there (or in
 * sync.listen) is resolved once, at start and on reload, to its first address, before the
 * config is validated (which wants IP literals). Names that do not resolve are config errors
 * naming the key. (-r, remoteHost, is resolved when the peer starts.) Returns a copy.
 */
export async function resolveHostNames(raw: Record<string, unknown>): Promise<Record<string, unknown>> {
  const problems: string[] = [];
  const out = { ...raw };
  const isName = (h: string) =>
    /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(h) &&
    !/^[\d.]+$/.test(h);
  const resolve1 = async (path: string, host: string): Promise<string> => {
    if (!isName(host)) return host;
    try {
      return (await lookup(host)).address;
    } catch (e) {
      problems.push(`${path}: cannot resolve "${host}" (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      return host;
    }
  };
  const hostPort = async (path: string, hp: unknown): Promise<unknown> => {
    if (typeof hp !== "string") return hp;
    const m = /^([^:\[\]]+):(\d{1,5})$/.exec(hp);
    if (!m) return hp;
    const a = await resolve1(path, m[1]!);
    return hostPortText(a, m[2]!);
  };
  if (typeof out.interface === "string") out.interface = await resolve1("interface", out.interface);
  if (typeof out.sync === "object" && out.sync !== null && !Array.isArray(out.sync)) {
    const sync = { ...(out.sync as Record<string, unknown>) };
    if (Array.isArray(sync.peers))
      sync.peers = await Promise.all(sync.peers.map((p, i) => hostPort(`sync.peers.${i}`, p)));
    if (sync.listen !== undefined) sync.listen = await hostPort("sync.listen", sync.listen);
    out.sync = sync;
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}
