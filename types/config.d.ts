import * as v from "valibot";
import { type Suite } from "./satp/suite.ts";
import type { WorkerInfo } from "./workers/plan.ts";
import { type ClientConfig, type PluginEntryConfig, type RateConfig, SERVER_WINDOW, parseHostPort, isLoopback, issueTexts } from "./config-parts.ts";
export { isLoopback, issueTexts, parseHostPort, SERVER_WINDOW };
export type { ClientConfig, PluginEntryConfig, RateConfig };
export declare const ConfigSchema: v.StrictObjectSchema<{
    readonly mode: v.OptionalSchema<v.PicklistSchema<["peer", "server", "relay-client"], undefined>, undefined>;
    readonly senderId: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 65535, undefined>]>, 0>;
    readonly workers: v.OptionalSchema<v.UnionSchema<[v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 256, undefined>]>, v.LiteralSchema<"auto", undefined>], "an integer 1..256 or \"auto\"">, 1>;
    readonly senderIdStride: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 32768, undefined>]>, 1024>;
    readonly reusePort: v.OptionalSchema<v.BooleanSchema<undefined>, false>;
    readonly interface: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.CheckAction<string, "expected an IPv4 or IPv6 address">]>, undefined>;
    readonly port: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 65535, undefined>]>, 4444>;
    readonly listen: v.OptionalSchema<v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>, undefined>;
    readonly remoteHost: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, "empty host name">]>, undefined>;
    readonly remotePort: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 65535, undefined>]>, 4444>;
    readonly transport: v.OptionalSchema<v.PicklistSchema<["udp", "tcp-unicast", "tcp-anycast"], undefined>, "udp">;
    readonly protocol: v.OptionalSchema<v.PicklistSchema<["satp", "noise"], undefined>, "satp">;
    readonly serverPublicKey: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected a key as wg genkey/pubkey print it (44 characters of base64)">]>, undefined>;
    readonly privateKeyFile: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, undefined>]>, undefined>;
    readonly noise: v.OptionalSchema<v.StrictObjectSchema<{
        readonly listen: v.OptionalSchema<v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>, readonly []>;
        readonly privateKeyFile: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, undefined>]>, undefined>;
        readonly maxSessions: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 1000000, undefined>]>, 65536>;
        readonly loadPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 1000000, undefined>]>, 500>;
        readonly recordKeySeconds: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 10, undefined>, v.MaxValueAction<number, 86400, undefined>]>, 600>;
    }, undefined>, {}>;
    readonly tcpKeepaliveMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1000, undefined>, v.MaxValueAction<number, 600000, undefined>]>, 10000>;
    readonly tcpProbeMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 10000, undefined>]>, 50>;
    readonly ipv4Only: v.OptionalSchema<v.BooleanSchema<undefined>, false>;
    readonly ipv6Only: v.OptionalSchema<v.BooleanSchema<undefined>, false>;
    readonly dev: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "1..15 chars of [A-Za-z0-9_.%-]">]>, undefined>;
    readonly type: v.OptionalSchema<v.PicklistSchema<["tun", "tap"], undefined>, "tun">;
    readonly ifconfig: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>;
    readonly mtu: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 576, undefined>, v.MaxValueAction<number, 65535, undefined>]>, 1400>;
    readonly postUpScript: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, undefined>]>, undefined>;
    readonly route: v.OptionalSchema<v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>, readonly []>;
    readonly mux: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 65535, undefined>]>, 0>;
    readonly role: v.OptionalSchema<v.SchemaWithPipe<readonly [v.PicklistSchema<string[], undefined>, v.TransformAction<string, import("./satp/suite.ts").Role>]>, "left">;
    readonly passphrase: v.OptionalSchema<v.StringSchema<undefined>, undefined>;
    readonly key: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected hex digits">]>, undefined>;
    readonly salt: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected 28 hex digits (14 bytes)">]>, undefined>;
    readonly crypto: v.OptionalSchema<v.StrictObjectSchema<{
        readonly cipher: v.OptionalSchema<v.PicklistSchema<import("./satp/suite.ts").Cipher[], undefined>, "aes-ctr">;
        readonly auth: v.OptionalSchema<v.PicklistSchema<["null", "sha1"], undefined>, "sha1">;
        readonly tagLength: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 255, undefined>]>, 10>;
        readonly kdPrf: v.OptionalSchema<v.PicklistSchema<import("./satp/suite.ts").Cipher[], undefined>, "aes-ctr">;
        readonly window: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>, undefined>;
        readonly maxSenders: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 65536, undefined>]>, 64>;
    }, undefined>, {}>;
    readonly relayClient: v.OptionalSchema<v.StrictObjectSchema<{
        readonly peer: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>;
        readonly local: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, "127.0.0.1:5000">;
        readonly lifetime: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 2, undefined>, v.MaxValueAction<number, 86400, undefined>]>, 300>;
    }, undefined>, {}>;
    readonly clients: v.OptionalSchema<v.ArraySchema<v.StrictObjectSchema<{
        readonly name: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, undefined>, v.MaxLengthAction<string, 64, undefined>]>, undefined>;
        readonly mux: v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 65535, undefined>]>;
        readonly protocol: v.OptionalSchema<v.PicklistSchema<["satp", "noise"], undefined>, undefined>;
        readonly publicKey: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected a key as wg genkey/pubkey print it (44 characters of base64)">]>, undefined>;
        readonly passphrase: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, undefined>]>, undefined>;
        readonly key: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected hex digits">]>, undefined>;
        readonly salt: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "expected 28 hex digits (14 bytes)">]>, undefined>;
        readonly routes: v.OptionalSchema<v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>, readonly []>;
        readonly role: v.OptionalSchema<v.SchemaWithPipe<readonly [v.PicklistSchema<string[], undefined>, v.TransformAction<string, import("./satp/suite.ts").Role>]>, "left">;
        readonly crypto: v.OptionalSchema<v.StrictObjectSchema<{
            readonly cipher: v.OptionalSchema<v.PicklistSchema<import("./satp/suite.ts").Cipher[], undefined>, undefined>;
            readonly auth: v.OptionalSchema<v.PicklistSchema<["null", "sha1"], undefined>, undefined>;
            readonly tagLength: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 255, undefined>]>, undefined>;
            readonly kdPrf: v.OptionalSchema<v.PicklistSchema<import("./satp/suite.ts").Cipher[], undefined>, undefined>;
            readonly window: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>, undefined>;
            readonly maxSenders: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 65536, undefined>]>, undefined>;
        }, undefined>, undefined>;
        readonly rateLimit: v.OptionalSchema<v.StrictObjectSchema<{
            readonly packetsPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 1000000000000, undefined>]>, undefined>;
            readonly bytesPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 1000000000000, undefined>]>, undefined>;
            readonly burstMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 60000, undefined>]>, undefined>;
        }, undefined>, undefined>;
    }, undefined>, undefined>, readonly []>;
    readonly admin: v.OptionalSchema<v.StrictObjectSchema<{
        readonly listen: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, "127.0.0.1:8080">;
        readonly token: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.MinLengthAction<string, 16, "use at least 16 characters">]>, undefined>;
        readonly openHealth: v.OptionalSchema<v.BooleanSchema<undefined>, true>;
        readonly enabled: v.OptionalSchema<v.BooleanSchema<undefined>, true>;
        readonly metricsClients: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 100000, undefined>]>, 100>;
        readonly hosts: v.OptionalSchema<v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.ToLowerCaseAction, v.RegexAction<string, "expected a host name">]>, undefined>, readonly []>;
    }, undefined>, {}>;
    readonly plugins: v.OptionalSchema<v.ArraySchema<v.LooseObjectSchema<{
        readonly use: v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, "names a plugin file or path">]>;
    }, undefined>, undefined>, readonly [{
        readonly use: "routes";
    }]>;
    readonly sync: v.OptionalSchema<v.StrictObjectSchema<{
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
    }, undefined>, {}>;
    readonly tcp: v.OptionalSchema<v.StrictObjectSchema<{
        readonly listen: v.OptionalSchema<v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>, readonly []>;
        readonly advertise: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>;
        readonly tokenSeconds: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 5, undefined>, v.MaxValueAction<number, 3600, undefined>]>, 60>;
        readonly maxPending: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 100000, undefined>]>, 256>;
        readonly pendingMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 100, undefined>, v.MaxValueAction<number, 600000, undefined>]>, 10000>;
        readonly pendingBytes: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1024, undefined>, v.MaxValueAction<number, number, undefined>]>, 65536>;
        readonly capture: v.OptionalSchema<v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>, readonly []>;
        readonly captureDev: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RegexAction<string, "1..15 chars of [A-Za-z0-9_.-]">]>, "relay-tcp">;
        readonly captureSetup: v.OptionalSchema<v.PicklistSchema<["auto", "check"], undefined>, "auto">;
        readonly captureTable: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 4294967280, undefined>]>, 160>;
        readonly capturePref: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 32000, undefined>]>, 60>;
        readonly mss: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 536, undefined>, v.MaxValueAction<number, 9000, undefined>]>, 1460>;
        readonly buffer: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 65536, undefined>, v.MaxValueAction<number, number, undefined>]>, number>;
        readonly minRtoMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 10, undefined>, v.MaxValueAction<number, 1000, undefined>]>, 200>;
        readonly keepaliveMinMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 100, undefined>, v.MaxValueAction<number, 600000, undefined>]>, 1000>;
        readonly keepaliveMaxMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 100, undefined>, v.MaxValueAction<number, 600000, undefined>]>, 60000>;
        readonly maxFlows: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 1000000, undefined>]>, 10000>;
        readonly idleSeconds: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 10, undefined>, v.MaxValueAction<number, 86400, undefined>]>, 600>;
        readonly holdMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 5000, undefined>]>, undefined>;
        readonly holdBytes: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>, undefined>;
    }, undefined>, {}>;
    readonly hold: v.OptionalSchema<v.StrictObjectSchema<{
        readonly ms: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 5000, undefined>]>, undefined>;
        readonly bytes: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>, undefined>;
    }, undefined>, {}>;
    readonly udpBuffers: v.OptionalSchema<v.StrictObjectSchema<{
        readonly receive: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>, number>;
        readonly send: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, number, undefined>]>, number>;
    }, undefined>, {}>;
    readonly udpGso: v.OptionalSchema<v.BooleanSchema<undefined>, true>;
    readonly udpGro: v.OptionalSchema<v.BooleanSchema<undefined>, true>;
    readonly tunOffload: v.OptionalSchema<v.BooleanSchema<undefined>, true>;
    readonly cryptoLibrary: v.OptionalSchema<v.PicklistSchema<["auto", "openssl", "node"], undefined>, "auto">;
    readonly loopBudgetMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 10000, undefined>]>, 0>;
    readonly sourceCheck: v.OptionalSchema<v.BooleanSchema<undefined>, true>;
    readonly mssClamp: v.OptionalSchema<v.UnionSchema<[v.BooleanSchema<undefined>, v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 536, undefined>, v.MaxValueAction<number, 65495, undefined>]>], "true, false or an MSS">, true>;
    readonly icmpRate: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 100000, undefined>]>, 100>;
    readonly rateLimit: v.OptionalSchema<v.StrictObjectSchema<{
        readonly packetsPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 1000000000000, undefined>]>, 0>;
        readonly bytesPerSecond: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 1000000000000, undefined>]>, 0>;
        readonly burstMs: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.IntegerAction<number, undefined>, v.MinValueAction<number, 1, undefined>, v.MaxValueAction<number, 60000, undefined>]>, 200>;
    }, undefined>, {}>;
    readonly drainSeconds: v.OptionalSchema<v.SchemaWithPipe<readonly [v.NumberSchema<undefined>, v.MinValueAction<number, 0, undefined>, v.MaxValueAction<number, 3600, undefined>]>, 3>;
    readonly log: v.OptionalSchema<v.ArraySchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.RawCheckAction<string>]>, undefined>, readonly ["stderr:3"]>;
    readonly logFormat: v.OptionalSchema<v.PicklistSchema<["text", "json"], undefined>, "text">;
    readonly syslogSocket: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.MinLengthAction<string, 1, undefined>]>, "/dev/log">;
    readonly debug: v.OptionalSchema<v.BooleanSchema<undefined>, false>;
    readonly nodaemonize: v.OptionalSchema<v.BooleanSchema<undefined>, true>;
    readonly writePid: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, undefined>]>, undefined>;
    readonly stateDir: v.OptionalSchema<v.SchemaWithPipe<readonly [v.StringSchema<undefined>, v.NonEmptyAction<string, undefined>]>, undefined>;
}, undefined>;
export type RawConfig = v.InferOutput<typeof ConfigSchema>;
/** The validated config: `hold` resolved (its aliases tcp.holdMs / tcp.holdBytes folded in). */
export type Config = Omit<RawConfig, "hold" | "crypto" | "stateDir"> & {
    /** Resolved from the environment when not set (satp/counter.ts defaultStateDir). */
    stateDir: string;
    mode: "peer" | "server" | "relay-client";
    hold: {
        ms: number;
        bytes: number;
    };
    /** `window` resolved from the mode when not set. */
    crypto: CryptoConfig;
    /** Set in a worker of a server with `workers` > 1 (src/workers/plan.ts); not a config key. */
    worker?: WorkerInfo;
};
export declare class ConfigError extends Error {
    readonly problems: string[];
    constructor(problems: string[]);
}
/** Validates a raw object (file contents with flags laid over it). Throws ConfigError listing every problem. */
export declare function validateConfig(raw: Record<string, unknown>): Config;
export type CryptoConfig = RawConfig["crypto"] & {
    window: number;
};
/** The effective, normalized suite of a connection: defaults with the client's overrides laid over. */
export declare function suiteFor(defaults: CryptoConfig, over: ClientConfig["crypto"]): Suite & {
    window: number;
    maxSenders: number;
};
