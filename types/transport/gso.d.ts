/** Datagrams per run: the kernel's UDP_MAX_SEGMENTS is 64 before Linux 6.10, 128 after. */
export declare const MAX_SEGMENTS = 64;
/** Payload bytes per run: an IPv4 packet's 65535 less its IP and UDP headers, with a margin. */
export declare const MAX_RUN_BYTES = 65000;
/** True when the C library has sendmmsg and the socket takes UDP_SEGMENT (a kernel with UDP GSO). */
export declare function gsoAvailable(fd: number): boolean;
export declare class GsoSender {
    private readonly fd;
    private readonly runsOn;
    /** Runs of more than one datagram the kernel took as one message. */
    runs: number;
    /** Why GSO was turned off (null while on). */
    off: string | null;
    private readonly lib;
    private readonly family;
    private readonly mmsg;
    private readonly iov;
    private readonly names;
    private readonly ctrl;
    private readonly mmsgPtr;
    private readonly iovPtr;
    private readonly namesPtr;
    private readonly ctrlPtr;
    /** Runs refused by the kernel and resent one datagram at a time. */
    fallbacks: number;
    /** Destination address text → its bytes in the socket's family, and whether it takes runs. */
    private readonly addrs;
    /** Message i's first datagram and how many datagrams it carries. */
    private readonly first;
    private readonly count;
    /** Most datagrams one `send` takes (batch.ts BATCH). */
    readonly capacity = 64;
    /** `runs` false: one message per datagram, no UDP_SEGMENT (a plain sendmmsg: mmsg.ts). */
    constructor(fd: number, runsOn?: boolean);
    /** The destination's sockaddr bytes (without the port) and whether runs go to it, cached. */
    private dest;
    /**
     * Sends items[0..3n) (datagram, port, address triples, as Bun's sendMany takes them). Returns
     * how many datagrams the kernel took, or -1 when GSO is off and nothing was sent: the caller
     * then sends them itself.
     */
    send(items: readonly (Uint8Array | number | string)[], n: number): number;
    /**
     * Fills the message array from items[3·start..3·n): runs to destinations that take them (and
     * while GSO is on), else one datagram per message. `first[i]` is message i's first datagram.
     * Returns the message count.
     */
    private build;
}
