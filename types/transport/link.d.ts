export interface Link {
    /** For views and logs only ("udp", "tcp-unicast", "tcp-anycast", "remote"); code never branches on it. */
    readonly kind: string;
    /** The client's address and port as seen by whoever holds the link. */
    readonly address: string;
    readonly port: number;
    /** The ingress a packet from this endpoint arrives through (endpoint comparison); null when none here (remote). */
    readonly via: Ingress | null;
    /**
     * How other servers may reach the client, for the "ep" sync record: a UDP listener's name
     * (they send from their own listener of that name), or "tcp" (only through this server).
     */
    readonly record: string;
    /** True while the link is on this server (a forwarded packet may go out on it; never forwarded twice). */
    readonly local: boolean;
    /** False once the link can carry nothing (stream closed, owner unreachable); packets then wait in the hold queue. */
    readonly usable: boolean;
    /**
     * False while the link may carry control messages only (a tcp-unicast connection before its
     * token: the INIT connection to the anycast address, which the client closes after REDIRECT);
     * data for the client waits in the hold queue until a link that takes data is learned.
     */
    readonly dataAllowed: boolean;
    /** A buffer of at least SLOT_BYTES to seal one packet into; the link's, valid until `send`. */
    slot(): Uint8Array;
    /** Sends the first `len` bytes of the last `slot()`; false when the transport refused it. */
    send(len: number): boolean;
}
export interface Ingress {
    /** A link back the way a packet from (address, port) came; allocates, so called only when an endpoint changes. */
    link(address: string, port: number): Link;
    /** False on a connection that may carry control messages only (tcp-unicast before its token). */
    readonly dataAllowed: boolean;
    /** Packets through it are the Noise suite's (noise.listen), opened by the datapath's Noise receiver. */
    readonly noise?: boolean;
    /** Index of the UDP listener, -1 for a stream (Packet.listener, for plugins). */
    readonly listener: number;
    /** INIT with a valid token arrived here (tcp-unicast); undefined where there is nothing to grant. */
    grantData?(): void;
    /** A keep-alive interval was agreed for this ingress (tcp-anycast flows publish it). */
    agreed?(ms: number): void;
    /** The client `mux` authenticated here for the first time (tcp-anycast flows publish their owner). */
    bound?(mux: number): void;
}
/** True when `ep` is the endpoint a packet from (address, port) through `via` would set. */
export declare function sameEndpoint(ep: Link | null, via: Ingress, address: string, port: number): boolean;
/** The inter-server data channel as links see it (implemented by the sync backend). */
export interface Forwarder {
    /** True while `node` is reachable over the data channel. */
    reachable(node: number): boolean;
    /** Hands one sealed SATP packet for client `mux` to `node`; false when dropped (counted by the channel). */
    forward(node: number, mux: number, pkt: Uint8Array): boolean;
}
/** A client held by another server (`node`): sealed packets go to it over the data channel. */
export declare class RemoteLink implements Link {
    private readonly channel;
    readonly node: number;
    private readonly mux;
    readonly address: string;
    readonly port: number;
    readonly kind = "remote";
    readonly via: null;
    readonly record = "tcp";
    readonly local = false;
    readonly dataAllowed = true;
    private static readonly buf;
    constructor(channel: Forwarder, node: number, mux: number, address: string, port: number);
    get usable(): boolean;
    slot(): Uint8Array;
    send(len: number): boolean;
}
