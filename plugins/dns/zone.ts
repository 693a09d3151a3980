// Zone config → lookup tables for answer.ts. The naming rules (relative names, "@", trailing dot)
// are in the README comment of plugins/dns/index.ts; the plugin's schema checks each field alone,
// compileZones what needs the whole config.
import { parseIp } from "../../src/net/addr.ts";
import { TYPE } from "./wire.ts";
import { dnsName, type DnsName, type RDataPart } from "./writer.ts";

/** A zone as the plugin's validated options give it (defaults filled in). */
export interface ZoneConfig {
  readonly name: string;
  readonly ttl: number;
  readonly soa: {
    readonly mname?: string | undefined;
    readonly rname?: string | undefined;
    readonly serial: number;
    readonly refresh: number;
    readonly retry: number;
    readonly expire: number;
    readonly minimum: number;
  };
  readonly ns: readonly string[];
  readonly records: readonly RecordConfig[];
}

export type RecordConfig = { readonly name: string; readonly ttl?: number | undefined } & (
  | { readonly type: "A" | "AAAA" | "CNAME" | "PTR"; readonly value: string }
  | { readonly type: "TXT"; readonly value: string | readonly string[] }
  | { readonly type: "MX"; readonly preference: number; readonly exchange: string }
  | {
      readonly type: "SRV";
      readonly priority: number;
      readonly weight: number;
      readonly port: number;
      readonly target: string;
    }
);

/** One RRset: records of one owner and type, one TTL. */
export interface RRset {
  readonly type: number;
  ttl: number;
  readonly rdata: RDataPart[][];
  /** In-zone names whose A/AAAA go in the additional section (NS, MX, SRV targets). */
  readonly glue: DnsName[];
}

export interface ZoneNode {
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

export interface Problem {
  path: (string | number)[];
  message: string;
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(TYPE).map(([k, n]) => [n, k]));

export const inZone = (key: string, zone: string) => key === zone || key.endsWith(`.${zone}`);

/** The key a config name stands for in `zone` (see the README comment in plugins/dns/index.ts). */
function resolveName(s: string, zone: string): string {
  if (s === "@") return zone;
  const lower = s.toLowerCase();
  if (lower.endsWith(".")) return lower.slice(0, -1);
  if (inZone(lower, zone)) return lower;
  return `${lower}.${zone}`;
}

const u16b = (n: number) => new Uint8Array([n >>> 8, n & 255]);
const u32b = (n: number) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);

function txtRdata(value: string | readonly string[]): Uint8Array {
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
export function compileZones(list: readonly ZoneConfig[]): { zones: CompiledZone[]; problems: Problem[] } {
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

    z.records.forEach((r, ri) => {
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
