import { type KeyObject } from "node:crypto";
export declare const KEY_LEN = 32;
/** Diffie-Hellman operations done by this process (the flood tests count them). */
export declare const dhOps: {
    count: number;
};
export interface KeyPair {
    readonly priv: Uint8Array;
    readonly pub: Uint8Array;
    /** The private key as node:crypto holds it (made once). */
    readonly key: KeyObject;
}
/** The key pair of a raw 32-byte private key (clamped by X25519 itself, RFC 7748 5). */
export declare function keyPair(priv: Uint8Array): KeyPair;
export declare function generateKeyPair(): KeyPair;
/**
 * X25519(priv, pub): the 32-byte shared secret, or null when `pub` is not a usable public key
 * (wrong length, or a low-order point whose result is all zeros, RFC 7748 6.1).
 */
export declare function dh(self: KeyPair, pub: Uint8Array): Uint8Array | null;
/** A key as text: base64 of its 32 bytes (as wg). */
export declare const keyText: (k: Uint8Array) => string;
/** A key from its text form; throws naming what is wrong. */
export declare function parseKey(text: string, what?: string): Uint8Array;
/**
 * The key pair of a private key file (`relay.ts genkey` output); `loose`: group or others may read
 * it (the caller warns). Throws naming the file, what is wrong and the fix.
 */
export declare function readKeyFile(path: string, what: string): {
    key: KeyPair;
    loose: boolean;
};
