export { CONSUMED, definePlugin, drop, forward, NEXT } from "./pipeline.ts";
export type { Packet, PluginContext, PluginDefinition, PluginInstance, SyncTables, Verdict } from "./pipeline.ts";
export type { ControlMessage } from "./satp/control.ts";
export type { Conn } from "./state.ts";
