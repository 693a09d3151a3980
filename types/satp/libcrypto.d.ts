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
    readonly EVP_EncryptFinal_ex: {
        readonly args: readonly ["ptr", "ptr", "ptr"];
        readonly returns: "i32";
    };
    readonly EVP_DecryptInit_ex: {
        readonly args: readonly ["ptr", "ptr", "ptr", "ptr", "ptr"];
        readonly returns: "i32";
    };
    readonly EVP_DecryptUpdate: {
        readonly args: readonly ["ptr", "ptr", "ptr", "ptr", "i32"];
        readonly returns: "i32";
    };
    readonly EVP_DecryptFinal_ex: {
        readonly args: readonly ["ptr", "ptr", "ptr"];
        readonly returns: "i32";
    };
    readonly EVP_CIPHER_CTX_ctrl: {
        readonly args: readonly ["ptr", "i32", "i32", "ptr"];
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
 * One AES cipher context (`AES-{128,192,256}-{CTR,ECB}`) that takes its key with every call (CTR
 * re-keys each time; ECB only when the key differs from the one it holds), so a process needs at
 * most one per key size and mode (see `aes()`), and no native state is tied to a session.
 */
export declare class NativeAes {
    private readonly l;
    private readonly ctx;
    readonly keyBytes: number;
    private readonly ecb;
    private readonly slot;
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
/**
 * AES-256-GCM with a 12-byte nonce and a 16-byte tag (the Noise suite's transport packets), one
 * context per direction, each keeping its key between calls (a GCM key schedule costs far more
 * than a nonce): see `gcm()`.
 */
export declare class NativeGcm {
    private readonly encrypt;
    private readonly l;
    private readonly ctx;
    private readonly slot;
    constructor(encrypt: boolean);
    private start;
    /** Seals `data[0, len)` in place; its tag into `tag[tagAt, tagAt+16)`. The AAD is `aad[0, aadLen)`. */
    seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, aadLen: number, data: Uint8Array, len: number, tag: Uint8Array, tagAt: number): void;
    /**
     * Opens `src[0, len)` into `dst[0, len)` against the 16-byte tag at `tag[tagAt, tagAt+16)`:
     * true when the tag holds. On false, dst holds bytes of no meaning (the caller must not use them).
     */
    open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, aadLen: number, src: Uint8Array, len: number, dst: Uint8Array, tag: Uint8Array, tagAt: number): boolean;
}
/** The process's AES-256-GCM contexts (every call is synchronous on one thread). */
export declare function gcm(): {
    seal: NativeGcm;
    open: NativeGcm;
};
export {};
