export declare const OFF_SEQ = 0;
export declare const OFF_SENDER = 4;
export declare const OFF_MUX = 6;
export declare const HEADER_LEN = 8;
export declare const TYPE_LEN = 2;
export declare const MAX_PACKET = 1600;
export declare const MAX_TAG = 20;
export declare const PT_IPV4 = 2048;
export declare const PT_IPV6 = 34525;
export declare const PT_ETHERNET = 25944;
export declare const PT_CONTROL = 34997;
export interface Header {
    seq: number;
    senderId: number;
    mux: number;
}
/** Reads the clear header. The caller has checked `b.length >= HEADER_LEN` and owns `out`. */
export declare function readHeader(b: Uint8Array, out: Header): void;
/** Writes the header into `b[0..8)`; returns HEADER_LEN. */
export declare function writeHeader(seq: number, senderId: number, mux: number, b: Uint8Array): number;
/** Mux of a datagram without a full header parse; -1 when too short. */
export declare function peekMux(b: Uint8Array): number;
/**
 * Payload type for an inner packet read from a device: tap frames are Ethernet, tun packets are
 * typed by their IP version nibble. Returns 0 for a tun packet that is neither IPv4 nor IPv6
 * (anytun would send it with a stale type; we drop it).
 */
export declare function payloadTypeOf(inner: Uint8Array, tap: boolean): number;
/** True when a device of the given kind may receive a packet of this payload type. */
export declare function typeFitsDevice(type: number, tap: boolean): boolean;
