import { type Prefix } from "./net/addr.ts";
import { type IpView } from "./net/ip.ts";
import type { Conn, ConnTable } from "./state.ts";
import type { SyncStore } from "./sync/store.ts";
export declare class RouteIndex {
    private readonly conns;
    private readonly store;
    private table;
    private readonly listeners;
    /** Scratch view of the packet being looked up (filled per call; nothing kept). */
    private readonly view;
    learned: number;
    badLearned: number;
    constructor(conns: ConnTable, store: SyncStore);
    /** The client whose route covers the destination of IP packet `pkt`; undefined if none. */
    lookup(pkt: Uint8Array): Conn | undefined;
    /** As lookup, for a packet the caller has already parsed into `v` (parseIpHeader or parseL4). */
    lookupIn(pkt: Uint8Array, v: IpView): Conn | undefined;
    /** The client whose route covers the source of IP packet `pkt` (who may send from it); undefined if none. */
    sourceOwner(pkt: Uint8Array): Conn | undefined;
    entries(): {
        prefix: string;
        mux: number;
    }[];
    /** Calls `fn` after every rebuild (after the table has changed). */
    onRebuild(fn: () => void): () => void;
    private rebuild;
}
/**
 * The other client whose configured route overlaps `p` (inside it or covering it), which a
 * learned route for client `mux` may therefore not take; null when there is none.
 */
export declare function routeConflict(conns: ConnTable, p: Prefix, mux: number): Conn | null;
