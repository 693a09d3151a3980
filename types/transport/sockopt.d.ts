import { GsoSender } from "./gso.ts";
/** This process's open fds and what they point to (to tell a new socket from older ones on a port). */
export declare function openFds(): Map<string, string>;
/** fd of this process's UDP socket bound to `port` that was not open in `before`, or -1. */
export declare function udpSocketFd(port: number, before?: Map<string, string>): number;
/** Sets the receive and/or send buffer; returns the sizes the kernel reports (it doubles them). */
export declare function setSocketBuffers(fd: number, sizes: {
    receive?: number;
    send?: number;
}): {
    receive: number;
    send: number;
};
/** How the relay sets up its UDP sockets (config udpBuffers, udpGso, udpGro). */
export interface UdpTuning {
    readonly buffers: {
        readonly receive: number;
        readonly send: number;
    };
    readonly gso: boolean;
    /** UDP_GRO on the sockets of our own (mmsg.ts); Bun's sockets cannot take it. */
    readonly gro?: boolean;
}
/** The relay's UdpTuning from its config. */
export declare const udpTuning: (cfg: {
    readonly udpBuffers: UdpTuning["buffers"];
    readonly udpGso: boolean;
    readonly udpGro?: boolean;
}) => UdpTuning;
/**
 * Finds the fd of this process's Bun UDP socket on `port` opened since `before` (openFds()) and
 * applies `tuning`: buffer sizes (what the kernel reports back) and a GSO sender (null when off,
 * unavailable, or the fd is not found).
 */
export declare function tuneUdp(port: number, before: Map<string, string>, tuning: UdpTuning): {
    fd: number;
    buffers: {
        receive: number;
        send: number;
    };
    gso: GsoSender | null;
};
/** Opens a Bun UDP socket with `open` and applies `tuning` to it (tuneUdp). */
export declare function openTuned<S extends {
    readonly port: number;
}>(open: () => Promise<S>, tuning: UdpTuning): Promise<{
    sock: S;
    gso: GsoSender | null;
}>;
/**
 * Workers: the kernel hands each SATP datagram on this SO_REUSEPORT port to socket
 * `mux % workers` of the port's group (a classic BPF program run on the UDP payload, attached
 * for the whole group), so every packet of one client reaches one worker whatever its source
 * port: a replay sent from another port meets the same replay window. A datagram shorter than
 * 8 bytes goes to socket 0; while a worker is restarting (fewer sockets than `workers`) the
 * kernel falls back to its hash. Returns false when the kernel refused the program.
 */
export declare function steerByMux(fd: number, workers: number): boolean;
