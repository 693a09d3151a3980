// tcp-unicast, server side, in-process on loopback: INIT over TCP → REDIRECT with a token; the
// token presented on the unicast connection → INIT_OK; then framed SATP both ways between a TCP
// client and a UDP client. Data before a token, forged tokens and garbage framing are refused;
// connections without a token are capped in number, time and bytes.
import type { DropReason } from "../src/drops.ts";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { validateConfig } from "../src/config.ts";
import { Logger } from "../src/log.ts";
import { PT_CONTROL, PT_IPV4 } from "../src/satp/codec.ts";
import { decodeControl, encodeControl, ERR, MSG, TLV, tlv, u16, type ControlMessage } from "../src/satp/control.ts";
import { SatpCrypto } from "../src/satp/crypto.ts";
import { receiverFor, SatpSession } from "../src/satp/session.ts";
import { deriveMaster } from "../src/satp/suite.ts";
import { Server } from "../src/server.ts";
import { dialFramed, type FramedConn } from "../src/transport/tcp.ts";
import { BUILTIN } from "../plugins/index.ts";
import { Client, ipv4, until } from "./lib/satp-client.ts";

const PORT = 46000 + (process.pid % 1000);
let server: Server;
const b = new Client(2, "pass b");
const suite = { cipher: "aes-ctr", auth: "sha1", tagLength: 10, kdPrf: "aes-ctr" } as const;

/** Client a's session: one client process, so its send counter carries on across connections. */
const A = new SatpSession(new SatpCrypto(suite, deriveMaster("aes-ctr", { passphrase: "pass a" }), "right"), 1, 0);

/** A connection of client a speaking framed SATP over TCP with mux 1. */
class TcpClient {
  session = A;
  rx = receiverFor(this.session);
  id = 0;
  conn!: FramedConn;
  data: Uint8Array[] = [];
  control: ControlMessage[] = [];
  closedWhy = "";
  async dial(port: number) {
    this.conn = await dialFramed(
      "127.0.0.1",
      port,
      (_c, pkt) => {
        const s = this.session;
        const n = this.rx.open(pkt);
        if (n <= 2) return;
        if (s.type === PT_CONTROL) this.control.push(decodeControl(s.inner())!);
        else this.data.push(s.inner().slice());
      },
      (_c, why) => void (this.closedWhy = why),
    );
  }
  send(type: number, body: Uint8Array) {
    const buf = new Uint8Array(2048);
    this.conn.sendPacket(buf.subarray(0, this.session.seal(buf, 0, type, body)));
  }
  async ask(tlvs: ControlMessage["tlvs"]) {
    const n = this.control.length;
    this.send(PT_CONTROL, encodeControl({ type: MSG.INIT, id: ++this.id, tlvs }));
    await until("answer", () => this.control.length > n);
    return this.control.at(-1)!;
  }
}

beforeAll(async () => {
  const cfg = validateConfig({
    mode: "server",
    listen: ["127.0.0.1:0"],
    admin: { enabled: false },
    clients: [
      { mux: 1, passphrase: "pass a", routes: ["10.99.0.1/32"] },
      { mux: 2, passphrase: "pass b", routes: ["10.99.0.2/32"] },
    ],
    tcp: {
      listen: [`127.0.0.1:${PORT}`],
      advertise: `127.0.0.1:${PORT}`,
      maxPending: 8,
      pendingMs: 600,
      pendingBytes: 4096,
    },
  });
  server = await Server.start(cfg, new Logger([], "text"), BUILTIN, process.cwd());
  await b.open();
  b.send(server.listeners[0]!.udp.port, ipv4("10.99.0.2", "10.99.0.9", "hello"));
  await until("b known", () => server.conns.get(2)!.endpoint !== null);
});
afterAll(() => {
  server.stop();
  b.sock.close();
});

test("INIT → REDIRECT with a token → INIT_OK → data both ways over framed TCP", async () => {
  const init = new TcpClient();
  await init.dial(PORT);
  const r = await init.ask([]);
  expect(r.type).toBe(MSG.REDIRECT);
  expect([...tlv(r, TLV.UNICAST_ADDR)!]).toEqual([127, 0, 0, 1]);
  expect(u16(tlv(r, TLV.UNICAST_PORT))).toBe(PORT);
  const token = tlv(r, TLV.TOKEN)!;
  expect(token.length).toBe(16);
  init.conn.close("done");

  const a = new TcpClient();
  await a.dial(PORT);
  a.send(PT_IPV4, ipv4("10.99.0.1", "10.99.0.2", "too early"));
  await until("refused before the token", () => server.drops["tcp-no-token"] === 1);
  expect((await a.ask([{ t: TLV.TOKEN, v: token }])).type).toBe(MSG.INIT_OK);
  a.send(PT_IPV4, ipv4("10.99.0.1", "10.99.0.2", "a over tcp"));
  await until("b gets it", () => b.got.length === 1);
  expect(new TextDecoder().decode(b.got[0]!.subarray(28))).toBe("a over tcp");
  b.send(server.listeners[0]!.udp.port, ipv4("10.99.0.2", "10.99.0.1", "b to a"));
  await until("a gets it over tcp", () => a.data.length === 1);
  expect(new TextDecoder().decode(a.data[0]!.subarray(28))).toBe("b to a");
  a.conn.close("done");
});

test("a forged token is refused; garbage framing closes the connection and is counted", async () => {
  const c = new TcpClient();
  await c.dial(PORT);
  const forged = new Uint8Array(16);
  new DataView(forged.buffer).setUint32(0, Math.floor(Date.now() / 1000) + 30);
  const r = await c.ask([{ t: TLV.TOKEN, v: forged }]);
  expect(r.type).toBe(MSG.ERROR);
  expect(u16(tlv(r, TLV.ERROR_CODE))).toBe(ERR.REFUSED);
  const raw = await dialFramed(
    "127.0.0.1",
    PORT,
    () => {},
    () => {},
  );
  (raw as unknown as { sock: { write(b: Uint8Array): number } }).sock.write(new Uint8Array([0xff, 0xff, 1, 2, 3]));
  await until("framing error counted", () => server.drops["tcp-framing"] === 1);
  c.conn.close("done");
});

test("data for a client on its INIT connection waits in the hold queue and goes out once the token opens a link", async () => {
  const init = new TcpClient();
  await init.dial(PORT);
  const r = await init.ask([]);
  expect(r.type).toBe(MSG.REDIRECT);
  const token = tlv(r, TLV.TOKEN)!;
  expect(server.conns.get(1)!.endpoint?.dataAllowed).toBe(false); // the INIT connection: control only
  const delivered = server.held.delivered;
  b.send(server.listeners[0]!.udp.port, ipv4("10.99.0.2", "10.99.0.1", "while initialising"));
  await until("held", () => server.held.has(server.conns.get(1)!));
  await Bun.sleep(20);
  expect(init.data).toEqual([]); // not sent into the connection the client is about to close
  init.conn.close("initialised");
  const a = new TcpClient();
  await a.dial(PORT);
  expect((await a.ask([{ t: TLV.TOKEN, v: token }])).type).toBe(MSG.INIT_OK);
  await until("released on the unicast connection", () => a.data.length === 1);
  expect(new TextDecoder().decode(a.data[0]!.subarray(28))).toBe("while initialising");
  expect(server.held.delivered).toBe(delivered + 1);
  a.conn.close("done");
});

/** A raw TCP connection that only records whether the server closed it. */
async function rawConn() {
  const st = { closed: false };
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port: PORT,
    socket: { data() {}, close: () => void (st.closed = true), error: () => void (st.closed = true) },
  });
  return { sock, st };
}
const drops = (r: DropReason) => server.drops[r];

test("40 idle connections without a token: 8 held, the rest closed at once; those 8 closed at pendingMs; then a real client gets in", async () => {
  const full = drops("tcp-pending-full"),
    timeout = drops("tcp-pending-timeout");
  const conns: Awaited<ReturnType<typeof rawConn>>[] = [];
  for (let i = 0; i < 40; i++) conns.push(await rawConn());
  await until("excess closed", () => drops("tcp-pending-full") - full === 32);
  await Bun.sleep(50);
  expect(conns.filter((c) => !c.st.closed).length).toBe(8);
  await until("the held ones time out", () => conns.every((c) => c.st.closed), 3000);
  expect(drops("tcp-pending-timeout") - timeout).toBe(8);
  const init = new TcpClient();
  await init.dial(PORT);
  const r = await init.ask([]);
  expect(r.type).toBe(MSG.REDIRECT);
  init.conn.close("done");
  const a = new TcpClient();
  await a.dial(PORT);
  expect((await a.ask([{ t: TLV.TOKEN, v: tlv(r, TLV.TOKEN)! }])).type).toBe(MSG.INIT_OK);
  await Bun.sleep(800); // past pendingMs: a connection with a token is never timed out
  expect(a.closedWhy).toBe("");
  a.conn.close("done");
});

test("a connection streaming frames without a token is closed once it sent pendingBytes", async () => {
  const before = drops("tcp-pending-bytes");
  const { sock, st } = await rawConn();
  const frame = new Uint8Array(2 + 100);
  frame[1] = 100; // u16 length 100, then junk (not SATP for any client)
  for (let i = 0; i < 60 && !st.closed; i++) {
    sock.write(frame);
    await Bun.sleep(1);
  }
  await until("closed", () => st.closed);
  expect(drops("tcp-pending-bytes") - before).toBe(1);
});
