// What a failed bind means, for the operator: the listener's address and port are named by the
// caller ("listen [::]:4444 (UDP)"), this adds what the system said and what to do about it.
const WHY: Record<string, string> = {
  EADDRINUSE: "the port is in use (another process listens there; `ss -lntup` shows which)",
  EACCES: "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
  EPERM: "permission denied",
  EADDRNOTAVAIL: "the address is not on this host (add it to an interface first)",
  EAFNOSUPPORT: "this address family is not available here",
};

/** "WHAT: WHY (the system's message)" for a bind error `e` of listener `what`. */
export function bindError(what: string, e: unknown): Error {
  const msg = (e as Error | undefined)?.message ?? String(e);
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? /\b(E[A-Z]+)\b/.exec(msg)?.[1];
  const why = code !== undefined ? WHY[code] : undefined;
  return new Error(`${what}: ${why ? `${why} (${msg})` : msg}`);
}
