// An independent oracle for packet checksums, written from RFC 791 / 768 / 793 / 792 / 8200 /
// 4443 without src/net: tests check the product's packets (and its own checksumsOk) against it.

/** One's-complement sum of 16-bit big-endian words of `bytes` (odd last byte padded), folded. */
function ones(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) + (bytes[i + 1] ?? 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return s;
}

/**
 * True when every checksum of IPv4/IPv6 packet `p` verifies: the IPv4 header, then the TCP, UDP
 * (IPv4: 0 = none), ICMP or ICMPv6 checksum, with the pseudo-header where the RFC has one.
 */
export function refChecksumsOk(p: Uint8Array): boolean {
  const b = [...p];
  const v6 = b[0]! >> 4 === 6;
  const hl = v6 ? 40 : (b[0]! & 15) * 4;
  const total = v6 ? 40 + ((b[4]! << 8) | b[5]!) : (b[2]! << 8) | b[3]!;
  if (!v6 && ones(b.slice(0, hl)) !== 0xffff) return false;
  const proto = v6 ? b[6]! : b[9]!;
  // UDP: the datagram is what its own length says (RFC 768); IPv4 padding after it is not summed
  const end = proto === 17 && total - hl >= 8 ? Math.min(total, hl + ((b[hl + 4]! << 8) | b[hl + 5]!)) : total;
  const l4 = b.slice(hl, end);
  const len = l4.length;
  const addrs = v6 ? b.slice(8, 40) : b.slice(12, 20);
  const pseudo = v6 ? [...addrs, 0, 0, len >> 8, len & 255, 0, 0, 0, proto] : [...addrs, 0, proto, len >> 8, len & 255];
  if (proto === 1) return ones(l4) === 0xffff;
  if (proto === 17 && !v6 && l4[6] === 0 && l4[7] === 0) return true;
  if (proto !== 6 && proto !== 17 && proto !== 58) return false;
  return ones([...pseudo, ...l4]) === 0xffff;
}
