// Admin HTTP API (Hono on Bun.serve): health, readiness, drain, Prometheus metrics and JSON views.
// Loopback by default. With a token set, every route needs `Authorization: Bearer TOKEN`
// (except /healthz and /readyz while admin.openHealth is true, for health checkers).
//
// A web page in a browser on this host must not drive it (issue 14):
//  - `Host` must be an IP literal, `localhost` or a name in admin.hosts, else 421 (DNS rebinding:
//    the attacker's name resolving to 127.0.0.1 arrives with the attacker's Host);
//  - POST / PUT / DELETE with an `Origin` other than this Host, `Sec-Fetch-Site: cross-site`, or a
//    body type a page may send cross-site without a preflight (text/plain, form encodings) get
//    403 / 415; `curl -X POST .../drain` (no Origin, no body) still works;
//  - request bodies are capped at MAX_BODY (413).
// No view carries a secret: keys, passphrases, salts, tokens are "(set)" wherever they appear.
import { routeConflict } from "./routing.ts";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createHash, timingSafeEqual } from "node:crypto";
import type { Config } from "./config.ts";
import { renderMetrics } from "./metrics.ts";
import { statusOf } from "./status.ts";
import { UI_PATHS, uiRoutes } from "./ui/index.ts";
import { formatPrefix, parseCidr, parseIp } from "./net/addr.ts";
import type { Server } from "./server.ts";
import { tcpView } from "./server-parts.ts";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Bytes a request body may have. */
export const MAX_BODY = 64 * 1024;
/** Body types a web page may POST cross-site without a CORS preflight. */
const SIMPLE_TYPES = new Set(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]);

/** The host part of a Host header ("[::1]:8080" → "::1", "Name:80" → "name"), or null when malformed. */
export function hostName(h: string): string | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+))(?::(\d{1,5}))?$/.exec(h.trim());
  if (!m) return null;
  return (m[1] ?? m[2]!).toLowerCase();
}

/** True when `origin` (scheme://host[:port]) names the same host and port as the Host header. */
function sameOrigin(origin: string, host: string): boolean {
  try {
    return new URL(origin).host.toLowerCase() === host.trim().toLowerCase();
  } catch {
    return false;
  }
}

/**
 * The rules every admin API of ours applies before a route (the server's and the workers'
 * supervisor's): Host, cross-site writes, body size, bearer token.
 */
export function guardAdmin(app: Hono, admin: Config["admin"]): void {
  const { token, openHealth } = admin;
  const want = token === undefined ? null : digest(token);

  const names = new Set(["localhost", ...admin.hosts]);
  app.use("*", async (c, next) => {
    const hostHeader = c.req.header("host") ?? new URL(c.req.url).host; // Bun.serve builds the URL from Host
    const host = hostName(hostHeader);
    if (host === null || !(parseIp(host) !== null || names.has(host)))
      return c.json({ error: "Host is not this admin API's (use an IP address, localhost or admin.hosts)" }, 421);
    const m = c.req.method;
    if (m !== "GET" && m !== "HEAD" && m !== "OPTIONS") {
      const origin = c.req.header("origin");
      if (origin !== undefined && !sameOrigin(origin, hostHeader))
        return c.json({ error: "cross-origin request refused" }, 403);
      if (c.req.header("sec-fetch-site") === "cross-site") return c.json({ error: "cross-site request refused" }, 403);
      const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      if (SIMPLE_TYPES.has(type))
        return c.json({ error: `content type ${type} refused (send application/json, or no body)` }, 415);
    }
    return next();
  });
  app.use("*", bodyLimit({ maxSize: MAX_BODY, onError: (c) => c.json({ error: `body over ${MAX_BODY} bytes` }, 413) }));

  app.use("*", async (c, next) => {
    if (want === null || (openHealth && (c.req.path === "/healthz" || c.req.path === "/readyz"))) return next();
    if (UI_PATHS.has(c.req.path) && c.req.method === "GET") return next(); // static, no data (ui/index.ts)
    const h = c.req.header("authorization") ?? "";
    const m = /^Bearer (.+)$/.exec(h);
    if (!m || !timingSafeEqual(digest(m[1]!), want)) {
      c.header("WWW-Authenticate", 'Bearer realm="anytun-relay"');
      return c.json({ error: "missing or wrong bearer token" }, 401);
    }
    return next();
  });
}

export function adminApp(s: Server): Hono {
  const app = new Hono();
  guardAdmin(app, s.cfg.admin);
  /** The describe() of the first plugin in the chain with this view; undefined when none has it. */
  const pluginView = (view: string): unknown => {
    const e = s.chain.entries.find((x) => x.view === view);
    return e === undefined ? undefined : (e.instance.describe?.() ?? {});
  };

  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/readyz", (c) => {
    const reason = s.notReadyReason();
    return c.json({ ready: reason === null, state: s.state, reason }, reason === null ? 200 : 503);
  });
  app.post("/drain", (c) => {
    s.drain();
    return c.json({ state: s.state });
  });
  app.get("/metrics", (c) => {
    const text = renderMetrics(s);
    const type = { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" };
    // Compressed when the scraper asks (Prometheus does): a 10k-client scrape is mostly labels.
    if (/\bgzip\b/.test(c.req.header("Accept-Encoding") ?? ""))
      return c.body(Bun.gzipSync(new TextEncoder().encode(text)), 200, {
        ...type,
        "Content-Encoding": "gzip",
        Vary: "Accept-Encoding",
      });
    return c.text(text, 200, { ...type, Vary: "Accept-Encoding" });
  });
  app.get("/v1/status", (c) => c.json(statusOf(s)));
  uiRoutes(app);
  app.get("/v1/clients", (c) =>
    c.json(
      s.conns.all().map((x) => ({
        mux: x.mux,
        name: x.name,
        endpoint: x.endpoint
          ? {
              address: x.endpoint.address,
              port: x.endpoint.port,
              transport: x.endpoint.kind,
              listener: x.endpoint.record === "tcp" ? undefined : x.endpoint.record,
            }
          : null,
        routes: x.routes.map(formatPrefix),
        protocol: x.protocol,
        suite: x.suite,
        window: x.windowSize,
        seq: x.seq,
        replay: {
          epoch: x.epoch,
          senders: [...x.windows()].filter(([, w]) => w.isStarted).map(([id, w]) => ({ id, max: w.max })),
        },
        servedBy: x.servedBy < 0 ? null : x.servedBy,
        movedIn: x.movedIn,
        packets: { in: x.rxPackets, out: x.txPackets },
        bytes: { in: x.rxBytes, out: x.txBytes },
        lastSeenSecondsAgo: x.lastSeen ? Math.round((performance.now() - x.lastSeen) / 100) / 10 : null,
      })),
    ),
  );
  // A restarted legacy client (seq back to 0 under the same key and sender id) is a replay until
  // its marks are reset, on every server of the group (synced): never on a timer or a packet.
  app.post("/v1/clients/:mux/reset", (c) => {
    const mux = Number(c.req.param("mux"));
    const conn = Number.isInteger(mux) && mux >= 0 && mux <= 65535 ? s.conns.get(mux) : undefined;
    if (conn === undefined) return c.json({ error: `no client with mux ${c.req.param("mux")}` }, 404);
    const epoch = s.replication.marks.reset(conn);
    s.log.notice("client replay state reset (admin)", { mux, epoch });
    return c.json({ mux, epoch });
  });
  app.get("/v1/routes", (c) => c.json(pluginView("routes") ?? { routes: [] }));
  // Learned routes: synced to every server of the group; the routes plugin uses them.
  app.put("/v1/routes", async (c) => {
    const body = (await c.req.json().catch(() => null)) as { prefix?: unknown; mux?: unknown } | null;
    const prefix = typeof body?.prefix === "string" ? body.prefix : "";
    const mux = body?.mux;
    try {
      parseCidr(prefix, true);
    } catch (e) {
      return c.json({ error: `prefix: ${(e as Error).message}` }, 400);
    }
    if (typeof mux !== "number" || !Number.isInteger(mux) || mux < 0 || mux > 65535)
      return c.json({ error: "mux: expected an integer 0..65535" }, 400);
    const other = routeConflict(s.conns, parseCidr(prefix, true), mux);
    if (other !== null)
      return c.json(
        { error: `prefix: overlaps a configured route of client ${other.name ?? other.mux} (mux ${other.mux})` },
        409,
      );
    s.store.set("rt", prefix, { mux });
    return c.json({ prefix, mux, known: s.conns.get(mux) !== undefined });
  });
  app.delete("/v1/routes", (c) => {
    const prefix = c.req.query("prefix") ?? "";
    if (s.store.get("rt", prefix) === undefined) return c.json({ error: "no learned route with that prefix" }, 404);
    s.store.delete("rt", prefix);
    return c.json({ deleted: prefix });
  });
  app.get("/v1/tcp", (c) => c.json(tcpView(s)));
  app.get("/v1/peers", (c) =>
    c.json({
      node: s.cfg.senderId,
      sync: s.sync !== null,
      backend: s.sync === null ? null : s.sync.describe(),
      instance: s.sync?.instance ?? null,
      peers: s.sync?.peers() ?? [],
      tables: s.store.counts(),
      stats: s.sync?.stats ?? null,
      data: s.sync?.dataStats ?? null,
      consistency:
        s.consistency === null
          ? null
          : {
              parts: Object.keys(s.consistency.digest.parts),
              mismatches: s.consistency.mismatches,
              conflicts: s.consistency.conflicts(),
            },
      forwarded: s.dp.forwarded,
      replayMarkQueries: { asked: s.dp.marksAsked, ...s.markStats },
    }),
  );
  app.get("/v1/plugins", (c) =>
    c.json(
      s.chain.entries.map((e, i) => ({
        position: i,
        name: e.name,
        use: e.use,
        options: redactSecrets(e.options),
        state: redactSecrets(e.instance.describe?.() ?? null),
      })),
    ),
  );
  app.get("/v1/config", (c) => c.json(redact(s.cfg)));
  app.get("/v1/noise", (c) => c.json(s.noise?.view() ?? { enabled: false }));
  // A plugin's own view (PluginDefinition.view, e.g. the relay plugin's /v1/relays).
  app.get("/v1/:view", (c) => {
    const v = pluginView(c.req.param("view"));
    return v === undefined ? c.json({ error: "not found (no plugin in the chain has this view)" }, 404) : c.json(v);
  });
  app.notFound((c) => c.json({ error: "not found" }, 404));
  app.onError((e, c) => c.json({ error: e.message }, 500));
  return app;
}

/** Names of secret-bearing fields, wherever they sit (config, client entries, plugin options). */
const SECRET = /^(passphrase|pass|key|salt|token|password|secret|psk|credentials?)$/i;

/** `v` with every secret-bearing field replaced by "(set)", so every knob is visible without leaking keys. */
export function redactSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactSecrets);
  if (v === null || typeof v !== "object" || v instanceof Uint8Array) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET.test(k) && x !== undefined ? "(set)" : redactSecrets(x);
  return out;
}

/** The running config with secrets replaced. */
export function redact(cfg: Config): unknown {
  return redactSecrets(cfg);
}
