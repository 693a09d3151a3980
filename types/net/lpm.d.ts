import { type Prefix } from "./addr.ts";
export declare class PrefixTable<T> {
    private readonly roots;
    private count;
    get size(): number;
    /** Adds or replaces the value for a prefix (host bits beyond len are ignored). */
    set(p: Prefix, value: T): void;
    /** Value of the longest prefix covering the `family` address at buf[off..]; undefined if none. */
    lookup(buf: Uint8Array, off: number, family: 4 | 6): T | undefined;
    /** Every prefix with its value, shortest first (for views and sync). */
    entries(): {
        prefix: string;
        value: T;
    }[];
}
