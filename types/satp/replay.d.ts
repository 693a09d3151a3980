export declare class ReplayWindow {
    readonly size: number;
    private readonly bits;
    private readonly mask;
    private started;
    /** Highest accepted seq; meaningful once `started`. */
    max: number;
    /** The last accepted seq was the newest so far (it raised `max`, or was the first). */
    newest: boolean;
    constructor(size: number);
    /** True once a seq was accepted or a mark adopted. */
    get isStarted(): boolean;
    /** SPEC §10: near either end of the u32 range both values are shifted so that wrap-around is newer. */
    private shift;
    /** Marks `seq` seen and returns true when it is new (size 0: always); false for a replay. */
    accept(seq: number): boolean;
    /**
     * Another server accepted packets up to `seq` (synced high-water mark): treat every seq up to it
     * as seen, so a packet captured there and replayed here is rejected. Conservative: a packet in
     * (seq - size, seq] that the other server never saw is refused too. Never moves max backwards.
     */
    advanceTo(seq: number): void;
    private set;
    private clear;
    private isSet;
}
