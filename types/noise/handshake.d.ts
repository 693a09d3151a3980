import { type KeyPair } from "./keys.ts";
export declare const TAG_LEN = 16;
/** HKDF(ck, ikm) of section 4.3: two or three 32-byte outputs. */
export declare function hkdf(ck: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[];
/** The 12-byte AESGCM nonce for counter n (section 12.3). */
export declare function nonceOf(n: bigint, out?: Uint8Array<ArrayBuffer>): Uint8Array;
/** A CipherState (section 5.1): a key (or none) and its nonce counter. */
export declare class CipherState {
    k: Uint8Array | null;
    n: bigint;
    constructor(k?: Uint8Array | null);
    encrypt(ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
    /** The plaintext, or null when the tag does not verify (the nonce is not used up then). */
    decrypt(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null;
}
export declare const PROTOCOL = "Noise_IK_25519_AESGCM_SHA256";
export declare const PROTOCOL_PSK2 = "Noise_IKpsk2_25519_AESGCM_SHA256";
export interface HandshakeOptions {
    /** This side's static key pair. */
    s: KeyPair;
    /** Initiator: the responder's static public key (IK's pre-message). */
    rs?: Uint8Array;
    prologue?: Uint8Array;
    /** A 32-byte pre-shared key: the psk2 variant. */
    psk?: Uint8Array;
    /** The ephemeral key pair (tests; normally made fresh by the caller for each handshake). */
    e: KeyPair;
}
/** One IK handshake, either side; messages 1 and 2, then split() into the transport ciphers. */
export declare class HandshakeIK {
    readonly initiator: boolean;
    private readonly ss;
    private readonly s;
    private readonly e;
    private readonly psk;
    /** The other side's static key (the initiator's, once message 1 is read by the responder). */
    rs: Uint8Array | null;
    private re;
    private step;
    private failed;
    constructor(initiator: boolean, o: HandshakeOptions);
    /** The handshake hash (channel binding), final once both messages are done. */
    get hash(): Uint8Array;
    get done(): boolean;
    private mixE;
    private mixDh;
    /** Writes the next message (1 as initiator, 2 as responder) carrying `payload`. */
    writeMessage(payload: Uint8Array): Uint8Array;
    /** Reads the next message; its payload, or null when it does not verify (the handshake is then dead). */
    readMessage(msg: Uint8Array): Uint8Array | null;
    /** The transport ciphers (section 5.2 Split): what this side sends with, and receives with. */
    split(): {
        send: CipherState;
        recv: CipherState;
    };
    private fail;
}
