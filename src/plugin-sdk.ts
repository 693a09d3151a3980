// What a plugin file imports: `import { definePlugin, NEXT, forward } from "anytun-relay/plugin"`.
// The relay provides this module (and "valibot") to plugin files at run time, also inside the
// single compiled binary, so a plugin needs no node_modules of its own; the built-in plugins
// import this same module. Its exports are the one list: the registered module is this
// module's own namespace.
import * as v from "valibot";
import { onPluginFile } from "./pipeline.ts";
import * as self from "./plugin-sdk.ts";

export { CONSUMED, definePlugin, drop, forward, NEXT } from "./pipeline.ts";
export { cidr, interfaceName, portRange } from "./config-parts.ts";
// The one IP view (net/ip.ts): parse a packet once into a reusable view, read it anywhere.
export {
  checksumsOk,
  newIpView,
  parseIpHeader,
  parseL4,
  PROTO_ICMP,
  PROTO_ICMP6,
  PROTO_TCP,
  PROTO_UDP,
  u32At,
} from "./net/ip.ts";
export type { IpError, IpView } from "./net/ip.ts";
export type { Packet, PluginContext, PluginDefinition, PluginInstance, SyncTables, Verdict } from "./pipeline.ts";
export type { ControlMessage } from "./satp/control.ts";
export type { Conn } from "./state.ts";

let registered = false;
onPluginFile(() => {
  if (registered) return;
  registered = true;
  Bun.plugin({
    name: "anytun-relay plugin sdk",
    setup(build) {
      build.module("anytun-relay/plugin", () => ({ exports: { ...self }, loader: "object" }));
      build.module("valibot", () => ({ exports: { ...v }, loader: "object" }));
    },
  });
});
