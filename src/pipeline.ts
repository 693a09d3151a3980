// The plugin chain: each authenticated inner packet goes through the plugins in config order
// until one returns a verdict other than `next`; falling off the end is a `noroute` drop.
//
// Plugin contract (README "Plugins"):
//  - a plugin file default-exports definePlugin({ name, options: valibot schema, create(ctx, opts) });
//  - create() may do I/O (open a TUN, bind a socket) and returns { handle, stop, describe? };
//  - handle(packet) is synchronous, must not throw for any packet content, and returns a Verdict.
//    Verdict objects may be cached and returned again (they are never mutated by the pipeline);
//  - packet.data belongs to the pipeline: a plugin may rewrite it in place (NAT) but must copy it
//    if it keeps it past handle();
//  - stop() releases everything create() took; called on reload and shutdown.
import * as v from "valibot";
import { isAbsolute, resolve } from "node:path";
import { statSync } from "node:fs";
import { ConfigError, issueTexts, type PluginEntryConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import type { Conn, ConnTable } from "./state.ts";
import type { SyncTables } from "./sync/store.ts";
import type { RouteIndex } from "./routing.ts";
import type { ControlMessage } from "./satp/control.ts";
import type { PortClaim } from "./net/ports.ts";
import type { OwnEndpoints } from "./net/own.ts";
import type { UdpTuning } from "./transport/sockopt.ts";

export type { SyncTables };

export interface Packet {
  /** The authenticated client this packet came from. */
  from: Conn;
  /** Payload type: 0x0800 IPv4, 0x86DD IPv6. */
  type: number;
  /** The inner IP packet (see the ownership rule above). */
  data: Uint8Array;
  /** Index of the listener it arrived on. */
  listener: number;
  /** Milliseconds (performance.now() clock) at receipt. */
  now: number;
}

export type Verdict =
  | { readonly kind: "next" }
  | { readonly kind: "forward"; readonly to: readonly Conn[] }
  | { readonly kind: "reply"; readonly data: Uint8Array }
  | { readonly kind: "consumed" }
  | { readonly kind: "drop"; readonly reason: string };

export const NEXT: Verdict = Object.freeze({ kind: "next" });
export const CONSUMED: Verdict = Object.freeze({ kind: "consumed" });
const drops = new Map<string, Verdict>();
/** A cached drop verdict for `reason` (shown on /metrics as relay_drops_total{reason=...}). */
/** Every drop reason a plugin has named so far (metrics show them from the start, at 0). */
export function declaredDrops(): IterableIterator<string> {
  return drops.keys();
}

export function drop(reason: string): Verdict {
  let d = drops.get(reason);
  if (d === undefined) drops.set(reason, (d = Object.freeze({ kind: "drop", reason })));
  return d;
}
export function forward(to: readonly Conn[]): Verdict {
  return Object.freeze({ kind: "forward", to: Object.freeze([...to]) });
}
const END = drop("noroute");

export interface Counter {
  inc(n?: number): void;
}

export interface PluginContext {
  readonly log: Logger;
  /** Read the client table; it changes on reload (subscribe with conns.onChange). */
  readonly conns: ConnTable;
  /**
   * Replicated tables: what a plugin writes here reaches every server of the anycast group
   * (last writer wins; see src/sync/store.ts). Use a table name of your own.
   */
  readonly sync: SyncTables;
  /** This server's sender id (unique in the anycast group). */
  readonly node: number;
  /**
   * Workers (config `workers` > 1): this worker's index and the count; null for a single loop.
   * Devices a plugin opens are then opened by every worker (a TUN with one queue each, see
   * tun.ts multiQueue); kernel setup is worker 0's (it starts first and stops last).
   */
  readonly worker: { readonly index: number; readonly count: number } | null;
  /**
   * Where this member prefers its share of a divided resource (e.g. a port slice,
   * src/sync/slices.ts): the sender id, or with workers senderId × workers + worker index (so
   * the members of a fleet of alike servers prefer distinct ones).
   */
  readonly member: number;
  /** Unicast routes of all clients (configured + learned): which client an inner destination belongs to. */
  readonly routes: Pick<RouteIndex, "lookup" | "lookupIn" | "entries" | "onRebuild">;
  /** Seals an inner IPv4/IPv6 packet for `to` and queues it; false (and counted) when it cannot go. */
  send(to: Conn, inner: Uint8Array): boolean;
  /** A counter on /metrics as relay_plugin_events_total{plugin=NAME,event=name}. */
  counter(name: string): Counter;
  /** A byte count on /metrics as relay_plugin_bytes_total{plugin=NAME,what=name}. */
  bytes(name: string): Counter;
  /**
   * State that outlives the plugin instance: the same object for this plugin name and `key`
   * every time the chain is re-created (SIGHUP), made by `make` the first time. Use it for what a
   * reload must not reset (quotas, byte counts); keep it bounded.
   */
  keep<T>(key: string, make: () => T): T;
  /**
   * How this server sets up UDP sockets (config udpBuffers, udpGso, udpGro): a plugin that opens
   * its own passes it to transport/mmsg.ts BatchUdp.open (plugins/relay.ts does), or applies it
   * to a Bun socket with transport/sockopt.ts tuneUdp, and hands the GSO sender to its SendBatch.
   */
  readonly udp: UdpTuning;
  /** Directory of the config file (or the working directory), for relative paths in options. */
  readonly configDir: string;
  /**
   * The server itself as a destination (src/net/own.ts): a plugin that sends on a client's
   * behalf refuses what `refuses` says (its own and its fleet's service ports always, its own
   * addresses unless the operator allowed them).
   */
  readonly own: Pick<OwnEndpoints, "refuses">;
}

export interface PluginInstance {
  handle(p: Packet): Verdict;
  /**
   * Control messages (payload type 0x88B5) from an authenticated client, offered to plugins in
   * chain order: return the answer, null (handled, no answer), or undefined (not mine).
   */
  control?(from: Conn, msg: ControlMessage): ControlMessage | null | undefined;
  stop(): void;
  /** JSON view for /v1/plugins. */
  describe?(): unknown;
}

export interface PluginDefinition<S extends v.GenericSchema = v.GenericSchema> {
  name: string;
  options: S;
  create(ctx: PluginContext, options: v.InferOutput<S>): PluginInstance | Promise<PluginInstance>;
  /** The ports these options take (bound, or captured by policy routing): an overlap with another part is a config error. */
  ports?(options: v.InferOutput<S>): Omit<PortClaim, "what">[];
  /** An admin route of its own: GET /v1/<view> answers the instance's describe() (e.g. "relays"). */
  view?: string;
}

export function definePlugin<S extends v.GenericSchema>(d: PluginDefinition<S>): PluginDefinition<S> {
  return d;
}

export interface ChainEntry {
  name: string;
  use: string;
  options: unknown;
  instance: PluginInstance;
  /** PluginDefinition.view. */
  view?: string;
}

export class Chain {
  private readonly handlers: PluginInstance[];
  /** Per plugin: its drop reasons as counted, prefixed with its name when it did not (drops.ts). */
  private readonly named: Map<Verdict, Verdict>[];
  constructor(readonly entries: readonly ChainEntry[]) {
    this.handlers = entries.map((e) => e.instance);
    this.named = entries.map(() => new Map());
  }

  /** A plugin's drop verdict with its reason in the plugin's name ("nat-refused" stays; "x" → "name-x"). */
  private prefixed(i: number, v: Verdict & { kind: "drop" }): Verdict {
    const cache = this.named[i]!;
    let out = cache.get(v);
    if (out === undefined) {
      const name = this.entries[i]!.name;
      out = v.reason === "noroute" || v.reason.startsWith(`${name}-`) ? v : drop(`${name}-${v.reason}`);
      cache.set(v, out);
    }
    return out;
  }
  /** Offers a control message to each plugin in order; undefined when no plugin took it. */
  control(from: Conn, msg: ControlMessage): ControlMessage | null | undefined {
    const h = this.handlers;
    for (let i = 0; i < h.length; i++) {
      const r = h[i]!.control?.(from, msg);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  run(p: Packet): Verdict {
    const h = this.handlers;
    for (let i = 0; i < h.length; i++) {
      const verdict = h[i]!.handle(p);
      if (verdict.kind === "drop") return this.prefixed(i, verdict);
      if (verdict.kind !== "next") return verdict;
    }
    return END;
  }
  stop(): void {
    for (const e of this.entries) {
      try {
        e.instance.stop();
      } catch {
        // one plugin failing to stop must not keep the others running
      }
    }
  }
}

export type Builtins = Readonly<Record<string, PluginDefinition<any>>>;

/** Runs before a plugin file is imported (plugin-sdk.ts registers the module it imports). */
let beforePluginFile: () => void = () => {};
export function onPluginFile(fn: () => void): void {
  beforePluginFile = fn;
}

async function loadDefinition(use: string, builtins: Builtins, configDir: string): Promise<PluginDefinition> {
  const builtin = builtins[use];
  if (builtin) return builtin;
  if (!/[\\/]|\.[cm]?[jt]s$/.test(use))
    throw new Error(`"${use}" is not a built-in plugin (${Object.keys(builtins).join(", ")}) nor a path to a file`);
  const path = isAbsolute(use) ? use : resolve(configDir, use);
  beforePluginFile();
  let mod: { default?: unknown };
  try {
    // Keyed by the file's mtime: a reload (SIGHUP) after the file changed evaluates the new
    // version; an unchanged file is the module already loaded. (Files the plugin imports itself
    // are not reloaded.)
    mod = (await import(`${path}?mtime=${statSync(path).mtimeMs}`)) as { default?: unknown };
  } catch (e) {
    throw new Error(`cannot load ${path}: ${(e as Error).message}`);
  }
  const d = mod.default as Partial<PluginDefinition> | undefined;
  if (!d || typeof d.name !== "string" || typeof d.create !== "function" || typeof d.options !== "object")
    throw new Error(`${path} does not default-export definePlugin({ name, options, create })`);
  return d as PluginDefinition;
}

/**
 * Loads, validates and creates every plugin. Throws ConfigError naming plugins.N.field for bad
 * options; on any failure the plugins created so far are stopped again.
 */
export async function buildChain(
  list: readonly PluginEntryConfig[],
  builtins: Builtins,
  ctxFor: (name: string) => PluginContext,
  configDir: string,
): Promise<Chain> {
  return createChain(await prepareChain(list, builtins, configDir), ctxFor);
}

/** A chain whose plugins are loaded and whose options are valid, but nothing is created yet. */
export type PreparedChain = { def: PluginDefinition; options: unknown; use: string }[];

/** Loads every plugin and validates its options; throws ConfigError naming plugins.N.field. */
export async function prepareChain(
  list: readonly PluginEntryConfig[],
  builtins: Builtins,
  configDir: string,
): Promise<PreparedChain> {
  const defs: PreparedChain = [];
  const problems: string[] = [];
  for (const [i, entry] of list.entries()) {
    const { use, ...rest } = entry;
    let def: PluginDefinition;
    try {
      def = await loadDefinition(use, builtins, configDir);
    } catch (e) {
      problems.push(`plugins.${i}.use: ${(e as Error).message}`);
      continue;
    }
    const r = v.safeParse(def.options, rest);
    if (!r.success) {
      problems.push(...issueTexts(r.issues, `plugins.${i}.`, `not an option of plugin ${def.name}`));
      continue;
    }
    defs.push({ def, options: r.output, use });
  }
  if (problems.length) throw new ConfigError(problems);
  return defs;
}

/** The ports a prepared chain takes, each named by its config path. */
export function chainClaims(defs: PreparedChain): PortClaim[] {
  return defs.flatMap((d, i) =>
    (d.def.ports?.(d.options) ?? []).map((c) => ({ ...c, what: `plugins.${i} (${d.def.name})` })),
  );
}

/** Creates the plugins in order; on a failure the ones created so far are stopped again. */
export async function createChain(defs: PreparedChain, ctxFor: (name: string) => PluginContext): Promise<Chain> {
  const entries: ChainEntry[] = [];
  try {
    for (const [i, d] of defs.entries()) {
      try {
        entries.push({
          name: d.def.name,
          use: d.use,
          options: d.options,
          instance: await d.def.create(ctxFor(d.def.name), d.options),
          ...(d.def.view !== undefined ? { view: d.def.view } : {}),
        });
      } catch (e) {
        throw new ConfigError([`plugins.${i}: ${d.def.name} failed to start: ${(e as Error).message}`]);
      }
    }
  } catch (e) {
    new Chain(entries).stop();
    throw e;
  }
  return new Chain(entries);
}
