// systemd's service notifications (sd_notify(3)) without libsystemd: datagrams to the unix socket
// named by NOTIFY_SOCKET (a path, or "@name" in the abstract namespace), sent with
// src/net/unixgram.ts because Bun has no unix datagram API. With `Type=notify` systemd then
// knows when the relay is ready (READY=1, after its listeners and admin are bound and it has the
// fleet's marks), reloading (RELOADING=1 with MONOTONIC_USEC, then READY=1 again) and stopping
// (STOPPING=1). Without NOTIFY_SOCKET every call does nothing.
import { UnixDatagram } from "./net/unixgram.ts";

export class Notifier {
  private readonly sock: UnixDatagram | null;

  constructor(env: Record<string, string | undefined> = process.env) {
    const path = env.NOTIFY_SOCKET;
    let sock: UnixDatagram | null = null;
    if (path !== undefined && path !== "") {
      try {
        sock = new UnixDatagram(path);
      } catch {
        sock = null; // no C library: nothing to notify with
      }
    }
    this.sock = sock;
  }

  get enabled(): boolean {
    return this.sock !== null;
  }

  ready(status: string): void {
    this.send(`READY=1\nSTATUS=${status}\nMAINPID=${process.pid}`);
  }

  reloading(): void {
    // CLOCK_MONOTONIC in µs, as systemd compares it with its own (Type=notify-reload)
    this.send(`RELOADING=1\nMONOTONIC_USEC=${Math.floor(Number(process.hrtime.bigint() / 1000n))}`);
  }

  stopping(status: string): void {
    this.send(`STOPPING=1\nSTATUS=${status}`);
  }

  private send(msg: string): void {
    this.sock?.send(msg);
  }
}
