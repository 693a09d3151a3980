// NAT bindings, replicated through the sync store (table "nat", key "<proto>/<external port>") so
// that a reply reaching any server of the group finds its client, and a flow keeps its external
// port when routing moves it. Mapping is endpoint-independent (RFC 4787 REQ-1: one external port
// per client (proto, inner address, port) whatever the destination); filtering is
// address-dependent (only hosts the client has sent to may answer; RFC 4787 REQ-8's stricter
// option). Ports: each server allocates from its own slice of the range (by sender id), so two
// servers never hand out the same port. Timeouts: UDP 300 s (RFC 4787 REQ-5), TCP established
// 7440 s and transitory 240 s (RFC 5382 REQ-5), ICMP echo 60 s (RFC 5508 REQ-1).
//
// One table per family: IPv4 (table "nat", addresses as u32 numbers) and IPv6 (NAT66: table
// "nat6", addresses as 32 lowercase hex digits, ICMPv6 echo as the ICMP protocol); each claims its
// own port slices (pools "nat" and "nat6"), as the two NAT addresses have their own ports.
import type { SyncTables } from "../../src/sync/store.ts";
import { PROTO_ICMP, PROTO_ICMP6, PROTO_TCP, PROTO_UDP } from "../../src/net/ip.ts";
import { PortSlices } from "../../src/sync/slices.ts";
import type { Fields } from "../../src/log.ts";

/** An address as the table keeps it: IPv4 a u32, IPv6 32 lowercase hex digits. */
export type NatAddr = number | string;

export interface Binding<A extends NatAddr = NatAddr> {
  proto: number;
  mux: number;
  /** Client's inner source address and port (or ICMP identifier). */
  ip: A;
  port: number;
  /** External port (or identifier) on the NAT address. */
  ext: number;
  /** Remote addresses the client has sent to: the only ones let back in. */
  peers: A[];
  /** TCP: 0 opening, 1 established (both directions seen), 2 closing (FIN/RST seen). */
  tcp: number;
  /** Wall-clock ms of the last packet (as far as this server knows). */
  used: number;
  /** Sender id of the server that created it. */
  by: number;
}

export interface NatTimeouts {
  udp: number;
  tcpEstablished: number;
  tcpTransitory: number;
  icmp: number;
}

const MAX_PEERS = 32;
/** Slices of the port range (the nat plugin's `slices`). */
export const SLICES = 16;

export class NatTable<A extends NatAddr = number> {
  private readonly byExt = new Map<number, Binding<A>>(); // proto * 65536 + ext
  private readonly byInner = new Map<A, Map<number, Binding<A>>>(); // ip → (proto·2^32 + mux·2^16 + port)
  private readonly perClient = new Map<number, number>();
  private readonly published = new Map<Binding<A>, number>(); // used-time last published
  /** The sync table (and slice pool): "nat" or "nat6". */
  readonly name: string;
  /** Which slice of the port range this member allocates from (src/sync/slices.ts). */
  readonly slices: PortSlices;
  readonly sliceSize: number;
  /** Bindings per client at most: maxBindingsPerClient, and the client's share of the slice. */
  readonly maxPerClient: number;
  created = 0;
  expired = 0;

  constructor(
    private readonly store: SyncTables,
    private readonly node: number,
    ports: [number, number],
    readonly timeouts: NatTimeouts,
    maxPerClient: number,
    /** The part of this server's slice one client may hold (so one client cannot take every port). */
    share = 1,
    /** Local policy for a binding from a peer (its client known, its inner address the client's). */
    accept: (b: Binding<A>) => boolean = () => true,
    /** The slice this member prefers (PluginContext.member), and how many slices there are. */
    member = node,
    slices = SLICES,
    log: ((msg: string, fields: Fields) => void) | null = null,
    readonly family: 4 | 6 = 4,
  ) {
    const TABLE = (this.name = family === 4 ? "nat" : "nat6");
    const size = Math.floor((ports[1] - ports[0] + 1) / slices);
    this.sliceSize = size;
    this.maxPerClient = share >= 1 ? maxPerClient : Math.min(maxPerClient, Math.max(1, Math.floor(size * share)));
    this.slices = new PortSlices(store, TABLE, slices, node, member, log);
    this.portsLo = ports[0];
    // A binding from a peer maps replies to a client only if it is well formed, keyed by its own
    // protocol and external port, inside our port range, and passes the plugin's policy.
    store.validateBy(
      TABLE,
      (v, key) =>
        isBinding(v, family) &&
        key === `${v.proto}/${v.ext}` &&
        v.ext >= ports[0] &&
        v.ext <= ports[1] &&
        accept(v as Binding<A>),
    );
    for (const [, v] of store.entries(TABLE)) this.index(v as Binding<A>);
    store.onChange(TABLE, (key, value, origin) => {
      if (origin === "local") return;
      const [proto, ext] = key.split("/").map(Number) as [number, number];
      const old = this.byExt.get(proto * 65536 + ext);
      if (old) this.unindex(old);
      if (value !== null) this.index(value as Binding<A>);
    });
  }

  private readonly portsLo: number;

  get sliceStart(): number {
    return this.portsLo + this.slices.index * this.sliceSize;
  }

  get size(): number {
    return this.byExt.size;
  }

  /** The binding for a client's flow source, or undefined. */
  outbound(proto: number, mux: number, ip: A, port: number): Binding<A> | undefined {
    return this.byInner.get(ip)?.get(proto * 4294967296 + mux * 65536 + port);
  }

  /** The binding for a reply to external port `ext`, or undefined. */
  inbound(proto: number, ext: number): Binding<A> | undefined {
    return this.byExt.get(proto * 65536 + ext);
  }

  /** Creates a binding; null when the client is at its limit or this server's port slice is full. */
  create(proto: number, mux: number, ip: A, port: number, now: number): Binding<A> | "limit" | "ports" {
    if ((this.perClient.get(mux) ?? 0) >= this.maxPerClient) return "limit";
    const size = this.sliceSize;
    const start = Math.floor(Math.random() * size);
    const first = this.sliceStart;
    for (let i = 0; i < size; i++) {
      const ext = first + ((start + i) % size);
      if (this.byExt.has(proto * 65536 + ext)) continue;
      const b: Binding<A> = { proto, mux, ip, port, ext, peers: [], tcp: 0, used: now, by: this.node };
      this.index(b);
      this.created++;
      this.publish(b);
      return b;
    }
    return "ports";
  }

  /** Notes an outbound packet to `peer`: adds the peer (published at once) and refreshes. */
  sent(b: Binding<A>, peer: A, now: number): void {
    b.used = now;
    if (!b.peers.includes(peer)) {
      if (b.peers.length >= MAX_PEERS) b.peers.shift();
      b.peers.push(peer);
      this.publish(b);
    } else this.refresh(b, now);
  }

  /** Notes an inbound packet and TCP state changes (`tcp`: new state or -1). */
  received(b: Binding<A>, now: number, tcp: number): void {
    b.used = now;
    if (tcp >= 0 && tcp !== b.tcp) {
      b.tcp = tcp;
      this.publish(b);
    } else this.refresh(b, now);
  }

  setTcp(b: Binding<A>, tcp: number): void {
    if (b.tcp !== tcp) {
      b.tcp = tcp;
      this.publish(b);
    }
  }

  timeoutOf(b: Binding<A>): number {
    const t = this.timeouts;
    if (b.proto === PROTO_UDP) return t.udp;
    if (b.proto === PROTO_ICMP || b.proto === PROTO_ICMP6) return t.icmp;
    return b.tcp === 1 ? t.tcpEstablished : t.tcpTransitory;
  }

  /** Removes bindings idle past their timeout (everywhere: a tombstone is published). */
  sweep(now: number): number {
    let n = 0;
    for (const b of [...this.byExt.values()]) {
      if (now - b.used < this.timeoutOf(b) * 1000) continue;
      this.unindex(b);
      this.store.set(this.name, `${b.proto}/${b.ext}`, null);
      n++;
    }
    this.expired += n;
    return n;
  }

  all(): Binding<A>[] {
    return [...this.byExt.values()];
  }

  perClientCount(mux: number): number {
    return this.perClient.get(mux) ?? 0;
  }

  // Other servers learn that a binding is alive at most every quarter timeout.
  private refresh(b: Binding<A>, now: number): void {
    if (now - (this.published.get(b) ?? 0) > (this.timeoutOf(b) * 1000) / 4) this.publish(b);
  }

  private publish(b: Binding<A>): void {
    this.published.set(b, b.used);
    this.store.set(this.name, `${b.proto}/${b.ext}`, { ...b, peers: [...b.peers] });
  }

  private index(b: Binding<A>): void {
    if (!isBinding(b, this.family)) return;
    this.byExt.set(b.proto * 65536 + b.ext, b);
    let m = this.byInner.get(b.ip);
    if (m === undefined) this.byInner.set(b.ip, (m = new Map()));
    m.set(b.proto * 4294967296 + b.mux * 65536 + b.port, b);
    this.perClient.set(b.mux, (this.perClient.get(b.mux) ?? 0) + 1);
  }

  private unindex(b: Binding<A>): void {
    this.byExt.delete(b.proto * 65536 + b.ext);
    const m = this.byInner.get(b.ip);
    if (m) {
      m.delete(b.proto * 4294967296 + b.mux * 65536 + b.port);
      if (m.size === 0) this.byInner.delete(b.ip);
    }
    const n = (this.perClient.get(b.mux) ?? 1) - 1;
    if (n <= 0) this.perClient.delete(b.mux);
    else this.perClient.set(b.mux, n);
    this.published.delete(b);
  }
}

const HEX16 = /^[0-9a-f]{32}$/;

/** A record from another server is checked before it enters the tables. */
function isBinding(b: unknown, family: 4 | 6): b is Binding {
  if (typeof b !== "object" || b === null) return false;
  const o = b as Record<string, unknown>;
  const u16 = (x: unknown) => typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= 65535;
  const addr =
    family === 4
      ? (x: unknown) => typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= 0xffffffff
      : (x: unknown) => typeof x === "string" && HEX16.test(x);
  return (
    (o.proto === PROTO_TCP || o.proto === PROTO_UDP || o.proto === (family === 4 ? PROTO_ICMP : PROTO_ICMP6)) &&
    u16(o.mux) &&
    u16(o.port) &&
    u16(o.ext) &&
    addr(o.ip) &&
    Array.isArray(o.peers) &&
    o.peers.length <= MAX_PEERS &&
    o.peers.every(addr) &&
    typeof o.used === "number"
  );
}
