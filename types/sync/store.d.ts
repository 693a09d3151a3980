export interface Version {
    t: number;
    node: number;
}
export interface SyncRecord {
    table: string;
    key: string;
    value: unknown;
    t: number;
    node: number;
}
export type ChangeOrigin = "local" | "remote" | "expired";
export type ChangeListener = (key: string, value: unknown, origin: ChangeOrigin, rec: SyncRecord) => void;
/** What plugins and other rooms may use of the store. */
export type SyncTables = Pick<SyncStore, "get" | "set" | "delete" | "entries" | "onChange" | "validateBy">;
export declare function newer(a: Version, b: Version): boolean;
export declare class SyncStore {
    readonly node: number;
    private readonly now;
    private readonly tables;
    private readonly listeners;
    private readonly outbox;
    /** Tables merged by value: wins(incoming, current) true when incoming replaces current. */
    private readonly merges;
    private lastT;
    recordsIn: number;
    recordsApplied: number;
    recordsOut: number;
    /** Records refused before they could win: wrong shape for their table, or stamped too far ahead. */
    recordsRefused: number;
    /** Shape checks per table (`validateBy`): a record whose value fails is refused. */
    private readonly shapes;
    /** How far ahead of our clock a last-writer-wins record may be stamped (else refused). */
    maxSkewMs: number;
    constructor(node: number, now?: () => number);
    private table;
    get(table: string, key: string): unknown;
    version(table: string, key: string): Version | undefined;
    /** Live (non-deleted) entries of a table. */
    entries(table: string): [string, unknown][];
    /** Records per table, and how many are stale. */
    counts(): Record<string, {
        live: number;
        stale: number;
    }>;
    /** Calls `fn` after every change of `table` (local writes included); returns an unsubscribe function. */
    onChange(table: string, fn: ChangeListener): () => void;
    /** Makes `table` merge by value (see the header); call before records arrive. */
    mergeBy(table: string, wins: (incoming: unknown, current: unknown) => boolean): void;
    /**
     * Records of `table` from links must have a value `ok` accepts (null, a delete, always passes);
     * others are refused and counted. `node` is the record's origin (the server that wrote it), so
     * a table can hold a peer to records in its own name. Register before records arrive.
     */
    validateBy(table: string, ok: (value: unknown, key: string, node: number) => boolean): void;
    /** Where local writes go (the sync backend publishes them). */
    onPublish(fn: (rec: SyncRecord) => void): void;
    /**
     * A local write; value null deletes. Versions are strictly increasing per node. In a merged
     * table a value that does not win over the current one (or over nothing, for the first) changes
     * nothing: the current record (or null) is returned and nothing is published.
     */
    set(table: string, key: string, value: unknown): SyncRecord | null;
    delete(table: string, key: string): void;
    /** A record from link `via`. Returns true when it won (was newer) and was applied. */
    apply(rec: SyncRecord, via: number): boolean;
    /** Every record (tombstones included), for a snapshot to a new link. */
    snapshot(): Generator<SyncRecord>;
    /** Marks what link `via` taught as stale (the link went down); merged tables never go stale. */
    linkDown(via: number): void;
    /** Drops stale records older than `staleMs`; returns how many went. */
    expire(staleMs: number): number;
    private emit;
}
