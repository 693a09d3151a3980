// The client side of the Noise suite: the handshakes of the peer role's one session (Initiator,
// peers.ts), driven by a timer, with WireGuard's timers where they matter and a shorter retry:
//
//   no session yet, or the last initiation unanswered for RETRY_MS  ─► a new initiation
//   a cookie reply                                                   ─► the same initiation with mac2
//   a response                                                       ─► its keys into the session (crypto.ts),
//                                                                       and a keepalive at once (the server
//                                                                       learns our endpoint; WireGuard's rule)
//   the keys REKEY_AFTER_MS old                                      ─► a new handshake; the old keys
//                                                                       still work meanwhile
//   sent for DEAD_MS with nothing back                               ─► a new handshake (the servers lost us)
//   received, but nothing sent for KEEPALIVE_MS                      ─► a keepalive (WireGuard's passive one)
//
// (No message-count rekey: the sequence space is the session's, across handshakes, and ends at
// 2^32 per sender — satp/session.ts SEAL_EXHAUSTED — long before REKEY_AFTER_MESSAGES.)
// RETRY_MS is 1 s, not WireGuard's 5 s: an anycast route that flips during a handshake moves the
// initiation to another server, whose answer then comes from the same address. Transport data
// never waits for the handshake: it is dropped (counted "nokey") until the first keys are in.
import type { SatpSession } from "../satp/session.ts";
import { NoiseCrypto } from "./crypto.ts";
import type { KeyPair } from "./keys.ts";
import { Initiator, REKEY_AFTER_MS } from "./peers.ts";

export const RETRY_MS = 1_000;
export const KEEPALIVE_MS = 10_000;
export const DEAD_MS = 15_000;
/** No new initiation sooner than this after the last (WireGuard's REKEY_TIMEOUT is 5 s). */
const MIN_GAP_MS = 200;

export interface NoiseClientIo {
  /** Sends a handshake packet to the server (the peer's endpoint). */
  send(pkt: Uint8Array): void;
  /** Seals and sends a keepalive on the session. */
  keepalive(): void;
  /** When the last authenticated packet came, and the last packet went out (ms, Date.now). */
  lastReceived(): number;
  lastSent(): number;
}

export class NoiseClient {
  readonly initiator: Initiator;
  readonly counts = { initiations: 0, cookies: 0, handshakes: 0, refused: 0, keepalives: 0 };
  private sentAt = -Infinity;
  private waiting = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Logged once per failure streak: no answer to the first initiations. */
  onSilent: ((tries: number) => void) | null = null;
  private tries = 0;

  constructor(
    key: KeyPair,
    serverPub: Uint8Array,
    private readonly session: SatpSession<NoiseCrypto>,
    private readonly io: NoiseClientIo,
    private readonly clock: () => number = Date.now,
  ) {
    this.initiator = new Initiator(key, serverPub);
  }

  start(): void {
    this.initiate();
    this.timer = setInterval(() => this.tick(), 100);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** The timer's work (exposed for tests with their own clock). */
  tick(): void {
    const now = this.clock();
    const crypto = this.session.crypto;
    const live = crypto.current(now);
    if (this.waiting) {
      if (now - this.sentAt >= RETRY_MS) this.initiate();
      return;
    }
    if (live === null) return this.initiate();
    if (now - live.created >= REKEY_AFTER_MS) return this.initiate();
    const rx = this.io.lastReceived();
    const tx = this.io.lastSent();
    if (tx - rx >= DEAD_MS && now - live.created >= DEAD_MS) return this.initiate();
    if (rx > tx && now - tx >= KEEPALIVE_MS) {
      this.counts.keepalives++;
      this.io.keepalive();
    }
  }

  /** A handshake packet from the server (a type-4 one goes to the session's receiver instead). */
  receive(p: Uint8Array): void {
    const now = this.clock();
    const r = this.initiator.receive(p, now);
    if (r.kind === "cookie") {
      this.counts.cookies++;
      const again = this.initiator.resend(now);
      if (again !== null) this.io.send(again);
      return;
    }
    if (r.kind !== "session") {
      this.counts.refused++;
      return;
    }
    const s = r.session;
    this.session.crypto.add({ local: s.local, remote: s.remote, send: s.sendKey, recv: s.recvKey, created: now });
    this.counts.handshakes++;
    this.waiting = false;
    this.tries = 0;
    this.io.keepalive();
  }

  private initiate(): void {
    const now = this.clock();
    if (now - this.sentAt < MIN_GAP_MS) return;
    this.sentAt = now;
    this.waiting = true;
    this.counts.initiations++;
    if (++this.tries === 5) this.onSilent?.(this.tries);
    this.io.send(this.initiator.initiation(now));
  }
}
