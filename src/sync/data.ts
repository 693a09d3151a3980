// The data channel between servers: sealed SATP packets for a client whose link (a tcp-unicast
// connection or a tcp-anycast flow) is held by another server go to that server as UDP
// datagrams, apart from the sync links' TCP byte streams, so a flood here never delays or
// disconnects table sync: under pressure the kernel or the batch drops, and both are counted.
// A server accepts datagrams only from nodes whose sync link is up (their instance id comes from
// that link's authenticated hello), so nothing here allocates state before authentication; the
// state per peer (address, replay window) is made when its link comes up and freed when it goes.
//
//   offset  size  field
//   0       4     magic "ATRD"
//   4       1     version = 1
//   5       2     from node (sender id), u16 BE
//   7       2     to node, u16 BE
//   9       8     sender instance id (random per process, as in the sync hello)
//   17      4     counter, u32 BE (per sending process; it stops at 2^32 - 1, never wraps)
//   21      2     mux of the client
//   23      n     AES-256-GCM ciphertext of one sealed SATP packet (n <= MAX_PACKET)
//   23+n    16    GCM tag; nonce = instance (8) || counter (4); AAD = bytes 0..23
//   key = HKDF-SHA256(fleet key, salt "", info "anytun-relay data v1"), 32 bytes
//
// Receive checks, in order (each a counted drop): the loop budget (transport/turn.ts), length, magic/version, to = us, from a node
// with an up link and that link's instance, tag, replay window (1024) of that node.
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { MAX_PACKET } from "../satp/codec.ts";
import { ReplayWindow } from "../satp/replay.ts";
import { UdpTransport } from "../transport/udp.ts";
import type { Forwarder } from "../transport/link.ts";
import { turnElapsed } from "../transport/turn.ts";

export const DATA_HEADER = 23;
const TAG = 16;
const MAGIC = [0x41, 0x54, 0x52, 0x44]; // "ATRD"
const VERSION = 1;
const WINDOW = 1024;

export interface DataStats {
  sent: number;
  received: number;
  /** Forward refused before sending: no such peer, counter exhausted, packet too large. */
  unreachable: number;
  /** Datagrams the kernel did not take (send buffer full, ICMP error). */
  sendErrors: number;
  short: number;
  foreign: number;
  auth: number;
  replay: number;
  /** Shed: arrived past the loop budget of the turn (transport/turn.ts). */
  overload: number;
}

interface Peer {
  address: string;
  port: number;
  instance: Uint8Array;
  window: ReplayWindow;
}

export class DataChannel implements Forwarder {
  readonly stats: DataStats = {
    sent: 0,
    received: 0,
    unreachable: 0,
    sendErrors: 0,
    short: 0,
    foreign: 0,
    auth: 0,
    replay: 0,
    overload: 0,
  };
  /** Sealing key first, then the others accepted (fleet key rotation). */
  private keys: Uint8Array[];
  private readonly instance: Uint8Array;
  private readonly peers = new Map<number, Peer>();
  private udp: UdpTransport | null = null;
  private counter = 0;
  private readonly nonce = new Uint8Array(12);
  private readonly rnonce = new Uint8Array(12);
  private onPacket: (from: number, mux: number, pkt: Uint8Array) => void = () => {};

  constructor(
    fleetKeys: readonly Uint8Array[],
    private readonly node: number,
    instanceHex: string,
    /** Packet work allowed per event-loop turn, ms (config loopBudgetMs; 0 = no limit). */
    private readonly budgetMs = 0,
  ) {
    this.keys = [];
    this.setKeys(fleetKeys);
    this.instance = new Uint8Array(Buffer.from(instanceHex, "hex"));
    this.nonce.set(this.instance.subarray(0, 8), 0);
  }

  setKeys(fleetKeys: readonly Uint8Array[]): void {
    this.keys = fleetKeys.map(
      (k) => new Uint8Array(hkdfSync("sha256", k, new Uint8Array(0), "anytun-relay data v1", 32)),
    );
  }

  /** Binds host:port (UDP; the sync listen address, or any port). */
  async open(host: string, port: number): Promise<void> {
    this.udp = await UdpTransport.open(
      host,
      port,
      (b) => void this.receive(b),
      () => {},
    );
  }

  get port(): number {
    return this.udp?.port ?? 0;
  }

  /** Where received packets go (the datapath). */
  deliver(fn: (from: number, mux: number, pkt: Uint8Array) => void): void {
    this.onPacket = fn;
  }

  /** A sync link to `node` came up (authenticated): its data address and instance. */
  addPeer(node: number, address: string, port: number, instanceHex: string): void {
    this.peers.set(node, {
      address,
      port,
      instance: new Uint8Array(Buffer.from(instanceHex, "hex")),
      window: new ReplayWindow(WINDOW),
    });
  }

  removePeer(node: number): void {
    this.peers.delete(node);
  }

  reachable(node: number): boolean {
    return this.udp !== null && this.peers.has(node);
  }

  forward(node: number, mux: number, pkt: Uint8Array): boolean {
    const p = this.peers.get(node);
    const udp = this.udp;
    if (p === undefined || udp === null || pkt.length > MAX_PACKET || this.counter >= 0xffffffff) {
      this.stats.unreachable++;
      return false;
    }
    const ctr = this.counter++;
    const b = udp.slot();
    b.set(MAGIC, 0);
    b[4] = VERSION;
    b[5] = this.node >>> 8;
    b[6] = this.node & 255;
    b[7] = node >>> 8;
    b[8] = node & 255;
    b.set(this.instance.subarray(0, 8), 9);
    b[17] = ctr >>> 24;
    b[18] = ctr >>> 16;
    b[19] = ctr >>> 8;
    b[20] = ctr;
    b[21] = mux >>> 8;
    b[22] = mux & 255;
    const n = this.nonce;
    n[8] = ctr >>> 24;
    n[9] = ctr >>> 16;
    n[10] = ctr >>> 8;
    n[11] = ctr;
    const c = createCipheriv("aes-256-gcm", this.keys[0]!, n);
    c.setAAD(b.subarray(0, DATA_HEADER));
    const ct = c.update(pkt);
    c.final();
    b.set(ct, DATA_HEADER);
    b.set(c.getAuthTag(), DATA_HEADER + pkt.length);
    udp.queue(DATA_HEADER + pkt.length + TAG, p.port, p.address);
    this.stats.sent++;
    return true;
  }

  /** One datagram from the network; every refusal is counted, nothing throws. */
  receive(b: Uint8Array): void {
    const st = this.stats;
    if (this.budgetMs > 0 && turnElapsed(performance.now()) > this.budgetMs) return void st.overload++;
    const len = b.length;
    if (len < DATA_HEADER + 8 + TAG || len > DATA_HEADER + MAX_PACKET + TAG) return void st.short++;
    if (b[0] !== MAGIC[0] || b[1] !== MAGIC[1] || b[2] !== MAGIC[2] || b[3] !== MAGIC[3] || b[4] !== VERSION)
      return void st.foreign++;
    const from = (b[5]! << 8) | b[6]!;
    const to = (b[7]! << 8) | b[8]!;
    const p = this.peers.get(from);
    if (to !== this.node || p === undefined) return void st.foreign++;
    for (let i = 0; i < 8; i++) if (b[9 + i] !== p.instance[i]) return void st.foreign++;
    const ctr = ((b[17]! << 24) | (b[18]! << 16) | (b[19]! << 8) | b[20]!) >>> 0;
    const n = this.rnonce;
    n.set(b.subarray(9, 17), 0);
    n.set(b.subarray(17, 21), 8);
    let plain: Uint8Array | null = null;
    for (const key of this.keys)
      try {
        const d = createDecipheriv("aes-256-gcm", key, n);
        d.setAAD(b.subarray(0, DATA_HEADER));
        d.setAuthTag(b.subarray(len - TAG));
        const out = d.update(b.subarray(DATA_HEADER, len - TAG));
        d.final();
        plain = out;
        break;
      } catch {
        // another accepted key (rotation), or a forgery
      }
    if (plain === null) return void st.auth++;
    if (!p.window.accept(ctr)) return void st.replay++;
    st.received++;
    this.onPacket(from, (b[21]! << 8) | b[22]!, plain);
  }

  /** Send errors as the UDP transport counted them. */
  refresh(): void {
    if (this.udp) this.stats.sendErrors = this.udp.stats.txErrors;
  }

  close(): void {
    this.udp?.close();
    this.udp = null;
    this.peers.clear();
  }
}
