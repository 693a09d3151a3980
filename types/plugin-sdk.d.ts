export { CONSUMED, definePlugin, drop, forward, NEXT } from "./pipeline.ts";
export { cidr, interfaceName, portRange } from "./config-parts.ts";
export { checksumsOk, newIpView, parseIpHeader, parseL4, PROTO_ICMP, PROTO_ICMP6, PROTO_TCP, PROTO_UDP, u32At, } from "./net/ip.ts";
export type { IpError, IpView } from "./net/ip.ts";
export type { Packet, PluginContext, PluginDefinition, PluginInstance, SyncTables, Verdict } from "./pipeline.ts";
export type { ControlMessage } from "./satp/control.ts";
export type { Conn } from "./state.ts";
