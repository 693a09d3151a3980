// Special-purpose address ranges a relay or NAT must not reach on a client's behalf unless the
// operator allows them (IPv4 documentation ranges are routable in labs and stay allowed) (the bug class of coturn CVE-2020-26262: a client reaching the server's
// own loopback services). IPv4 per RFC 6890; IPv6 per RFC 6890 / RFC 4291, plus the IPv4-mapped
// (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d) forms of every refused IPv4 range — a
// dual-stack socket sends ::ffff:127.0.0.1 to 127.0.0.1.

export const REFUSED_V4: readonly string[] = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "224.0.0.0/4",
  "240.0.0.0/4",
];

const V6: readonly string[] = [
  "::/128", // unspecified
  "::1/128", // loopback
  "64:ff9b:1::/48", // local-use IPv4/IPv6 translation
  "100::/64", // discard-only
  "2001:db8::/32", // documentation
  "fc00::/7", // unique local
  "fe80::/10", // link-local
  "ff00::/8", // multicast
];

/** The mapped and compatible IPv6 forms of an IPv4 prefix. */
function embedded(p: string): string[] {
  const [a, n] = p.split("/") as [string, string];
  const len = 96 + Number(n);
  return [`::ffff:${a}/${len}`, `::${a}/${len}`];
}

export const REFUSED_V6: readonly string[] = [...V6, ...REFUSED_V4.flatMap(embedded)];

/** Every refused prefix, IPv4 and IPv6. */
export const REFUSED_ALL: readonly string[] = [...REFUSED_V4, ...REFUSED_V6];
