// What the servers of one anycast group must agree on, compared across the fleet (both sync
// backends: it is a synced table). Each server publishes a digest of its view, per part:
//
//   table "cfg"  key "<node>"  value {v: protocol version, since: process start (Date.now()),
//                                     parts: {clients, protocol, plugins, ...: short hash}}
//                written only by that node (validateBy)
//
// The gating parts (client table and keys, protocol, sender-id stride) decide readiness: the live
// servers fall into groups by those parts; a server whose group is smaller than another group is
// not ready, and between groups of one size the one whose oldest member started first wins (so
// of two servers, the one that joined with the conflicting view). A PoP thus never announces the
// anycast prefix with a client table its peers do not share, and a reload that rotates a key
// takes each server out only until most have it. Other parts (the plugin chain: a PoP may have a
// local network the others lack) are shown and counted only.
import type { SyncTables } from "./store.ts";

const TABLE = "cfg";
export const PROTOCOL_VERSION = 1;

export interface Digest {
  v: number;
  since: number;
  parts: Record<string, string>;
}

export interface Conflict {
  node: number;
  parts: string[];
  /** True when this server is the one that must not be ready over it. */
  ours: boolean;
}

const isDigest = (x: unknown): x is Digest => {
  if (typeof x !== "object" || x === null) return false;
  const d = x as Record<string, unknown>;
  if (!Number.isInteger(d.v) || typeof d.since !== "number" || typeof d.parts !== "object" || d.parts === null)
    return false;
  const parts = Object.entries(d.parts as object);
  return parts.length <= 32 && parts.every(([k, h]) => k.length <= 32 && typeof h === "string" && h.length <= 64);
};

export class FleetConsistency {
  /** Times a new conflict was seen (a node's digest newly differing). */
  mismatches = 0;
  private seen = new Set<string>();

  constructor(
    private readonly store: SyncTables,
    private readonly node: number,
    private mine: Digest,
    private readonly gating: readonly string[],
    /** The nodes of the sync peers up now. */
    private readonly peersUp: () => readonly number[],
  ) {
    store.validateBy(TABLE, (v, key, origin) => key === String(origin) && isDigest(v));
  }

  publish(): void {
    this.store.set(TABLE, String(this.node), this.mine);
  }

  /** After a reload: a changed view is published (with its own start time); an unchanged one keeps its age. */
  update(d: Digest): void {
    if (JSON.stringify(d.parts) === JSON.stringify(this.mine.parts) && d.v === this.mine.v) return;
    this.mine = d;
    this.publish();
  }

  get digest(): Digest {
    return this.mine;
  }

  /** Live peers whose digest differs from ours, in which parts, and whether that makes us not ready. */
  conflicts(): Conflict[] {
    const digests = this.live(this.peersUp());
    const key = (d: Digest) => JSON.stringify([d.v, ...this.gating.map((g) => d.parts[g] ?? "")]);
    // groups by gating view: size and the earliest start among their members
    const groups = new Map<string, { size: number; since: number }>();
    for (const d of [this.mine, ...digests.map(([, x]) => x)]) {
      const g = groups.get(key(d));
      if (g === undefined) groups.set(key(d), { size: 1, since: d.since });
      else {
        g.size++;
        g.since = Math.min(g.since, d.since);
      }
    }
    const mine = groups.get(key(this.mine))!;
    const outvoted = [...groups.values()].some(
      (g) => g !== mine && (g.size > mine.size || (g.size === mine.size && g.since < mine.since)),
    );
    const out: Conflict[] = [];
    for (const [node, value] of digests) {
      const names = new Set([...Object.keys(this.mine.parts), ...Object.keys(value.parts)]);
      const parts = [...names].filter((n) => this.mine.parts[n] !== value.parts[n]).sort();
      if (value.v !== this.mine.v && !parts.includes("protocol")) parts.push("protocol");
      if (parts.length === 0) continue;
      out.push({ node, parts, ours: outvoted && key(value) !== key(this.mine) });
      const id = `${node}:${parts.join(",")}:${value.since}`;
      if (!this.seen.has(id)) {
        if (this.seen.size >= 4096) this.seen.clear();
        this.seen.add(id);
        this.mismatches++;
      }
    }
    return out;
  }

  private live(live: readonly number[]): [number, Digest][] {
    const out: [number, Digest][] = [];
    for (const [key, value] of this.store.entries(TABLE)) {
      const node = Number(key);
      if (node !== this.node && live.includes(node) && isDigest(value)) out.push([node, value]);
    }
    return out;
  }

  /** Why this server must not be ready (its view conflicts with a peer that was there first), or null. */
  readiness(): string | null {
    const c = this.conflicts().filter((x) => x.ours);
    if (c.length === 0) return null;
    return `config differs from the fleet's: ${c.map((x) => `${x.parts.join(", ")} (node ${x.node})`).join("; ")}`;
  }
}
