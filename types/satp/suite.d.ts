export type Cipher = "null" | "aes-ctr" | "aes-ctr-128" | "aes-ctr-192" | "aes-ctr-256";
export type AuthAlgo = "null" | "sha1";
export type KdPrf = Cipher;
export type Role = "left" | "right";
export declare const CIPHERS: readonly Cipher[];
export declare const AUTH_ALGOS: readonly AuthAlgo[];
export declare const ROLE_NAMES: Readonly<Record<string, Role>>;
/** Key length in bytes of a cipher or KD-PRF name; 0 for null. */
export declare function keyBytes(c: Cipher): number;
/** The settings both ends must agree on, after anytun's own adjustments (see `normalizeSuite`). */
export interface Suite {
    cipher: Cipher;
    auth: AuthAlgo;
    tagLength: number;
    kdPrf: KdPrf;
}
export interface SuiteNotes {
    suite: Suite;
    warnings: string[];
}
/**
 * anytun's adjustments: tag length clamped to 20 for sha1 and forced to 0 for null auth;
 * KD-PRF forced to null when cipher and auth are both null.
 */
export declare function normalizeSuite(s: Suite): SuiteNotes;
export declare const SALT_BYTES = 14;
export interface Master {
    key: Uint8Array;
    salt: Uint8Array;
}
/**
 * Master key and salt (SPEC §4): explicit hex wins; otherwise the key is the last
 * keyBytes(kdPrf) bytes of SHA-256(passphrase) and the salt the last 14 bytes of SHA-1(passphrase).
 * Throws an Error naming the problem when neither is given or a hex value has the wrong length
 * (anytun only logs that and runs with undefined keys).
 */
export declare function deriveMaster(kdPrf: KdPrf, opts: {
    passphrase?: string | undefined;
    keyHex?: string | undefined;
    saltHex?: string | undefined;
}): Master;
export declare function parseHex(hex: string, what: string): Uint8Array;
