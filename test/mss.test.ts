// TCP MSS clamping (src/net/mss.ts, the datapath's mssClamp), no root: the MSS option of a SYN
// lowered to fit, at even and odd offsets, with the checksum still verifying (independent oracle);
// what is not a SYN, or announces less, or has broken options, is left alone; and a real server
// on loopback lowers a client's SYN on its way to another client (default: mtu 1400 → 1360).
import { afterAll, describe, expect, test } from "bun:test";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { parseIp } from "../src/net/addr.ts";
import { checksum, sum16 } from "../src/net/checksum.ts";
import { newIpView, parseL4 } from "../src/net/ip.ts";
import { clampMss, mssFor } from "../src/net/mss.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import { refChecksumsOk } from "./lib/ip-ref.ts";
import { Client, sendInner, until } from "./lib/satp-client.ts";

/** A TCP segment from src to dst with `flags` and these option bytes, checksums filled in. */
function segment(src: string, dst: string, flags: number, options: number[]): Uint8Array {
  const s = parseIp(src)!;
  const v6 = s.length === 16;
  const hl = v6 ? 40 : 20;
  const tl = 20 + options.length;
  const p = new Uint8Array(hl + tl);
  if (v6) {
    p.set([0x60, 0, 0, 0, tl >> 8, tl & 255, 6, 64], 0);
    p.set(s, 8);
    p.set(parseIp(dst)!, 24);
  } else {
    p.set([0x45, 0, 0, p.length, 0, 0, 0x40, 0, 64, 6], 0);
    p.set(s, 12);
    p.set(parseIp(dst)!, 16);
    const h = checksum(p, 0, 20);
    p.set([h >> 8, h & 255], 10);
  }
  p.set([0x9c, 0x40, 0, 80, 1, 2, 3, 4, 0, 0, 0, 0, (tl / 4) << 4, flags, 0xff, 0xff], hl);
  p.set(options, hl + 20);
  const c = checksum(p, hl, p.length, v6 ? sum16(p, 8, 40) + 6 + tl : sum16(p, 12, 20) + 6 + tl);
  p.set([c >> 8, c & 255], hl + 16);
  return p;
}
const mssOf = (p: Uint8Array, at: number) => (p[at]! << 8) | p[at + 1]!;

describe("clampMss", () => {
  const v = newIpView();
  test("a SYN's MSS above the limit is lowered, at an even and at an odd offset, IPv4 and IPv6; checksums verify", () => {
    for (const [src, dst] of [
      ["10.99.0.1", "10.99.0.2"],
      ["fd00::1", "fd00::2"],
    ] as const) {
      const hl = src.includes(":") ? 40 : 20;
      const even = segment(src, dst, 0x02, [2, 4, 0x05, 0xb4, 1, 1, 1, 0]); // MSS 1460 at offset 22
      expect(parseL4(even, v)).toBeNull();
      expect(clampMss(even, v, 1360)).toBe(true);
      expect(mssOf(even, hl + 22)).toBe(1360);
      expect(refChecksumsOk(even)).toBe(true);
      const odd = segment(src, dst, 0x12, [1, 2, 4, 0x05, 0xb4, 1, 1, 0]); // SYN-ACK, MSS at offset 23
      expect(parseL4(odd, v)).toBeNull();
      expect(clampMss(odd, v, 1340)).toBe(true);
      expect(mssOf(odd, hl + 23)).toBe(1340);
      expect(refChecksumsOk(odd)).toBe(true);
    }
  });

  test("left alone: not a SYN, an MSS already low, no MSS option, broken options", () => {
    const cases = [
      segment("10.99.0.1", "10.99.0.2", 0x10, [2, 4, 0x05, 0xb4]), // ACK only
      segment("10.99.0.1", "10.99.0.2", 0x02, [2, 4, 0x04, 0x00]), // MSS 1024
      segment("10.99.0.1", "10.99.0.2", 0x02, [3, 3, 7, 0]), // window scale, no MSS
      segment("10.99.0.1", "10.99.0.2", 0x02, [5, 0, 2, 4]), // length 0: malformed, stop
      segment("10.99.0.1", "10.99.0.2", 0x02, [1, 1, 1, 2]), // MSS kind cut off at the end
    ];
    for (const p of cases) {
      const before = p.slice();
      expect(parseL4(p, v)).toBeNull();
      expect(clampMss(p, v, 1360)).toBe(false);
      expect(p).toEqual(before);
    }
    expect([mssFor(1400, 4), mssFor(1400, 6), mssFor(1280, 6)]).toEqual([1360, 1340, 1220]);
  });
});

describe("mssClamp in a server on loopback", () => {
  const servers: Server[] = [];
  const clients: Client[] = [];
  afterAll(() => {
    for (const c of clients) c.sock?.close();
    for (const s of servers) s.stop();
  });
  const start = async (mssClamp: unknown) => {
    const cfg = validateConfig({
      mode: "server",
      listen: ["127.0.0.1:0"],
      admin: { enabled: false },
      mssClamp,
      clients: [
        { mux: 1, passphrase: "pass a", routes: ["10.99.0.1/32"] },
        { mux: 2, passphrase: "pass b", routes: ["10.99.0.2/32"] },
      ],
    });
    const s = await Server.start(cfg, new Logger([], "text"), BUILTIN, process.cwd());
    servers.push(s);
    const a = new Client(1, "pass a");
    const b = new Client(2, "pass b");
    for (const c of [a, b]) {
      await c.open();
      clients.push(c);
    }
    const port = s.listeners[0]!.udp.port;
    sendInner(b, port, segment("10.99.0.2", "10.99.0.1", 0x10, [1, 1, 1, 1])); // B's endpoint learned
    await until("B known", () => s.conns.get(2)!.endpoint !== null);
    return { s, a, b, port };
  };

  for (const [setting, want] of [
    [true, 1360],
    [1200, 1200],
    [false, 1460],
  ] as const)
    test(`mssClamp ${setting}: B receives A's SYN with MSS ${want}, its checksums intact`, async () => {
      const { s, a, b, port } = await start(setting);
      sendInner(a, port, segment("10.99.0.1", "10.99.0.2", 0x02, [2, 4, 0x05, 0xb4, 1, 1, 1, 0]));
      await until("B got the SYN", () => b.got.length > 0);
      const inner = b.got[0]!;
      expect(mssOf(inner, 42)).toBe(want);
      expect(refChecksumsOk(inner)).toBe(true);
      expect(s.dp.pmtu.mssClamped).toBe(want === 1460 ? 0 : 1);
    });
});
