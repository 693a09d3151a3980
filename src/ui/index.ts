// The admin status page (GET /ui): a static page whose script reads GET /v1/status every second
// (src/status.ts) and draws rates and tables. The page, script and style carry no data, so they
// are served without the token (the data calls need it, like every other route); the Host and
// Origin rules of admin.ts apply to them as to everything, and the CSP allows only this origin.
// The files are imported as text so a compiled binary carries them.
import type { Hono } from "hono";
import page from "./page.html" with { type: "text" };
import script from "./app.js" with { type: "text" };
import style from "./style.css" with { type: "text" };

export const UI_PATHS = new Set(["/ui", "/ui/", "/ui/app.js", "/ui/style.css"]);

const SECURITY = {
  "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-cache",
};

export function uiRoutes(app: Hono): void {
  const serve = (body: string, type: string) => () =>
    new Response(body, { headers: { "Content-Type": `${type}; charset=utf-8`, ...SECURITY } });
  app.get("/ui", serve(page as unknown as string, "text/html"));
  app.get("/ui/", serve(page as unknown as string, "text/html"));
  app.get("/ui/app.js", serve(script as unknown as string, "text/javascript"));
  app.get("/ui/style.css", serve(style as unknown as string, "text/css"));
}
