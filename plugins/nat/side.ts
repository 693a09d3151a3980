// The nat plugin's two address families as one shape (index.ts drives them alike): each Side
// has its binding table, its NAT address, and the rewrites of its packets — IPv4 (net/rewrite.ts
// rewrite, quotedPacket) or IPv6 (rewrite6, quotedPacket6). Addresses in the tables: IPv4 a u32,
// IPv6 32 hex digits (table.ts).
import type { Prefix } from "../../src/net/addr.ts";
import { PROTO_ICMP, PROTO_ICMP6, u32At, type IpView } from "../../src/net/ip.ts";
import {
  quotedPacket,
  quotedPacket6,
  rewrite,
  rewrite6,
  rewriteQuoted,
  rewriteQuoted6,
} from "../../src/net/rewrite.ts";
import type { Binding, NatAddr, NatTable } from "./table.ts";

/** One address family of the NAT: its table, its NAT address, and the rewrites of its packets. */
export interface Side<A extends NatAddr> {
  readonly family: 4 | 6;
  readonly table: NatTable<A>;
  /** The NAT address as the table keeps addresses. */
  readonly nat: A;
  readonly icmp: number;
  readonly echoRequest: number;
  readonly echoReply: number;
  /** The address at p[off] as the table keeps it. */
  addr(p: Uint8Array, off: number): A;
  /** Outbound: the source becomes the NAT address and the binding's external port. */
  out(p: Uint8Array, f: IpView, b: Binding<A>): void;
  /** Inbound: the destination becomes the client's address and port. */
  in(p: Uint8Array, f: IpView, b: Binding<A>): void;
  /** An ICMP error's quoted packet (into q), and its mapping back to the client. */
  quoted(p: Uint8Array, outer: IpView, q: IpView): boolean;
  mapQuoted(p: Uint8Array, outer: IpView, q: IpView, b: Binding<A>): void;
}

export const hex16 = (p: Uint8Array, off: number) => Buffer.from(p.buffer, p.byteOffset + off, 16).toString("hex");
export const unhex = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));

/**
 * The binding an inbound ICMP error (parsed into `outer`) is about, or why it is not mapped: not
 * an error about a packet from the NAT address ("unsolicited"), no binding has the quoted port
 * ("no-binding"), or the quoted destination is not one the binding sent to ("filtered": an
 * attacker who guesses a port still has to name a peer of it). `q` receives the quoted packet.
 */
export function errorBinding<A extends NatAddr>(
  side: Side<A>,
  pkt: Uint8Array,
  outer: IpView,
  q: IpView,
): Binding<A> | "unsolicited" | "no-binding" | "filtered" {
  if (!side.quoted(pkt, outer, q) || side.addr(pkt, q.srcOff) !== side.nat) return "unsolicited";
  const b = side.table.inbound(q.proto, q.sport);
  if (b === undefined) return "no-binding";
  if (!b.peers.includes(side.addr(pkt, q.dstOff))) return "filtered";
  return b;
}

export function ipv4Side(table: NatTable<number>, natIp: number): Side<number> {
  return {
    family: 4,
    table,
    nat: natIp,
    icmp: PROTO_ICMP,
    echoRequest: 8,
    echoReply: 0,
    addr: u32At,
    out: (p, f, b) => rewrite(p, f, 12, natIp, b.ext),
    in: (p, f, b) => rewrite(p, f, 16, b.ip, b.port),
    quoted: quotedPacket,
    mapQuoted: (p, outer, q, b) => rewriteQuoted(p, outer, q, b.ip, b.port),
  };
}

export function ipv6Side(table: NatTable<string>, nat6: Uint8Array): Side<string> {
  return {
    family: 6,
    table,
    nat: hex16(nat6, 0),
    icmp: PROTO_ICMP6,
    echoRequest: 128,
    echoReply: 129,
    addr: hex16,
    out: (p, f, b) => rewrite6(p, f, "src", nat6, b.ext),
    in: (p, f, b) => rewrite6(p, f, "dst", unhex(b.ip), b.port),
    quoted: quotedPacket6,
    mapQuoted: (p, outer, q, b) => rewriteQuoted6(p, outer, q, unhex(b.ip), b.port),
  };
}

/** Is the address `ip` (4 or 16 bytes, as the prefix) inside prefix `p`? */
export function inPrefix(p: Prefix, ip: Uint8Array): boolean {
  let bits = p.len;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((ip[i]! & mask) !== (p.addr[i]! & mask)) return false;
  }
  return true;
}
