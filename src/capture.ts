// Capture: a TUN that traffic is steered into by policy rules, applied and undone here (the nat
// plugin and the TCP capture of full anycast TCP use it). The setup the NAT plugin needs (IPv4,
// in the server's network namespace):
//
//   sysctl net.ipv4.ip_forward=1                       translated packets written to the TUN are forwarded
//   sysctl net.ipv4.conf.DEV.accept_local=1            they carry the NAT address, a local address, as source
//   sysctl net.ipv4.conf.DEV.rp_filter=0
//   ip rule add pref 50 to ADDR ipproto tcp dport LO-HI lookup 150     replies to NAT ports go to the TUN
//   ip rule add pref 50 to ADDR ipproto udp dport LO-HI lookup 150     instead of local delivery...
//   ip rule add pref 50 to ADDR ipproto icmp lookup 150                (echo replies; when icmp is on)
//   ip rule add pref 100 lookup local; ip rule del pref 0 lookup local   ...which needs the local table after them
//   ip route replace default dev DEV table 150
//   ip route replace blackhole default table 150 metric 4294967295    when the TUN is gone (kill -9)
//
// The blackhole: a relay killed with -9 leaves its rules, and its TUN's route goes with the
// device; without it, segments to the anycast port would fall through to the kernel, which
// answers them with RSTs and so ends every flow a peer server was about to take over. With it
// they are dropped, the client retransmits, and the server the route moves to continues.
//
// For an IPv6 address (NAT66, full anycast TCP on IPv6) the same with `ip -6` (rules, the local
// rule's move, the route), ipproto 58 for ICMPv6, and net.ipv6.conf.all.forwarding=1 (IPv6 has
// neither accept_local nor rp_filter). The rules of each family are shown with -4 / -6.
//
// The TCP capture of full anycast TCP (src/transport/tcp-anycast.ts) uses the same setup with
// protos ["tcp"] and one port: SYNs and segments to ADDR:PORT reach its TUN, not the kernel.
//
// mode "auto" applies what is missing and undoes it on stop; "check" applies nothing and reports
// what is missing (the plugin then refuses to start with that list).
import { readFileSync, writeFileSync } from "node:fs";
import { configureLink, ip, openTun, type TunDevice, type TunStats } from "./tun.ts";

export interface NatSetup {
  dev: string;
  address: string;
  ports: [number, number];
  icmp: boolean;
  table: number;
  pref: number;
  /** Which protocols are steered to the TUN (default both). */
  protos?: ("tcp" | "udp")[];
}

const portText = (s: NatSetup) => (s.ports[0] === s.ports[1] ? `${s.ports[0]}` : `${s.ports[0]}-${s.ports[1]}`);

function run(args: string[]): { ok: boolean; out: string; err: string } {
  if (args[0] !== "ip") throw new Error(`capture runs only ip, not ${args[0]}`);
  return ip(args.slice(1));
}

// Kernel settings through /proc/sys (no `sysctl` binary needed: a container image has none). In a
// container /proc/sys is read-only: the values must come from the run line (--sysctl
// net.ipv4.ip_forward=1 and net.ipv4.conf.default.{accept_local=1,rp_filter=0}, which a TUN made
// later inherits), and are then only read here.
const procPath = (path: string[]) => `/proc/sys/${path.join("/")}`;
const sysctlRead = (path: string[]) => {
  try {
    return readFileSync(procPath(path), "utf8").trim();
  } catch {
    return "";
  }
};
function sysctlWrite(path: string[], value: string): void {
  if (sysctlRead(path) === value) return;
  try {
    writeFileSync(procPath(path), value);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new Error(
      `${path.join(".")} must be ${value} and cannot be set here (${code}${code === "EROFS" ? ": /proc/sys is read-only, as in a container: pass --sysctl net.ipv4.ip_forward=1 --sysctl net.ipv4.conf.default.accept_local=1 --sysctl net.ipv4.conf.default.rp_filter=0 --sysctl net.ipv4.conf.all.rp_filter=0" : ""})`,
    );
  }
}

// Protocol numbers, not names: `ip` resolves names through /etc/protocols, which a slim image
// lacks; `ip rule show` prints the name where it has one, "ipproto-6" where not.
const PROTO = { tcp: 6, udp: 17, icmp: 1 } as const;
type Proto = keyof typeof PROTO;

/** IPv6 plans (an IPv6 address): `ip -6` rules and routes, ICMPv6, forwarding for IPv6. */
const v6 = (s: NatSetup) => s.address.includes(":");
const fam = (s: NatSetup) => (v6(s) ? "-6" : "-4");
const protoNum = (s: NatSetup, p: Proto) => (p === "icmp" && v6(s) ? 58 : PROTO[p]);
const protoName = (s: NatSetup, p: Proto) => (p === "icmp" && v6(s) ? "ipv6-icmp" : p);

function rules(s: NatSetup): { proto: Proto; args: string[] }[] {
  const base = ["to", s.address];
  const out: { proto: Proto; args: string[] }[] = (s.protos ?? ["tcp", "udp"]).map((proto) => ({
    proto,
    args: [...base, "ipproto", String(PROTO[proto]), "dport", portText(s)],
  }));
  if (s.icmp) out.push({ proto: "icmp", args: [...base, "ipproto", String(protoNum(s, "icmp"))] });
  return out;
}

/** Is rule `r` in `ip rule show`'s output (which names a protocol where /etc/protocols has it)? */
function hasRule(ruleText: string, s: NatSetup, r: { proto: Proto }): boolean {
  const shown = (p: string | number) =>
    `to ${s.address} ipproto ${p}${r.proto === "icmp" ? "" : ` dport ${portText(s)}`} lookup ${s.table}`;
  return ruleText.includes(shown(protoName(s, r.proto))) || ruleText.includes(shown(`ipproto-${protoNum(s, r.proto)}`));
}

/** The sysctls a plan needs: [path, value]. IPv6 has no accept_local nor rp_filter to set. */
function sysctls(s: NatSetup): [string[], string][] {
  if (v6(s)) return [[["net", "ipv6", "conf", "all", "forwarding"], "1"]];
  return [
    [["net", "ipv4", "ip_forward"], "1"],
    [["net", "ipv4", "conf", s.dev, "accept_local"], "1"],
    [["net", "ipv4", "conf", s.dev, "rp_filter"], "0"],
  ];
}

/** The capture table's last route: nothing falls through to the kernel while the TUN is gone. */
const BLACKHOLE = ["blackhole", "default", "metric", "4294967295"];

/** What is missing, as the commands that would fix it; empty when everything is in place. */
export function checkNatSetup(s: NatSetup): string[] {
  const missing: string[] = [];
  for (const [path, value] of sysctls(s))
    if (sysctlRead(path) !== value) missing.push(`sysctl -w ${path.join(".")}=${value}`);
  const f = fam(s);
  const ruleText = run(["ip", f, "rule", "show"]).out;
  for (const r of rules(s)) {
    if (!hasRule(ruleText, s, r)) missing.push(`ip ${f} rule add pref ${s.pref} ${r.args.join(" ")} lookup ${s.table}`);
  }
  const localPref = /^(\d+):\s+from all lookup local/m.exec(ruleText)?.[1];
  if (localPref === undefined || Number(localPref) <= s.pref)
    missing.push(
      `ip ${f} rule add pref ${s.pref + 50} lookup local && ip ${f} rule del pref ${localPref ?? 0} lookup local`,
    );
  const route = run(["ip", f, "route", "show", "table", String(s.table)]).out;
  if (!route.includes(`default dev ${s.dev}`))
    missing.push(`ip ${f} route replace default dev ${s.dev} table ${s.table}`);
  if (!route.includes("blackhole default"))
    missing.push(`ip ${f} route replace ${BLACKHOLE.join(" ")} table ${s.table}`);
  return missing;
}

/**
 * Applies what is missing; returns the undo. A rule of this plan already in place (a relay killed
 * with -9 left it, or worker 0 restarted) is taken over, not added twice (the kernel refuses a
 * duplicate), and removed by the undo like the ones added: in "auto" the relay owns these rules.
 */
export function applyNatSetup(s: NatSetup): () => void {
  const undo: string[][] = [];
  const must = (args: string[]) => {
    const r = run(args);
    if (!r.ok) throw new Error(`${args.join(" ")}: ${r.err}`);
  };
  for (const [path, value] of sysctls(s)) sysctlWrite(path, value); // forwarding is left on: other things may need it
  const f = fam(s);
  const ruleText = run(["ip", f, "rule", "show"]).out;
  for (const r of rules(s)) {
    if (!hasRule(ruleText, s, r))
      must(["ip", f, "rule", "add", "pref", String(s.pref), ...r.args, "lookup", String(s.table)]);
    undo.push(["ip", f, "rule", "del", "pref", String(s.pref), ...r.args, "lookup", String(s.table)]);
  }
  const localPref = /^(\d+):\s+from all lookup local/m.exec(ruleText)?.[1];
  if (localPref !== undefined && Number(localPref) <= s.pref) {
    const to = String(s.pref + 50);
    must(["ip", f, "rule", "add", "pref", to, "lookup", "local"]);
    must(["ip", f, "rule", "del", "pref", localPref, "lookup", "local"]);
    undo.push(
      ["ip", f, "rule", "add", "pref", localPref, "lookup", "local"],
      ["ip", f, "rule", "del", "pref", to, "lookup", "local"],
    );
  }
  must(["ip", f, "route", "replace", "default", "dev", s.dev, "table", String(s.table)]);
  must(["ip", f, "route", "replace", ...BLACKHOLE, "table", String(s.table)]);
  undo.push(["ip", f, "route", "del", ...BLACKHOLE, "table", String(s.table)]);
  return () => {
    for (const args of undo) run(args); // best effort; the device's routes vanish with it
  };
}

/** What a capture gives its user: packets in (start), packets out (write). A fake in tests. */
export interface PacketDevice {
  readonly name: string;
  /** Live counters (tun.ts TunStats). */
  readonly stats: TunStats;
  start(onPacket: (pkt: Uint8Array) => void): void;
  /** Never blocks; false when the kernel refused the packet. */
  write(pkt: Uint8Array): boolean;
  /** Written later this turn, batched (`batch`; tun.ts queue); false when it cannot be taken. */
  queue(pkt: Uint8Array): boolean;
  /** Closes the device and undoes what its setup applied; idempotent. */
  close(): void;
}

export interface CaptureOptions {
  dev: string;
  /** What is steered to the device: an IPv4 or IPv6 address, a port range of some protocols, ICMP too. */
  targets: { address: string; ports: [number, number]; protos: ("tcp" | "udp")[]; icmp: boolean }[];
  /** "auto": apply and undo the setup; "check": only check it (throw listing what is missing). */
  setup: "auto" | "check";
  table: number;
  pref: number;
  /** Workers: one queue each of a multi-queue TUN; worker 0 applies the setup, the others check it. */
  worker: { index: number; count: number } | null;
  /** A batch TUN (tun.ts): `queue` writes runs of one UDP flow as one packet. */
  batch?: boolean;
}

let leaveSetup = false;

/**
 * From now on, closing a capture leaves its rules (and the blackhole ending its table) in place, as
 * a relay killed with -9 does: a worker whose supervisor is gone stops at once, and segments that
 * still reach this server before the route moves must be dropped, not reset by the kernel.
 */
export function leaveSetupOnClose(): void {
  leaveSetup = true;
}

/** Opens the capture TUN of `o` with its policy rules; throws (nothing left applied) when they cannot be had. */
export function openCapture(o: CaptureOptions): PacketDevice {
  const tun: TunDevice = openTun({ name: o.dev, multiQueue: o.worker !== null, batch: !!o.batch });
  let undo: (() => void) | null = null;
  try {
    configureLink(tun.name, { mtu: 1500, up: true });
    for (const t of o.targets) {
      const plan: NatSetup = { dev: tun.name, ...t, table: o.table, pref: o.pref };
      if (o.setup === "auto" && (o.worker?.index ?? 0) === 0) {
        const u = applyNatSetup(plan);
        const prev = undo;
        undo = () => {
          u();
          prev?.();
        };
      }
      const missing = checkNatSetup(plan);
      if (missing.length) throw new Error(`kernel setup incomplete; run:\n  ${missing.join("\n  ")}`);
    }
  } catch (e) {
    undo?.();
    tun.close();
    throw e;
  }
  let closed = false;
  return {
    name: tun.name,
    stats: tun.stats,
    start: (onPacket) => tun.start(onPacket),
    write: (pkt) => tun.write(pkt),
    queue: (pkt) => tun.queue(pkt),
    close() {
      if (closed) return;
      closed = true;
      tun.close();
      if (!leaveSetup) undo?.();
    },
  };
}
