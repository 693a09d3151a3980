// How the NATS sync backend reaches NATS (nats.ts connects with this): the servers (in the order
// listed: the PoP's own first, then the fallbacks), the login (user + pass, token, or a creds file),
// TLS, and the reconnect policy — forever, every 0.5 s ± 0.25 s (a first connect that fails is
// retried by nats.ts), so a relay started while NATS is down forwards meanwhile and joins later.
import { readFileSync } from "node:fs";
import { credsAuthenticator, type ConnectionOptions } from "@nats-io/transport-node";

export interface NatsBackendOptions {
  node: number;
  key: string;
  acceptKeys?: readonly string[] | undefined;
  heartbeatMs: number;
  staleMs: number;
  servers: string[];
  user?: string | undefined;
  pass?: string | undefined;
  token?: string | undefined;
  credsFile?: string | undefined;
  tls?: { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined } | undefined;
  prefix: string;
}

export function connectOptions(o: NatsBackendOptions): ConnectionOptions {
  const options: ConnectionOptions = {
    servers: o.servers.map((s) => s.replace(/^tls:\/\//, "nats://")),
    name: `anytun-relay node ${o.node}`,
    noEcho: true,
    noRandomize: true, // the PoP's own NATS first (listed first), the others as fallbacks in order
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    waitOnFirstConnect: false, // nats.ts loops on a failed first connect itself (and says why)
    pingInterval: Math.max(1000, o.heartbeatMs * 3),
  };
  if (o.user !== undefined) Object.assign(options, { user: o.user, pass: o.pass });
  if (o.token !== undefined) options.token = o.token;
  if (o.credsFile !== undefined) options.authenticator = credsAuthenticator(readFileSync(o.credsFile));
  if (o.tls !== undefined || o.servers.some((s) => s.startsWith("tls://"))) options.tls = { ...(o.tls ?? {}) };
  return options;
}

/** The connection's state and counters, as /v1/peers shows them (`backend`). */
export interface NatsState {
  kind: "nats";
  connected: boolean;
  server: string | null;
  reconnects: number;
  disconnects: number;
  lastError: string | null;
  recordsOut: number;
  envelopesIn: number;
  replays: number;
  foreign: number;
}

export const newNatsState = (): NatsState => ({
  kind: "nats",
  connected: false,
  server: null,
  reconnects: 0,
  disconnects: 0,
  lastError: null,
  recordsOut: 0,
  envelopesIn: 0,
  replays: 0,
  foreign: 0,
});
