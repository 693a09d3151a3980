// Replay window for one (connection, sender id), with anytun 0.3.8's acceptance rule (SPEC §10):
// with max = highest seq accepted so far, a seq is new when seq > max, or when
// max - W + 1 <= seq < max and not seen yet; everything else is a replay. Near the ends of the
// u32 range both values are shifted by 0x7FFFFFFF first so that seq wrap-around counts as newer.
// Only authenticated packets may be fed to `accept`. Not safe to share between connections.
//
// `newest` tells whether the last accepted seq was above every seq seen before (the only packets
// that may move an endpoint: a replay, even of a packet the window lets through, never is).
// Size 0 is "window off" (anytun's -w 0): every seq is accepted, only `max` and `newest` are kept.

export class ReplayWindow {
  readonly size: number;
  private readonly bits: Uint32Array; // bit (seq mod nbits) set = seen
  private readonly mask: number;
  private started = false;
  /** Highest accepted seq; meaningful once `started`. */
  max = 0;
  /** The last accepted seq was the newest so far (it raised `max`, or was the first). */
  newest = false;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 0 || size > 1 << 20)
      throw new RangeError(`window size ${size} not in 0..${1 << 20}`);
    this.size = size;
    let nbits = 32;
    // Stryker disable next-line EqualityOperator: equivalent — twice the slots for a power-of-two size only costs memory
    while (nbits < size) nbits *= 2; // power of two so (seq mod nbits) survives u32 wrap
    this.bits = new Uint32Array(nbits >>> 5);
    this.mask = nbits - 1;
  }

  /** True once a seq was accepted or a mark adopted. */
  get isStarted(): boolean {
    return this.started;
  }

  /** SPEC §10: near either end of the u32 range both values are shifted so that wrap-around is newer. */
  private shift(): number {
    const w = this.size;
    return this.max < w || this.max > 0xffffffff - w ? 0x7fffffff : 0;
  }

  /** Marks `seq` seen and returns true when it is new (size 0: always); false for a replay. */
  accept(seq: number): boolean {
    this.newest = false;
    if (!this.started) {
      this.started = true;
      this.max = seq;
      this.bits.fill(0);
      this.set(seq);
      this.newest = true;
      return true;
    }
    const shift = this.shift();
    const m = (this.max + shift) >>> 0;
    const s = (seq + shift) >>> 0;
    if (s > m) {
      // Slots strictly between the old max and seq were last used a full cycle ago: clear them.
      if (s - m > this.mask) this.bits.fill(0);
      else for (let q = (this.max + 1) >>> 0; q !== seq; q = (q + 1) >>> 0) this.clear(q);
      this.set(seq);
      this.max = seq;
      this.newest = true;
      return true;
    }
    const w = this.size;
    if (w === 0) return true; // window off: delivered, but never the newest
    // s === m (the newest packet again) is a replay too: max's slot is always set.
    if (s < m - w + 1 || this.isSet(seq)) return false;
    this.set(seq);
    return true;
  }

  /**
   * Another server accepted packets up to `seq` (synced high-water mark): treat every seq up to it
   * as seen, so a packet captured there and replayed here is rejected. Conservative: a packet in
   * (seq - size, seq] that the other server never saw is refused too. Never moves max backwards.
   */
  advanceTo(seq: number): void {
    if (this.started) {
      const shift = this.shift();
      if ((seq + shift) >>> 0 <= (this.max + shift) >>> 0) return;
    }
    this.started = true;
    this.max = seq;
    this.bits.fill(0xffffffff);
  }

  private set(seq: number): void {
    const b = seq & this.mask;
    this.bits[b >>> 5]! |= 1 << (b & 31);
  }
  private clear(seq: number): void {
    const b = seq & this.mask;
    this.bits[b >>> 5]! &= ~(1 << (b & 31));
  }
  private isSet(seq: number): boolean {
    const b = seq & this.mask;
    return (this.bits[b >>> 5]! & (1 << (b & 31))) !== 0;
  }
}
