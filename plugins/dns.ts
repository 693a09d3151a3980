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
 * - TCP: not terminated (that needs a userspace TCP endpoint). With `tcp: "reset"` (default) a
 *   TCP segment to a service address port 53 is answered with a TCP reset, so a client that
 *   falls back to TCP (after TC, `dig +tcp`, or `dig ... ANY`, which dig 9.18 sends over TCP:
 *   add +notcp) learns at once that the port is closed instead of waiting for a timeout; with
 *   `tcp: "next"` such segments go on to the next plugin. Keep answers under 1232 bytes.
 * - Everything else sent to a service address (other ports, ICMP, IPv4 fragments, IPv6 with
 *   extension headers) goes on to the next plugin.
 *
 * Counted on /metrics (relay_plugin_events_total{plugin="dns",event=...}): answered, nodata,
 * nxdomain, refused, formerr, notimp, badvers, truncated, outside (passed on), tcp-reset.
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
 *   tcp       "reset" (default) | "next"
 *
 * Example:
 *   { "use": "dns", "address": ["10.99.0.53"], "zones": [{ "name": "example.test", "records": [
 *       { "name": "www", "type": "A", "value": "10.99.0.10" },
 *       { "name": "web", "type": "CNAME", "value": "www" } ] }] },
 *   { "use": "routes" }
 */
import * as v from "valibot";
import { isIPv4 } from "node:net";
import { parseIp } from "../src/net/addr.ts";
import {
  AA,
  ADDITIONAL,
  ANSWER,
  AUTHORITY,
  CD,
  CLASS_IN,
  dnsName,
  DnsWriter,
  newQuery,
  parseQuery,
  QR,
  RCODE,
  RD,
  TC,
  TYPE,
  type DnsName,
  type RDataPart,
} from "../src/net/dns.ts";
import { buildTcpReset, buildUdpReply, checksumsOk, newL4, parseL4, PROTO_TCP } from "../src/net/ip.ts";
import { CONSUMED, definePlugin, drop, NEXT, type Counter, type Verdict } from "../src/pipeline.ts";

/** Our UDP payload size (the DNS flag day 2020 value: fits any path without fragments). */
export const EDNS_SIZE = 1232;
const OPT_LEN = 11;
const MAX_CHAIN = 8;
const GLUE_TYPES = [TYPE.A, TYPE.AAAA];

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
type RecordOptions = v.InferOutput<typeof Record>;

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
type ZoneOptions = v.InferOutput<typeof Zone>;

const Fields = v.strictObject({
  address: v.pipe(v.array(Ip), v.minLength(1, "give at least one service address")),
  zones: v.pipe(v.array(Zone), v.minLength(1, "give at least one zone")),
  outside: v.optional(v.picklist(["refused", "next"]), "refused"),
  tcp: v.optional(v.picklist(["reset", "next"]), "reset"),
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

// ---- zones --------------------------------------------------------------------------------------

/** One RRset: records of one owner and type, one TTL. */
export interface RRset {
  readonly type: number;
  ttl: number;
  readonly rdata: RDataPart[][];
  /** In-zone names whose A/AAAA go in the additional section (NS, MX, SRV targets). */
  readonly glue: DnsName[];
}

interface ZoneNode {
  readonly name: DnsName;
  readonly sets: Map<number, RRset>;
  /** The RRset an ANY query gets (RFC 8482): the first one of the name. */
  first: number;
}

export interface CompiledZone {
  readonly key: string;
  readonly apex: DnsName;
  readonly nodes: Map<string, ZoneNode>;
  /** Empty non-terminals: names with no records but with names below them. */
  readonly ents: Set<string>;
  /** The SOA for negative answers (TTL min(zone ttl, minimum)). */
  readonly negativeSoa: RRset;
  readonly serial: number;
  readonly ttl: number;
  readonly types: Record<string, number>;
}

interface Problem {
  path: (string | number)[];
  message: string;
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(TYPE).map(([k, n]) => [n, k]));

const inZone = (key: string, zone: string) => key === zone || key.endsWith(`.${zone}`);

/** The key a config name stands for in `zone` (see the README comment for the rules). */
function resolveName(s: string, zone: string): string {
  if (s === "@") return zone;
  const lower = s.toLowerCase();
  if (lower.endsWith(".")) return lower.slice(0, -1);
  if (inZone(lower, zone)) return lower;
  return `${lower}.${zone}`;
}

const u16b = (n: number) => new Uint8Array([n >>> 8, n & 255]);
const u32b = (n: number) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);

function txtRdata(value: string | string[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const s of typeof value === "string" ? [value] : value) {
    const b = new TextEncoder().encode(s);
    if (b.length === 0) chunks.push(new Uint8Array(0));
    for (let i = 0; i < b.length; i += 255) chunks.push(b.subarray(i, i + 255));
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + 1 + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out[o++] = c.length;
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** A text key of rdata, to find duplicate records. */
function rdataKey(rdata: readonly RDataPart[]): string {
  return rdata.map((p) => (p instanceof Uint8Array ? Buffer.from(p).toString("hex") : `<${p.name.key}>`)).join("|");
}

/**
 * Builds the lookup tables of every zone from validated options; `problems` lists what the
 * schema cannot see alone (names outside their zone, CNAME conflicts and loops, duplicates, TTLs
 * differing inside an RRset), with paths relative to `zones`. Zones come out longest name first.
 */
export function compileZones(list: readonly ZoneOptions[]): { zones: CompiledZone[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const keys = list.map((z) => z.name.toLowerCase().replace(/\.$/, ""));
  keys.forEach((k, i) => {
    if (keys.indexOf(k) !== i) problems.push({ path: [i, "name"], message: `zone ${k} is listed twice` });
  });
  const zones: CompiledZone[] = [];
  list.forEach((z, zi) => {
    const zone = keys[zi]!;
    const nodes = new Map<string, ZoneNode>();
    const seen = new Set<string>();
    const types: Record<string, number> = {};
    const name = (s: string, path: (string | number)[]): DnsName | null => {
      const key = resolveName(s, zone);
      if (key.length > 253) {
        problems.push({ path, message: `${key} is longer than 253 characters` });
        return null;
      }
      return dnsName(key);
    };
    const add = (owner: DnsName, type: number, ttl: number, rdata: RDataPart[], path: (string | number)[]) => {
      let node = nodes.get(owner.key);
      if (node === undefined) nodes.set(owner.key, (node = { name: owner, sets: new Map(), first: type }));
      const dup = `${owner.key}/${type}/${rdataKey(rdata)}`;
      if (seen.has(dup)) {
        problems.push({ path, message: `duplicate record (${owner.key} ${TYPE_NAMES[type]})` });
        return;
      }
      seen.add(dup);
      let set = node.sets.get(type);
      if (set === undefined) node.sets.set(type, (set = { type, ttl, rdata: [], glue: [] }));
      else if (set.ttl !== ttl)
        problems.push({
          path: [...path, "ttl"],
          message: `records of ${owner.key} ${TYPE_NAMES[type]} must share one TTL (${set.ttl} before)`,
        });
      set.rdata.push(rdata);
      for (const p of rdata)
        if (!(p instanceof Uint8Array) && type !== TYPE.CNAME && type !== TYPE.SOA && inZone(p.name.key, zone))
          set.glue.push(p.name);
      types[TYPE_NAMES[type]!] = (types[TYPE_NAMES[type]!] ?? 0) + 1;
    };

    // apex: SOA first (what ANY gets there), then NS
    const apex = dnsName(zone);
    const nsNames = z.ns.map((n, i) => name(n, [zi, "ns", i]));
    const soa = z.soa;
    const mname = soa.mname !== undefined ? name(soa.mname, [zi, "soa", "mname"]) : nsNames[0]!;
    const rtext = soa.rname ?? "hostmaster";
    const at = rtext.indexOf("@");
    const rname = name(at > 0 ? `${rtext.slice(0, at)}.${rtext.slice(at + 1)}.` : rtext, [zi, "soa", "rname"]);
    if (mname === null || rname === null || nsNames.includes(null)) return;
    const soaRdata: RDataPart[] = [
      { name: mname, compress: true },
      { name: rname, compress: true },
      new Uint8Array([
        ...u32b(soa.serial),
        ...u32b(soa.refresh),
        ...u32b(soa.retry),
        ...u32b(soa.expire),
        ...u32b(soa.minimum),
      ]),
    ];
    add(apex, TYPE.SOA, z.ttl, soaRdata, [zi, "soa"]);
    nsNames.forEach((n, i) => add(apex, TYPE.NS, z.ttl, [{ name: n!, compress: true }], [zi, "ns", i]));

    z.records.forEach((r: RecordOptions, ri) => {
      const path = [zi, "records", ri];
      const owner = name(r.name, [...path, "name"]);
      if (owner === null) return;
      if (!inZone(owner.key, zone)) {
        problems.push({ path: [...path, "name"], message: `${owner.key} is not inside zone ${zone}` });
        return;
      }
      const child = keys.find((k, i) => i !== zi && k !== zone && inZone(k, zone) && inZone(owner.key, k));
      if (child !== undefined) {
        problems.push({ path: [...path, "name"], message: `${owner.key} belongs to zone ${child}, listed separately` });
        return;
      }
      const ttl = r.ttl ?? z.ttl;
      let rdata: RDataPart[] | null;
      switch (r.type) {
        case "A":
        case "AAAA":
          rdata = [parseIp(r.value)!];
          break;
        case "CNAME":
        case "PTR": {
          const t = name(r.value, [...path, "value"]);
          rdata = t === null ? null : [{ name: t, compress: true }];
          break;
        }
        case "TXT": {
          const b = txtRdata(r.value);
          if (b.length > 65535) {
            problems.push({ path: [...path, "value"], message: "TXT data longer than 65535 bytes" });
            return;
          }
          rdata = [b];
          break;
        }
        case "MX": {
          const t = name(r.exchange, [...path, "exchange"]);
          rdata = t === null ? null : [u16b(r.preference), { name: t, compress: true }];
          break;
        }
        case "SRV": {
          const t = name(r.target, [...path, "target"]);
          // RFC 2782: the target is never compressed
          rdata =
            t === null
              ? null
              : [
                  new Uint8Array([...u16b(r.priority), ...u16b(r.weight), ...u16b(r.port)]),
                  { name: t, compress: false },
                ];
          break;
        }
      }
      if (rdata === null) return;
      const type = TYPE[r.type];
      const node = nodes.get(owner.key);
      if (type === TYPE.CNAME) {
        if (owner.key === zone) {
          problems.push({ path, message: "a CNAME cannot be at the zone apex" });
          return;
        }
        if (node?.sets.has(TYPE.CNAME)) {
          problems.push({ path, message: `${owner.key} has more than one CNAME` });
          return;
        }
        if (node !== undefined) {
          problems.push({ path, message: `${owner.key} has a CNAME and other records` });
          return;
        }
      } else if (node?.sets.has(TYPE.CNAME)) {
        problems.push({ path, message: `${owner.key} has a CNAME and other records` });
        return;
      }
      add(owner, type, ttl, rdata, path);
    });

    // CNAME loops inside the zone (each reported once, at the first of its records)
    const looped = new Set<string>();
    z.records.forEach((r, ri) => {
      if (r.type !== "CNAME") return;
      const start = resolveName(r.name, zone);
      if (looped.has(start)) return;
      const chain = [start];
      let cur = start;
      for (;;) {
        const set = nodes.get(cur)?.sets.get(TYPE.CNAME);
        const target = set?.rdata[0]?.[0];
        if (target === undefined || target instanceof Uint8Array) return;
        cur = target.name.key;
        if (cur === start) {
          for (const k of chain) looped.add(k);
          problems.push({ path: [zi, "records", ri, "value"], message: `CNAME loop: ${[...chain, cur].join(" → ")}` });
          return;
        }
        if (chain.includes(cur)) return; // a loop further on, reported from its own start
        chain.push(cur);
      }
    });

    const ents = new Set<string>();
    for (const key of nodes.keys())
      for (let k = key; k !== zone;) {
        const dot = k.indexOf(".");
        if (dot < 0) break;
        k = k.slice(dot + 1);
        if (k !== zone && !nodes.has(k)) ents.add(k);
      }
    const soaSet = nodes.get(zone)!.sets.get(TYPE.SOA)!;
    zones.push({
      key: zone,
      apex,
      nodes,
      ents,
      negativeSoa: { ...soaSet, ttl: Math.min(z.ttl, soa.minimum) },
      serial: soa.serial,
      ttl: z.ttl,
      types,
    });
  });
  zones.sort((a, b) => b.key.length - a.key.length);
  return { zones, problems };
}

// ---- answering ----------------------------------------------------------------------------------

/**
 * What respond() did: an rcode sent ("answered"/"nodata" are NOERROR), or "outside" (not ours,
 * pass it on), "malformed" (under 12 bytes) and "response" (QR set), where nothing is sent.
 */
export type Outcome =
  | "answered"
  | "nodata"
  | "nxdomain"
  | "refused"
  | "formerr"
  | "notimp"
  | "badvers"
  | "outside"
  | "malformed"
  | "response";

/** Answers DNS messages from compiled zones; the response is writer.buf[0, length). */
export class Responder {
  readonly writer = new DnsWriter(4096);
  /** Length of the last response (0 when there is none). */
  length = 0;
  /** The last response was truncated (TC). */
  truncated = false;
  private readonly q = newQuery();
  private readonly glueDone: string[] = [];

  constructor(
    readonly zones: readonly CompiledZone[],
    private readonly passOutside: boolean,
  ) {}

  private zoneOf(key: string): CompiledZone | undefined {
    for (const z of this.zones) if (inZone(key, z.key)) return z;
    return undefined;
  }

  /** Answers message `m` (a UDP payload). Never throws. */
  respond(m: Uint8Array): Outcome {
    this.length = 0;
    this.truncated = false;
    const q = this.q;
    const w = this.writer;
    const err = parseQuery(m, q);
    if (err === "short") return "malformed";
    if (err === "response") return "response";
    if (err === "formerr" || err === "notimp") {
      w.begin(q.id, QR | (q.flags & (0x7800 | RD)) | (err === "formerr" ? RCODE.FORMERR : RCODE.NOTIMP), 12);
      this.length = w.finish();
      return err;
    }
    const zone = q.qclass === CLASS_IN ? this.zoneOf(q.qname) : undefined;
    if (zone === undefined && this.passOutside) return "outside";
    const limit = q.edns ? Math.min(q.udpSize, EDNS_SIZE) : 512;
    w.begin(q.id, QR | (q.flags & (RD | CD)), limit - (q.edns ? OPT_LEN : 0));
    w.question(q.qnameWire, q.qnameLen, q.qtype, q.qclass); // ≤ 271 bytes: always fits
    let outcome: Outcome;
    let extRcode = 0;
    if (err === "badvers") {
      outcome = "badvers";
      extRcode = RCODE.BADVERS >>> 4;
    } else if (zone === undefined || q.qtype === TYPE.AXFR || q.qtype === TYPE.IXFR) {
      outcome = "refused";
      w.setFlags(w.flags | RCODE.REFUSED);
    } else outcome = this.answer(zone);
    if (q.edns) {
      w.limit += OPT_LEN;
      w.opt(EDNS_SIZE, extRcode, q.dnssecOk);
    }
    this.length = w.finish();
    return outcome;
  }

  private put(section: number, owner: DnsName, set: RRset): boolean {
    return this.writer.rrset(section, owner, set.type, set.ttl, set.rdata);
  }

  private answer(z: CompiledZone): Outcome {
    const w = this.writer;
    const qtype = this.q.qtype;
    const afterQuestion = w.mark();
    let rcode: number = RCODE.NOERROR;
    let outcome: Outcome = "answered";
    let fits = true;
    let last: RRset | undefined;
    let key = this.q.qname;
    for (let links = 0; ; links++) {
      const node = z.nodes.get(key);
      if (node === undefined) {
        if (z.ents.has(key)) outcome = "nodata";
        else {
          outcome = "nxdomain";
          rcode = RCODE.NXDOMAIN;
        }
        break;
      }
      const cname = node.sets.get(TYPE.CNAME);
      if (cname !== undefined && qtype !== TYPE.CNAME && qtype !== TYPE.ANY) {
        fits = this.put(ANSWER, node.name, cname) && fits;
        const target = cname.rdata[0]![0]!;
        if (target instanceof Uint8Array || !inZone(target.name.key, z.key) || links + 1 >= MAX_CHAIN) break;
        key = target.name.key;
        continue;
      }
      const set = node.sets.get(qtype === TYPE.ANY ? node.first : qtype);
      if (set === undefined) outcome = "nodata";
      else {
        fits = this.put(ANSWER, node.name, set) && fits;
        last = set;
      }
      break;
    }
    if (outcome !== "answered") fits = this.put(AUTHORITY, z.apex, z.negativeSoa) && fits;
    let flags = w.flags | AA | rcode;
    if (!fits) {
      w.clearRecords(afterQuestion);
      flags |= TC;
      this.truncated = true;
    } else if (last !== undefined && last.glue.length > 0) this.glue(z, last.glue);
    w.setFlags(flags);
    return outcome;
  }

  /** A/AAAA of in-zone targets as additional records, until one does not fit (no TC for those). */
  private glue(z: CompiledZone, names: readonly DnsName[]): void {
    const done = this.glueDone;
    done.length = 0;
    for (const n of names) {
      if (done.includes(n.key)) continue;
      done.push(n.key);
      const node = z.nodes.get(n.key);
      if (node === undefined) continue;
      for (const t of GLUE_TYPES) {
        const set = node.sets.get(t);
        if (set !== undefined && !this.put(ADDITIONAL, node.name, set)) return;
      }
    }
  }
}

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
    const tcpReset = ctx.counter("tcp-reset");
    const MALFORMED = drop("dns-malformed");
    const RESPONSE = drop("dns-response");
    const CHECKSUM = drop("dns-checksum");
    const f = newL4();

    ctx.log.info("dns responder ready", {
      address: opts.address.join(","),
      zones: zones.map((z) => z.key).join(","),
    });

    return {
      handle(p): Verdict {
        const d = p.data;
        if (!ours(d) || parseL4(d, f) !== null || f.dport !== 53) return NEXT;
        if (f.proto === PROTO_TCP) {
          if (tcpNext) return NEXT;
          if (!checksumsOk(d, f)) return CHECKSUM;
          const rst = buildTcpReset(d, f);
          if (rst === null) return CONSUMED; // a reset to a closed port: nothing to say
          tcpReset.inc();
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
      stop() {},
      describe() {
        return {
          address: opts.address,
          outside: opts.outside,
          tcp: opts.tcp,
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
