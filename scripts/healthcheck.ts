// Container/systemd health check: exit 0 when the relay's admin API answers /healthz with 200
// (use /readyz for "should receive traffic"). RELAY_ADMIN (default http://127.0.0.1:8080),
// RELAY_HEALTH_PATH (default /healthz), RELAY_ADMIN_TOKEN (sent as a bearer token when set).
//   bun scripts/healthcheck.ts
const base = process.env.RELAY_ADMIN ?? "http://127.0.0.1:8080";
const path = process.env.RELAY_HEALTH_PATH ?? "/healthz";
const token = process.env.RELAY_ADMIN_TOKEN;
try {
  const r = await fetch(base + path, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(2000),
  });
  console.log(`${path}: ${r.status}`);
  process.exit(r.status === 200 ? 0 : 1);
} catch (e) {
  console.log(`${path}: ${(e as Error).message}`);
  process.exit(1);
}
