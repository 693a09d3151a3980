// Fuzzes the SATP receive path (readHeader -> SatpCrypto.open with/without a replay window ->
// typeFitsDevice) and the real receive paths of server, peer and relay client (test/lib/fuzz-roles.ts)
// with random datagrams and mutated anytun packets; engine in test/lib/fuzz.ts.
// For a longer run: `bun test/bench/fuzz.ts 1000000 <seed>`.
import { describe, expect, test } from "bun:test";
import { ReplayWindow } from "../src/satp/replay.ts";
import { OPEN_AUTH } from "../src/satp/crypto.ts";
import {
  buildFixture,
  formatResult,
  OUTCOMES,
  receive,
  runFuzz,
  VECTORS,
  type Bug,
  type Receiver,
} from "./lib/fuzz.ts";

const N = 50_000;
const SEED = 0x5a7b;

describe("SATP receive-path fuzz", () => {
  const res = runFuzz(N, SEED);

  test("no exception escapes and open never breaks its contract", () => {
    if (res.exceptions + res.anomalies > 0) console.error(formatResult(res));
    expect(res.exceptions).toBe(0);
    expect(res.anomalies).toBe(0);
    expect(res.bugs).toEqual([]);
  });

  test("the real receive paths of server, peer and relay client count every input exactly once", () => {
    for (const role of ["server", "peer", "relay"] as const) {
      expect(res.roles[role].inputs).toBe(N);
      expect(res.roles[role].miscounted).toBe(0);
    }
  });

  test("every input lands in exactly one bucket", () => {
    const sum = OUTCOMES.reduce((a, o) => a + res.outcomes[o], 0);
    expect(sum).toBe(N);
    for (const src of ["random", "unmodified", "mutated"] as const) {
      expect(res.bySource[src].exception).toBe(0);
    }
    // every non-error bucket is reached, so the run exercises each branch of the receive path
    for (const o of OUTCOMES) if (o !== "exception") expect(res.outcomes[o]).toBeGreaterThan(0);
  });

  test("mutated vectors are never accepted by a receiver with a real tag", () => {
    // Every mutation changes bytes covered by the tag, or the tag itself, or moves where the tag
    // is. The smallest tag among the vectors is 4 bytes (aes192), so a given forgery verifies with
    // probability 2^-32; over < 2^16 attempts the expected count is < 2^-16. The run is seeded, so
    // the bound is simply 0.
    expect(res.mutatedAuthed).toBeGreaterThan(N / 3);
    expect(res.mutatedAuthedTagOk).toBe(0);
    expect(res.bySource.mutated.accepted).toBe(res.mutatedNullAuthAccepted);
    // null auth (anytun accepts any bytes): some mutations do get through, as on the real binary
    expect(res.mutatedNullAuth).toBeGreaterThan(0);
    expect(res.mutatedNullAuthAccepted).toBeGreaterThan(0);
  });

  test("unmodified vectors are accepted (sanity: the fuzz can tell good from bad)", () => {
    expect(res.unmodified).toBeGreaterThan(N / 50);
    expect(res.unmodifiedAcceptedNoWindow).toBe(res.unmodified);
    // with the window, repeats of the same capture are replays, but some first sightings get through
    expect(res.bySource.unmodified.accepted).toBeGreaterThan(0);
    expect(res.bySource.unmodified.replay).toBeGreaterThan(0);
    expect(res.bySource.unmodified.auth + res.bySource.unmodified.short + res.bySource.unmodified.type).toBe(0);
  });

  test("same seed, same counts", () => {
    const a = runFuzz(3000, 42);
    const b = runFuzz(3000, 42);
    expect(b.outcomes).toEqual(a.outcomes);
    expect(b.bySource).toEqual(a.bySource);
    expect(runFuzz(3000, 43).outcomes).not.toEqual(a.outcomes);
  });
});

describe("fuzz engine self-checks", () => {
  const fx = buildFixture();

  test("every vector is accepted by the receiver it is routed to, rejected by the other role if authenticated", () => {
    const bugs: Bug[] = [];
    const wrong = buildFixture(); // own windows: a null-auth packet accepted by the wrong role moves its window
    VECTORS.forEach((v, i) => {
      const rx = fx.receivers[fx.receiverOf[i]!]!;
      expect(receive(rx, fx.packets[i]!, bugs).outcome).toBe("accepted");
      expect(receive(rx, fx.packets[i]!, bugs).outcome).toBe("replay");
      const other = wrong.receivers[fx.receiverOf[i]! ^ 1]!;
      expect(receive(other, fx.packets[i]!, bugs).outcome).toBe(v.auth_algo === "null" ? "accepted" : "auth");
    });
    expect(bugs).toEqual([]);
  });

  test("inputs shorter than the header are 'short' without reaching the crypto", () => {
    const bugs: Bug[] = [];
    const rx = throwingReceiver();
    for (let n = 0; n < 8; n++) expect(receive(rx, new Uint8Array(n), bugs).outcome).toBe("short");
    expect(bugs).toEqual([]);
  });

  test("an exception escaping the receive path is caught, counted and kept with its input", () => {
    const bugs: Bug[] = [];
    const v = receive(throwingReceiver(), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9), bugs);
    expect(v.outcome).toBe("exception");
    expect(bugs).toHaveLength(1);
    expect(bugs[0]!.kind).toBe("exception");
    expect(bugs[0]!.inputHex).toBe("010203040506070809");
    expect(bugs[0]!.detail).toContain("boom");
  });

  test("a window that rejects what open without it calls a forgery is flagged as an anomaly", () => {
    const bugs: Bug[] = [];
    let calls = 0;
    const rx: Receiver = {
      name: "inconsistent",
      crypto: {
        suite: { cipher: "null", auth: "sha1", tagLength: 4, kdPrf: "aes-ctr" },
        plain: new Uint8Array(0),
        open: () => (calls++ % 2 === 0 ? OPEN_AUTH : 0),
      },
      tap: false,
      windowSize: 16,
      windows: new Map<number, ReplayWindow>(),
    };
    receive(rx, new Uint8Array(20), bugs);
    expect(bugs.some((b) => b.kind === "anomaly")).toBe(true);
  });
});

function throwingReceiver(): Receiver {
  return {
    name: "throws",
    crypto: {
      suite: { cipher: "aes-ctr", auth: "sha1", tagLength: 0, kdPrf: "aes-ctr" },
      plain: new Uint8Array(0),
      open: () => {
        throw new Error("boom");
      },
    },
    tap: false,
    windowSize: 16,
    windows: new Map<number, ReplayWindow>(),
  };
}
