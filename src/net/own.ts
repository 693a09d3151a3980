// The server itself as a destination: what the relay and NAT plugins must never reach on a
// client's behalf (the bug class of coturn CVE-2020-26262), unless the operator allows it.
//   - its own service ports (SATP UDP and TCP, capture, relay, NAT, sync, admin), on its own
//     addresses and on those of the fleet's other servers (sync.peers, or the NATS servers of
//     sync.nats with their ports), which share them: never,
//     whatever the operator allows (reaching the server's own admin or sync port through itself
//     is never a use, it is the attack);
//   - its own addresses, any other port, unless the operator allowed the address (`allowPeers`,
//     `allow`): every address on its interfaces (re-read every REFRESH_MS, so an anycast address
//     added later counts) and every address it listens on, in IPv4 and in the ::ffff:a.b.c.d /
//     ::a.b.c.d forms.
// Peers named by host name are not resolved.
// Pure but for the interface list, which is injected (os.networkInterfaces by default).
import { networkInterfaces } from "node:os";
import { parseIp } from "./addr.ts";
import { PrefixTable } from "./lpm.ts";

const REFRESH_MS = 5000;

export interface OwnSpec {
  /** Addresses the server listens on (its config), besides its interfaces'. */
  addresses: readonly string[];
  /** Its service ports. */
  ports: readonly number[];
  /** The other servers of the fleet (sync peers' hosts). */
  fleet: readonly string[];
}

export type InterfaceList = () => Record<string, { address: string }[] | undefined>;

export class OwnEndpoints {
  private own = new PrefixTable<true>();
  private readonly fleet = new PrefixTable<true>();
  private readonly ports = new Uint8Array(65536);
  private at = -Infinity;
  private list: string[] = [];

  constructor(
    private readonly spec: OwnSpec,
    private readonly interfaces: InterfaceList = networkInterfaces as InterfaceList,
  ) {
    for (const p of spec.ports) if (p > 0 && p < 65536) this.ports[p] = 1;
    for (const h of spec.fleet) add(this.fleet, h);
  }

  /**
   * True when a client must not reach (ip, port) through this server (see the header); ip is
   * the 4 or 16 bytes at buf[off..], `allowed` whether the operator allowed that address, `now`
   * (ms, any monotonic clock) paces the interface re-read.
   */
  refuses(buf: Uint8Array, off: number, family: 4 | 6, port: number, allowed: boolean, now: number): boolean {
    if (now - this.at >= REFRESH_MS) this.refresh(now);
    const own = this.own.lookup(buf, off, family) === true;
    if (this.ports[port] === 1 && (own || this.fleet.lookup(buf, off, family) === true)) return true;
    return own && !allowed;
  }

  /** A port bound at run time (a listener on port 0). */
  addPort(port: number): void {
    if (port > 0 && port < 65536) this.ports[port] = 1;
  }

  /** Every own address and port (for views). */
  describe(): { addresses: string[]; ports: number[]; fleet: string[] } {
    this.refresh(performance.now());
    const ports: number[] = [];
    this.ports.forEach((x, i) => x && ports.push(i));
    return { addresses: this.list, ports, fleet: [...this.spec.fleet] };
  }

  private refresh(now: number): void {
    this.at = now;
    const t = new PrefixTable<true>();
    const seen = new Set<string>();
    const take = (a: string) => {
      if (add(t, a)) seen.add(a);
    };
    this.spec.addresses.forEach(take);
    try {
      for (const list of Object.values(this.interfaces())) for (const i of list ?? []) take(i.address);
    } catch {
      // no interface list (a sandbox): the configured addresses still count
    }
    this.own = t;
    this.list = [...seen];
  }
}

/** Adds `a` (an IP literal; anything else is ignored) and its IPv4-embedded IPv6 forms; false when ignored. */
function add(t: PrefixTable<true>, a: string): boolean {
  const b = parseIp(a.replace(/%.*$/, "")); // fe80::1%eth0
  if (b === null || b.every((x) => x === 0)) return false; // a name, or "every address" (the interfaces cover it)
  if (b.length === 16) {
    t.set({ addr: b, len: 128 }, true);
    return true;
  }
  t.set({ addr: b, len: 32 }, true);
  for (const lead of [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], new Array(12).fill(0)])
    t.set({ addr: Uint8Array.from([...lead, ...b]), len: 128 }, true);
  return true;
}
