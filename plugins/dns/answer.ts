// Query → response from compiled zones (the behaviour is specified in the README comment of
// plugins/dns/index.ts). Deterministic: the same zones and query give the same bytes on every server.
import { AA, CD, CLASS_IN, newQuery, parseQuery, QR, RCODE, RD, TC, TYPE } from "./wire.ts";
import { ADDITIONAL, ANSWER, AUTHORITY, DnsWriter, type DnsName } from "./writer.ts";
import { inZone, type CompiledZone, type RRset } from "./zone.ts";

/** Our UDP payload size (the DNS flag day 2020 value: fits any path without fragments). */
export const EDNS_SIZE = 1232;
const OPT_LEN = 11;
const MAX_CHAIN = 8;
const GLUE_TYPES = [TYPE.A, TYPE.AAAA];

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
  readonly writer: DnsWriter;
  /** Length of the last response (0 when there is none). */
  length = 0;
  /** The last response was truncated (TC). */
  truncated = false;
  private readonly q = newQuery();
  private readonly glueDone: string[] = [];

  /** `stream`: answers go over TCP, up to the writer's 8192 bytes whatever the query's EDNS says (RFC 7766 8). */
  constructor(
    readonly zones: readonly CompiledZone[],
    private readonly passOutside: boolean,
    private readonly stream = false,
  ) {
    this.writer = new DnsWriter(stream ? 8192 : 4096);
  }

  private zoneOf(key: string): CompiledZone | undefined {
    for (const z of this.zones) if (inZone(key, z.key)) return z;
    return undefined;
  }

  /** Answers message `m` (a UDP payload, or one message of a TCP stream). Never throws. */
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
    const limit = this.stream ? w.buf.length : q.edns ? Math.min(q.udpSize, EDNS_SIZE) : 512;
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
