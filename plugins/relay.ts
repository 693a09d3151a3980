/**
 * # relay
 *
 * Relay mode (TURN-like, anycast): a client asks over SATP (control message RELAY_ALLOCATE, see
 * src/satp/control.ts) for a relay port towards one peer; the server answers with a port on
 * `address` (the anycast address). Datagrams the client sends raw (no SATP) from its SATP
 * socket to address:port go to the peer from address:port; datagrams from that peer to the port
 * go back to the client. Only the named peer gets through (anything else is dropped and
 * counted), allocations expire unless refreshed (RELAY_REFRESH; lifetime 0 releases), and quotas
 * limit allocations per client and bytes per allocation (counted per server).
 *
 * Allocations are synced (table "relay"), and every server of the group binds every allocated
 * port, so a route flip in either direction keeps the relay working. Peers in private,
 * loopback, link-local, CGN, multicast and reserved ranges, IPv4 and IPv6 (ULA, documentation,
 * and the ::ffff:a.b.c.d / ::a.b.c.d forms of refused IPv4: src/net/special.ts) are refused
 * unless `allowPeers` lists them (the relay must not reach the server's own networks); so are the
 * server's own addresses and a fleet server's service ports (ctx.own, src/net/own.ts). Relay ports
 * get the server's udpBuffers and send their batches through UDP GSO (udpGso; ctx.udp).
 *
 * Options:
 *   address                  IP the relay ports are bound on (the anycast address), required
 *   ports                    "LO-HI" (default "61000-61999", above Linux's ephemeral ports and the
 *                            nat plugin's default range), cut into `slices`
 *   slices                   port slices (default 16): each member of the group (each worker of
 *                            each server) allocates from its own, claimed through sync
 *                            (src/sync/slices.ts); every member binds every allocation's port
 *                            (workers: with SO_REUSEPORT)
 *   lifetime                 { default: 300, max: 3600 } seconds
 *   maxAllocationsPerClient  default 4
 *   maxBytesPerAllocation    default 1 GiB (0 = no limit)
 *   allowPeers               CIDR list allowed despite the refused ranges
 */
import * as v from "valibot";
import { cidr, portRange } from "../src/plugin-sdk.ts";
import { parseCidr, parseIp, formatIp } from "../src/net/addr.ts";
import { PrefixTable } from "../src/net/lpm.ts";
import { definePlugin, NEXT } from "../src/pipeline.ts";
import { be16, be32, ERR, MSG, TLV, tlv, u16, u32, type ControlMessage } from "../src/satp/control.ts";
import type { Conn } from "../src/state.ts";
import { REFUSED_ALL } from "../src/net/special.ts";
import { SendBatch } from "../src/transport/batch.ts";
import { BatchUdp } from "../src/transport/mmsg.ts";
import { MAX_SLICES, PortSlices } from "../src/sync/slices.ts";

interface Allocation {
  mux: number;
  ca: string; // client address and port (its SATP endpoint)
  cp: number;
  pa: string; // peer
  pp: number;
  exp: number; // wall-clock ms
  by: number;
}

const TABLE = "relay";
const SLICES = 16;

function isAllocation(x: unknown): x is Allocation {
  if (typeof x !== "object" || x === null) return false;
  const o = x as Record<string, unknown>;
  const port = (p: unknown) => typeof p === "number" && Number.isInteger(p) && p > 0 && p <= 65535;
  return (
    typeof o.mux === "number" &&
    typeof o.ca === "string" &&
    port(o.cp) &&
    typeof o.pa === "string" &&
    port(o.pp) &&
    typeof o.exp === "number"
  );
}

export default definePlugin({
  name: "relay",
  view: "relays",
  options: v.strictObject({
    address: v.pipe(
      v.string(),
      v.check((s) => parseIp(s) !== null, "expected an IP address"),
    ),
    ports: v.optional(portRange(SLICES), "61000-61999"),
    slices: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_SLICES)), SLICES),
    lifetime: v.optional(
      v.strictObject({
        default: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 300),
        max: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 3600),
      }),
      {},
    ),
    maxAllocationsPerClient: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 4),
    maxBytesPerAllocation: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 2 ** 30),
    allowPeers: v.optional(v.array(cidr()), []),
  }),
  ports(opts) {
    const [lo, hi] = opts.ports.split("-").map(Number) as [number, number];
    return [{ address: opts.address, protos: ["udp"], from: lo, to: hi }];
  },
  create(ctx, opts) {
    const [lo, hi] = opts.ports.split("-").map(Number) as [number, number];
    if (hi - lo + 1 < opts.slices)
      throw new Error(`ports ${opts.ports}: ${opts.slices} slices need at least ${opts.slices} ports`);
    const slices = new PortSlices(ctx.sync, "relay", opts.slices, ctx.node, ctx.member, (msg, f) =>
      ctx.log.warn(msg, f),
    );
    const size = Math.floor((hi - lo + 1) / opts.slices);
    const policy = new PrefixTable<boolean>();
    for (const r of REFUSED_ALL) policy.set(parseCidr(r, true), true);
    const allowed = new PrefixTable<true>();
    for (const r of opts.allowPeers) {
      policy.set(parseCidr(r, true), false);
      allowed.set(parseCidr(r, true), true);
    }
    const ev = {
      allocated: ctx.counter("allocated"),
      refusedAlloc: ctx.counter("allocation-refused"),
      toPeer: ctx.counter("to-peer"),
      toClient: ctx.counter("to-client"),
      bytes: ctx.bytes("relayed"),
      refused: ctx.counter("refused"),
      expired: ctx.counter("expired"),
      quota: ctx.counter("over-quota"),
    };
    const sockets = new Map<number, BatchUdp>(); // relay port → socket
    // relay port → bytes relayed here: kept across reloads, or a SIGHUP would reset every quota
    const bytes = ctx.keep("bytes", () => new Map<number, number>());
    let stopped = false;

    /** The one peer rule, for allocations asked here and for records from peers: special ranges, the server itself. */
    const peerRefused = (peer: Uint8Array, port: number): boolean => {
      const family = peer.length === 4 ? 4 : 6;
      return (
        policy.lookup(peer, 0, family) === true ||
        ctx.own.refuses(peer, 0, family, port, allowed.lookup(peer, 0, family) === true, performance.now())
      );
    };
    // An allocation from a peer binds a port here only if our policy would have made it: a port
    // of our range, a client we know, a peer we would relay to, a lifetime within our maximum.
    ctx.sync.validateBy(TABLE, (value, key) => {
      if (!isAllocation(value)) return false;
      const port = Number(key);
      if (!Number.isInteger(port) || port < lo || port > hi) return false;
      if (ctx.conns.get(value.mux) === undefined) return false;
      const peer = parseIp(value.pa);
      if (peer === null) return false;
      if (peerRefused(peer, value.pp)) return false;
      return value.exp <= Date.now() + opts.lifetime.max * 1000 + 60_000;
    });

    const current = (port: number): Allocation | undefined => {
      const a = ctx.sync.get(TABLE, String(port));
      return isAllocation(a) ? a : undefined;
    };

    const batches = new Map<number, SendBatch>(); // relay port → batched sends on its socket
    // relay port → its allocation, kept in step with the table (every write, local or synced,
    // goes through onChange), so a datagram costs one map lookup, not a table read and a check
    const live = new Map<number, Allocation>();
    // Wall clock for expiry checks per datagram, advanced by the 1 s sweep (allocations live
    // for seconds to an hour; a second's grace is no matter, a clock read per datagram is).
    let clock = Date.now();
    const track = (key: string, value: unknown) => {
      if (isAllocation(value)) live.set(Number(key), value);
      else live.delete(Number(key));
    };
    for (const [k, a] of ctx.sync.entries(TABLE)) track(k, a);
    const offLive = ctx.sync.onChange(TABLE, track);
    // buf is a view into the receive ring (mmsg.ts): queued as it is, flushed in onDrained
    const onDatagram =
      (port: number) =>
      (buf: Uint8Array, rport: number, addr: string): void => {
        const a = live.get(port);
        if (a === undefined || a.exp < clock) return void ev.expired.inc();
        const used = (bytes.get(port) ?? 0) + buf.length;
        if (opts.maxBytesPerAllocation > 0 && used > opts.maxBytesPerAllocation) return void ev.quota.inc();
        const out = batches.get(port);
        if (out === undefined) return;
        if (addr === a.ca && rport === a.cp) {
          out.queue(buf, a.pp, a.pa);
          ev.toPeer.inc();
        } else if (addr === a.pa && rport === a.pp) {
          out.queue(buf, a.cp, a.ca);
          ev.toClient.inc();
        } else return void ev.refused.inc();
        bytes.set(port, used);
        ev.bytes.inc(buf.length);
      };

    const open = (port: number) => {
      if (sockets.has(port) || stopped || current(port) === undefined) return;
      try {
        const s = BatchUdp.open({
          host: opts.address,
          port,
          reusePort: ctx.worker !== null, // every worker binds each port
          tuning: ctx.udp,
          onDatagram: onDatagram(port),
          onDrained: () => batches.get(port)?.flush(),
        });
        sockets.set(port, s);
        batches.set(port, new SendBatch(s, s.gso));
      } catch (e) {
        ctx.log.error("cannot bind relay port", { port, error: (e as Error).message });
      }
    };
    const close = (port: number) => {
      batches.get(port)?.close(); // before the socket: no flush may reach a reused fd (gso.ts)
      batches.delete(port);
      sockets.get(port)?.close();
      sockets.delete(port);
      bytes.delete(port);
    };
    for (const [k] of ctx.sync.entries(TABLE)) open(Number(k));
    const off = ctx.sync.onChange(TABLE, (key, value) => (value === null ? close(Number(key)) : open(Number(key))));
    const sweep = setInterval(() => {
      const now = (clock = Date.now());
      for (const [k, a] of ctx.sync.entries(TABLE))
        if (!isAllocation(a) || a.exp < now) {
          ctx.sync.set(TABLE, k, null);
          close(Number(k));
        }
    }, 1000);
    (sweep as unknown as { unref?: () => void }).unref?.();

    const error = (id: number, code: number, text: string): ControlMessage => ({
      type: MSG.ERROR,
      id,
      tlvs: [
        { t: TLV.ERROR_CODE, v: be16(code) },
        { t: TLV.ERROR_TEXT, v: new TextEncoder().encode(text) },
      ],
    });
    const lifetimeOf = (m: ControlMessage) =>
      Math.min(u32(tlv(m, TLV.LIFETIME)) ?? opts.lifetime.default, opts.lifetime.max);
    const mine = (mux: number) =>
      ctx.sync.entries(TABLE).filter(([, a]) => isAllocation(a) && a.mux === mux && a.exp >= Date.now());

    function allocate(from: Conn, m: ControlMessage): ControlMessage {
      const peer = tlv(m, TLV.PEER_ADDR);
      const pp = u16(tlv(m, TLV.PEER_PORT));
      if (peer === undefined || (peer.length !== 4 && peer.length !== 16) || pp === undefined || pp === 0)
        return error(m.id, ERR.MALFORMED, "PEER_ADDR and PEER_PORT required");
      if (peerRefused(peer, pp)) {
        ev.refusedAlloc.inc();
        return error(m.id, ERR.REFUSED, "peer address not allowed");
      }
      if (from.endpoint === null) return error(m.id, ERR.REFUSED, "no client endpoint");
      if (mine(from.mux).length >= opts.maxAllocationsPerClient) {
        ev.refusedAlloc.inc();
        return error(m.id, ERR.QUOTA, `at most ${opts.maxAllocationsPerClient} allocations per client`);
      }
      const start = Math.floor(Math.random() * size);
      const sliceStart = slices.within(lo, hi).start;
      for (let i = 0; i < size; i++) {
        const port = sliceStart + ((start + i) % size);
        if (ctx.sync.get(TABLE, String(port)) !== undefined) continue;
        const life = lifetimeOf(m);
        const a: Allocation = {
          mux: from.mux,
          ca: from.endpoint.address,
          cp: from.endpoint.port,
          pa: formatIp(peer),
          pp,
          exp: Date.now() + life * 1000,
          by: ctx.node,
        };
        ctx.sync.set(TABLE, String(port), a);
        ev.allocated.inc();
        ctx.log.info("relay allocated", { mux: from.mux, port, peer: `${a.pa}:${a.pp}`, lifetime: life });
        return {
          type: MSG.RELAY_ALLOCATED,
          id: m.id,
          tlvs: [
            { t: TLV.RELAY_PORT, v: be16(port) },
            { t: TLV.LIFETIME, v: be32(life) },
            { t: TLV.PEER_ADDR, v: peer },
            { t: TLV.PEER_PORT, v: be16(pp) },
          ],
        };
      }
      ev.refusedAlloc.inc();
      return error(m.id, ERR.NO_PORTS, "no relay port free on this server");
    }

    function refresh(from: Conn, m: ControlMessage): ControlMessage {
      const port = u16(tlv(m, TLV.RELAY_PORT));
      const a = port === undefined ? undefined : current(port);
      if (port === undefined || a === undefined || a.mux !== from.mux)
        return error(m.id, ERR.UNKNOWN, "no such allocation");
      const life = lifetimeOf(m);
      if (life === 0 || u32(tlv(m, TLV.LIFETIME)) === 0) {
        ctx.sync.set(TABLE, String(port), null);
        close(port);
      } else {
        const ep = from.endpoint ?? { address: a.ca, port: a.cp };
        ctx.sync.set(TABLE, String(port), { ...a, ca: ep.address, cp: ep.port, exp: Date.now() + life * 1000 });
      }
      return {
        type: MSG.RELAY_REFRESHED,
        id: m.id,
        tlvs: [
          { t: TLV.RELAY_PORT, v: be16(port) },
          { t: TLV.LIFETIME, v: be32(life) },
        ],
      };
    }

    return {
      handle: () => NEXT,
      control(from, m) {
        if (m.type === MSG.RELAY_ALLOCATE) return allocate(from, m);
        if (m.type === MSG.RELAY_REFRESH) return refresh(from, m);
        return undefined;
      },
      stop() {
        stopped = true;
        slices.stop();
        off();
        offLive();
        clearInterval(sweep);
        for (const p of [...sockets.keys()]) close(p);
      },
      describe() {
        return {
          address: opts.address,
          slice: [slices.within(lo, hi).start, slices.within(lo, hi).start + size - 1],
          sliceIndex: slices.index,
          allocations: ctx.sync.entries(TABLE).map(([port, a]) => ({
            port: Number(port),
            ...(a as Allocation),
            listening: sockets.has(Number(port)),
            bytesHere: bytes.get(Number(port)) ?? 0,
          })),
        };
      },
    };
  },
});
