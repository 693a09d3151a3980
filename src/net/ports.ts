// Which ports each part of the server takes (listeners, capture, sync, admin, plugins' port
// ranges), so that two parts never take the same one: an overlap is a config error, found
// before anything binds (a NAT range over the relay's ports would capture the relay's traffic;
// a capture over tcp.listen would hide the listener). Two claims overlap when their protocols
// share one, their port ranges meet, and their addresses are the same or either is a wildcard.
import { parseIp } from "./addr.ts";

export interface PortClaim {
  /** Config path that made the claim, for the message ("listen.0", "plugins.1 (relay)"). */
  what: string;
  /** IP literal; "0.0.0.0" or "::" for every address. Names are compared as written. */
  address: string;
  protos: readonly ("udp" | "tcp")[];
  from: number;
  to: number;
}

const wildcard = (a: string) => {
  const b = parseIp(a);
  return b !== null && b.every((x) => x === 0);
};

/** The normal form of an address for comparison (::ffff:a.b.c.d is a.b.c.d). */
const norm = (a: string) => {
  const b = parseIp(a);
  if (b === null) return a.toLowerCase();
  if (b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff)
    return b.subarray(12).join(".");
  return b.join(".");
};

const range = (c: PortClaim) => (c.from === c.to ? `${c.from}` : `${c.from}-${c.to}`);

/** One message per overlapping pair, naming both. */
export function portOverlaps(claims: readonly PortClaim[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < claims.length; i++)
    for (let j = i + 1; j < claims.length; j++) {
      const a = claims[i]!;
      const b = claims[j]!;
      if (a.from > b.to || b.from > a.to) continue;
      const protos = a.protos.filter((p) => b.protos.includes(p));
      if (protos.length === 0) continue;
      if (!wildcard(a.address) && !wildcard(b.address) && norm(a.address) !== norm(b.address)) continue;
      out.push(
        `${b.what}: ${protos.join("/")} port${b.from === b.to ? "" : "s"} ${range(b)} on ${b.address} overlap ${a.what} (${range(a)} on ${a.address})`,
      );
    }
  return out;
}
