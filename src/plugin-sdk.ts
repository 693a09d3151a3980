// What a plugin file imports: `import { definePlugin, NEXT, forward } from "anytun-relay/plugin"`.
// The relay provides this module (and "valibot") to plugin files at run time, also inside the
// single compiled binary, so a plugin needs no node_modules of its own (see registerPluginSdk).
export { CONSUMED, definePlugin, drop, forward, NEXT } from "./pipeline.ts";
export type { Packet, PluginContext, PluginDefinition, PluginInstance, SyncTables, Verdict } from "./pipeline.ts";
export type { ControlMessage } from "./satp/control.ts";
export type { Conn } from "./state.ts";
