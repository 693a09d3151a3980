export declare const PROTO_ICMP = 1;
export declare const PROTO_TCP = 6;
export declare const PROTO_UDP = 17;
export declare const PROTO_ICMP6 = 58;
/** An IP packet's layout: offsets into the packet it was parsed from. */
export interface IpView {
    family: 4 | 6;
    proto: number;
    /** Offset of the source and destination addresses (length 4 or 16). */
    srcOff: number;
    dstOff: number;
    /** Offset of the L4 header (the IP header's length). */
    l4: number;
    /** End of the IP packet (from its length fields; the buffer may be longer). */
    end: number;
    /** IPv4 with MF set or a fragment offset (parseIpHeader accepts it; parseL4 refuses it). */
    fragment: boolean;
    /** UDP/TCP ports; for ICMP echo both are the identifier. Set by parseL4. */
    sport: number;
    dport: number;
    /** TCP flags, the ICMP type, 0 for UDP. Set by parseL4. */
    kind: number;
    /** Offset of the UDP payload, TCP data or ICMP echo data. Set by parseL4. */
    payload: number;
}
export declare const newIpView: () => IpView;
/** Why a packet was refused. */
export type IpError = "short" | "version" | "fragment" | "protocol" | "length" | "icmp-type";
/** The 32-bit big-endian word at p[o..o+4) (an IPv4 address). */
export declare const u32At: (p: Uint8Array, o: number) => number;
/**
 * Fills the IP part of `v` (family, addresses, protocol, header length, end, fragment); null on
 * success. Any protocol; fragments are marked, not refused. For routing by address.
 */
export declare function parseIpHeader(p: Uint8Array, v: IpView): IpError | null;
/**
 * parseIpHeader, then the UDP, TCP or ICMP echo header (ports, kind, payload); null on success. IPv4
 * fragments, IPv6 packets whose next header is not UDP/TCP/ICMPv6 (extension headers), ICMP other
 * than echo and reply, and headers that do not fit are refused.
 */
export declare function parseL4(p: Uint8Array, v: IpView): IpError | null;
/** Pseudo-header sum for an L4 segment of `len` bytes between the addresses at p[srcOff..] (dst follows src). */
export declare function pseudoSum(p: Uint8Array, family: 4 | 6, srcOff: number, proto: number, len: number): number;
/**
 * True when the IPv4 header checksum (IPv4) and the UDP/TCP/ICMP checksum verify. A UDP checksum
 * of 0 means "none" over IPv4 and is accepted; over IPv6 it is invalid (RFC 8200 8.1).
 * `v` must come from parseL4 on this packet.
 */
export declare function checksumsOk(p: Uint8Array, v: IpView): boolean;
/**
 * Writes a fresh IP header into out[0..] for `proto` from src to dst (4 or 16 bytes each) with
 * `l4len` bytes after it: TTL/hop limit 64, IPv4 DF set, id 0 (RFC 6864: atomic datagrams), the
 * IPv4 header checksum filled in. Returns the L4 offset (20 or 40).
 */
export declare function writeIpHeader(out: Uint8Array, src: Uint8Array, dst: Uint8Array, proto: number, l4len: number): number;
/**
 * A complete IPv4 (src and dst 4 bytes) or IPv6 (16 bytes) UDP packet carrying payload[0, len),
 * TTL/hop limit 64, IPv4 DF set, both checksums filled in. src and dst must have the same length.
 */
export declare function buildUdp(src: Uint8Array, dst: Uint8Array, sport: number, dport: number, payload: Uint8Array, len?: number): Uint8Array;
/** The source and destination addresses of a parsed packet, as views into it. */
export declare const addresses: (p: Uint8Array, v: IpView) => {
    src: Uint8Array;
    dst: Uint8Array;
};
/** The UDP reply to packet `p` (parsed into `v`): addresses and ports swapped, carrying payload[0, len). */
export declare function buildUdpReply(p: Uint8Array, v: IpView, payload: Uint8Array, len: number): Uint8Array;
