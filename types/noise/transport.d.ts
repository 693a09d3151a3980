export declare const HEADER_LEN = 16;
/** Sender ids whose windows one session keeps (a client talks to a handful of servers). */
export declare const MAX_SENDERS = 16;
/** Sequence numbers a sender may use under one key (48 bits: then a rekey). */
export declare const MAX_SEQ: number;
/** A sliding window over 48-bit sequence numbers (RFC 6479's idea, one bit per seq). */
export declare class SeqWindow {
    readonly size: number;
    max: number;
    private readonly bits;
    constructor(size?: number);
    private bit;
    /** Marks `seq` seen; false when it is a replay or older than the window. */
    accept(seq: number): boolean;
}
/** Seals `plaintext` for `receiver` under `key` with counter (senderId, seq): a whole type-4 packet. */
export declare function sealTransport(key: Uint8Array, receiver: number, senderId: number, seq: number, plaintext: Uint8Array): Uint8Array;
/** Opens a type-4 packet `p` (counter already decoded) under `key`: the plaintext, or null. */
export declare function openTransport(key: Uint8Array, p: Uint8Array, counter: bigint): Uint8Array | null;
/** The receive side of one session: windows per sender id, bounded. */
export declare class Windows {
    private readonly bySender;
    /** Authenticated packets refused: replays, and senders beyond MAX_SENDERS. */
    readonly refused: {
        replay: number;
        senders: number;
    };
    /** After authentication: is (sender id, seq) of `counter` new? */
    accept(counter: bigint): boolean;
}
