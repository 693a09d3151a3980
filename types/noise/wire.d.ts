export declare const TYPE_INITIATION = 1;
export declare const TYPE_RESPONSE = 2;
export declare const TYPE_COOKIE = 3;
export declare const TYPE_TRANSPORT = 4;
export declare const INITIATION_LEN = 148;
export declare const RESPONSE_LEN = 92;
export declare const COOKIE_LEN = 64;
export declare const TRANSPORT_MIN = 32;
export declare const MAC_LEN = 16;
/** Where mac1 starts in an initiation / response (mac2 follows it; both cover what precedes). */
export declare const MAC1_AT: {
    readonly 1: 116;
    readonly 2: 60;
};
export type Decoded = {
    type: 1;
    sender: number;
    noise: Uint8Array;
} | {
    type: 2;
    sender: number;
    receiver: number;
    noise: Uint8Array;
} | {
    type: 3;
    receiver: number;
    nonce: Uint8Array;
    cookie: Uint8Array;
} | {
    type: 4;
    receiver: number;
    counter: bigint;
    ciphertext: Uint8Array;
};
/** The packet's fields (views into `p`), or why it is not one: "short", "type", "length". */
export declare function decode(p: Uint8Array): Decoded | "short" | "type" | "length";
/** An initiation around Noise message 1 (108 bytes); the MACs are zero until macs.ts fills them. */
export declare function encodeInitiation(sender: number, noise: Uint8Array): Uint8Array;
/** A response around Noise message 2 (48 bytes). */
export declare function encodeResponse(sender: number, receiver: number, noise: Uint8Array): Uint8Array;
export declare function encodeCookie(receiver: number, nonce: Uint8Array, cookie: Uint8Array): Uint8Array;
/** The transport header for `receiver` and `counter` (ciphertext follows at 16). */
export declare function writeTransportHeader(p: Uint8Array, receiver: number, counter: bigint): void;
/** A transport counter: sender id in the top 16 bits, the sequence below (48 bits). */
export declare const counterOf: (senderId: number, seq: bigint) => bigint;
export declare const senderOfCounter: (c: bigint) => number;
export declare const seqOfCounter: (c: bigint) => bigint;
