// Admin HTTP API (Hono on Bun.serve): health, readiness, drain, Prometheus metrics and JSON views.
// Loopback by default. With a token set, every route needs `Authorization: Bearer TOKEN`
// (except /healthz and /readyz while admin.openHealth is true, for health checkers).
import { Hono } from "hono";
import { createHash, timingSafeEqual } from "node:crypto";
import type { Config } from "./config.ts";
import { renderMetrics } from "./metrics.ts";
import { formatPrefix } from "./net/addr.ts";
import type { Server } from "./server.ts";

const digest = (s: string) => createHash("sha256").update(s).digest();

export function adminApp(s: Server): Hono {
  const app = new Hono();
  const { token, openHealth } = s.cfg.admin;
  const want = token === undefined ? null : digest(token);

  app.use("*", async (c, next) => {
    if (want === null || (openHealth && (c.req.path === "/healthz" || c.req.path === "/readyz"))) return next();
    const h = c.req.header("authorization") ?? "";
    const m = /^Bearer (.+)$/.exec(h);
    if (!m || !timingSafeEqual(digest(m[1]!), want)) {
      c.header("WWW-Authenticate", 'Bearer realm="anytun-relay"');
      return c.json({ error: "missing or wrong bearer token" }, 401);
    }
    return next();
  });

  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/readyz", (c) => c.json({ ready: s.state === "ready", state: s.state }, s.state === "ready" ? 200 : 503));
  app.post("/drain", (c) => {
    s.drain();
    return c.json({ state: s.state });
  });
  app.get("/metrics", (c) =>
    c.text(renderMetrics(s), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }),
  );
  app.get("/v1/clients", (c) =>
    c.json(
      s.conns.all().map((x) => ({
        mux: x.mux,
        name: x.name,
        endpoint: x.endpoint
          ? { address: x.endpoint.address, port: x.endpoint.port, listener: s.listeners[x.endpoint.listener]?.name }
          : null,
        routes: x.routes.map(formatPrefix),
        suite: x.crypto.suite,
        window: x.windowSize,
        seq: x.seq,
        packets: { in: x.rxPackets, out: x.txPackets },
        bytes: { in: x.rxBytes, out: x.txBytes },
        lastSeenSecondsAgo: x.lastSeen ? Math.round((performance.now() - x.lastSeen) / 100) / 10 : null,
      })),
    ),
  );
  app.get("/v1/routes", (c) => {
    const r = s.chain.entries.filter((e) => e.name === "routes").map((e) => e.instance.describe?.());
    return c.json(r[0] ?? { routes: [] });
  });
  app.get("/v1/plugins", (c) =>
    c.json(
      s.chain.entries.map((e, i) => ({
        position: i,
        name: e.name,
        use: e.use,
        options: e.options,
        state: e.instance.describe?.() ?? null,
      })),
    ),
  );
  app.get("/v1/config", (c) => c.json(redact(s.cfg)));
  app.notFound((c) => c.json({ error: "not found" }, 404));
  app.onError((e, c) => c.json({ error: e.message }, 500));
  return app;
}

/** The running config with secrets replaced, so every knob is visible without leaking keys. */
export function redact(cfg: Config): unknown {
  const hide = (v: unknown) => (v === undefined ? undefined : "(set)");
  return {
    ...cfg,
    passphrase: hide(cfg.passphrase),
    key: hide(cfg.key),
    salt: hide(cfg.salt),
    admin: { ...cfg.admin, token: hide(cfg.admin.token) },
    clients: cfg.clients.map((c) => ({ ...c, passphrase: hide(c.passphrase), key: hide(c.key), salt: hide(c.salt) })),
  };
}
