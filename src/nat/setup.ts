// Kernel setup the NAT plugin needs (IPv4, in the server's network namespace):
//
//   sysctl net.ipv4.ip_forward=1                       translated packets written to the TUN are forwarded
//   sysctl net.ipv4.conf.DEV.accept_local=1            they carry the NAT address, a local address, as source
//   sysctl net.ipv4.conf.DEV.rp_filter=0
//   ip rule add pref 50 to ADDR ipproto tcp dport LO-HI lookup 150     replies to NAT ports go to the TUN
//   ip rule add pref 50 to ADDR ipproto udp dport LO-HI lookup 150     instead of local delivery...
//   ip rule add pref 50 to ADDR ipproto icmp lookup 150                (echo replies; when icmp is on)
//   ip rule add pref 100 lookup local; ip rule del pref 0 lookup local   ...which needs the local table after them
//   ip route replace default dev DEV table 150
//
// The TCP capture of full anycast TCP (src/transport/tcp-anycast.ts) uses the same setup with
// protos ["tcp"] and one port: SYNs and segments to ADDR:PORT reach its TUN, not the kernel.
//
// mode "auto" applies what is missing and undoes it on stop; "check" applies nothing and reports
// what is missing (the plugin then refuses to start with that list).
import { readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "bun";

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
  const r = spawnSync(args, { stdout: "pipe", stderr: "pipe" });
  return { ok: r.exitCode === 0, out: r.stdout.toString(), err: r.stderr.toString().trim() };
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

function rules(s: NatSetup): { proto: keyof typeof PROTO; args: string[] }[] {
  const base = ["to", s.address];
  const out: { proto: keyof typeof PROTO; args: string[] }[] = (s.protos ?? ["tcp", "udp"]).map((proto) => ({
    proto,
    args: [...base, "ipproto", String(PROTO[proto]), "dport", portText(s)],
  }));
  if (s.icmp) out.push({ proto: "icmp", args: [...base, "ipproto", String(PROTO.icmp)] });
  return out;
}

/** What is missing, as the commands that would fix it; empty when everything is in place. */
export function checkNatSetup(s: NatSetup): string[] {
  const missing: string[] = [];
  if (sysctlRead(["net", "ipv4", "ip_forward"]) !== "1") missing.push("sysctl -w net.ipv4.ip_forward=1");
  if (sysctlRead(["net", "ipv4", "conf", s.dev, "accept_local"]) !== "1")
    missing.push(`sysctl -w net.ipv4.conf.${s.dev}.accept_local=1`);
  if (sysctlRead(["net", "ipv4", "conf", s.dev, "rp_filter"]) !== "0")
    missing.push(`sysctl -w net.ipv4.conf.${s.dev}.rp_filter=0`);
  const ruleText = run(["ip", "-4", "rule", "show"]).out;
  for (const r of rules(s)) {
    const shown = (p: string | number) =>
      `to ${s.address} ipproto ${p}${r.proto === "icmp" ? "" : ` dport ${portText(s)}`} lookup ${s.table}`;
    if (!ruleText.includes(shown(r.proto)) && !ruleText.includes(shown(`ipproto-${PROTO[r.proto]}`)))
      missing.push(`ip rule add pref ${s.pref} ${r.args.join(" ")} lookup ${s.table}`);
  }
  const localPref = /^(\d+):\s+from all lookup local/m.exec(ruleText)?.[1];
  if (localPref === undefined || Number(localPref) <= s.pref)
    missing.push(`ip rule add pref ${s.pref + 50} lookup local && ip rule del pref ${localPref ?? 0} lookup local`);
  const route = run(["ip", "-4", "route", "show", "table", String(s.table)]).out;
  if (!route.includes(`default dev ${s.dev}`)) missing.push(`ip route replace default dev ${s.dev} table ${s.table}`);
  return missing;
}

/** Applies what is missing; returns the undo (which removes only what this call added). */
export function applyNatSetup(s: NatSetup): () => void {
  const undo: string[][] = [];
  const must = (args: string[]) => {
    const r = run(args);
    if (!r.ok) throw new Error(`${args.join(" ")}: ${r.err}`);
  };
  sysctlWrite(["net", "ipv4", "ip_forward"], "1"); // left on: other things may need it
  sysctlWrite(["net", "ipv4", "conf", s.dev, "accept_local"], "1");
  sysctlWrite(["net", "ipv4", "conf", s.dev, "rp_filter"], "0");
  const ruleText = run(["ip", "-4", "rule", "show"]).out;
  for (const r of rules(s)) {
    must(["ip", "rule", "add", "pref", String(s.pref), ...r.args, "lookup", String(s.table)]);
    undo.push(["ip", "rule", "del", "pref", String(s.pref), ...r.args, "lookup", String(s.table)]);
  }
  const localPref = /^(\d+):\s+from all lookup local/m.exec(ruleText)?.[1];
  if (localPref !== undefined && Number(localPref) <= s.pref) {
    const to = String(s.pref + 50);
    must(["ip", "rule", "add", "pref", to, "lookup", "local"]);
    must(["ip", "rule", "del", "pref", localPref, "lookup", "local"]);
    undo.push(
      ["ip", "rule", "add", "pref", localPref, "lookup", "local"],
      ["ip", "rule", "del", "pref", to, "lookup", "local"],
    );
  }
  must(["ip", "route", "replace", "default", "dev", s.dev, "table", String(s.table)]);
  return () => {
    for (const args of undo) run(args); // best effort; the device's routes vanish with it
  };
}
