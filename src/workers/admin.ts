// The admin API of a server with workers (supervisor.ts): the same rules as a server's
// (admin.ts guardAdmin) in front of routes answered from the supervisor (/healthz, /readyz,
// /v1/workers), merged from every worker (/metrics, /drain, /v1/tcp, /v1/clients, /v1/peers, /v1/noise;
// metrics.ts, views.ts), or passed to worker 0 (or ?worker=N).
import { Hono } from "hono";
import { guardAdmin } from "../admin.ts";
import { mergeMetrics } from "./metrics.ts";
import type { Supervisor } from "./supervisor.ts";
import { mergeClients, mergeNoise, mergePeers, mergeTcp } from "./views.ts";

/** The supervisor's own series: workers, and per worker its readiness and restarts. */
function supervisorMetrics(sup: Supervisor): string {
  const out = [
    "# HELP relay_workers Workers this server runs.",
    "# TYPE relay_workers gauge",
    `relay_workers ${sup.views().length}`,
    "# HELP relay_worker_ready 1 while a worker is ready.",
    "# TYPE relay_worker_ready gauge",
    ...sup.views().map((w) => `relay_worker_ready{worker="${w.index}"} ${w.state === "ready" ? 1 : 0}`),
    "# HELP relay_worker_restarts_total Times a worker was restarted after it exited.",
    "# TYPE relay_worker_restarts_total counter",
    ...sup.views().map((w) => `relay_worker_restarts_total{worker="${w.index}"} ${w.restarts}`),
  ];
  return out.join("\n") + "\n";
}

export function supervisorApp(sup: Supervisor): Hono {
  const app = new Hono();
  guardAdmin(app, sup.cfg.admin);
  const count = sup.views().length;
  const pick = (q: string | undefined): number | null => {
    const i = q === undefined ? 0 : Number(q);
    return Number.isInteger(i) && i >= 0 && i < count ? i : null;
  };
  const all = () => sup.views().map((w) => w.index);
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/readyz", (c) => {
    const reason = sup.notReadyReason();
    return c.json(
      { ready: reason === null, state: reason === null ? "ready" : sup.stopping ? "draining" : "syncing", reason },
      reason === null ? 200 : 503,
    );
  });
  app.get("/v1/workers", (c) => c.json({ workers: sup.views() }));
  app.post("/drain", async (c) => {
    const states = await Promise.all(
      all().map(async (w) => {
        const r = await sup.ask(w, "/drain", { method: "POST" });
        return ((await r.json().catch(() => ({}))) as { state?: string }).state ?? `error ${r.status}`;
      }),
    );
    return c.json({ state: states.every((s) => s === "draining") ? "draining" : states.join(","), workers: states });
  });
  app.get("/metrics", async (c) => {
    const texts = await Promise.all(
      all().map(async (w) => {
        const r = await sup.ask(w, "/metrics");
        return r.ok ? await r.text() : "";
      }),
    );
    const text = supervisorMetrics(sup) + mergeMetrics(texts.filter((t) => t !== ""));
    const type = { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" };
    if (/\bgzip\b/.test(c.req.header("Accept-Encoding") ?? ""))
      return c.body(Bun.gzipSync(new TextEncoder().encode(text)), 200, {
        ...type,
        "Content-Encoding": "gzip",
        Vary: "Accept-Encoding",
      });
    return c.text(text, 200, { ...type, Vary: "Accept-Encoding" });
  });
  // Views whose content is per worker: merged (views.ts); ?worker=N still asks one worker.
  const merged = (path: string, merge: (views: never[]) => unknown) =>
    app.get(path, async (c, next) => {
      if (c.req.query("worker") !== undefined) return next();
      const views = await Promise.all(
        all().map(async (w) => {
          const r = await sup.ask(w, path);
          return r.ok ? await r.json() : null;
        }),
      );
      if (views.some((v) => v === null)) return c.json({ error: "a worker is not answering" }, 503);
      return c.json(merge(views as never[]));
    });
  merged("/v1/tcp", mergeTcp);
  merged("/v1/clients", mergeClients);
  merged("/v1/peers", mergePeers);
  merged("/v1/noise", mergeNoise);
  app.all("*", async (c) => {
    const url = new URL(c.req.url);
    const w = pick(url.searchParams.get("worker") ?? undefined);
    if (w === null) return c.json({ error: `?worker=: 0..${count - 1}` }, 400);
    url.searchParams.delete("worker");
    const m = c.req.method;
    const headers: Record<string, string> = {};
    const type = c.req.header("content-type");
    if (type !== undefined) headers["content-type"] = type;
    const r = await sup.ask(w, url.pathname + url.search, {
      method: m,
      headers,
      body: m === "GET" || m === "HEAD" ? undefined : await c.req.arrayBuffer(),
    });
    const out = new Headers();
    for (const h of ["content-type", "cache-control", "content-security-policy"]) {
      const v = r.headers.get(h);
      if (v !== null) out.set(h, v);
    }
    out.set("x-relay-worker", String(w));
    return new Response(r.body, { status: r.status, headers: out });
  });
  return app;
}
