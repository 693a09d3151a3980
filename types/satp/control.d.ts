export declare const CONTROL_VERSION = 1;
export declare const CTL_HEADER = 6;
export declare const MSG: {
    readonly RELAY_ALLOCATE: 1;
    readonly RELAY_ALLOCATED: 2;
    readonly RELAY_REFRESH: 3;
    readonly RELAY_REFRESHED: 4;
    readonly KEEPALIVE_REQ: 5;
    readonly KEEPALIVE_ACK: 6;
    readonly ROUTE_ANNOUNCE: 7;
    readonly REDIRECT: 8;
    readonly INIT: 9;
    readonly INIT_OK: 10;
    readonly ERROR: 255;
};
export declare const TLV: {
    readonly PEER_ADDR: 1;
    readonly PEER_PORT: 2;
    readonly LIFETIME: 3;
    readonly RELAY_PORT: 4;
    readonly INTERVAL_MS: 5;
    readonly PREFIX: 6;
    readonly UNICAST_ADDR: 7;
    readonly UNICAST_PORT: 8;
    readonly TOKEN: 9;
    readonly ERROR_CODE: 10;
    readonly ERROR_TEXT: 11;
};
export declare const ERR: {
    readonly REFUSED: 1;
    readonly QUOTA: 2;
    readonly NO_PORTS: 3;
    readonly UNKNOWN: 4;
    readonly MALFORMED: 5;
};
export interface ControlMessage {
    type: number;
    id: number;
    /** TLVs in order (a type may repeat). */
    tlvs: {
        t: number;
        v: Uint8Array;
    }[];
}
export declare function encodeControl(m: ControlMessage): Uint8Array;
export declare function decodeControl(b: Uint8Array): ControlMessage | null;
export declare function tlv(m: ControlMessage, t: number): Uint8Array | undefined;
export declare function u16(v: Uint8Array | undefined): number | undefined;
export declare function u32(v: Uint8Array | undefined): number | undefined;
export declare const be16: (x: number) => Uint8Array<ArrayBuffer>;
export declare const be32: (x: number) => Uint8Array<ArrayBuffer>;
