// Admin HTTP API (Hono on Bun.serve): health, readiness, drain, Prometheus metrics and JSON views.
// Loopback by default. With a token set, every route needs `Authorization: Bearer TOKEN`
// (except /healthz and /readyz while admin.openHealth is true, for health checkers).
import { Hono } from "hono";
import { createHash, timingSafeEqual } from "node:crypto";
import type { Config } from "./config.ts";
import { renderMetrics } from "./metrics.ts";
import { formatPrefix, parseCidr } from "./net/addr.ts";
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
  app.get("/readyz", (c) => {
    const reason = s.notReadyReason();
    return c.json({ ready: reason === null, state: s.state, reason }, reason === null ? 200 : 503);
  });
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
          ? {
              address: x.endpoint.address,
              port: x.endpoint.port,
              transport: x.endpoint.kind,
              listener: x.endpoint.record === "tcp" ? undefined : x.endpoint.record,
            }
          : null,
        routes: x.routes.map(formatPrefix),
        suite: x.crypto.suite,
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
  app.get("/v1/routes", (c) => {
    const r = s.chain.entries.filter((e) => e.name === "routes").map((e) => e.instance.describe?.());
    return c.json(r[0] ?? { routes: [] });
  });
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
    s.store.set("rt", prefix, { mux });
    return c.json({ prefix, mux, known: s.conns.get(mux) !== undefined });
  });
  app.delete("/v1/routes", (c) => {
    const prefix = c.req.query("prefix") ?? "";
    if (s.store.get("rt", prefix) === undefined) return c.json({ error: "no learned route with that prefix" }, 404);
    s.store.delete("rt", prefix);
    return c.json({ deleted: prefix });
  });
  app.get("/v1/relays", (c) => {
    const r = s.chain.entries.find((e) => e.name === "relay");
    return r ? c.json(r.instance.describe?.() ?? {}) : c.json({ error: "relay plugin not configured" }, 404);
  });
  app.get("/v1/tcp", (c) =>
    c.json({
      capture: s.cfg.tcp.capture,
      stats: {
        ...s.tcpAnycast.stats,
        heldDelivered: s.held.delivered,
        heldExpired: s.held.expired,
        heldRefused: s.held.refused,
      },
      flows: s.tcpAnycast.describe(),
      unicast: [...s.tcp.conns].map((k) => ({ remote: `${k.remoteAddress}:${k.remotePort}`, ...k.stats })),
    }),
  );
  app.get("/v1/peers", (c) =>
    c.json({
      node: s.cfg.senderId,
      sync: s.mesh !== null,
      instance: s.mesh?.instance ?? null,
      peers: s.mesh?.peers() ?? [],
      tables: s.store.counts(),
      stats: s.mesh?.stats ?? null,
      data: s.mesh?.dataStats ?? null,
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
