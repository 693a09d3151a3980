// Control messages (payload type 0x88B5): codec golden bytes, malformed input, and the server
// answering a control message no plugin handles with ERROR/UNKNOWN (authenticated both ways).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { PT_CONTROL } from "../src/satp/codec.ts";
import { be16, be32, decodeControl, encodeControl, ERR, MSG, TLV, tlv, u16, u32 } from "../src/satp/control.ts";
import { Server } from "../src/server.ts";
import { BUILTIN } from "../plugins/index.ts";
import { Client, until } from "./lib/satp-client.ts";

test("golden bytes both ways", () => {
  const m = {
    type: MSG.RELAY_ALLOCATE,
    id: 0x1234,
    tlvs: [
      { t: TLV.PEER_ADDR, v: new Uint8Array([203, 0, 113, 7]) },
      { t: TLV.PEER_PORT, v: be16(7000) },
      { t: TLV.LIFETIME, v: be32(300) },
    ],
  };
  const hex = "01011234001001" + "04cb007107" + "02021b58" + "030400000" + "12c";
  const bytes = encodeControl(m);
  expect(Buffer.from(bytes).toString("hex")).toBe(hex.replace(/ /g, ""));
  const d = decodeControl(bytes)!;
  expect(d).toEqual({ type: 1, id: 0x1234, tlvs: m.tlvs });
  expect(u16(tlv(d, TLV.PEER_PORT))).toBe(7000);
  expect(u32(tlv(d, TLV.LIFETIME))).toBe(300);
  expect(u16(tlv(d, TLV.LIFETIME))).toBeUndefined(); // wrong width is not a u16
});

test("malformed input is null, never an exception", () => {
  const good = encodeControl({ type: 7, id: 1, tlvs: [{ t: 6, v: new Uint8Array([24, 10, 0, 0, 0]) }] });
  expect(decodeControl(good)).not.toBeNull();
  expect(decodeControl(good.subarray(0, 5))).toBeNull(); // short header
  expect(decodeControl(new Uint8Array([2, 1, 0, 0, 0, 0]))).toBeNull(); // version
  const overlong = good.slice();
  overlong[5] = 200; // TLV area longer than the message
  expect(decodeControl(overlong)).toBeNull();
  const cut = good.slice();
  cut[7] = 9; // TLV longer than the area
  expect(decodeControl(cut)).toBeNull();
  let s = 1;
  for (let i = 0; i < 50000; i++) {
    const b = new Uint8Array((s = (s * 1103515245 + 12345) >>> 0) % 40);
    for (let j = 0; j < b.length; j++) b[j] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
    if (i & 1) b[0] = 1;
    decodeControl(b);
  }
});

let server: Server;
let port = 0;
const c = new Client(1, "pass");
beforeAll(async () => {
  const cfg = validateConfig({
    mode: "server",
    listen: ["127.0.0.1:0"],
    admin: { enabled: false },
    clients: [{ mux: 1, passphrase: "pass", routes: ["10.99.0.1/32"] }],
  });
  server = await Server.start(cfg, new Logger([], "text"), BUILTIN, process.cwd());
  port = server.listeners[0]!.udp.port;
  await c.open();
});
afterAll(() => {
  server.stop();
  c.sock.close();
});

test("a control message no plugin takes is answered ERROR/UNKNOWN; garbage is counted", async () => {
  c.control.length = 0;
  c.send(
    port,
    encodeControl({
      type: MSG.ROUTE_ANNOUNCE,
      id: 77,
      tlvs: [{ t: TLV.PREFIX, v: new Uint8Array([24, 10, 9, 8, 0]) }],
    }),
    1,
    PT_CONTROL,
  );
  await until("answer", () => c.control.length === 1);
  const a = decodeControl(c.control[0]!)!;
  expect(a.type).toBe(MSG.ERROR);
  expect(a.id).toBe(77);
  expect(u16(tlv(a, TLV.ERROR_CODE))).toBe(ERR.UNKNOWN);
  c.send(port, new Uint8Array([9, 9, 9, 9, 9, 9, 9]), 1, PT_CONTROL);
  await until("counted", () => server.drops["control-malformed"] === 1);
});

test("KEEPALIVE_REQ is answered KEEPALIVE_ACK with the interval clamped to tcp.keepaliveMinMs..MaxMs", async () => {
  for (const [asked, agreed] of [
    [5000, 5000],
    [10, 1000],
    [3_600_000, 60000],
  ] as const) {
    c.control.length = 0;
    c.send(
      port,
      encodeControl({ type: MSG.KEEPALIVE_REQ, id: 78, tlvs: [{ t: TLV.INTERVAL_MS, v: be32(asked) }] }),
      1,
      PT_CONTROL,
    );
    await until("answer", () => c.control.length === 1);
    const a = decodeControl(c.control[0]!)!;
    expect(a.type).toBe(MSG.KEEPALIVE_ACK);
    expect(a.id).toBe(78);
    expect(u32(tlv(a, TLV.INTERVAL_MS))).toBe(agreed);
  }
});
