import { UnixDatagram } from "./net/unixgram.ts";
export type LogFormat = "text" | "json";
export interface LogTarget {
    kind: "stdout" | "stderr" | "file" | "syslog";
    level: number;
    path?: string | undefined;
    /** syslog: the tag and facility number. */
    ident?: string;
    facility?: number;
}
export type Fields = Record<string, string | number | boolean | null | undefined>;
/** Where lines go once a Logger is made: the journal check and the syslog socket are done once. */
interface Sink {
    t: LogTarget;
    journal: boolean;
    syslog: UnixDatagram | null;
}
export declare class Logger {
    private readonly format;
    private readonly prefix;
    private readonly max;
    private readonly sinks;
    /**
     * Throws (naming the target) when a syslog target's socket is not there: the relay refuses to
     * start rather than log nowhere.
     */
    constructor(targets: readonly LogTarget[], format: LogFormat, prefix?: string, opts?: {
        syslogSocket?: string;
        env?: Record<string, string | undefined>;
    }, sinks?: Sink[]);
    /** A logger whose lines carry `prefix` (e.g. "plugin/routes"); it shares the targets. */
    child(prefix: string): Logger;
    enabled(level: number): boolean;
    error(msg: string, f?: Fields): void;
    warn(msg: string, f?: Fields): void;
    notice(msg: string, f?: Fields): void;
    info(msg: string, f?: Fields): void;
    debug(msg: string, f?: Fields): void;
    /** The line for an event, without the time when `time` is false (syslog stamps it). */
    private render;
    private emit;
}
/** Parses anytun's `-L target:level[,param]`: file's param is the path, syslog's "IDENT[,FACILITY]". */
export declare function parseLogTarget(spec: string): LogTarget;
export {};
