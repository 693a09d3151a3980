// The mesh's dialers (one per configured or learned peer address: state, backoff, the node it
// turned out to be) and the peer view /v1/peers shows of them and of the links (mesh.ts).
import { hostPortText } from "../net/addr.ts";
import type { PeerView } from "./backend.ts";
import type { SyncLink } from "./link.ts";

export interface Dialer {
  address: string;
  host: string;
  port: number;
  state: PeerView["state"];
  lastError: string | null;
  attempt: number;
  node: number | null;
  timer: ReturnType<typeof setTimeout> | null;
  ups: number;
  downs: number;
  /** Which accepted fleet key the next dial authenticates with (mesh.ts; rotation). */
  keyIndex: number;
}

export function newDialer(host: string, port: number): Dialer {
  return {
    address: hostPortText(host, port),
    host,
    port,
    state: "connecting",
    lastError: null,
    attempt: 0,
    node: null,
    timer: null,
    ups: 0,
    downs: 0,
    keyIndex: 0,
  };
}

/** Each dialer with its live link, then the peers that dialed us without being in our list. */
export function peerViews(dialers: readonly Dialer[], byNode: ReadonlyMap<number, SyncLink>, now: number): PeerView[] {
  const view = (link: SyncLink | undefined) =>
    link
      ? {
          lagSeconds: Math.round(now - link.lastHeard) / 1000,
          rttMs: link.rtt < 0 ? null : Math.round(link.rtt * 100) / 100,
          recordsIn: link.recordsIn,
          recordsOut: link.recordsOut,
          snapshotReceived: link.snapshotReceived,
        }
      : { lagSeconds: null, rttMs: null, recordsIn: 0, recordsOut: 0, snapshotReceived: false };
  const out: PeerView[] = dialers.map((d) => {
    const link = d.node === null ? undefined : byNode.get(d.node);
    return {
      address: d.address,
      node: d.node,
      state: link ? "up" : d.state === "up" ? "down" : d.state,
      direction: link ? (link.dialed ? "dialed" : "accepted") : null,
      lastError: d.lastError,
      ...view(link),
      ups: d.ups,
      downs: d.downs,
    };
  });
  for (const [node, link] of byNode)
    if (!dialers.some((d) => d.node === node))
      out.push({
        address: link.remote,
        node,
        state: "up",
        direction: "accepted",
        lastError: null,
        ...view(link),
        ups: 1,
        downs: 0,
      });
  return out;
}

/** The next dial of `d` after `why`: backoff 0.5 s → 10 s (10 s once refused), ±20% jitter; one at a time. */
export function scheduleRetry(d: Dialer, why: string, dial: () => void): void {
  if (d.state === "self" || d.timer !== null) return; // never ourselves; a retry is already scheduled
  d.lastError = why;
  const base = d.state === "refused" ? 10000 : Math.min(10000, 500 * 2 ** d.attempt);
  d.attempt++;
  d.timer = setTimeout(
    () => {
      d.timer = null;
      dial();
    },
    base * (0.8 + Math.random() * 0.4),
  );
}
