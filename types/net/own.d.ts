export interface OwnSpec {
    /** Addresses the server listens on (its config), besides its interfaces'. */
    addresses: readonly string[];
    /** Its service ports. */
    ports: readonly number[];
    /** The other servers of the fleet (sync peers' hosts). */
    fleet: readonly string[];
}
export type InterfaceList = () => Record<string, {
    address: string;
}[] | undefined>;
export declare class OwnEndpoints {
    private readonly spec;
    private readonly interfaces;
    private own;
    private readonly fleet;
    private readonly ports;
    private at;
    private list;
    constructor(spec: OwnSpec, interfaces?: InterfaceList);
    /**
     * True when a client must not reach (ip, port) through this server (see the header); ip is
     * the 4 or 16 bytes at buf[off..], `allowed` whether the operator allowed that address, `now`
     * (ms, any monotonic clock) paces the interface re-read.
     */
    refuses(buf: Uint8Array, off: number, family: 4 | 6, port: number, allowed: boolean, now: number): boolean;
    /** A port bound at run time (a listener on port 0). */
    addPort(port: number): void;
    /** Every own address and port (for views). */
    describe(): {
        addresses: string[];
        ports: number[];
        fleet: string[];
    };
    private refresh;
}
