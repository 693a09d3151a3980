// The worker side of src/workers/supervisor.ts: tells the supervisor over IPC that its listeners
// and admin API are bound ("up") and every change of its state; stops when the supervisor is gone.
import type { Server } from "../server.ts";
import type { WorkerMessage } from "./supervisor.ts";

const POLL_MS = 100;

/** What the supervisor asks of a worker over IPC. */
export type SupervisorMessage = { k: "drain" } | { k: "exit" };

export interface WorkerControl {
  /** The supervisor has exited (killed): stop now. */
  gone(): void;
  /** Stop as on SIGTERM (drain, then exit); asked over IPC, so a SIGTERM the worker also got
   * from its process group or cgroup (Ctrl-C, systemd) is not taken as a second one. */
  drain(): void;
  exit(): void;
}

/** Reports `server` to the supervisor and takes its orders. */
export function reportToSupervisor(server: Server, adminPort: number, control: WorkerControl): void {
  process.on("message", (m: SupervisorMessage) => {
    if (m?.k === "drain") control.drain();
    else if (m?.k === "exit") control.exit();
  });
  const send = (m: WorkerMessage) => {
    try {
      process.send?.(m);
    } catch {
      // the channel is closed: the parent check below ends us
    }
  };
  send({ k: "up", admin: adminPort, senderId: server.cfg.senderId });
  const parent = process.ppid;
  let last = "";
  let ended = false;
  const t = setInterval(() => {
    if (process.ppid !== parent) {
      if (!ended) {
        ended = true;
        clearInterval(t);
        control.gone();
      }
      return;
    }
    const reason = server.notReadyReason();
    const key = `${server.state}|${reason}`;
    if (key === last) return;
    last = key;
    // A server that was ready can be not ready again (a fleet consistency conflict): say so.
    send({
      k: "state",
      state: reason === null ? "ready" : server.state === "ready" ? "not ready" : server.state,
      reason,
    });
  }, POLL_MS);
  (t as unknown as { unref?: () => void }).unref?.();
}
