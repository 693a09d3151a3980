// How long this event loop has been busy with packet callbacks in the current turn. Bun drains
// a readable UDP socket without yielding, so under a flood one turn can last seconds and starve
// every timer and TCP socket of the process (measured: 1.2 s of timer lateness under a 3 s
// loopback flood) — sync heartbeats go quiet and links are cut. Receive paths call `turnElapsed`
// first and drop what comes past their budget (cheap, counted): the socket then empties fast, the
// turn ends, and timers, sync and admin run (measured: lateness under 20 ms with a 20 ms budget,
// as many datagrams handled). The price: shed datagrams still cost Bun's per-datagram callback,
// which the kernel's own drop at a full socket does not (server-udp bench at ~3x overload: -19%
// forwarded with a 250 ms budget), so the budget is off by default (config loopBudgetMs).
// One tracker per event loop (module state: a thread has one loop).

let armed = false;
let start = 0;
const reset = () => {
  armed = false;
};

/** Milliseconds since the first packet callback of this event-loop turn (0 for that first one). */
export function turnElapsed(now: number): number {
  if (!armed) {
    armed = true;
    start = now;
    setImmediate(reset);
    return 0;
  }
  return now - start;
}
