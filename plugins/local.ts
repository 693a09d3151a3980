/**
 * # local
 *
 * Delivers inner packets for `prefixes` (networks directly connected to the server) to a TUN
 * device on the server; the kernel then routes them on (IP forwarding must be on). Packets the
 * kernel sends back into that TUN are routed by inner destination to the right client (the same
 * routes the `routes` plugin uses). So the kernel knows which way the clients are, the plugin adds
 * a route through the TUN for every client route (`clientRoutes: true`), kept in step on reload.
 * Writes to the TUN are batched per event-loop turn, a run of one UDP flow as one packet
 * (src/tun-batch.ts).
 *
 * Options:
 *   prefixes       CIDR list handled here (IPv4 and/or IPv6), required
 *   device         TUN name (default "relay-local")
 *   address        optional address for the TUN (e.g. "10.99.0.254/24": the server's own inner address)
 *   mtu            default 1400
 *   clientRoutes   add kernel routes for client prefixes via the TUN (default true)
 *
 * Example: { "use": "local", "prefixes": ["192.168.50.0/24"] } before { "use": "routes" }.
 */
import * as v from "valibot";
import { cidr, interfaceName, newIpView, parseIpHeader } from "../src/plugin-sdk.ts";
import { parseCidr } from "../src/net/addr.ts";
import { PrefixTable } from "../src/net/lpm.ts";
import { CONSUMED, definePlugin, drop, NEXT } from "../src/pipeline.ts";
import { configureLink, ip, openTun } from "../src/tun.ts";

export default definePlugin({
  name: "local",
  options: v.strictObject({
    prefixes: v.pipe(v.array(cidr()), v.minLength(1, "give at least one prefix")),
    device: v.optional(interfaceName, "relay-local"),
    address: v.optional(
      v.pipe(
        v.string(),
        v.rawCheck<string>(({ dataset, addIssue }) => {
          if (!dataset.typed) return;
          try {
            parseCidr(dataset.value, false);
          } catch (e) {
            addIssue({ message: (e as Error).message });
          }
        }),
      ),
    ),
    mtu: v.optional(v.pipe(v.number(), v.integer(), v.minValue(576), v.maxValue(65535)), 1400),
    clientRoutes: v.optional(v.boolean(), true),
  }),
  create(ctx, opts) {
    const mine = new PrefixTable<true>();
    for (const p of opts.prefixes) mine.set(parseCidr(p, true), true);
    // Workers: one queue each of a multi-queue TUN; worker 0 keeps the kernel routes.
    const tun = openTun({ name: opts.device, multiQueue: ctx.worker !== null, batch: true });
    const installed = new Set<string>();
    const syncKernelRoutes = () => {
      if (!opts.clientRoutes || (ctx.worker?.index ?? 0) !== 0) return;
      const want = new Set(ctx.routes.entries().map((e) => e.prefix));
      for (const p of want)
        if (!installed.has(p)) {
          const r = ip(["route", "replace", p, "dev", tun.name]);
          if (r.ok) installed.add(p);
          else ctx.log.warn("cannot add kernel route", { prefix: p, error: r.err });
        }
      for (const p of installed)
        if (!want.has(p)) {
          ip(["route", "del", p, "dev", tun.name]);
          installed.delete(p);
        }
    };
    try {
      configureLink(tun.name, { address: opts.address, mtu: opts.mtu, up: true });
      syncKernelRoutes();
    } catch (e) {
      tun.close();
      throw e;
    }
    const off = ctx.routes.onRebuild(syncKernelRoutes);
    const back = ctx.counter("to-clients");
    const noClient = ctx.counter("no-client");
    const out = ctx.counter("to-device");
    tun.start((pkt) => {
      const c = ctx.routes.lookup(pkt);
      if (c === undefined || !ctx.send(c, pkt)) noClient.inc();
      else back.inc();
    });
    ctx.log.notice("local delivery ready", {
      device: tun.name,
      prefixes: opts.prefixes.join(","),
      kernelRoutes: installed.size,
    });
    const WRITE_FAILED = drop("local-tun-write");
    const view = newIpView();

    return {
      handle(p) {
        if (parseIpHeader(p.data, view) !== null || mine.lookup(p.data, view.dstOff, view.family) === undefined)
          return NEXT;
        if (!tun.queue(p.data)) return WRITE_FAILED;
        out.inc();
        return CONSUMED;
      },
      stop() {
        off();
        tun.close(); // its routes go with it
      },
      describe() {
        return { device: tun.name, prefixes: opts.prefixes, kernelRoutes: [...installed].sort(), tun: tun.stats };
      },
    };
  },
});
