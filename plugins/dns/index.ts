/**
 * # dns
 *
 * An authoritative DNS responder inside the tunnel: UDP queries from clients to one of the
 * service addresses in `address`, port 53, are answered by the server itself from the zones in
 * the options (list it before `routes`). The answers depend on the config only (static TTLs, no
 * clock, no randomness), so every server of an anycast group answers a query byte for byte alike.
 *
 * - Records: A, AAAA, CNAME, TXT, PTR, SRV, MX; SOA and NS at each zone's apex. Owner names and
 *   targets are relative to the zone unless they end in "." or already end in the zone's name;
 *   "@" is the apex. Targets outside the zone need the trailing dot ("mail.example.com.").
 *   Matching is case-insensitive; the question is echoed in the case it was asked. No wildcards,
 *   no delegations (NS only at the apex), no DNSSEC.
 * - Answers are authoritative (AA): the records of the name and type; a CNAME is followed inside
 *   its zone (up to 8 links, each CNAME and the target's records in the answer); NS, MX and SRV
 *   answers carry A/AAAA of in-zone targets as additional records when they fit.
 * - NXDOMAIN (SOA in the authority section) for names of a zone that do not exist; NODATA
 *   (NOERROR, SOA in authority) for names that exist without records of the asked type, and for
 *   empty non-terminals (b.example.test when only a.b.example.test exists). The SOA's TTL there
 *   is min(zone ttl, soa.minimum) (RFC 2308).
 * - ANY (RFC 8482): one RRset, not all: SOA at the apex, else the name's first configured type.
 * - Names outside every zone (and classes other than IN): REFUSED, or with `outside: "next"`
 *   the packet goes on to the next plugin (e.g. `local` towards a real resolver). Zone
 *   transfers (AXFR/IXFR) are refused.
 * - EDNS0: a query's OPT is honoured (answers up to min(its payload size, 1232) bytes, an OPT in
 *   the response, DO copied); EDNS versions other than 0 get BADVERS. Without EDNS answers are up
 *   to 512 bytes. An answer that does not fit is sent with TC set and no records (additional
 *   records are left out first, without TC).
 * - Malformed queries: a message with a readable 12-byte header gets FORMERR (same id, no
 *   sections); other opcodes than QUERY get NOTIMP; shorter messages are dropped
 *   (relay_drops_total{reason="dns-malformed"}). Messages with QR set are never answered
 *   ("dns-response"); packets with bad IPv4 header or UDP checksums are dropped ("dns-checksum").
 * - TCP (RFC 7766): with `tcp: "answer"` (default) the responder terminates TCP on port 53 of its
 *   service addresses with the userspace TCP endpoint (plugins/dns/tcp.ts): length-prefixed
 *   messages, several on one connection (pipelined too), answered in order exactly as over UDP
 *   but up to 8192 bytes whatever EDNS says (so a TC answer over UDP comes whole over TCP); names
 *   outside the zones are REFUSED over TCP even with `outside: "next"`. Bounded: at most
 *   `tcpConnections` connections (`tcpPerClient` per tunnel client; a SYN over either gets a RST,
 *   tcp-refused), `tcpBytes` of queries and of unacknowledged answers per connection (a longer
 *   message: RST, tcp-oversize), closed (FIN) after `tcpIdleMs` without a query and reset if
 *   still open `tcpIdleMs` later (tcp-idle). Connections are not synced: after a route flip the
 *   next segment gets a RST from the other server and the client's next query connects there.
 *   With `tcp: "reset"` a TCP segment to port 53 is answered with a reset (a client falling back
 *   to TCP learns at once that the port is closed); with `tcp: "next"` it goes to the next plugin.
 * - Everything else sent to a service address (other ports, ICMP, IPv4 fragments, IPv6 with
 *   extension headers) goes on to the next plugin.
 *
 * Counted on /metrics (relay_plugin_events_total{plugin="dns",event=...}): answered, nodata,
 * nxdomain, refused, formerr, notimp, badvers, truncated, outside (passed on), tcp-reset,
 * tcp-accepted, tcp-closed (accepted - closed = open; with workers the bounds are per worker, and a
 * client's packets all reach one worker), tcp-refused, tcp-queries, tcp-oversize, tcp-idle.
 *
 * Options:
 *   address   service addresses this responder owns (IPv4 and/or IPv6), required
 *   zones     [{ name, ttl?: 300, soa?: { mname?, rname?, serial?: 1, refresh?: 3600,
 *               retry?: 600, expire?: 604800, minimum?: 60 }, ns?: [names] (default ["ns"]),
 *               records: [{ name, type, ttl?, ...data }] }]
 *             data by type: A/AAAA { value: address }, CNAME/PTR { value: name },
 *             TXT { value: string | [strings] } (strings over 255 bytes are split),
 *             MX { preference, exchange }, SRV { priority, weight, port, target }
 *             soa.mname defaults to the first ns, soa.rname to "hostmaster" in the zone
 *             ("user@domain" is accepted for rname)
 *   outside   "refused" (default) | "next"
 *   tcp       "answer" (default) | "reset" | "next"
 *   tcpConnections  connections at most, 256; tcpPerClient  per tunnel client, 32
 *   tcpBytes  per connection, of queries and of answers not yet acknowledged, 16384 (514..65537)
 *   tcpIdleMs  idle timeout, 10000
 *
 * Example:
 *   { "use": "dns", "address": ["10.99.0.53"], "zones": [{ "name": "example.test", "records": [
 *       { "name": "www", "type": "A", "value": "10.99.0.10" },
 *       { "name": "web", "type": "CNAME", "value": "www" } ] }] },
 *   { "use": "routes" }
 */
import * as v from "valibot";
import { checksumsOk, newIpView, parseL4, PROTO_TCP, PROTO_UDP } from "../../src/plugin-sdk.ts";
import { isIPv4 } from "node:net";
import { Responder } from "./answer.ts";
import { compileZones } from "./zone.ts";
import { parseIp } from "../../src/net/addr.ts";
import { buildUdpReply } from "../../src/net/ip.ts";
import { buildReset, parsePacket } from "../../src/tcp/segment.ts";
import { DNS_TCP_EVENTS, DnsTcp, type DnsTcpEvent } from "./tcp.ts";
import type { Conn } from "../../src/plugin-sdk.ts";
import { CONSUMED, definePlugin, drop, NEXT, type Counter, type Verdict } from "../../src/pipeline.ts";

// ---- options ------------------------------------------------------------------------------------

const LABEL = /^[A-Za-z0-9_-]{1,63}$/;

/** Why `s` is not a domain name as config text ("@" allowed when `at`); null when it is one. */
function nameProblem(s: string, at: boolean): string | null {
  if (at && s === "@") return null;
  const t = s.endsWith(".") ? s.slice(0, -1) : s;
  if (t === "") return "expected a domain name";
  if (t.length > 253) return "name longer than 253 characters";
  for (const l of t.split("."))
    if (!LABEL.test(l)) return `label "${l}" is not 1..63 letters, digits, "-" or "_" (no wildcards)`;
  return null;
}

const nameSchema = (at: boolean) =>
  v.pipe(
    v.string(),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const p = nameProblem(dataset.value, at);
      if (p !== null) addIssue({ message: p });
    }),
  );
const Name = nameSchema(true);
const Rname = v.pipe(
  v.string(),
  v.rawCheck<string>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const s = dataset.value;
    const at = s.indexOf("@");
    const p =
      at > 0
        ? LABEL.test(s.slice(0, at))
          ? nameProblem(s.slice(at + 1), false)
          : "the part before @ must be 1..63 letters, digits, - or _"
        : nameProblem(s, true);
    if (p !== null) addIssue({ message: p });
  }),
);
const int = (lo: number, hi: number) => v.pipe(v.number(), v.integer(), v.minValue(lo), v.maxValue(hi));
const Ttl = int(0, 2147483647);
const U16 = int(0, 65535);
const U32 = int(0, 4294967295);
const Ipv4 = v.pipe(
  v.string(),
  v.check((s) => isIPv4(s), "expected an IPv4 address"),
);
const Ipv6 = v.pipe(
  v.string(),
  v.check((s) => !isIPv4(s) && parseIp(s)?.length === 16, "expected an IPv6 address"),
);
const Ip = v.pipe(
  v.string(),
  v.check((s) => parseIp(s) !== null, "expected an IPv4 or IPv6 address"),
);

const common = { name: Name, ttl: v.optional(Ttl) };
const Record = v.variant("type", [
  v.strictObject({ ...common, type: v.literal("A"), value: Ipv4 }),
  v.strictObject({ ...common, type: v.literal("AAAA"), value: Ipv6 }),
  v.strictObject({ ...common, type: v.literal("CNAME"), value: Name }),
  v.strictObject({ ...common, type: v.literal("PTR"), value: Name }),
  v.strictObject({
    ...common,
    type: v.literal("TXT"),
    value: v.union([v.string(), v.pipe(v.array(v.string()), v.minLength(1, "give at least one string"))]),
  }),
  v.strictObject({ ...common, type: v.literal("MX"), preference: U16, exchange: Name }),
  v.strictObject({ ...common, type: v.literal("SRV"), priority: U16, weight: U16, port: U16, target: Name }),
]);

const Zone = v.strictObject({
  name: nameSchema(false),
  ttl: v.optional(Ttl, 300),
  soa: v.optional(
    v.strictObject({
      mname: v.optional(Name),
      rname: v.optional(Rname),
      serial: v.optional(U32, 1),
      refresh: v.optional(U32, 3600),
      retry: v.optional(U32, 600),
      expire: v.optional(U32, 604800),
      minimum: v.optional(U32, 60),
    }),
    {},
  ),
  ns: v.optional(v.pipe(v.array(Name), v.minLength(1, "give at least one name server")), ["ns"]),
  records: v.optional(v.array(Record), []),
});

const Fields = v.strictObject({
  address: v.pipe(v.array(Ip), v.minLength(1, "give at least one service address")),
  zones: v.pipe(v.array(Zone), v.minLength(1, "give at least one zone")),
  outside: v.optional(v.picklist(["refused", "next"]), "refused"),
  tcp: v.optional(v.picklist(["answer", "reset", "next"]), "answer"),
  tcpConnections: v.optional(int(1, 100000), 256),
  tcpPerClient: v.optional(int(1, 100000), 32),
  tcpBytes: v.optional(int(514, 65537), 16384),
  tcpIdleMs: v.optional(int(100, 600000), 10000),
});
export type DnsOptions = v.InferOutput<typeof Fields>;

/** A valibot issue path to obj[keys[0]][keys[1]]... (so errors read plugins.N.zones.0.records.3.value). */
function issuePath(obj: unknown, keys: readonly (string | number)[]): [v.IssuePathItem, ...v.IssuePathItem[]] {
  const out: v.IssuePathItem[] = [];
  let cur = obj as Record<string | number, unknown>;
  for (const key of keys) {
    const value = cur?.[key];
    out.push(
      (Array.isArray(cur)
        ? { type: "array", origin: "value", input: cur, key, value }
        : { type: "object", origin: "value", input: cur, key, value }) as v.IssuePathItem,
    );
    cur = value as Record<string | number, unknown>;
  }
  return out as [v.IssuePathItem, ...v.IssuePathItem[]];
}

const Options = v.pipe(
  Fields,
  v.rawCheck<DnsOptions>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const p of compileZones(dataset.value.zones).problems)
      addIssue({ message: p.message, path: issuePath(dataset.value, ["zones", ...p.path]) });
  }),
);

// ---- the plugin ---------------------------------------------------------------------------------

const COUNTED = ["answered", "nodata", "nxdomain", "refused", "formerr", "notimp", "badvers"] as const;

export default definePlugin({
  name: "dns",
  options: Options,
  create(ctx, opts) {
    const { zones, problems } = compileZones(opts.zones);
    if (problems.length > 0) throw new Error(problems.map((p) => `zones.${p.path.join(".")}: ${p.message}`).join("; "));
    const responder = new Responder(zones, opts.outside === "next");
    const tcpNext = opts.tcp === "next";
    // over TCP a name outside the zones is REFUSED: a stream cannot be handed to the next plugin
    const streamResponder = new Responder(zones, false, true);

    // service addresses: IPv4 as u32, IPv6 as 16 bytes
    const v4 = new Set<number>();
    const v6: Uint8Array[] = [];
    for (const s of opts.address) {
      const a = parseIp(s)!;
      if (a.length === 4) v4.add(((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0);
      else v6.push(a);
    }
    const ours = (d: Uint8Array): boolean => {
      const ver = d.length > 0 ? d[0]! >>> 4 : 0;
      if (ver === 4 && d.length >= 20) return v4.has(((d[16]! << 24) | (d[17]! << 16) | (d[18]! << 8) | d[19]!) >>> 0);
      if (ver !== 6 || d.length < 40) return false;
      next: for (const a of v6) {
        for (let i = 0; i < 16; i++) if (d[24 + i] !== a[i]) continue next;
        return true;
      }
      return false;
    };

    const counters = Object.fromEntries(COUNTED.map((o) => [o, ctx.counter(o)])) as Record<
      (typeof COUNTED)[number],
      Counter
    >;
    const truncated = ctx.counter("truncated");
    const outside = ctx.counter("outside");
    const tcpEvents = Object.fromEntries(DNS_TCP_EVENTS.map((e) => [e, ctx.counter(e)])) as Record<
      DnsTcpEvent,
      Counter
    >;
    const MALFORMED = drop("dns-malformed");
    const RESPONSE = drop("dns-response");
    const CHECKSUM = drop("dns-checksum");
    const f = newIpView();
    const tcp = new DnsTcp<Conn>(
      {
        maxConnections: opts.tcpConnections,
        perClient: opts.tcpPerClient,
        maxBytes: opts.tcpBytes,
        idleMs: opts.tcpIdleMs,
      },
      {
        answer(msg) {
          const o = streamResponder.respond(msg);
          if (o === "malformed" || o === "response" || o === "outside") return null;
          counters[o].inc();
          if (streamResponder.truncated) truncated.inc();
          return streamResponder.writer.buf.subarray(0, streamResponder.length);
        },
        send: (to, pkt) => ctx.send(to, pkt),
        reset: (pkt) => buildReset(pkt, f), // f: the view handle() filled for this very packet
        count: (e) => tcpEvents[e].inc(),
        iss: () => crypto.getRandomValues(new Uint32Array(1))[0]!,
      },
    );
    const timer = opts.tcp === "answer" ? setInterval(() => tcp.tick(performance.now()), 50) : null;

    ctx.log.info("dns responder ready", {
      address: opts.address.join(","),
      zones: zones.map((z) => z.key).join(","),
    });

    return {
      handle(p): Verdict {
        const d = p.data;
        if (!ours(d) || parseL4(d, f) !== null || f.dport !== 53 || (f.proto !== PROTO_UDP && f.proto !== PROTO_TCP))
          return NEXT;
        if (f.proto === PROTO_TCP) {
          if (tcpNext) return NEXT;
          if (!checksumsOk(d, f)) return CHECKSUM;
          if (opts.tcp === "answer") {
            const seg = parsePacket(d, f);
            if (seg === null) return MALFORMED; // bad TCP options
            tcp.segment(p.from, seg, d, p.now);
            return CONSUMED;
          }
          const rst = buildReset(d, f);
          if (rst === null) return CONSUMED; // a reset to a closed port: nothing to say
          tcpEvents["tcp-reset"].inc();
          return { kind: "reply", data: rst };
        }
        if (!checksumsOk(d, f)) return CHECKSUM;
        const o = responder.respond(d.subarray(f.payload, f.end));
        switch (o) {
          case "malformed":
            return MALFORMED;
          case "response":
            return RESPONSE;
          case "outside":
            outside.inc();
            return NEXT;
          default:
            counters[o].inc();
        }
        if (responder.truncated) truncated.inc();
        return { kind: "reply", data: buildUdpReply(d, f, responder.writer.buf, responder.length) };
      },
      stop() {
        if (timer !== null) clearInterval(timer);
        tcp.stop();
      },
      describe() {
        return {
          address: opts.address,
          outside: opts.outside,
          tcp: opts.tcp,
          tcpConnections: opts.tcpConnections,
          tcpPerClient: opts.tcpPerClient,
          tcpBytes: opts.tcpBytes,
          tcpIdleMs: opts.tcpIdleMs,
          tcpOpen: tcp.connections,
          zones: zones.map((z) => ({
            name: z.key,
            serial: z.serial,
            ttl: z.ttl,
            records: Object.values(z.types).reduce((a, b) => a + b, 0),
            types: z.types,
          })),
        };
      },
    };
  },
});
