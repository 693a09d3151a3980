/** 4 or 16 bytes for an IPv4 / IPv6 literal; null when `s` is neither. IPv4-mapped IPv6 stays 16 bytes. */
export declare function parseIp(s: string): Uint8Array | null;
export declare function formatIp(b: Uint8Array): string;
/** "a.b.c.d" for an IPv4-mapped IPv6 text ("::ffff:a.b.c.d"), else `s` unchanged. */
export declare function unmapV4(s: string): string;
export interface Prefix {
    addr: Uint8Array;
    len: number;
}
/** Parses "addr/len". With `strict`, host bits beyond len must be zero (as for a route). */
export declare function parseCidr(s: string, strict: boolean): Prefix;
/** Copy of `addr` with the bits past `len` cleared. */
export declare function mask(addr: Uint8Array, len: number): Uint8Array;
export declare function formatPrefix(p: Prefix): string;
/** "host:port", with an IPv6 host in brackets ("[::1]:4444"). */
export declare function hostPortText(host: string, port: number | string): string;
