// The table of full anycast TCP's flows (tcp-anycast.ts is the segment intake in front of it):
// flows by key, their publication in the sync table "tcp" (refreshed every SYNC_MS while they
// move, or when they moved a quarter of the window; deleted when they close), tentative
// takeovers and their confirmation (bound), flows another server took (forgotten without FIN or
// RST), the timers (idle, unauthenticated, tentative expiry) and the flush of segments to the
// capture device.
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { PacketDevice } from "../capture.ts";
import type { SyncStore } from "../sync/store.ts";
import { buildPacket, packetRoom, type Segment } from "../tcp/segment.ts";
import {
  describeFlow,
  newStats,
  recordOf,
  type AnycastFlow,
  type FlowRecord,
  type TcpAnycastStats,
} from "./anycast-flow.ts";
import { FRAME_HEADER } from "./framing.ts";

const SYNC_MS = 500;
const diff = (a: number, b: number) => (a - b) | 0;

export class FlowTable {
  readonly flows = new Map<string, AnycastFlow>();
  readonly stats: TcpAnycastStats = newStats();
  /** The capture device once started (intake: tcp-anycast.ts). */
  protected tun: PacketDevice | null = null;
  protected readonly pending = new Set<AnycastFlow>();
  private armed = false;
  private readonly out = new Uint8Array(packetRoom(65535));
  /** Framing buffer shared by all flows (one packet at a time; the endpoint copies on write). */
  readonly framed = new Uint8Array(FRAME_HEADER + 2048);
  private readonly flush = () => this.flushNow();
  /** Takeovers not confirmed yet. */
  protected tentatives = 0;

  constructor(
    protected cfg: Config["tcp"],
    protected readonly node: number,
    protected readonly store: SyncStore,
    /** Hands one SATP packet of `flow` to the server; false when it did not authenticate. */
    readonly deliver: (flow: AnycastFlow, pkt: Uint8Array) => boolean,
    protected readonly log: Logger,
    /** Is a client with this mux configured (resync plausibility before a flow knows its client)? */
    readonly knownMux: (mux: number) => boolean,
  ) {
    store.onChange("tcp", (key, value, origin) => {
      if (origin === "local") return;
      const f = this.flows.get(key);
      if (f === undefined) return;
      const rec = value as FlowRecord | null;
      if (rec !== null && rec.o === this.node) return;
      if (rec !== null && f.tentativeUntil !== 0) return; // the owner still moves it: ours is unconfirmed
      if (rec !== null && rec.g !== undefined && rec.g < f.gen) {
        // The former owner refreshed the flow before it learned of our takeover: keep the flow,
        // and republish so the record (and the former owner) come back to us.
        this.stats.staleOwner++;
        this.publish(f, true);
        return;
      }
      // Another server took the flow over (or closed it): forget it, no FIN, no RST.
      this.stats.movedAway++;
      this.log.info("tcp flow moved to another server", { flow: key, to: rec?.o ?? "closed" });
      this.drop(f);
    });
  }

  /** The flow's record changed (keep-alive agreed): publish it now. */
  publishNow(flow: AnycastFlow): void {
    this.publish(flow, true);
  }

  /** The server learned the flow's client here (an authenticated, newest packet): a tentative takeover is confirmed. */
  bound(flow: AnycastFlow, mux: number): void {
    if (this.untentative(flow)) {
      this.stats.takeovers++;
      flow.mux = mux;
      flow.ep.ackSoon(); // what it received while tentative was never acknowledged
      this.log.info("tcp flow taken over", { flow: flow.key, mux });
      this.publish(flow, true);
      this.dirty(flow);
      return;
    }
    if (flow.mux === mux) return;
    flow.mux = mux;
    this.publish(flow, true);
  }

  /** Writes the frame length for a `len`-byte packet already at framed[FRAME_HEADER]; returns the frame's size. */
  lengthPrefix(len: number): number {
    this.framed[0] = len >>> 8;
    this.framed[1] = len & 255;
    return FRAME_HEADER + len;
  }

  dirty(f: AnycastFlow): void {
    this.pending.add(f);
    if (!this.armed) {
      this.armed = true;
      queueMicrotask(this.flush);
    }
  }

  protected publish(f: AnycastFlow, force: boolean): void {
    const e = f.ep;
    if (f.tentativeUntil !== 0 || (e.state !== "ESTABLISHED" && e.state !== "CLOSE-WAIT")) return;
    const now = performance.now();
    const moved = Math.max(Math.abs(diff(e.sndNxt, f.published.sn)), Math.abs(diff(e.rcvNxt, f.published.rn)));
    if (!force && (moved === 0 || (moved < this.cfg.buffer / 4 && now - f.published.at < SYNC_MS))) return;
    f.published = { sn: e.sndNxt, rn: e.rcvNxt, at: now };
    this.store.set("tcp", f.key, recordOf(e, this.node, f.mux, f.keepaliveMs, f.gen));
  }

  protected closed(f: AnycastFlow, why: string): void {
    if (f.closed) return;
    f.closed = true;
    this.stats.flowsClosed++;
    if (this.untentative(f)) return; // an unconfirmed takeover owns nothing: no record to delete
    if (why !== "forgotten") {
      this.log.info("tcp flow closed", { flow: f.key, why });
      this.unpublish(f.key);
    }
    // Removed from the map after the final segments (RST, last ACK) are flushed.
    this.dirty(f);
  }

  /** Deletes the flow's record when this server owns it (another owner's record stays). */
  protected unpublish(key: string): void {
    const rec = this.store.get("tcp", key) as FlowRecord | null | undefined;
    if (rec && rec.o === this.node) this.store.delete("tcp", key);
  }

  /** Ends `f`'s tentative state (confirmed, closed or dropped); true when it was tentative. */
  protected untentative(f: AnycastFlow): boolean {
    if (f.tentativeUntil === 0) return false;
    f.tentativeUntil = 0;
    this.tentatives--;
    return true;
  }

  /** Removes a flow without sending anything. */
  protected drop(f: AnycastFlow): void {
    if (!f.closed) f.ep.forget();
    this.untentative(f);
    f.closed = true;
    this.flows.delete(f.key);
    this.pending.delete(f);
  }

  protected flushNow(): void {
    this.armed = false;
    const now = performance.now();
    for (const f of this.pending) {
      const segs = f.ep.poll(now);
      if (f.tentativeUntil === 0) {
        // (a tentative flow sends nothing: see the header)
        const a = { src: f.addrs.local, dst: f.addrs.remote };
        for (let i = 0; i < segs.length; i++) this.write(a, segs[i]!);
        this.publish(f, false);
      }
      if (f.ep.state === "CLOSED") {
        f.closed = true;
        if (this.flows.get(f.key) === f) this.flows.delete(f.key);
      }
    }
    this.pending.clear();
  }

  protected write(a: { src: Uint8Array; dst: Uint8Array }, seg: Segment): void {
    const n = buildPacket(this.out, a, seg);
    this.stats.segmentsOut++;
    if (!this.tun?.write(this.out.subarray(0, n))) this.stats.tunWriteErrors++;
  }

  protected tick(): void {
    const now = performance.now();
    const idle = this.cfg.idleSeconds * 1000;
    for (const f of this.flows.values()) {
      if (f.tentativeUntil !== 0 && now >= f.tentativeUntil) {
        this.stats.tentativeExpired++;
        this.drop(f);
        continue;
      }
      if (f.mux === -1 && (now - f.openedAt > this.cfg.pendingMs || f.ep.counters.bytesIn > this.cfg.pendingBytes)) {
        // A handshake is no proof of a client: without an authenticated packet the flow holds no slot.
        this.stats.unauthenticated++;
        this.log.info("tcp flow without an authenticated packet: reset", { flow: f.key });
        f.ep.abort();
        this.pending.add(f);
        continue;
      }
      if (now - f.lastSegment > idle) {
        this.log.info("tcp flow idle: forgotten", { flow: f.key });
        this.drop(f);
        this.unpublish(f.key);
        continue;
      }
      if (f.ep.nextDeadline() <= now) this.pending.add(f);
      else if (now - f.published.at >= SYNC_MS) this.publish(f, false);
    }
    if (this.pending.size > 0) this.flushNow();
  }

  protected unauthenticatedFlows(): number {
    let n = 0;
    for (const f of this.flows.values()) if (f.mux === -1 && !f.closed) n++;
    return n;
  }

  /** For /v1/tcp and metrics. */
  describe(): object[] {
    return [...this.flows.values()].map(describeFlow);
  }
}
