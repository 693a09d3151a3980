/**
 * # nat
 *
 * Open tunnel mode: inner IPv4 packets from clients to destinations no client route covers leave
 * the server source-NATed to `address` (normally the anycast address), through the TUN `device`;
 * replies come back through the same TUN and are mapped to the client. Packets to the TUN are
 * written once per event-loop turn, a run of one UDP flow as one packet (src/tun-batch.ts). UDP, TCP and ICMP echo;
 * checksums fixed incrementally. ICMP errors about a NATed packet (fragmentation needed, time
 * exceeded, unreachable) are mapped back to its client too (RFC 5508), so path MTU discovery and
 * traceroute work through the NAT (counted in-icmp-errors). Bindings are synced to every server of the anycast group (table
 * "nat"), so replies that land on another server still reach the client and a TCP connection
 * through the NAT survives a route flip. Details of mapping, filtering, port slices and timeouts:
 * table.ts (this folder). IP fragments are not NATed.
 *
 * IPv6 (NAT66) with `address6`: a client's IPv6 UDP, TCP and ICMPv6 echo leave with the source
 * `address6` (the anycast IPv6 address), with the same mapping, filtering, timeouts, per-client
 * limits, port slices (their own pool) and synced bindings (table "nat6") as IPv4; ICMPv6 errors
 * (packet too big, unreachable, time exceeded) are mapped back like ICMP ones. Without
 * `address6`, IPv6 goes on to the next plugin.
 *
 * Refused unless listed in `allow`: 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8,
 * 169.254.0.0/16 (link-local and cloud metadata), 172.16.0.0/12, 192.0.0.0/24, 192.168.0.0/16,
 * 198.18.0.0/15, 224.0.0.0/4, 240.0.0.0/4; for IPv6 ::/128, ::1/128, 64:ff9b:1::/48, 100::/64,
 * 2001:db8::/32, fc00::/7, fe80::/10, ff00::/8 and the IPv4-mapped and -compatible forms of the
 * IPv4 list (src/net/special.ts); the server's own addresses and a fleet server's service ports
 * (ctx.own, src/net/own.ts) — plus anything in `deny`. `allow` and `deny` take IPv4 and IPv6
 * prefixes. Refusals are counted (relay_drops_total{reason="nat-refused"}).
 *
 * Kernel setup (src/capture.ts has the exact commands): with `setup: "auto"` the plugin applies
 * it and removes it on stop (with workers: worker 0 does, the others share its TUN, one queue
 * each, and replies the kernel steers to another worker's queue are mapped there from the synced
 * bindings); with "check" it refuses to start and lists what is missing. With
 * `icmp: true` every ICMP packet to `address` goes to the NAT, so the address no longer answers
 * pings itself.
 *
 * Options:
 *   address                NAT source address for IPv4; none: IPv4 goes to the next plugin
 *   address6               NAT source address for IPv6 (NAT66); none: IPv6 goes to the next plugin
 *                          (one of the two is required)
 *   device                 TUN name (default "relay-nat")
 *   ports                  "LO-HI" external ports (default "20000-59999"), cut into `slices`
 *   slices                 port slices (default 16): each member of the group (each worker of each
 *                          server) allocates from its own, claimed through sync (src/sync/slices.ts)
 *   icmp                   NAT ICMP echo (default true)
 *   allow, deny            CIDR lists (see above)
 *   maxBindingsPerClient   default 4096
 *   maxSliceShare          the part of this server's port slice one client may hold (default 0.25:
 *                          with the default ports 625 of 2500, so one client cannot take them all)
 *   timeouts               seconds: { udp: 300, tcpEstablished: 7440, tcpTransitory: 240, icmp: 60 }
 *   setup                  "auto" (default) or "check"
 *   table, rulePref        routing table and rule preference used by the setup (150, 50)
 *
 * Example: { "use": "nat", "address": "192.0.2.53" } after { "use": "routes" }.
 */
import * as v from "valibot";
import {
  cidr,
  interfaceName,
  newIpView,
  parseL4,
  portRange,
  PROTO_TCP,
  u32At,
  type Conn,
} from "../../src/plugin-sdk.ts";
import { parseCidr, parseIp, type Prefix } from "../../src/net/addr.ts";
import { PrefixTable } from "../../src/net/lpm.ts";
import { FIN, RST } from "../../src/tcp/segment.ts";
import { openCapture } from "../../src/capture.ts";
import { NatTable, SLICES, type Binding, type NatAddr } from "./table.ts";
import { errorBinding, inPrefix, ipv4Side, ipv6Side, unhex, type Side } from "./side.ts";
import { MAX_SLICES } from "../../src/sync/slices.ts";
import { REFUSED_V4, REFUSED_V6 } from "../../src/net/special.ts";
import { CONSUMED, definePlugin, drop, NEXT, type Verdict } from "../../src/pipeline.ts";
import type { IpError } from "../../src/net/ip.ts";

/** Destinations refused unless `allow` lists them. */
export const REFUSED = [...REFUSED_V4, ...REFUSED_V6];
const seconds = (d: number) => v.optional(v.pipe(v.number(), v.minValue(1), v.maxValue(86400)), d);

const Fields = v.strictObject({
  address: v.optional(
    v.pipe(
      v.string(),
      v.check((s) => parseIp(s)?.length === 4, "expected an IPv4 address"),
    ),
  ),
  address6: v.optional(
    v.pipe(
      v.string(),
      v.check((s) => parseIp(s)?.length === 16, "expected an IPv6 address"),
    ),
  ),
  device: v.optional(interfaceName, "relay-nat"),
  ports: v.optional(portRange(16 * 16), "20000-59999"),
  slices: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_SLICES)), SLICES),
  icmp: v.optional(v.boolean(), true),
  allow: v.optional(v.array(cidr()), []),
  deny: v.optional(v.array(cidr()), []),
  maxBindingsPerClient: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 4096),
  maxSliceShare: v.optional(v.pipe(v.number(), v.minValue(0.001), v.maxValue(1)), 0.25),
  timeouts: v.optional(
    v.strictObject({
      udp: seconds(300),
      tcpEstablished: seconds(7440),
      tcpTransitory: seconds(240),
      icmp: seconds(60),
    }),
    {},
  ),
  setup: v.optional(v.picklist(["auto", "check"]), "auto"),
  table: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(252)), 150),
  rulePref: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(30000)), 50),
});
const Options = v.pipe(
  Fields,
  // also when other keys are wrong (untyped), so one report names every problem
  v.rawCheck(({ dataset, addIssue }) => {
    const o = dataset.value as Record<string, unknown> | null;
    if (typeof o !== "object" || o === null || o.address !== undefined || o.address6 !== undefined) return;
    addIssue({
      message: "missing: give address (IPv4), address6 (IPv6) or both, the NAT source addresses",
      path: [{ type: "object", origin: "value", input: o, key: "address", value: undefined }],
    });
  }),
);

export default definePlugin({
  name: "nat",
  options: Options,
  ports(opts) {
    const [lo, hi] = opts.ports.split("-").map(Number) as [number, number];
    return addressesOf(opts).map((address) => ({
      address,
      protos: ["udp", "tcp"] as ("udp" | "tcp")[],
      from: lo,
      to: hi,
    }));
  },
  create(ctx, opts) {
    const [plo, phi] = opts.ports.split("-").map(Number) as [number, number];
    if (phi - plo + 1 < opts.slices * 16)
      throw new Error(`ports ${opts.ports}: ${opts.slices} slices need at least ${opts.slices * 16} ports`);
    const natIp = opts.address === undefined ? null : u32At(parseIp(opts.address)!, 0);
    const nat6 = opts.address6 === undefined ? null : parseIp(opts.address6)!;
    const ports = opts.ports.split("-").map(Number) as [number, number];
    // Destination policy: true = refused. allow beats the defaults; deny beats allow (longest match wins first).
    const policy = new PrefixTable<boolean>();
    const prefix = (s: string): Prefix => parseCidr(s, true);
    for (const r of REFUSED) policy.set(prefix(r), true);
    const allowed = new PrefixTable<true>();
    for (const r of opts.allow) {
      policy.set(prefix(r), false);
      allowed.set(prefix(r), true);
    }
    for (const r of opts.deny) policy.set(prefix(r), true);

    // The TUN and its policy rules (src/capture.ts); with workers one queue each, worker 0's setup.
    const tun = openCapture({
      dev: opts.device,
      targets: addressesOf(opts).map((address) => ({
        address,
        ports,
        protos: ["tcp", "udp"] as ("tcp" | "udp")[],
        icmp: opts.icmp,
      })),
      setup: opts.setup,
      table: opts.table,
      pref: opts.rulePref,
      worker: ctx.worker,
      batch: true,
    });

    // A binding from a peer: its client is one of ours and its inner address lies in that
    // client's configured routes (as sourceCheck demands of the packets that make bindings).
    const accept = (b: Binding) => {
      const c = ctx.conns.get(b.mux);
      const ip =
        typeof b.ip === "number"
          ? Uint8Array.of(b.ip >>> 24, (b.ip >>> 16) & 255, (b.ip >>> 8) & 255, b.ip & 255)
          : unhex(b.ip);
      return c !== undefined && c.routes.some((r) => r.addr.length === ip.length && inPrefix(r, ip));
    };
    const newTable = <A extends NatAddr>(family: 4 | 6) =>
      new NatTable<A>(
        ctx.sync,
        ctx.node,
        ports,
        opts.timeouts,
        opts.maxBindingsPerClient,
        opts.maxSliceShare,
        accept,
        ctx.member,
        opts.slices,
        (msg, fields) => ctx.log.warn(msg, fields),
        family,
      );
    const v4 = natIp === null ? null : ipv4Side(newTable<number>(4), natIp);
    const v6 = nat6 === null ? null : ipv6Side(newTable<string>(6), nat6);
    const c = {
      out: ctx.counter("out"),
      in: ctx.counter("in"),
      created: ctx.counter("bindings-created"),
      filtered: ctx.counter("in-filtered"),
      noBinding: ctx.counter("in-no-binding"),
      badIn: ctx.counter("in-malformed"),
      unsolicited: ctx.counter("in-unsolicited"),
      tunFull: ctx.counter("tun-write-failed"),
      icmpErrors: ctx.counter("in-icmp-errors"),
    };
    const fOut = newIpView();
    const fIn = newIpView();
    const fQ = newIpView();

    // A reply from the world: mapped to the client of its binding, from the peers it sent to only.
    function inbound<A extends NatAddr>(side: Side<A>, pkt: Uint8Array, err: IpError | null): void {
      if (err === "icmp-type") return icmpError(side, pkt);
      if (err !== null) return c.badIn.inc();
      if (fIn.proto === side.icmp && fIn.kind !== side.echoReply) return c.unsolicited.inc();
      const b = side.table.inbound(fIn.proto, fIn.dport);
      if (b === undefined) return c.noBinding.inc();
      if (!b.peers.includes(side.addr(pkt, fIn.srcOff))) return c.filtered.inc();
      const conn = ctx.conns.get(b.mux);
      if (conn === undefined) return c.noBinding.inc();
      let tcp = -1;
      if (fIn.proto === PROTO_TCP) tcp = fIn.kind & (FIN | RST) ? 2 : b.tcp === 0 ? 1 : b.tcp;
      side.table.received(b, Date.now(), tcp);
      side.in(pkt, fIn, b);
      if (ctx.send(conn, pkt)) c.in.inc();
    }
    // An ICMP error about a packet the NAT sent (fragmentation needed / packet too big,
    // unreachable, time exceeded: RFC 5508) goes to the client whose binding the quoted packet
    // used, mapped back like a reply, so path MTU discovery and traceroute work through the NAT.
    // The quoted destination must be one the binding sent to; anything else is counted and dropped.
    function icmpError<A extends NatAddr>(side: Side<A>, pkt: Uint8Array): void {
      const b = errorBinding(side, pkt, fIn, fQ);
      if (b === "unsolicited") return c.unsolicited.inc();
      if (b === "no-binding") return c.noBinding.inc();
      if (b === "filtered") return c.filtered.inc();
      const conn: Conn | undefined = ctx.conns.get(b.mux);
      if (conn === undefined) return c.noBinding.inc();
      side.mapQuoted(pkt, fIn, fQ, b);
      if (ctx.send(conn, pkt)) c.icmpErrors.inc();
    }
    tun.start((pkt) => {
      const err = parseL4(pkt, fIn);
      if (err === "short" || err === "version") return c.badIn.inc();
      const side = fIn.family === 4 ? v4 : v6;
      if (side === null) return c.badIn.inc();
      inbound<NatAddr>(side as Side<NatAddr>, pkt, err);
    });
    const sweep = setInterval(() => {
      v4?.table.sweep(Date.now());
      v6?.table.sweep(Date.now());
    }, 5000);
    (sweep as unknown as { unref?: () => void }).unref?.();
    const sliceOf = (t: NatTable<NatAddr>) => `${t.sliceStart}-${t.sliceStart + t.sliceSize - 1}`;
    ctx.log.notice("NAT ready", {
      ...(opts.address === undefined ? {} : { address: opts.address }),
      ...(opts.address6 === undefined ? {} : { address6: opts.address6 }),
      device: tun.name,
      ports: sliceOf((v4 ?? v6)!.table as NatTable<NatAddr>),
      setup: opts.setup,
    });

    const REFUSED_V = drop("nat-refused");
    const LIMIT_V = drop("nat-limit");
    const PORTS_V = drop("nat-ports-exhausted");
    const FRAG_V = drop("nat-fragment");
    const BAD_V = drop("nat-malformed");
    const PROTO_V = drop("nat-protocol");
    const TUN_V = drop("nat-tun-write");

    function outbound<A extends NatAddr>(side: Side<A>, d: Uint8Array, mux: number, at: number): Verdict {
      const f = fOut;
      if (f.proto === side.icmp && f.kind !== side.echoRequest) return PROTO_V;
      if (policy.lookup(d, f.dstOff, side.family) === true) return REFUSED_V;
      const port = f.proto === side.icmp ? 0 : f.dport;
      if (ctx.own.refuses(d, f.dstOff, side.family, port, allowed.lookup(d, f.dstOff, side.family) === true, at))
        return REFUSED_V;
      const now = Date.now();
      const src = side.addr(d, f.srcOff);
      let b = side.table.outbound(f.proto, mux, src, f.sport);
      if (b === undefined) {
        const made = side.table.create(f.proto, mux, src, f.sport, now);
        if (made === "limit") return LIMIT_V;
        if (made === "ports") return PORTS_V;
        b = made;
        c.created.inc();
      }
      if (f.proto === PROTO_TCP && f.kind & (FIN | RST)) side.table.setTcp(b, 2);
      side.table.sent(b, side.addr(d, f.dstOff), now);
      side.out(d, f, b);
      if (!tun.queue(d)) {
        c.tunFull.inc();
        return TUN_V;
      }
      c.out.inc();
      return CONSUMED;
    }

    return {
      handle(p) {
        const d = p.data;
        const err = parseL4(d, fOut);
        if (err === "version") return NEXT;
        const side = fOut.family === 4 ? v4 : v6;
        if (side === null) return NEXT; // a family without its NAT address: not NATed here
        if (err !== null) return err === "fragment" ? FRAG_V : err === "short" || err === "length" ? BAD_V : PROTO_V;
        return outbound<NatAddr>(side as Side<NatAddr>, d, p.from.mux, p.now);
      },
      stop() {
        clearInterval(sweep);
        v4?.table.slices.stop();
        v6?.table.slices.stop();
        tun.close();
      },
      describe() {
        const perClient: Record<string, number> = {};
        const all = [...(v4?.table.all() ?? []), ...(v6?.table.all() ?? [])];
        for (const b of all) perClient[b.mux] = (perClient[b.mux] ?? 0) + 1;
        return {
          ...(opts.address === undefined ? {} : { address: opts.address }),
          ...(opts.address6 === undefined ? {} : { address6: opts.address6 }),
          device: tun.name,
          ...(v4 === null
            ? {}
            : {
                slice: [v4.table.sliceStart, v4.table.sliceStart + v4.table.sliceSize - 1],
                sliceIndex: v4.table.slices.index,
                sliceMoves: v4.table.slices.moves,
              }),
          ...(v6 === null
            ? {}
            : {
                slice6: [v6.table.sliceStart, v6.table.sliceStart + v6.table.sliceSize - 1],
                bindings6: v6.table.size,
              }),
          bindings: v4?.table.size ?? 0,
          perClient,
          created: (v4?.table.created ?? 0) + (v6?.table.created ?? 0),
          expired: (v4?.table.expired ?? 0) + (v6?.table.expired ?? 0),
          tun: tun.stats,
        };
      },
    };
  },
});

/** The NAT source addresses configured (IPv4, IPv6). */
function addressesOf(o: { address?: string | undefined; address6?: string | undefined }): string[] {
  return [o.address, o.address6].filter((a): a is string => a !== undefined);
}
