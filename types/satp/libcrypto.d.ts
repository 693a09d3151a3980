import { dlopen } from "bun:ffi";
declare const DEFS: {
    readonly OpenSSL_version_num: {
        readonly args: readonly [];
        readonly returns: "u64";
    };
    readonly OpenSSL_version: {
        readonly args: readonly ["i32"];
        readonly returns: "cstring";
    };
    readonly EVP_CIPHER_fetch: {
        readonly args: readonly ["ptr", "cstring", "ptr"];
        readonly returns: "ptr";
    };
    readonly EVP_CIPHER_CTX_new: {
        readonly args: readonly [];
        readonly returns: "ptr";
    };
    readonly EVP_CIPHER_CTX_set_padding: {
        readonly args: readonly ["ptr", "i32"];
        readonly returns: "i32";
    };
    readonly EVP_EncryptInit_ex: {
        readonly args: readonly ["ptr", "ptr", "ptr", "ptr", "ptr"];
        readonly returns: "i32";
    };
    readonly EVP_EncryptUpdate: {
        readonly args: readonly ["ptr", "ptr", "ptr", "ptr", "i32"];
        readonly returns: "i32";
    };
    readonly SHA1_Init: {
        readonly args: readonly ["ptr"];
        readonly returns: "i32";
    };
    readonly SHA1_Update: {
        readonly args: readonly ["ptr", "ptr", "u64"];
        readonly returns: "i32";
    };
    readonly SHA1_Final: {
        readonly args: readonly ["ptr", "ptr"];
        readonly returns: "i32";
    };
};
type Lib = ReturnType<typeof dlopen<typeof DEFS>>["symbols"];
/**
 * libcrypto's symbols, or null when OpenSSL ≥ 3.0 with its low-level SHA-1 is not on this host.
 * The first call decides for the process (`names`: the sonames to try, in order).
 */
export declare function loadLibcrypto(names?: readonly string[]): Lib | null;
export declare function libcryptoError(): string;
/** "OpenSSL 3.0.x …" once loaded, else "". */
export declare function libcryptoVersion(): string;
/**
 * One AES cipher context (`AES-{128,192,256}-{CTR,ECB}`), re-keyed by every call, so a process
 * needs at most one per key size and mode (see `aes()`), and no native state is tied to a session.
 */
export declare class NativeAes {
    private readonly l;
    private readonly ctx;
    readonly keyBytes: number;
    private readonly ecb;
    constructor(keyBytes: 16 | 24 | 32, mode: "CTR" | "ECB");
    /** ECB: `dst[0, len) = E_key(src[0, len))`, len a positive multiple of 16. */
    ecbBlocks(key: Uint8Array, src: Uint8Array, dst: Uint8Array, len: number): void;
    /** CTR: `dst[0, len) = src[0, len) ^ keystream(key, iv)`; dst may be src. */
    ctr(key: Uint8Array, iv: Uint8Array, src: Uint8Array, dst: Uint8Array, len: number): void;
    private update;
}
/** The process's one context for this key size and mode (every call is synchronous on one thread). */
export declare function aes(keyBytes: number, mode: "CTR" | "ECB"): NativeAes;
/** `out[0, 20) = HMAC-SHA1(key, msg[0, len))`, key at most 64 bytes (SATP's are 20). */
export declare function hmacSha1(key: Uint8Array, msg: Uint8Array, len: number, out: Uint8Array): void;
export {};
