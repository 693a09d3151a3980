import * as v from "valibot";
import { type Prefix } from "./net/addr.ts";
import { type Cipher, type Role } from "./satp/suite.ts";
export declare const u16: v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 65535, undefined>]>;
export declare const cipher: v.PicklistSchema<Cipher[], undefined>;
export declare const ipText: v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.CheckAction<string, "expected an IPv4 or IPv6 address">]>;
export declare const fromThrow: (fn: (s: string) => unknown) => v.RawCheckAction<string>;
export declare const route: v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>;
export declare const role: v.SchemaWithPipe<readonly [v.PicklistSchema<string[], undefined>, v.TransformAction<string, Role>]>;
export declare const holdMs: v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 5000, undefined>]>;
export declare const holdBytes: v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>;
export declare const HOLD_DEFAULTS: {
    ms: number;
    bytes: number;
};
/** crypto.window's default in server mode (peer and relay-client: 0, anytun's). */
export declare const SERVER_WINDOW = 1024;
export declare const hexKey: v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected hex digits">]>;
export declare const hexSalt: v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected 28 hex digits (14 bytes)">]>;
export declare const tagLength: v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 255, undefined>]>;
export declare const windowSize: v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>;
export declare const maxSenders: v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 65536, undefined>]>;
/** "host:port" or "[v6]:port" with an IP literal host. */
export declare function parseHostPort(s: string): {
    host: string;
    port: number;
};
export declare const hostPort: v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>;
export declare const CryptoSchema: v.StrictObjectSchema<{
    readonly cipher: v.OptionalSchema<v.PicklistSchema<Cipher[], undefined>, "aes-ctr">;
    readonly auth: v.OptionalSchema<v.PicklistSchema<["null", "sha1"], undefined>, "sha1">;
    readonly tagLength: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 255, undefined>]>, 10>;
    readonly kdPrf: v.OptionalSchema<v.PicklistSchema<Cipher[], undefined>, "aes-ctr">;
    readonly window: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>, undefined>;
    readonly maxSenders: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 65536, undefined>]>, 64>;
}, undefined>;
export declare const CryptoOverride: v.StrictObjectSchema<{
    readonly cipher: v.OptionalSchema<v.PicklistSchema<Cipher[], undefined>, undefined>;
    readonly auth: v.OptionalSchema<v.PicklistSchema<["null", "sha1"], undefined>, undefined>;
    readonly tagLength: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 255, undefined>]>, undefined>;
    readonly kdPrf: v.OptionalSchema<v.PicklistSchema<Cipher[], undefined>, undefined>;
    readonly window: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>, undefined>;
    readonly maxSenders: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 65536, undefined>]>, undefined>;
}, undefined>;
export declare const perSecond: v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 1000000000000, undefined>]>;
export declare const RateSchema: v.StrictObjectSchema<{
    readonly packetsPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 1000000000000, undefined>]>, 0>;
    readonly bytesPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 1000000000000, undefined>]>, 0>;
    readonly burstMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 60000, undefined>]>, 200>;
}, undefined>;
export declare const RateOverride: v.StrictObjectSchema<{
    readonly packetsPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 1000000000000, undefined>]>, undefined>;
    readonly bytesPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 1000000000000, undefined>]>, undefined>;
    readonly burstMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 60000, undefined>]>, undefined>;
}, undefined>;
export type RateConfig = v.InferOutput<typeof RateSchema>;
/** An X25519 public or private key as `wg genkey` / `wg pubkey` print it (base64 of 32 bytes). */
export declare const wgKey: v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected a key as wg genkey/pubkey print it (44 characters of base64)">]>;
export declare const ClientSchema: v.StrictObjectSchema<{
    readonly name: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, undefined>, v.MaxLengthAction<string, 64, undefined>]>, undefined>;
    readonly mux: v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 65535, undefined>]>;
    readonly protocol: v.OptionalSchema<v.PicklistSchema<["satp", "noise"], undefined>, undefined>;
    readonly publicKey: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected a key as wg genkey/pubkey print it (44 characters of base64)">]>, undefined>;
    readonly passphrase: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, undefined>]>, undefined>;
    readonly key: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected hex digits">]>, undefined>;
    readonly salt: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected 28 hex digits (14 bytes)">]>, undefined>;
    readonly routes: v.OptionalSchema<v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>, readonly []>;
    readonly role: v.OptionalSchema<v.SchemaWithPipe<readonly [v.PicklistSchema<string[], undefined>, v.TransformAction<string, Role>]>, "left">;
    readonly crypto: v.OptionalSchema<v.StrictObjectSchema<{
        readonly cipher: v.OptionalSchema<v.PicklistSchema<Cipher[], undefined>, undefined>;
        readonly auth: v.OptionalSchema<v.PicklistSchema<["null", "sha1"], undefined>, undefined>;
        readonly tagLength: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 255, undefined>]>, undefined>;
        readonly kdPrf: v.OptionalSchema<v.PicklistSchema<Cipher[], undefined>, undefined>;
        readonly window: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>, undefined>;
        readonly maxSenders: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 65536, undefined>]>, undefined>;
    }, undefined>, undefined>;
    readonly rateLimit: v.OptionalSchema<v.StrictObjectSchema<{
        readonly packetsPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 1000000000000, undefined>]>, undefined>;
        readonly bytesPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 1000000000000, undefined>]>, undefined>;
        readonly burstMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 60000, undefined>]>, undefined>;
    }, undefined>, undefined>;
}, undefined>;
export type ClientConfig = v.InferOutput<typeof ClientSchema>;
export declare const PluginEntry: v.LooseObjectSchema<{
    readonly use: v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, "names a plugin file or path">]>;
}, undefined>;
export type PluginEntryConfig = v.InferOutput<typeof PluginEntry>;
export declare function isLoopback(host: string): boolean;
/**
 * Config problems in the one format used for the core and for plugins' options:
 * "PATH: missing (required)", "PATH: unknown key (WHY)", "PATH: MESSAGE"; `prefix` is prepended
 * to every path (e.g. "plugins.2.").
 */
export declare function issueTexts(issues: readonly v.BaseIssue<unknown>[], prefix: string, unknownWhy: string): string[];
/** A CIDR prefix, any length ("10.0.0.0/8", "2001:db8::/32"); `check` may refuse a parsed one with its message. */
export declare function cidr(check?: (p: Prefix) => string | null): v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>;
/** A network interface name as Linux takes it (IFNAMSIZ - 1 bytes). */
export declare const interfaceName: v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "1..15 chars of [A-Za-z0-9_.-]">]>;
/** "LO-HI", unprivileged ports, at least `minPorts` of them. */
export declare function portRange(minPorts: number): v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected \"LO-HI\"">, v.CheckAction<string, `expected 1024 <= LO, HI <= 65535 and at least ${number} ports`>]>;
/** sync.nats: where the NATS servers are, how to log in, and the subject prefix of this anycast group. */
export declare const NatsOptions: v.StrictObjectSchema<{
    readonly servers: v.SchemaWithPipe<readonly [v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected nats://host:port or tls://host:port">]>, undefined>, v.MinLengthAction<string[], 1, "at least one NATS server">]>;
    readonly user: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
    readonly pass: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
    readonly token: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
    readonly credsFile: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
    readonly tls: v.OptionalSchema<v.StrictObjectSchema<{
        readonly caFile: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
        readonly certFile: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
        readonly keyFile: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
    }, undefined>, undefined>;
    readonly prefix: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "dot-separated tokens of letters, digits, _ and -">, v.MaxLengthAction<string, 128, undefined>]>, "anytun-relay">;
}, undefined>;
export declare const SyncSchema: v.StrictObjectSchema<{
    readonly listen: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>;
    readonly peers: v.OptionalSchema<v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>, readonly []>;
    readonly key: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.MinLengthAction<string, 16, "use at least 16 characters (or 64 hex digits)">]>, undefined>;
    readonly acceptKeys: v.OptionalSchema<v.SchemaWithPipe<readonly [v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.MinLengthAction<string, 16, "use at least 16 characters (or 64 hex digits)">]>, undefined>, v.MaxLengthAction<string[], 4, "at most 4 keys besides sync.key">]>, readonly []>;
    readonly heartbeatMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 50, undefined>, v.MaxValueAction<number, 60000, undefined>]>, 1000>;
    readonly staleSeconds: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 86400, undefined>]>, 300>;
    readonly hwmIntervalMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 10, undefined>, v.MaxValueAction<number, 10000, undefined>]>, 100>;
    readonly markWaitMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 5000, undefined>]>, 200>;
    readonly readyGraceMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 600000, undefined>]>, 2000>;
    readonly dataChannel: v.OptionalSchema<v.BooleanSchema<undefined>, true>;
    readonly backend: v.OptionalSchema<v.PicklistSchema<["mesh", "nats"], undefined>, "mesh">;
    readonly nats: v.OptionalSchema<v.StrictObjectSchema<{
        readonly servers: v.SchemaWithPipe<readonly [v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected nats://host:port or tls://host:port">]>, undefined>, v.MinLengthAction<string[], 1, "at least one NATS server">]>;
        readonly user: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
        readonly pass: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
        readonly token: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
        readonly credsFile: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
        readonly tls: v.OptionalSchema<v.StrictObjectSchema<{
            readonly caFile: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
            readonly certFile: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
            readonly keyFile: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
        }, undefined>, undefined>;
        readonly prefix: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "dot-separated tokens of letters, digits, _ and -">, v.MaxLengthAction<string, 128, undefined>]>, "anytun-relay">;
    }, undefined>, undefined>;
}, undefined>;
/** Server: the Noise suite's listener and the anycast group's responder key (noise/gate.ts). */
export declare const NoiseSchema: v.StrictObjectSchema<{
    readonly listen: v.OptionalSchema<v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>, readonly []>;
    readonly privateKeyFile: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, undefined>]>, undefined>;
    readonly maxSessions: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 1000000, undefined>]>, 65536>;
    readonly loadPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 1000000, undefined>]>, 500>;
    readonly recordKeySeconds: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 10, undefined>, v.MaxValueAction<number, 86400, undefined>]>, 600>;
}, undefined>;
/** Config problems of the Noise suite (both roles); `mode` is the resolved mode. */
export declare function noiseProblems(c: {
    protocol: "satp" | "noise";
    serverPublicKey?: string;
    privateKeyFile?: string;
    transport: string;
    passphrase?: string;
    key?: string;
    noise: {
        listen: string[];
        privateKeyFile?: string;
    };
    clients: {
        mux: number;
        protocol?: "satp" | "noise";
        publicKey?: string;
        passphrase?: string;
        key?: string;
    }[];
}, mode: string): string[];
export declare const UdpBuffersSchema: v.StrictObjectSchema<{
    readonly receive: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>, number>;
    readonly send: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>, number>;
}, undefined>;
