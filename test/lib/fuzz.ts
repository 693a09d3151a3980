// Shared fuzz engine for the SATP receive path (test/satp-fuzz.test.ts, test/bench/fuzz.ts).
//
// Inputs are fully random datagrams (length 0..1700) or mutations of the 55 captured anytun packets
// (test/fixtures/satp-vectors.json): bit flips, byte sets, truncation, extension, header field
// changes, splices of two vectors, stacks of those, and some unmodified vectors as a sanity check.
// Every input goes through the receive path as a receiver runs it (SPEC §9):
//
//   length < 8                   -> 'short' (readHeader is never called on it)
//   readHeader
//   crypto.open(.., null)        -> reference verdict without replay protection
//   crypto.open(.., window)      -> the receiver's verdict (window per sender id, SPEC §10)
//     OPEN_SHORT -> 'short', OPEN_AUTH -> 'auth', OPEN_REPLAY -> 'replay', 0 -> 'keepalive'
//     n > 0: typeFitsDevice(first plaintext word) ? 'accepted' : 'type'
//
// Then the same bytes go through the real receive paths of the three roles (roles.ts: the server's
// Datapath, the peer's PeerPath, the relay client's RelayClientPath, all on satp/session.ts),
// each of which must count the input exactly once (accepted, or a drop by reason) and not throw.
//
// Each input lands in exactly one outcome bucket. An exception escaping any of it is a bug and is
// counted in the 'exception' bucket (with the input's hex). Disagreements between the two `open`
// calls, or results that break open's contract, are recorded as anomalies (also bugs).
import { cryptoFor, VECTORS, type Vector } from "./vectors.ts";
import { HEADER_LEN, MAX_PACKET, readHeader, typeFitsDevice, type Header } from "../../src/satp/codec.ts";
import { OPEN_AUTH, OPEN_REPLAY, OPEN_SHORT, SatpCrypto } from "../../src/satp/crypto.ts";
import { ReplayWindow } from "../../src/satp/replay.ts";
import { rolePaths, ROLES, type Role, type RolePaths } from "./fuzz-roles.ts";
import { mulberry32 } from "./util.ts";

export { VECTORS, type Vector } from "./vectors.ts";

// ---- PRNG ---------------------------------------------------------------------------------------

/** mulberry32: seeded u32 generator; same seed, same inputs (no Math.random anywhere). */
export class Rng {
  readonly u32: () => number;
  constructor(seed: number) {
    this.u32 = mulberry32(seed);
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }
  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  chance(p: number): boolean {
    return this.u32() < p * 0x1_0000_0000;
  }
  fill(b: Uint8Array): void {
    let i = 0;
    for (; i + 4 <= b.length; i += 4) {
      const x = this.u32();
      b[i] = x;
      b[i + 1] = x >>> 8;
      b[i + 2] = x >>> 16;
      b[i + 3] = x >>> 24;
    }
    for (; i < b.length; i++) b[i] = this.u32();
  }
}

// ---- receivers ----------------------------------------------------------------------------------

export type Outcome = "accepted" | "short" | "auth" | "replay" | "keepalive" | "type" | "exception";
export const OUTCOMES: readonly Outcome[] = ["accepted", "short", "auth", "replay", "keepalive", "type", "exception"];

/** What a receiving host needs for one connection: its crypto, device kind and replay windows. */
export interface Receiver {
  name: string;
  crypto: Pick<SatpCrypto, "open" | "plain" | "suite">;
  tap: boolean;
  windowSize: number;
  /** One window per sender id (SPEC §10), created on first use. */
  windows: Map<number, ReplayWindow>;
  /** The same config behind the real receive paths of server, peer and relay client (buildFixture sets it). */
  roles?: RolePaths;
}

/** Windows kept per receiver before the map is dropped (random sender ids would grow it to 65536). */
const MAX_WINDOWS = 4096;

function configKey(v: Vector): string {
  return [
    v.cipher,
    v.auth_algo,
    v.auth_tag_length,
    v.kd_prf,
    v.passphrase,
    v.master_key_hex,
    v.master_salt_hex,
    v.device_type,
  ].join("|");
}

export interface Fixture {
  receivers: Receiver[];
  /** Index into `receivers` of the receiver that a vector was captured for (its config, receiver role). */
  receiverOf: number[];
  packets: Uint8Array[];
  /** hex of every vector packet -> vector index, to recognise a mutation that changed nothing. */
  byHex: Map<string, number>;
}

const WINDOW_SIZES = [16, 1, 64, 1000];

/** One receiver per distinct crypto config in the vectors and per role (both roles: 2 x 8 configs). */
export function buildFixture(): Fixture {
  const receivers: Receiver[] = [];
  const index = new Map<string, number>();
  const receiverOf: number[] = [];
  for (const v of VECTORS) {
    const key = configKey(v);
    if (!index.has(key)) {
      index.set(key, receivers.length);
      for (const role of ["left", "right"] as const) {
        const windowSize = WINDOW_SIZES[receivers.length % WINDOW_SIZES.length]!;
        receivers.push({
          name: `${v.id.replace(/-\d+$/, "")}/${role}/W${windowSize}`,
          crypto: cryptoFor(v, role),
          tap: v.device_type === "tap",
          windowSize,
          windows: new Map(),
          roles: rolePaths(v, role, windowSize),
        });
      }
    }
    receiverOf.push(index.get(key)! + (v.receiver_role === "left" ? 0 : 1));
  }
  const packets = VECTORS.map((v) => new Uint8Array(Buffer.from(v.udp_payload_hex, "hex")));
  const byHex = new Map(VECTORS.map((v, i) => [v.udp_payload_hex, i] as const));
  return { receivers, receiverOf, packets, byHex };
}

// ---- the receive path ---------------------------------------------------------------------------

export interface Bug {
  kind: "exception" | "anomaly";
  receiver: string;
  inputHex: string;
  detail: string;
}

/** Per-input verdict details, for callers that want more than the bucket. */
export interface Verdict {
  outcome: Outcome;
  /** `open` without a window: >= 0 means the tag verified (or auth is null). -99: not reached. */
  noWindow: number;
  /** True when, without a window, the payload type also fit the device. */
  noWindowAccepted: boolean;
}

const scratchHeader: Header = { seq: 0, senderId: 0, mux: 0 };

function windowFor(rx: Receiver, senderId: number): ReplayWindow {
  let w = rx.windows.get(senderId);
  if (w === undefined) {
    if (rx.windows.size >= MAX_WINDOWS) rx.windows.clear();
    w = new ReplayWindow(rx.windowSize);
    rx.windows.set(senderId, w);
  }
  return w;
}

function typeOf(plain: Uint8Array): number {
  return (plain[0]! << 8) | plain[1]!;
}

/**
 * Runs one datagram through `rx` as a receiver would. Never throws: an exception from the code under
 * test becomes outcome 'exception' and a Bug in `bugs`; contract violations become anomaly Bugs.
 */
export function receive(rx: Receiver, pkt: Uint8Array, bugs: Bug[]): Verdict {
  const anomaly = (detail: string) =>
    bugs.push({ kind: "anomaly", receiver: rx.name, inputHex: Buffer.from(pkt).toString("hex"), detail });
  try {
    if (pkt.length < HEADER_LEN) return { outcome: "short", noWindow: -99, noWindowAccepted: false };
    const h = scratchHeader;
    readHeader(pkt, h);
    const c = rx.crypto;
    const t = c.suite.tagLength;

    const a = c.open(pkt, h.seq, h.senderId, h.mux, null);
    let aType = -1;
    if (a > 0) {
      if (c.plain.length !== a) anomaly(`no-window open returned ${a} but plain has ${c.plain.length} bytes`);
      aType = typeOf(c.plain);
    }
    const aAccepted = a > 0 && typeFitsDevice(aType, rx.tap);

    const b = c.open(pkt, h.seq, h.senderId, h.mux, windowFor(rx, h.senderId));

    // open's contract (crypto.ts): exactly one of the documented results, consistent with length.
    const lenOk = pkt.length >= HEADER_LEN + t && pkt.length <= MAX_PACKET;
    const body = pkt.length - HEADER_LEN - t;
    const expectN = body <= 2 ? 0 : body;
    if (a === OPEN_SHORT) {
      if (lenOk) anomaly(`OPEN_SHORT for a ${pkt.length}-byte packet with tag ${t}`);
    } else if (a === OPEN_AUTH) {
      if (t === 0) anomaly("OPEN_AUTH with null auth");
    } else if (a >= 0) {
      if (a !== expectN) anomaly(`open returned ${a}, expected ${expectN} for ${pkt.length} bytes, tag ${t}`);
    } else anomaly(`no-window open returned ${a}`);
    if (a === OPEN_REPLAY) anomaly("OPEN_REPLAY without a window");
    // The window may only turn an otherwise good result into OPEN_REPLAY.
    if (b === OPEN_REPLAY) {
      if (a < 0) anomaly(`window said replay for a packet that fails without it (${a})`);
    } else if (b !== a) anomaly(`with window ${b}, without ${a}`);

    let outcome: Outcome;
    if (b === OPEN_SHORT) outcome = "short";
    else if (b === OPEN_AUTH) outcome = "auth";
    else if (b === OPEN_REPLAY) outcome = "replay";
    else if (b === 0) outcome = "keepalive";
    else if (b > 0) {
      if (c.plain.length !== b) anomaly(`open returned ${b} but plain has ${c.plain.length} bytes`);
      const type = typeOf(c.plain);
      if (type !== aType) anomaly(`payload type ${type} with window, ${aType} without`);
      outcome = typeFitsDevice(type, rx.tap) ? "accepted" : "type";
    } else {
      anomaly(`open returned ${b}`);
      outcome = "auth";
    }
    return { outcome, noWindow: a, noWindowAccepted: aAccepted };
  } catch (e) {
    const err = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e);
    bugs.push({ kind: "exception", receiver: rx.name, inputHex: Buffer.from(pkt).toString("hex"), detail: err });
    return { outcome: "exception", noWindow: -99, noWindowAccepted: false };
  }
}

// ---- input generation ---------------------------------------------------------------------------

export type Source = "random" | "unmodified" | "mutated";
export const MUTATIONS = ["bitflip", "byteset", "truncate", "extend", "header", "splice", "stack"] as const;
export type Mutation = (typeof MUTATIONS)[number];

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x86, 0xdd, 0x65, 0x58, 0x88, 0xb5];
const INTERESTING_SEQ = [0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffff0, 0xfffffffe, 0xffffffff];
const INTERESTING_U16 = [0, 1, 0x1234, 0x0102, 0x0304, 0x7fff, 0x8000, 0xffff];
const MAX_INPUT = 1700;

function mutateOnce(r: Rng, src: Uint8Array, packets: Uint8Array[], m: Mutation): Uint8Array {
  switch (m) {
    case "bitflip": {
      const b = src.slice();
      if (b.length === 0) return b;
      const k = r.chance(0.7) ? 1 : r.range(2, 8);
      for (let i = 0; i < k; i++) b[r.int(b.length)]! ^= 1 << r.int(8);
      return b;
    }
    case "byteset": {
      const b = src.slice();
      if (b.length === 0) return b;
      const k = r.range(1, 4);
      for (let i = 0; i < k; i++) b[r.int(b.length)] = r.chance(0.5) ? r.pick(INTERESTING_BYTES) : r.int(256);
      return b;
    }
    case "truncate": {
      // bias towards the interesting boundaries: around the header, header+2, and the tag
      const n = src.length;
      const cut = r.chance(0.5)
        ? r.range(0, n)
        : Math.max(0, Math.min(n, r.pick([0, 7, 8, 9, 10, 11, 12, 18, 20, 28, 30, n - 1, n - 4, n - 10, n - 20])));
      return src.slice(0, cut);
    }
    case "extend": {
      const add = r.chance(0.8) ? r.range(1, 32) : r.range(1, Math.max(1, MAX_INPUT - src.length));
      const b = new Uint8Array(src.length + add);
      b.set(src);
      const ext = b.subarray(src.length);
      if (r.chance(0.5)) r.fill(ext);
      else ext.fill(r.pick(INTERESTING_BYTES));
      return b;
    }
    case "header": {
      const b = src.slice();
      if (b.length < HEADER_LEN) return b;
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      switch (r.int(3)) {
        case 0: {
          const s = dv.getUint32(0);
          const v = r.pick([r.pick(INTERESTING_SEQ), (s + 1) >>> 0, (s - 1) >>> 0, r.u32()]);
          dv.setUint32(0, v);
          break;
        }
        case 1:
          dv.setUint16(4, r.chance(0.5) ? r.pick(INTERESTING_U16) : r.int(0x10000));
          break;
        default:
          dv.setUint16(6, r.chance(0.5) ? r.pick(INTERESTING_U16) : r.int(0x10000));
      }
      return b;
    }
    case "splice": {
      const other = r.pick(packets);
      const i = r.range(0, src.length);
      const j = r.range(0, other.length);
      const b = new Uint8Array(i + other.length - j);
      b.set(src.subarray(0, i));
      b.set(other.subarray(j), i);
      return b;
    }
    case "stack": {
      let b = src;
      const k = r.range(2, 4);
      for (let i = 0; i < k; i++) b = mutateOnce(r, b, packets, r.pick(MUTATIONS.slice(0, -1)));
      return b;
    }
  }
}

export interface Input {
  source: Source;
  mutation: Mutation | "none" | "random";
  bytes: Uint8Array;
  /** Receiver index it is fed to. */
  rx: number;
}

/** The i-th input of a run: 30% random datagrams, 5% unmodified vectors, 65% mutated vectors. */
export function nextInput(r: Rng, fx: Fixture): Input {
  const k = r.int(100);
  if (k < 30) {
    const len = r.chance(0.25) ? r.range(0, 40) : r.range(0, MAX_INPUT);
    const bytes = new Uint8Array(len);
    r.fill(bytes);
    return { source: "random", mutation: "random", bytes, rx: r.int(fx.receivers.length) };
  }
  const vi = r.int(fx.packets.length);
  if (k < 35) return { source: "unmodified", mutation: "none", bytes: fx.packets[vi]!, rx: fx.receiverOf[vi]! };
  const mutation = r.pick(MUTATIONS);
  const bytes = mutateOnce(r, fx.packets[vi]!, fx.packets, mutation);
  // A mutation that happens to reproduce a captured packet (byte set to its own value, splice at the
  // ends, ...) is not a forgery: route it to that packet's own receiver and count it as unmodified.
  const same = fx.byHex.get(Buffer.from(bytes).toString("hex"));
  if (same !== undefined) return { source: "unmodified", mutation, bytes, rx: fx.receiverOf[same]! };
  return { source: "mutated", mutation, bytes, rx: fx.receiverOf[vi]! };
}

// ---- the run ------------------------------------------------------------------------------------

export interface FuzzResult {
  n: number;
  seed: number;
  ms: number;
  outcomes: Record<Outcome, number>;
  bySource: Record<Source, Record<Outcome, number>>;
  exceptions: number;
  anomalies: number;
  /** First few bugs (exceptions and anomalies) with their inputs. */
  bugs: Bug[];
  /** Mutated (bytes differ from every vector) inputs to a receiver with a real tag (sha1, t >= 4). */
  mutatedAuthed: number;
  /** ... of which the tag verified: a forgery. */
  mutatedAuthedTagOk: number;
  /** Mutated inputs to a null-auth receiver, and how many of them got through to the device. */
  mutatedNullAuth: number;
  mutatedNullAuthAccepted: number;
  unmodified: number;
  /** Unmodified vectors accepted by open without a window and with a fitting payload type. */
  unmodifiedAcceptedNoWindow: number;
  /** Per role: inputs through its real receive path, and how many were not counted exactly once. */
  roles: Record<Role, { inputs: number; miscounted: number }>;
}

function zero(): Record<Outcome, number> {
  return { accepted: 0, short: 0, auth: 0, replay: 0, keepalive: 0, type: 0, exception: 0 };
}

const KEEP_BUGS = 20;

/** Builds fresh receivers and feeds `n` seeded inputs through the receive path. */
export function runFuzz(n: number, seed: number, onProgress?: (done: number) => void): FuzzResult {
  const fx = buildFixture();
  const r = new Rng(seed);
  const res: FuzzResult = {
    n,
    seed,
    ms: 0,
    outcomes: zero(),
    bySource: { random: zero(), unmodified: zero(), mutated: zero() },
    exceptions: 0,
    anomalies: 0,
    bugs: [],
    mutatedAuthed: 0,
    mutatedAuthedTagOk: 0,
    mutatedNullAuth: 0,
    mutatedNullAuthAccepted: 0,
    unmodified: 0,
    unmodifiedAcceptedNoWindow: 0,
    roles: {
      server: { inputs: 0, miscounted: 0 },
      peer: { inputs: 0, miscounted: 0 },
      relay: { inputs: 0, miscounted: 0 },
    },
  };
  const bugs: Bug[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const input = nextInput(r, fx);
    const rx = fx.receivers[input.rx]!;
    const v = receive(rx, input.bytes, bugs);
    for (const role of rx.roles ? ROLES : []) {
      res.roles[role].inputs++;
      try {
        const moved = rx.roles!.run(role, input.bytes);
        if (moved !== 1) {
          res.roles[role].miscounted++;
          bugs.push({
            kind: "anomaly",
            receiver: `${rx.name}/${role}`,
            inputHex: Buffer.from(input.bytes).toString("hex"),
            detail: `the ${role} receive path moved ${moved} counters (1 expected)`,
          });
        }
      } catch (e) {
        const err = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e);
        bugs.push({
          kind: "exception",
          receiver: `${rx.name}/${role}`,
          inputHex: Buffer.from(input.bytes).toString("hex"),
          detail: err,
        });
      }
    }
    res.outcomes[v.outcome]++;
    res.bySource[input.source][v.outcome]++;
    if (input.source === "mutated") {
      if (rx.crypto.suite.tagLength > 0) {
        res.mutatedAuthed++;
        if (v.noWindow >= 0) res.mutatedAuthedTagOk++;
      } else {
        res.mutatedNullAuth++;
        if (v.outcome === "accepted") res.mutatedNullAuthAccepted++;
      }
    } else if (input.source === "unmodified") {
      res.unmodified++;
      if (v.noWindowAccepted) res.unmodifiedAcceptedNoWindow++;
    }
    if (bugs.length > 0) {
      for (const b of bugs) {
        if (b.kind === "exception") res.exceptions++;
        else res.anomalies++;
        if (res.bugs.length < KEEP_BUGS) res.bugs.push(b);
      }
      bugs.length = 0;
    }
    if (onProgress !== undefined && (i + 1) % 100_000 === 0) onProgress(i + 1);
  }
  res.ms = performance.now() - t0;
  return res;
}

/** Human-readable summary lines of a run. */
export function formatResult(res: FuzzResult): string {
  const lines: string[] = [];
  const pct = (x: number, of: number) => (of === 0 ? "-" : `${((100 * x) / of).toFixed(2)}%`);
  lines.push(
    `inputs ${res.n}, seed ${res.seed}, ${(res.ms / 1000).toFixed(2)} s, ${Math.round(res.n / (res.ms / 1000))} inputs/s`,
  );
  lines.push(
    `${"outcome".padEnd(10)} ${"total".padStart(9)} ${"".padStart(7)}  ${"random".padStart(8)} ${"unmod".padStart(8)} ${"mutated".padStart(8)}`,
  );
  for (const o of OUTCOMES) {
    const s = res.bySource;
    lines.push(
      `${o.padEnd(10)} ${String(res.outcomes[o]).padStart(9)} ${pct(res.outcomes[o], res.n).padStart(7)}  ${String(s.random[o]).padStart(8)} ${String(s.unmodified[o]).padStart(8)} ${String(s.mutated[o]).padStart(8)}`,
    );
  }
  const sum = OUTCOMES.reduce((a, o) => a + res.outcomes[o], 0);
  lines.push(`${"sum".padEnd(10)} ${String(sum).padStart(9)}`);
  lines.push(
    `mutated vectors, sha1 receivers: ${res.mutatedAuthed}, tag verified (forgeries): ${res.mutatedAuthedTagOk}`,
  );
  lines.push(`mutated vectors, null-auth receivers: ${res.mutatedNullAuth}, delivered: ${res.mutatedNullAuthAccepted}`);
  lines.push(`unmodified vectors: ${res.unmodified}, accepted without window: ${res.unmodifiedAcceptedNoWindow}`);
  for (const role of ROLES)
    lines.push(
      `real ${role} receive path: ${res.roles[role].inputs} inputs, not counted exactly once: ${res.roles[role].miscounted}`,
    );
  lines.push(`exceptions: ${res.exceptions}, anomalies: ${res.anomalies}`);
  for (const b of res.bugs)
    lines.push(`  ${b.kind} on ${b.receiver}: ${b.detail.split("\n")[0]}\n    input ${b.inputHex}`);
  return lines.join("\n");
}
