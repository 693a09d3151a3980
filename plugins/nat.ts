/**
 * # nat
 *
 * Open tunnel mode: inner IPv4 packets from clients to destinations no client route covers leave
 * the server source-NATed to `address` (normally the anycast address), through the TUN `device`;
 * replies come back through the same TUN and are mapped to the client. UDP, TCP and ICMP echo;
 * checksums fixed incrementally. Bindings are synced to every server of the anycast group (table
 * "nat"), so replies that land on another server still reach the client and a TCP connection
 * through the NAT survives a route flip. Details of mapping, filtering, port slices and timeouts:
 * src/nat/table.ts. IPv6 is not NATed (passed to the next plugin); neither are IP fragments.
 *
 * Refused unless listed in `allow`: 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8,
 * 169.254.0.0/16 (link-local and cloud metadata), 172.16.0.0/12, 192.0.0.0/24, 192.168.0.0/16,
 * 198.18.0.0/15, 224.0.0.0/4, 240.0.0.0/4, the server's own addresses and a fleet server's
 * service ports (ctx.own, src/net/own.ts) — plus anything in `deny`. Refusals are counted
 * (relay_drops_total{reason="nat-refused"}).
 *
 * Kernel setup (src/nat/setup.ts has the exact commands): with `setup: "auto"` the plugin applies
 * it and removes it on stop; with "check" it refuses to start and lists what is missing. With
 * `icmp: true` every ICMP packet to `address` goes to the NAT, so the address no longer answers
 * pings itself.
 *
 * Options:
 *   address                NAT source address (IPv4), required
 *   device                 TUN name (default "relay-nat")
 *   ports                  "LO-HI" external ports (default "20000-59999"; 16 slices, one per sender id mod 16)
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
import { parseCidr, parseIp, type Prefix } from "../src/net/addr.ts";
import { PrefixTable } from "../src/net/lpm.ts";
import { newFlow, parseFlow, PROTO_ICMP, PROTO_TCP, rewrite, TCP_FIN, TCP_RST } from "../src/net/rewrite.ts";
import { applyNatSetup, checkNatSetup } from "../src/nat/setup.ts";
import { NatTable, type Binding } from "../src/nat/table.ts";
import { REFUSED_V4 } from "../src/net/special.ts";
import { CONSUMED, definePlugin, drop, NEXT } from "../src/pipeline.ts";
import { configureLink, openTun } from "../src/tun.ts";

/** Destinations refused unless `allow` lists them (IPv4: this NAT is IPv4 only). */
export const REFUSED = REFUSED_V4;

const cidr4 = v.pipe(
  v.string(),
  v.rawCheck<string>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    try {
      if (parseCidr(dataset.value, true).addr.length !== 4) addIssue({ message: "expected an IPv4 prefix" });
    } catch (e) {
      addIssue({ message: (e as Error).message });
    }
  }),
);
const seconds = (d: number) => v.optional(v.pipe(v.number(), v.minValue(1), v.maxValue(86400)), d);

const Options = v.strictObject({
  address: v.pipe(
    v.string(),
    v.check((s) => parseIp(s)?.length === 4, "expected an IPv4 address"),
  ),
  device: v.optional(
    v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,15}$/, "1..15 chars of [A-Za-z0-9_.-]")),
    "relay-nat",
  ),
  ports: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,5}-\d{1,5}$/, 'expected "LO-HI"'),
      v.check((s) => {
        const [lo, hi] = s.split("-").map(Number) as [number, number];
        return lo >= 1024 && hi <= 65535 && hi - lo + 1 >= 16 * 16;
      }, "expected 1024 <= LO, HI <= 65535 and at least 256 ports"),
    ),
    "20000-59999",
  ),
  icmp: v.optional(v.boolean(), true),
  allow: v.optional(v.array(cidr4), []),
  deny: v.optional(v.array(cidr4), []),
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

export default definePlugin({
  name: "nat",
  options: Options,
  ports(opts) {
    const [lo, hi] = opts.ports.split("-").map(Number) as [number, number];
    return [{ address: opts.address, protos: ["udp", "tcp"], from: lo, to: hi }];
  },
  create(ctx, opts) {
    const natIp = ((b) => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0)(parseIp(opts.address)!);
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

    const tun = openTun({ name: opts.device });
    let undo: (() => void) | null = null;
    try {
      configureLink(tun.name, { mtu: 1500, up: true });
      const plan = {
        dev: tun.name,
        address: opts.address,
        ports,
        icmp: opts.icmp,
        table: opts.table,
        pref: opts.rulePref,
      };
      if (opts.setup === "auto") undo = applyNatSetup(plan);
      const missing = checkNatSetup(plan);
      if (missing.length) throw new Error(`kernel setup incomplete; run:\n  ${missing.join("\n  ")}`);
    } catch (e) {
      undo?.();
      tun.close();
      throw e;
    }

    // A binding from a peer: its client is one of ours and its inner address lies in that
    // client's configured routes (as sourceCheck demands of the packets that make bindings).
    const accept = (b: Binding) => {
      const c = ctx.conns.get(b.mux);
      return c !== undefined && c.routes.some((r) => r.addr.length === 4 && inPrefix4(r, b.ip));
    };
    const table = new NatTable(
      ctx.sync,
      ctx.node,
      ports,
      opts.timeouts,
      opts.maxBindingsPerClient,
      opts.maxSliceShare,
      accept,
    );
    const c = {
      out: ctx.counter("out"),
      in: ctx.counter("in"),
      created: ctx.counter("bindings-created"),
      filtered: ctx.counter("in-filtered"),
      noBinding: ctx.counter("in-no-binding"),
      badIn: ctx.counter("in-malformed"),
      unsolicited: ctx.counter("in-unsolicited"),
      tunFull: ctx.counter("tun-write-failed"),
    };
    const fOut = newFlow();
    const fIn = newFlow();

    tun.start((pkt) => {
      if (parseFlow(pkt, fIn) !== null) return c.badIn.inc();
      if (fIn.proto === PROTO_ICMP && fIn.kind !== 0) return c.unsolicited.inc();
      const b = table.inbound(fIn.proto, fIn.dport);
      if (b === undefined) return c.noBinding.inc();
      if (!b.peers.includes(fIn.src)) return c.filtered.inc();
      const conn = ctx.conns.get(b.mux);
      if (conn === undefined) return c.noBinding.inc();
      let tcp = -1;
      if (fIn.proto === PROTO_TCP) tcp = fIn.kind & (TCP_FIN | TCP_RST) ? 2 : b.tcp === 0 ? 1 : b.tcp;
      table.received(b, Date.now(), tcp);
      rewrite(pkt, fIn, 16, b.ip, b.port);
      if (ctx.send(conn, pkt)) c.in.inc();
    });
    const sweep = setInterval(() => table.sweep(Date.now()), 5000);
    (sweep as unknown as { unref?: () => void }).unref?.();
    ctx.log.notice("NAT ready", {
      address: opts.address,
      device: tun.name,
      ports: `${table.sliceStart}-${table.sliceStart + table.sliceSize - 1}`,
      setup: opts.setup,
    });

    const REFUSED_V = drop("nat-refused");
    const LIMIT_V = drop("nat-limit");
    const PORTS_V = drop("nat-ports-exhausted");
    const FRAG_V = drop("nat-fragment");
    const BAD_V = drop("nat-malformed");
    const PROTO_V = drop("nat-protocol");
    const TUN_V = drop("nat-tun-write");

    return {
      handle(p) {
        const d = p.data;
        const err = parseFlow(d, fOut);
        if (err !== null) {
          if (err === "not-ipv4") return NEXT;
          return err === "fragment" ? FRAG_V : err === "short" ? BAD_V : PROTO_V;
        }
        if (fOut.proto === PROTO_ICMP && fOut.kind !== 8) return PROTO_V;
        if (policy.lookup(d, 16, 4) === true) return REFUSED_V;
        const port = fOut.proto === PROTO_ICMP ? 0 : fOut.dport;
        if (ctx.own.refuses(d, 16, 4, port, allowed.lookup(d, 16, 4) === true, p.now)) return REFUSED_V;
        const now = Date.now();
        let b = table.outbound(fOut.proto, p.from.mux, fOut.src, fOut.sport);
        if (b === undefined) {
          const made = table.create(fOut.proto, p.from.mux, fOut.src, fOut.sport, now);
          if (made === "limit") return LIMIT_V;
          if (made === "ports") return PORTS_V;
          b = made;
          c.created.inc();
        }
        if (fOut.proto === PROTO_TCP && fOut.kind & (TCP_FIN | TCP_RST)) table.setTcp(b, 2);
        table.sent(b, fOut.dst, now);
        rewrite(d, fOut, 12, natIp, b.ext);
        if (!tun.write(d)) {
          c.tunFull.inc();
          return TUN_V;
        }
        c.out.inc();
        return CONSUMED;
      },
      stop() {
        clearInterval(sweep);
        tun.close();
        undo?.();
      },
      describe() {
        const perClient: Record<string, number> = {};
        for (const b of table.all()) perClient[b.mux] = (perClient[b.mux] ?? 0) + 1;
        return {
          address: opts.address,
          device: tun.name,
          slice: [table.sliceStart, table.sliceStart + table.sliceSize - 1],
          bindings: table.size,
          perClient,
          created: table.created,
          expired: table.expired,
          tun: tun.stats,
        };
      },
    };
  },
});

/** Is the IPv4 address `ip` (u32) inside prefix `p`? */
function inPrefix4(p: Prefix, ip: number): boolean {
  if (p.len === 0) return true;
  const net = ((p.addr[0]! << 24) | (p.addr[1]! << 16) | (p.addr[2]! << 8) | p.addr[3]!) >>> 0;
  const mask = p.len === 32 ? 0xffffffff : (~(0xffffffff >>> p.len) >>> 0) >>> 0;
  return (ip & mask) >>> 0 === (net & mask) >>> 0;
}
