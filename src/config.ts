// The relay's one validated config: a JSON file (`--config`) overlaid by command-line flags
// (anytun 0.3.8's names; see src/flags.ts). Every flag has a config key: its long name in
// camelCase. Errors name the field and the reason; callers refuse to start on any error.
import * as v from "valibot";
import { readFileSync } from "node:fs";
import { parseCidr, parseIp } from "./net/addr.ts";
import { parseLogTarget } from "./log.ts";
import { CIPHERS, ROLE_NAMES, deriveMaster, normalizeSuite, type Cipher, type Role } from "./satp/suite.ts";

const u16 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535));
const port = u16;
const cipher = v.picklist(CIPHERS as Cipher[]);
const ipText = v.pipe(
  v.string(),
  v.check((s) => parseIp(s) !== null, "expected an IPv4 or IPv6 address"),
);
const cidrCheck = (strict: boolean) =>
  v.rawCheck<string>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    try {
      parseCidr(dataset.value, strict);
    } catch (e) {
      addIssue({ message: (e as Error).message });
    }
  });
const logTarget = v.pipe(
  v.string(),
  v.rawCheck<string>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    try {
      parseLogTarget(dataset.value);
    } catch (e) {
      addIssue({ message: (e as Error).message });
    }
  }),
);

export const ConfigSchema = v.strictObject({
  // -i -p: local UDP address (default: every address, IPv4 and IPv6) and port.
  interface: v.optional(ipText),
  port: v.optional(port, 4444),
  // -r -o: the peer; without -r it is learned from the first authenticated packet.
  remoteHost: v.optional(v.pipe(v.string(), v.nonEmpty("empty host name"))),
  remotePort: v.optional(port, 4444),
  ipv4Only: v.optional(v.boolean(), false),
  ipv6Only: v.optional(v.boolean(), false),
  // -d -t -n -x: the device.
  dev: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.%-]{1,15}$/, "1..15 chars of [A-Za-z0-9_.%-]"))),
  type: v.optional(v.picklist(["tun", "tap"]), "tun"),
  ifconfig: v.optional(v.pipe(v.string(), cidrCheck(false))),
  mtu: v.optional(v.pipe(v.number(), v.integer(), v.minValue(576), v.maxValue(65535)), 1400),
  postUpScript: v.optional(v.pipe(v.string(), v.nonEmpty())),
  // -R: prefixes sent to the peer. Empty = everything the device gives us (anytun p2p behaviour).
  route: v.optional(v.array(v.pipe(v.string(), cidrCheck(true))), []),
  // -m -s -w: connection id, our sender id, replay window (0 = off, as anytun's default).
  mux: v.optional(u16, 0),
  senderId: v.optional(u16, 0),
  windowSize: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1 << 20)), 0),
  // -e -E -K -A -c -a -b -k: role and crypto.
  role: v.optional(
    v.pipe(
      v.picklist(Object.keys(ROLE_NAMES)),
      v.transform((r) => ROLE_NAMES[r] as Role),
    ),
    "left",
  ),
  passphrase: v.optional(v.string()),
  key: v.optional(v.pipe(v.string(), v.regex(/^([0-9a-fA-F]{2})+$/, "expected hex digits"))),
  salt: v.optional(v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{28}$/, "expected 28 hex digits (14 bytes)"))),
  cipher: v.optional(cipher, "aes-ctr"),
  authAlgo: v.optional(v.picklist(["null", "sha1"]), "sha1"),
  authTagLength: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(255)), 10),
  kdPrf: v.optional(cipher, "aes-ctr"),
  // -L -U -D -P and ours: logging and process.
  log: v.optional(v.array(logTarget), ["stderr:3"]),
  logFormat: v.optional(v.picklist(["text", "json"]), "text"),
  debug: v.optional(v.boolean(), false),
  nodaemonize: v.optional(v.boolean(), true),
  writePid: v.optional(v.pipe(v.string(), v.nonEmpty())),
});

export type Config = v.InferOutput<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

/** Validates a raw object (file contents with flags laid over it). Throws ConfigError listing every problem. */
export function validateConfig(raw: unknown): Config {
  const r = v.safeParse(ConfigSchema, raw);
  if (!r.success) {
    throw new ConfigError(
      r.issues.map((i) => {
        const path =
          v.getDotPath(i) ?? (i.kind === "schema" && i.type === "strict_object" ? "(top level)" : "(config)");
        return `${path}: ${i.type === "strict_object" ? "unknown key (not a config field; see --help)" : i.message}`;
      }),
    );
  }
  const c = r.output;
  const problems: string[] = [];
  if (c.ipv4Only && c.ipv6Only) problems.push("ipv4Only: cannot be combined with ipv6Only");
  const { suite } = normalizeSuite({ cipher: c.cipher, auth: c.authAlgo, tagLength: c.authTagLength, kdPrf: c.kdPrf });
  try {
    deriveMaster(suite.kdPrf, { passphrase: c.passphrase, keyHex: c.key, saltHex: c.salt });
  } catch (e) {
    const msg = (e as Error).message;
    problems.push(msg.startsWith("key:") || msg.startsWith("salt:") ? msg : `passphrase: ${msg}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return c;
}

/** Reads a JSON config file; throws ConfigError("config FILE: ...") when unreadable or not a JSON object. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError([
      `config ${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    ]);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([`config ${path}: not valid JSON: ${(e as Error).message}`]);
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj))
    throw new ConfigError([`config ${path}: expected a JSON object at the top level`]);
  return obj as Record<string, unknown>;
}
