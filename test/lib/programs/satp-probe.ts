// Sends one SATP packet (an ICMP echo request from 10.99.0.3 to 10.99.0.2 sealed for a client
// with the given mux/passphrase and seq) to a server, and saves its bytes; or sends saved bytes
// again (a replay). For the anycast e2e test, run inside a namespace.
//   bun satp-probe.ts send HOST:PORT MUX PASSPHRASE SEQ FILE
//   bun satp-probe.ts replay HOST:PORT FILE
import { readFileSync, writeFileSync } from "node:fs";
import { PT_IPV4 } from "../../../src/satp/codec.ts";
import { SatpCrypto } from "../../../src/satp/crypto.ts";
import { SatpSession } from "../../../src/satp/session.ts";
import { deriveMaster } from "../../../src/satp/suite.ts";

const [cmd, to, ...rest] = process.argv.slice(2);
const [host, port] = [to!.slice(0, to!.lastIndexOf(":")), Number(to!.slice(to!.lastIndexOf(":") + 1))];
let pkt: Uint8Array;
if (cmd === "send") {
  const [mux, pass, seq, file] = rest as [string, string, string, string];
  const suite = { cipher: "aes-ctr", auth: "sha1", tagLength: 10, kdPrf: "aes-ctr" } as const;
  const session = new SatpSession(
    new SatpCrypto(suite, deriveMaster("aes-ctr", { passphrase: pass }), "right"),
    Number(mux),
    0,
  );
  session.seq = Number(seq);
  const inner = new Uint8Array(28);
  inner.set([0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 99, 0, 3, 10, 99, 0, 2, 8, 0, 0xf7, 0xfe, 0, 1, 0, 0]);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (inner[i]! << 8) | inner[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  inner[10] = ~sum >>> 8;
  inner[11] = ~sum & 255;
  const buf = new Uint8Array(256);
  pkt = buf.slice(0, session.seal(buf, 0, PT_IPV4, inner));
  writeFileSync(file, pkt);
} else pkt = new Uint8Array(readFileSync(rest[0]!));
const s = await Bun.udpSocket({ port: 0 });
s.send(pkt, port, host);
await Bun.sleep(50);
s.close();
