/**
 * # steer (example plugin)
 *
 * Steers inner packets to a chosen client by their DSCP value and/or TCP/UDP destination port,
 * ahead of `routes` (list it first). Anything no rule matches goes on to the next plugin.
 *
 * Options:
 *   rules: [{ dscp?: 0..63, protocol?: "tcp" | "udp", port?: 1..65535, mux: client mux }]
 *   A rule matches when every field it gives matches; the first matching rule wins.
 *
 * Example:
 *   "plugins": [
 *     { "use": "./examples/plugins/steer.ts", "rules": [{ "dscp": 46, "mux": 3 }, { "protocol": "udp", "port": 53, "mux": 4 }] },
 *     { "use": "routes" }
 *   ]
 */
import * as v from "valibot";
import { definePlugin, forward, NEXT, type Verdict } from "anytun-relay/plugin";

const Rule = v.strictObject({
  dscp: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(63))),
  protocol: v.optional(v.picklist(["tcp", "udp"])),
  port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535))),
  mux: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)),
});

const PROTO = { tcp: 6, udp: 17 } as const;

export default definePlugin({
  name: "steer",
  options: v.strictObject({ rules: v.pipe(v.array(Rule), v.minLength(1, "give at least one rule")) }),
  create(ctx, opts) {
    const hits = ctx.counter("steered");
    // Forward verdicts per rule, rebuilt when the client table changes (a rule's client may vanish).
    let targets: (Verdict | null)[] = [];
    const build = () => {
      targets = opts.rules.map((r) => {
        const c = ctx.conns.get(r.mux);
        if (c === undefined) ctx.log.warn("rule names a mux with no client", { mux: r.mux });
        return c === undefined ? null : forward([c]);
      });
    };
    build();
    const off = ctx.conns.onChange(build);

    return {
      handle(p) {
        const d = p.data;
        let dscp: number, proto: number, l4: number;
        if (d.length >= 20 && d[0]! >>> 4 === 4) {
          dscp = d[1]! >>> 2;
          proto = d[9]!;
          l4 = (d[0]! & 15) * 4;
          if ((((d[6]! & 0x1f) << 8) | d[7]!) !== 0) l4 = -1; // a later fragment has no ports
        } else if (d.length >= 40 && d[0]! >>> 4 === 6) {
          dscp = (((d[0]! & 15) << 4) | (d[1]! >>> 4)) >>> 2;
          proto = d[6]!; // extension headers are not walked: such packets match no port rule
          l4 = 40;
        } else return NEXT;
        const port = l4 >= 0 && d.length >= l4 + 4 ? (d[l4 + 2]! << 8) | d[l4 + 3]! : -1;
        const rules = opts.rules;
        for (let i = 0; i < rules.length; i++) {
          const r = rules[i]!;
          if (r.dscp !== undefined && r.dscp !== dscp) continue;
          if (r.protocol !== undefined && PROTO[r.protocol] !== proto) continue;
          if (r.port !== undefined && (r.port !== port || (proto !== 6 && proto !== 17))) continue;
          const t = targets[i];
          if (t === null || t === undefined) continue;
          hits.inc();
          return t;
        }
        return NEXT;
      },
      stop() {
        off();
      },
      describe() {
        return { rules: opts.rules };
      },
    };
  },
});
