/** Seqs reserved per write. */
export declare const BLOCK: number;
/** A session's window of seqs it may send: [start, limit); `extend` moves limit on (durably). */
export interface Reservation {
    /** First seq this run may use (the previous run's reserved end). */
    readonly start: number;
    /** Seqs below this are durably reserved. */
    readonly limit: number;
    /** Reserves the block after `next`; returns the new limit (unchanged when the write failed). */
    extend(next: number): number;
}
/** The id of a counter: a hash of what makes its keystream (never the key itself). */
export declare function counterId(parts: readonly (string | number | Uint8Array)[]): string;
export declare class CounterFile {
    readonly dir: string;
    private readonly slots;
    private readonly stored;
    private readonly path;
    private readonly lock;
    writes: number;
    writeErrors: number;
    lastError: string | null;
    private constructor();
    /**
     * Takes the lock of `owner` under `dir` and loads its counters. Throws an Error naming the fix
     * when the directory cannot be written, the file is corrupt, or another live process owns it.
     */
    static open(dir: string, owner: string): CounterFile;
    private takeLock;
    /**
     * The reservation of counter `id`: starts where the last run's reservation ended, with the first
     * block reserved (durable at the next `flush`, which callers do before sending).
     */
    slot(id: string): Reservation;
    /** Writes every reservation (stored ones kept); false when the write failed (nothing beyond the old limits may be sent). */
    flush(): boolean;
    /** Gives up the lock (reservations stay on disk: the next run starts past them). */
    release(): void;
}
/** stateDir's default: systemd's $STATE_DIRECTORY, /var/lib/anytun-relay as root, else the XDG state dir. */
export declare function defaultStateDir(env?: Record<string, string | undefined>): string | undefined;
