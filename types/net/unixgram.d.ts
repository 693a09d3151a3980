export declare class UnixDatagram {
    readonly path: string;
    private readonly fd;
    private readonly addr;
    private readonly addrLen;
    sent: number;
    failed: number;
    lastErrno: number;
    /** Throws (naming the path) when the C library or a socket is unavailable or the path is too long. */
    constructor(path: string);
    /** Sends one datagram; false (counted, errno kept) when it could not be delivered. */
    send(data: Uint8Array | string): boolean;
    close(): void;
}
