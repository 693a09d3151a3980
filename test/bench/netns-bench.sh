#!/usr/bin/env bash
# netns-bench.sh - side-by-side benchmark of VPN/tunnel relays in Linux network
# namespaces on one machine.  See README.md beside this file.
# Copied unchanged from the team's shared bench harness (shared/bench/netns-bench.sh) so the
# project stands alone; test/bench/hub.sh and failover runs plug this relay into its candidate slot.
#
#   netns-bench.sh up SYSTEM          build the hub topology, start SYSTEM, leave it up
#   netns-bench.sh down               stop everything this harness started, delete bn-* netns
#   netns-bench.sh run SYSTEM...      measure each SYSTEM (fresh topology each), BN_REPEATS times
#   netns-bench.sh failover SYSTEM    anycast failover test (two servers, route flip), BN_REPEATS times
#
# SYSTEM: plain | anytun | wireguard-go | candidate
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RESULTS=${BN_RESULTS:-$HERE/results-anchors.md}
STATE=${BN_STATE:-/run/bn-bench}          # pids, netns list, keys, configs (secrets; tmpfs)
LOGROOT=${BN_LOGDIR:-/tmp/bn-bench-logs}  # per-invocation logs and raw iperf3/ping output
REPEATS=${BN_REPEATS:-2}
TCP_SECS=${BN_TCP_SECS:-10}
UDP_SECS=${BN_UDP_SECS:-10}
UDP_RATE=${BN_UDP_RATE:-0}                # iperf3 -b; 0 = as fast as the sender can
PING_COUNT=${BN_PING_COUNT:-200}
PING_IVL=${BN_PING_IVL:-0.01}
MTU=${BN_MTU:-1440}                       # inner MTU for every tunnel (1400-byte UDP payload fits)
FO_PRE=${BN_FO_PRE:-5}                    # failover: seconds of pinging before the route flip

# ---- addressing (same for every system; the candidate gets these as BN_* env) ----
NS_A=bn-a NS_B=bn-b NS_S=bn-s NS_R=bn-r NS_S1=bn-s1 NS_S2=bn-s2
ALL_NS="$NS_A $NS_B $NS_S $NS_R $NS_S1 $NS_S2"
SRV_IP=10.201.0.1                         # service/anycast address, on lo of every server netns
A_LINK=10.201.1.1  SA_LINK=10.201.1.2     # hub: A <-> S   (/30)
B_LINK=10.201.2.1  SB_LINK=10.201.2.2     # hub: B <-> S   (/30)
FA_LINK=10.202.11.1 RA_LINK=10.202.11.2   # failover: A <-> R  (/30)
FB_LINK=10.202.12.1 RB_LINK=10.202.12.2   # failover: B <-> R  (/30)
S1_LINK=10.202.1.1  R1_LINK=10.202.1.2    # failover: S1 <-> R (/30), S1 unicast/sync address
S2_LINK=10.202.2.1  R2_LINK=10.202.2.2    # failover: S2 <-> R (/30), S2 unicast/sync address
A_IN=10.99.0.1 B_IN=10.99.0.2 S_IN=10.99.0.254 IN_PFX=24   # tunnel-inner addresses
TUN_DEV=bn-tun                            # tunnel device name (anytun, candidate)
ANYTUN_PORT=4444 CTL_PORT=2324 SYNC_PORT=2323 WG_PORT=51820
CAND_PORT=${CANDIDATE_PORT:-5555}
PASS_A=bn-bench-client-A-passphrase-0123456789   # anytun: one passphrase and mux per client
PASS_B=bn-bench-client-B-passphrase-9876543210

TOPO=""            # hub | anycast (set by topo_*)
TGT_A="" TGT_B=""  # addresses A and B are reached at (inner for tunnels, link for plain)

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ---------------------------------------------------------------- process tracking
# Every process is started by spawn() and recorded as "pid starttime role name";
# stop_all() ends exactly those PIDs (and their descendants), checking starttime so
# a recycled PID is never hit.  role=tunnel processes are the ones whose CPU counts.
proc_stat() { # PID -> ST_PPID ST_TICKS (utime+stime, all threads) ST_START; no forks
  local s; { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
  s=${s##*) }; local -a f; read -ra f <<<"$s"
  ST_PPID=${f[1]} ST_TICKS=$((f[11] + f[12])) ST_START=${f[19]}
}
descendants() { # PID... -> global DESC: those PIDs and all their descendants
  local -A kids=(); local st p c
  for st in /proc/[0-9]*/stat; do
    p=${st#/proc/}; p=${p%/stat}
    proc_stat "$p" && kids[$ST_PPID]+="$p "
  done
  DESC=(); local queue=("$@")
  while ((${#queue[@]})); do
    p=${queue[0]}; queue=("${queue[@]:1}"); DESC+=("$p")
    for c in ${kids[$p]:-}; do queue+=("$c"); done
  done
}
spawn() { # ROLE NS NAME CMD... : start CMD inside NS in the background, log to $RUNLOG/NAME.log
  local role=$1 ns=$2 name=$3; shift 3
  ip netns exec "$ns" "$@" >"$RUNLOG/$name.log" 2>&1 9>&- &   # 9 = our lock fd
  local pid=$! st=0; proc_stat "$pid" && st=$ST_START
  echo "$pid $st $role $name" >>"$STATE/pids"; SPAWNED=$pid
}
ours() { # [ROLE|NAME] -> global DESC: live recorded processes (starttime checked) + descendants
  local pid st role name roots=()
  while read -r pid st role name; do
    [[ -z ${1:-} || $role == "$1" || $name == "$1" ]] || continue
    proc_stat "$pid" && [[ $ST_START == "$st" ]] && roots+=("$pid")   # else gone or PID reused
  done <"$STATE/pids"
  DESC=(); ((${#roots[@]})) && descendants "${roots[@]}"
  return 0
}
stop_procs() { # [ROLE|NAME] : TERM, wait up to 3 s, then KILL
  [[ -f $STATE/pids ]] || return 0
  ours "${1:-}"; local victims=("${DESC[@]}") p left
  ((${#victims[@]})) || return 0
  kill -TERM "${victims[@]}" 2>/dev/null || true
  for _ in $(seq 30); do
    left=0; for p in "${victims[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    ((left)) || break; sleep 0.1
  done
  for p in "${victims[@]}"; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
  return 0
}
stop_all() { stop_procs; rm -f "$STATE/pids"; }
ticks_of() { # PID... -> sum of utime+stime ticks (processes that are gone count 0)
  local p sum=0; for p in "$@"; do proc_stat "$p" && sum=$((sum + ST_TICKS)); done; echo $sum
}
host_ticks() { # whole machine: busy ticks (user+nice+system+irq+softirq) and steal ticks
  local _c u n s i w q sq st _r; read -r _c u n s i w q sq st _r </proc/stat
  echo "$((u + n + s + q + sq)) $st"
}

# ---------------------------------------------------------------- topology
ns_add() {
  local ns
  for ns in "$@"; do
    ip netns add "$ns"; echo "$ns" >>"$STATE/netns"
    ip -n "$ns" link set lo up
    # no ICMP redirects (hub forwards tun->tun), no rp_filter (anycast), no IPv6: the kernel's
    # IPv6 chatter (router solicitations on tun) would otherwise leak into tunnels as keepalives
    nsx "$ns" sysctl -qw net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
      net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
      net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
}
veth() { # NS1 DEV1 CIDR1 NS2 DEV2 CIDR2
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up
  ip -n "$4" addr add "$6" dev "$5"; ip -n "$4" link set "$5" up
}
topo_hub() { # A -- S -- B ; S holds SRV_IP on lo and IP-forwards
  TOPO=hub
  ns_add $NS_A $NS_S $NS_B
  veth $NS_A bn-a0 $A_LINK/30 $NS_S bn-sa $SA_LINK/30
  veth $NS_B bn-b0 $B_LINK/30 $NS_S bn-sb $SB_LINK/30
  ip -n $NS_S addr add $SRV_IP/32 dev lo
  # locally originated replies from S default to the service address
  ip -n $NS_S route replace ${A_LINK%.*}.0/30 dev bn-sa proto kernel scope link src $SRV_IP
  ip -n $NS_S route replace ${B_LINK%.*}.0/30 dev bn-sb proto kernel scope link src $SRV_IP
  nsx $NS_S sysctl -qw net.ipv4.ip_forward=1
  ip -n $NS_A route add default via $SA_LINK
  ip -n $NS_B route add default via $SB_LINK
}
topo_anycast() { # A, B, S1, S2 all hang off router R; R routes SRV_IP/32 to S1 (flip -> S2)
  TOPO=anycast
  ns_add $NS_A $NS_B $NS_R $NS_S1 $NS_S2
  veth $NS_A bn-a0 $FA_LINK/30 $NS_R bn-ra $RA_LINK/30
  veth $NS_B bn-b0 $FB_LINK/30 $NS_R bn-rb $RB_LINK/30
  veth $NS_S1 bn-s1r $S1_LINK/30 $NS_R bn-r1 $R1_LINK/30
  veth $NS_S2 bn-s2r $S2_LINK/30 $NS_R bn-r2 $R2_LINK/30
  nsx $NS_R sysctl -qw net.ipv4.ip_forward=1
  ip -n $NS_R route add $SRV_IP/32 via $S1_LINK
  ip -n $NS_A route add default via $RA_LINK
  ip -n $NS_B route add default via $RB_LINK
  local s gw
  for s in 1 2; do
    local ns=bn-s$s; gw=10.202.$s.2
    ip -n $ns addr add $SRV_IP/32 dev lo
    nsx $ns sysctl -qw net.ipv4.ip_forward=1
    ip -n $ns route add default via $gw src $SRV_IP        # tunnel traffic: from the anycast IP
    ip -n $ns route add 10.202.$((3 - s)).0/30 via $gw       # sync traffic: unicast to the peer
  done
}
flip_route() { ip -n $NS_R route replace $SRV_IP/32 via $S2_LINK; }

wait_for() { # SECONDS CMD... : poll CMD every 0.1 s until it succeeds
  local n=$(($1 * 10)); shift
  while ((n-- > 0)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
listening() { [[ -n $(nsx "$1" ss -Hln"$2" "sport = :$3") ]]; }       # NS t|u PORT
established() { [[ -n $(nsx "$1" ss -Htn state established "( sport = :$2 or dport = :$2 )") ]]; }
tun_cfg() { # NS DEV CIDR : address/MTU/up a tunnel device once it exists
  wait_for 15 ip -n "$1" link show "$2" || die "$2 did not appear in $1 (see $RUNLOG)"
  ip -n "$1" addr replace "$3" dev "$2"
  ip -n "$1" link set "$2" mtu "$MTU" up
  nsx "$1" sysctl -qw "net.ipv4.conf.$2.send_redirects=0"
}

# ---------------------------------------------------------------- systems
# Server set for this topology: "netns sender-id unicast-ip peer-unicast-ip"
servers() {
  if [[ $TOPO == hub ]]; then echo "$NS_S 1 $SRV_IP -"
  else echo "$NS_S1 1 $S1_LINK $S2_LINK"; echo "$NS_S2 2 $S2_LINK $S1_LINK"; fi
}

up_plain() { TGT_A=$A_LINK TGT_B=$B_LINK; }

up_anytun() {
  TGT_A=$A_IN TGT_B=$B_IN
  local cfg=$STATE/anytun; mkdir -p "$cfg"
  # connection/routing table for anytun-controld: one entry per client (mux, passphrase, route)
  { anytun-config -L stderr:2 -m 1 -E "$PASS_A" -R $A_IN/32 -e server
    anytun-config -L stderr:2 -m 2 -E "$PASS_B" -R $B_IN/32 -e server; } >"$cfg/conn.tab"
  local ns sid uni peer sync=()
  while read -r ns sid uni peer; do
    spawn tunnel "$ns" "anytun-controld-$ns" anytun-controld -D -L stdout:3 -f "$cfg/conn.tab" -X 127.0.0.1:$CTL_PORT
    wait_for 10 listening "$ns" t $CTL_PORT || die "controld in $ns not listening"
    [[ $peer != - && ${BN_ANYTUN_SYNC:-1} == 1 ]] && sync=(-S $SYNC_PORT -I "$uni" -M "$peer:$SYNC_PORT")
    spawn tunnel "$ns" "anytun-$ns" anytun -D -L stdout:3 -i $SRV_IP -p $ANYTUN_PORT -d $TUN_DEV -t tun \
      -c aes-ctr -a sha1 -s "$sid" -X 127.0.0.1:$CTL_PORT "${sync[@]}"
    tun_cfg "$ns" $TUN_DEV $S_IN/$IN_PFX
    [[ ${#sync[@]} -gt 0 ]] && { wait_for 10 listening "$ns" t $SYNC_PORT || die "anytun sync port in $ns"; }
  done < <(servers)
  spawn tunnel $NS_A anytun-a anytun -D -L stdout:3 -r $SRV_IP -o $ANYTUN_PORT -p $ANYTUN_PORT -d $TUN_DEV -t tun \
    -c aes-ctr -a sha1 -m 1 -E "$PASS_A" -e client
  spawn tunnel $NS_B anytun-b anytun -D -L stdout:3 -r $SRV_IP -o $ANYTUN_PORT -p $ANYTUN_PORT -d $TUN_DEV -t tun \
    -c aes-ctr -a sha1 -m 2 -E "$PASS_B" -e client
  tun_cfg $NS_A $TUN_DEV $A_IN/$IN_PFX
  tun_cfg $NS_B $TUN_DEV $B_IN/$IN_PFX
  if [[ $TOPO == anycast && ${BN_ANYTUN_SYNC:-1} == 1 ]]; then  # S1->S2 connect retries every 10 s
    wait_for 25 established $NS_S1 $SYNC_PORT || die "anytun sync S1<->S2 not established"
    wait_for 25 eval "[[ \$(nsx $NS_S1 ss -Htn state established '( sport = :$SYNC_PORT or dport = :$SYNC_PORT )' | wc -l) -ge 2 ]]" \
      || log "WARN: only one sync direction established"
  fi
}

up_wireguard_go() {
  TGT_A=$A_IN TGT_B=$B_IN
  local cfg=$STATE/wg; mkdir -p "$cfg"; (umask 077
    for k in srv a b; do wg genkey >"$cfg/$k.key"; wg pubkey <"$cfg/$k.key" >"$cfg/$k.pub"; done)
  local ns sid uni peer dev
  while read -r ns sid uni peer; do   # every server: same key, same peers (no client endpoints)
    dev=bn-wg-${ns#bn-}               # UAPI sockets live in /var/run/wireguard: names must differ
    spawn tunnel "$ns" "wg-$ns" wireguard-go -f "$dev"
    wait_for 10 test -S "/var/run/wireguard/$dev.sock" || die "wireguard-go in $ns did not start"
    nsx "$ns" wg set "$dev" private-key "$cfg/srv.key" listen-port $WG_PORT \
      peer "$(cat "$cfg/a.pub")" allowed-ips $A_IN/32 peer "$(cat "$cfg/b.pub")" allowed-ips $B_IN/32
    tun_cfg "$ns" "$dev" $S_IN/$IN_PFX
  done < <(servers)
  for k in a b; do
    ns=bn-$k dev=bn-wg-$k
    spawn tunnel "$ns" "wg-$ns" wireguard-go -f "$dev"
    wait_for 10 test -S "/var/run/wireguard/$dev.sock" || die "wireguard-go in $ns did not start"
    nsx "$ns" wg set "$dev" private-key "$cfg/$k.key" peer "$(cat "$cfg/srv.pub")" \
      endpoint $SRV_IP:$WG_PORT allowed-ips ${A_IN%.*}.0/$IN_PFX persistent-keepalive 25
    [[ $k == a ]] && tun_cfg "$ns" "$dev" $A_IN/$IN_PFX || tun_cfg "$ns" "$dev" $B_IN/$IN_PFX
  done
}

# candidate: CANDIDATE_SERVER_CMD / CANDIDATE_CLIENT_CMD run under bash -c with BN_* env (README)
cand_env() { # ROLE NODE INNER-CIDR [VAR=VAL...] -> global array CENV
  CENV=(BN_ROLE="$1" BN_NODE="$2" BN_TOPO="$TOPO" BN_SERVER_IP=$SRV_IP BN_PORT=$CAND_PORT
    BN_DEV=$TUN_DEV BN_MTU="$MTU" BN_INNER="$3" BN_INNER_NET=${A_IN%.*}.0/$IN_PFX
    BN_CLIENTS="1:$A_IN/32:$PASS_A 2:$B_IN/32:$PASS_B" BN_STATE_DIR="$STATE/candidate" "${@:4}")
}
up_candidate() {
  [[ -n ${CANDIDATE_SERVER_CMD:-} && -n ${CANDIDATE_CLIENT_CMD:-} ]] \
    || die "candidate needs CANDIDATE_SERVER_CMD and CANDIDATE_CLIENT_CMD (see README.md)"
  TGT_A=$A_IN TGT_B=$B_IN; mkdir -p "$STATE/candidate"
  local ns sid uni peer sp=""
  while read -r ns sid uni peer; do
    [[ $peer != - ]] && sp="$peer:$SYNC_PORT"
    cand_env server "${ns#bn-}" $S_IN/$IN_PFX BN_LOCAL_IP="$uni" BN_SENDER_ID="$sid" \
      BN_SYNC_PORT=$SYNC_PORT BN_SYNC_PEERS="$sp"
    spawn tunnel "$ns" "cand-$ns" env "${CENV[@]}" bash -c "$CANDIDATE_SERVER_CMD"
    tun_cfg "$ns" $TUN_DEV $S_IN/$IN_PFX
  done < <(servers)
  local la=$A_LINK lb=$B_LINK; [[ $TOPO == anycast ]] && la=$FA_LINK lb=$FB_LINK
  cand_env client a $A_IN/$IN_PFX BN_LOCAL_IP=$la BN_CLIENT_ID=1 BN_PASSPHRASE="$PASS_A"
  spawn tunnel $NS_A cand-a env "${CENV[@]}" bash -c "$CANDIDATE_CLIENT_CMD"
  cand_env client b $B_IN/$IN_PFX BN_LOCAL_IP=$lb BN_CLIENT_ID=2 BN_PASSPHRASE="$PASS_B"
  spawn tunnel $NS_B cand-b env "${CENV[@]}" bash -c "$CANDIDATE_CLIENT_CMD"
  tun_cfg $NS_A $TUN_DEV $A_IN/$IN_PFX
  tun_cfg $NS_B $TUN_DEV $B_IN/$IN_PFX
}

start_system() { # SYSTEM : start it in the current topology, then check A<->B passes traffic
  case $1 in
    plain) up_plain ;; anytun) up_anytun ;; wireguard-go) up_wireguard_go ;;
    candidate) up_candidate ;; *) die "unknown system '$1'" ;;
  esac
  # warm-up: B speaks first so the hub learns both endpoints, then A->B must answer
  nsx $NS_B ping -c 3 -i 0.2 -W 1 "$TGT_A" >/dev/null 2>&1 || true
  wait_for 10 nsx $NS_A ping -c 1 -W 1 "$TGT_B" || die "$1: A cannot reach B at $TGT_B (logs: $RUNLOG)"
  nsx $NS_B ping -c 1 -W 1 "$TGT_A" >/dev/null 2>&1 || log "WARN: $1: B->A ping failed after warm-up"
}

# ---------------------------------------------------------------- state / teardown
begin() { # CMD : lock, clean leftovers of an earlier invocation, fresh state and log dir
  mkdir -p "$(dirname "$STATE")"
  exec 9>"$STATE.lock"; flock -n 9 || die "another netns-bench invocation holds $STATE.lock"
  teardown
  mkdir -p "$STATE"; chmod 700 "$STATE"
  LOGDIR=$LOGROOT/$(date +%Y%m%d-%H%M%S)-$1; mkdir -p "$LOGDIR"; RUNLOG=$LOGDIR  # RUNLOG: per run
  echo "$LOGDIR" >"$STATE/logdir"
}
teardown() { # stop our PIDs, delete our namespaces, drop state (keeps logs)
  stop_all
  local ns
  for ns in $(cat "$STATE/netns" 2>/dev/null) $ALL_NS; do
    [[ -e /run/netns/$ns ]] && ip netns del "$ns"
  done
  rm -rf "$STATE/netns" "$STATE/anytun" "$STATE/wg" "$STATE/candidate"
  return 0
}

# ---------------------------------------------------------------- measurements
jqf() { jq -e . "$1" >/dev/null 2>&1 || echo '{}' >"$1"; }   # keep jq happy on failed runs
measure() { # SYSTEM RUN -> one JSON line on stdout
  local sys=$1 run=$2 d=$RUNLOG
  spawn tool $NS_B "iperf3-server-$sys-$run" iperf3 -s -B "$TGT_B"
  wait_for 5 listening $NS_B t 5201 || die "iperf3 server did not start"
  local c0 c1 h0 h1 hz; hz=$(getconf CLK_TCK)
  log "$sys run $run: TCP ${TCP_SECS}s"
  ours tunnel; local tp=("${DESC[@]}")
  h0=$(host_ticks); c0=$(ticks_of "${tp[@]}")
  nsx $NS_A timeout $((TCP_SECS + 30)) iperf3 -c "$TGT_B" -t "$TCP_SECS" -J >"$d/tcp.json" 2>"$d/tcp.err" || true
  c1=$(ticks_of "${tp[@]}"); h1=$(host_ticks)
  local l
  for l in 1400 100; do
    sleep 2; log "$sys run $run: UDP ${l}B -b $UDP_RATE ${UDP_SECS}s"
    nsx $NS_A timeout $((UDP_SECS + 30)) iperf3 -c "$TGT_B" -u -b "$UDP_RATE" -l $l -t "$UDP_SECS" -J \
      >"$d/udp$l.json" 2>"$d/udp$l.err" || true
  done
  sleep 2; log "$sys run $run: ping ${PING_COUNT}x${PING_IVL}s"
  nsx $NS_A ping -q -c "$PING_COUNT" -i "$PING_IVL" -W 1 "$TGT_B" >"$d/ping.log" 2>&1 || true
  for l in tcp udp1400 udp100; do jqf "$d/$l.json"; done
  local rtt loss
  rtt=$(awk -F'[=/ ]+' '/^rtt/{print "{\"min\":"$6",\"avg\":"$7",\"max\":"$8",\"mdev\":"$9"}"}' "$d/ping.log")
  loss=$(grep -o '[0-9.]*% packet loss' "$d/ping.log" | cut -d% -f1) || loss=null
  jq -nc --arg sys "$sys" --argjson run "$run" --arg date "$(date -u +%FT%TZ)" \
    --slurpfile t "$d/tcp.json" --slurpfile u1 "$d/udp1400.json" --slurpfile u2 "$d/udp100.json" \
    --argjson rtt "${rtt:-null}" --argjson loss "${loss:-null}" \
    --argjson cpu "$(( c1 - c0 ))" --argjson hz "$hz" \
    --argjson hb "$(( ${h1% *} - ${h0% *} ))" --argjson st "$(( ${h1#* } - ${h0#* } ))" '
    def r(n): if . == null then null else (. * pow(10; n) | round) / pow(10; n) end;
    def udp(u): (u.end.sum_received // {}) as $r | (u.end.sum_sent // {}) as $s |
      { tx_pps: (if $s.seconds then $s.packets / $s.seconds else null end | r(0)),
        rx_pps: (if $r.seconds then ($r.packets - $r.lost_packets) / $r.seconds else null end | r(0)),
        rx_mbps: ($r.bits_per_second | if . then . / 1e6 else null end | r(1)),
        loss_pct: ($r.lost_percent | r(2)), error: (u.error // null) };
    { system: $sys, run: $run, date: $date,
      tcp_mbps: ($t[0].end.sum_received.bits_per_second | if . then . / 1e6 else null end | r(1)),
      tcp_retr: ($t[0].end.sum_sent.retransmits // null), tcp_error: ($t[0].error // null),
      tunnel_cpu_s: (if $sys == "plain" then null else $cpu / $hz | r(2) end),
      host_busy_cpu_s: ($hb / $hz | r(2)), host_steal_s: ($st / $hz | r(2)),
      udp1400: udp($u1[0]), udp100: udp($u2[0]),
      ping_ms: $rtt, ping_loss_pct: $loss }'
  stop_procs "iperf3-server-$sys-$run"
}

env_header() { # markdown lines describing machine, versions and settings
  echo "- host: kernel \`$(uname -r)\`, nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- versions: $(anytun --version 2>&1 | head -2 | tr '\n' ' ')| $(wireguard-go --version | head -1) | $(wg --version | cut -d' ' -f1-2) | $(iperf3 --version | head -1) | $(ping -V | head -1)"
  echo "- debian packages: $(dpkg-query -W -f '${Package} ${Version}; ' anytun wireguard-go wireguard-tools iperf3 2>/dev/null)"
}

# ---------------------------------------------------------------- subcommands
cmd_up() {
  [[ $# -eq 1 ]] || die "usage: $0 up SYSTEM"
  begin "up-$1"
  trap teardown EXIT; trap 'exit 130' INT TERM     # tear down only if bringing it up fails
  topo_hub; start_system "$1"
  trap - EXIT INT TERM
  log "$1 is up: A=$NS_A ($TGT_A)  S=$NS_S ($SRV_IP)  B=$NS_B ($TGT_B)  logs: $LOGDIR"
  log "try: ip netns exec $NS_A ping $TGT_B ; stop with: $0 down"
}
cmd_down() {
  mkdir -p "$(dirname "$STATE")"
  exec 9>"$STATE.lock"; flock -n 9 || die "a netns-bench invocation is running (lock $STATE.lock)"
  teardown; log "down: stopped recorded processes, deleted bn-* namespaces"
}

cmd_run() {
  [[ $# -ge 1 ]] || die "usage: $0 run SYSTEM..."
  begin run; trap teardown EXIT; trap 'exit 130' INT TERM
  local rep sys lines="$LOGDIR/results.jsonl"; : >"$lines"
  local hdr; hdr=$(env_header)
  for rep in $(seq "$REPEATS"); do          # runs interleaved so CPU noise hits all systems
    for sys in "$@"; do
      log "=== $sys (run $rep/$REPEATS)"
      RUNLOG=$LOGDIR/$sys-run$rep; mkdir -p "$RUNLOG"
      topo_hub; start_system "$sys"
      measure "$sys" "$rep" | tee -a "$lines"
      teardown; mkdir -p "$STATE"
    done
  done
  {
    echo; echo "## $(date -u '+%F %H:%M UTC') - run: $*"
    echo "$hdr"
    echo "- settings: hub topology A - S - B (veth, $MTU-byte tunnel MTU); TCP ${TCP_SECS}s 1 stream; UDP -b $UDP_RATE ${UDP_SECS}s at 1400/100-byte payloads (pps/loss as seen by the receiver); ping ${PING_COUNT}x${PING_IVL}s; $REPEATS interleaved runs; tunnel CPU = utime+stime of all tunnel processes (both clients + server) during the TCP test; host busy = whole machine (incl. kernel, iperf3 and anything else running)"
    echo
    echo "| system | run | TCP Mbit/s | vs plain | TCP retr | tunnel CPU s | host busy CPU s | UDP1400 rx Mbit/s | UDP1400 rx kpps (tx kpps) | UDP1400 loss % | UDP100 rx kpps (tx kpps) | UDP100 loss % | ping avg ms (mdev) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    jq -rs '
      def f: if . == null then "n/a" else tostring end;
      def k: if . == null then "n/a" else (. / 100 | round / 10 | tostring) end;
      (map(select(.system == "plain")) | map({key: (.run|tostring), value: .tcp_mbps}) | from_entries) as $p |
      .[] | [ .system, .run, (.tcp_mbps|f),
        (if $p[.run|tostring] and .tcp_mbps then ((.tcp_mbps / $p[.run|tostring] * 1000 | round) / 10 | tostring) + " %" else "n/a" end),
        (.tcp_retr|f), (.tunnel_cpu_s|f), (.host_busy_cpu_s|f),
        (.udp1400.rx_mbps|f), "\(.udp1400.rx_pps|k) (\(.udp1400.tx_pps|k))", (.udp1400.loss_pct|f),
        "\(.udp100.rx_pps|k) (\(.udp100.tx_pps|k))", (.udp100.loss_pct|f),
        "\(.ping_ms.avg|f) (\(.ping_ms.mdev|f))" ] | "| " + (map(tostring) | join(" | ")) + " |"' "$lines"
    echo; echo "JSON lines (one per system and run; raw iperf3/ping output was in $LOGDIR):"; echo
    echo '```json'; cat "$lines"; echo '```'
  } >>"$RESULTS"
  log "appended to $RESULTS"
}

ping_stats() { # PINGLOG FLIP_TS END_TS -> JSON: lost pings, gap across the flip, largest gap
  awk -v flip="$2" -v end="$3" '
    /bytes from/ { t = $1; gsub(/[][]/, "", t); t += 0
                   if (prev && t - prev > gap) { gap = t - prev; gs = prev }
                   if (t <= flip) before = t; else { after++; if (!first) first = t }
                   prev = t }
    /packets transmitted/ { tx = $1; rx = $4 }
    END { tail = end - prev; open = (tail > 1)     # no reply in the last second: not recovered
          if (open && tail > gap) { gap = tail; gs = prev }
          printf "{\"tx\":%d,\"rx\":%d,\"lost\":%d,\"flip_gap_ms\":%.0f,\"max_gap_ms\":%.0f,", tx, rx, tx - rx,
            ((first ? first : end) - before) * 1000, gap * 1000
          printf "\"max_gap_start_vs_flip_ms\":%.0f,\"replies_after_flip\":%d,\"recovered\":%s}\n",
            (gs - flip) * 1000, after, (open ? "false" : "true") }' "$1"
}
cmd_failover() {
  [[ $# -eq 1 ]] || die "usage: $0 failover SYSTEM"
  local sys=$1 post; [[ $sys == plain ]] && die "failover needs a tunnel system"
  case $sys in wireguard-go) post=${BN_FO_POST:-150} ;; *) post=${BN_FO_POST:-20} ;; esac
  local label=$sys; [[ $sys == anytun && ${BN_ANYTUN_SYNC:-1} != 1 ]] && label=anytun-nosync
  begin "failover-$label"; trap teardown EXIT; trap 'exit 130' INT TERM
  local hdr; hdr=$(env_header)
  local rep lines="$LOGDIR/failover.jsonl" ev="$LOGDIR/evidence.md"; : >"$lines"; : >"$ev"
  for rep in $(seq "$REPEATS"); do
    log "=== failover $sys (run $rep/$REPEATS): ping every ${PING_IVL}s, flip after ${FO_PRE}s, then ${post}s"
    RUNLOG=$LOGDIR/failover-run$rep; mkdir -p "$RUNLOG"; local d=$RUNLOG
    topo_anycast; start_system "$sys"
    sleep "${BN_FO_SETTLE:-2}"   # let state learnt during warm-up reach S2 (sync, if any)
    [[ $sys == anytun && ${BN_ANYTUN_SYNC:-1} == 1 ]] && snapshot_anytun_sync "$d/s2-table-before.txt"
    spawn tool $NS_A ping ping -D -O -i "$PING_IVL" -W 1 -w $((FO_PRE + post)) "$TGT_B"
    local pingpid=$SPAWNED t0 flip end; t0=$(date +%s.%N)
    [[ $sys == wireguard-go ]] && spawn tool $NS_S2 wg-monitor bash -c \
      'while :; do echo "$(date +%s.%N) $(wg show bn-wg-s2 latest-handshakes | tr "\n" " ")"; sleep 0.5; done'
    sleep "$FO_PRE"; flip_route; flip=$(date +%s.%N)
    log "route flipped to S2 at +$(echo "$flip - $t0" | bc | cut -c1-5)s"
    wait "$pingpid" || true; end=$(date +%s.%N)
    if [[ $sys == wireguard-go ]]; then
      stop_procs wg-monitor; wg_timeline "$d/wg-monitor.log" "$flip" >"$d/wg-timeline.txt"
    fi
    { ping_stats "$d/ping.log" "$flip" "$end" | jq -c --arg s "$label" --argjson r "$rep" --argjson pre "$FO_PRE" \
        --argjson post "$post" '{kind: "failover", system: $s, run: $r, flip_after_s: $pre, observed_after_flip_s: $post} + .'
    } | tee -a "$lines"
    collect_evidence "$sys" "$rep" "$d" "$flip" >>"$ev"
    teardown; mkdir -p "$STATE"
  done
  {
    echo; echo "## $(date -u '+%F %H:%M UTC') - failover: $label"
    echo "$hdr"
    echo "- setup: A, B, S1, S2 each linked to router R; $SRV_IP/32 on lo of S1 and S2; R routes it to S1, then \`ip route replace\` to S2 ${FO_PRE}s into a ping A->B (inner $TGT_B) every ${PING_IVL}s; S1 keeps running. $(fo_note "$sys")"
    echo
    echo "- gap at flip = last reply before the flip to first reply after it (or to the end of the run); largest gap = anywhere in the run, with where it starts relative to the flip."
    echo
    echo "| system | run | pings sent | lost | gap at flip ms | largest gap ms (start vs flip) | replies after flip | recovered by end |"
    echo "|---|---|---|---|---|---|---|---|"
    jq -r '"| \(.system) | \(.run) | \(.tx) | \(.lost) | \(.flip_gap_ms) | \(.max_gap_ms) (\(.max_gap_start_vs_flip_ms)) | \(.replies_after_flip) | \(.recovered) (watched \(.observed_after_flip_s) s) |"' "$lines"
    echo; echo '```json'; cat "$lines"; echo '```'
    echo; echo "<details><summary>evidence ($label)</summary>"; echo; cat "$ev"; echo "</details>"
  } >>"$RESULTS"
  log "appended to $RESULTS"
}
fo_note() {
  case $1 in
    anytun) if [[ ${BN_ANYTUN_SYNC:-1} == 1 ]]; then
        echo "anytun: S1 and S2 each run anytun-controld (same table) and anytun -i $SRV_IP -S $SYNC_PORT -I <own unicast> -M <peer unicast>:$SYNC_PORT, sender-id 1/2."
      else echo "anytun CONTROL RUN WITHOUT SYNC (BN_ANYTUN_SYNC=0): same as above but no -S/-M, so S2 only has the controld table (keys, routes, no client endpoints)."; fi ;;
    wireguard-go) echo "wireguard-go: S1 and S2 share the private key, listen port and peer list (no client endpoints, no state sync); clients use PersistentKeepalive 25." ;;
    *) echo "candidate: CANDIDATE_SERVER_CMD in S1 and S2 with BN_SYNC_PORT/BN_SYNC_PEERS." ;;
  esac
}
wg_timeline() { # MONITOR-LOG FLIP_TS : when S2 first completed a handshake with A and with B
  local k
  for k in a b; do
    awk -v pub="$(cat "$STATE/wg/$k.pub")" -v flip="$2" -v k="${k^^}" '
      { for (i = 2; i < NF; i += 2) if ($i == pub && $(i + 1) > 0) {
          printf "S2 <-> %s: first handshake at +%d s after the flip\n", k, $(i + 1) - flip; found = 1; exit } }
      END { if (!found) printf "S2 <-> %s: no handshake during the run\n", k }' "$1"
  done
}
snapshot_anytun_sync() { # dump S2's connection table through its (read-only) sync port
  nsx $NS_S2 timeout 2 socat -u TCP:$S2_LINK:$SYNC_PORT STDOUT >"$1.raw" 2>/dev/null || true
  tr -d '\n' <"$1.raw" | timeout 2 anytun-showtables >"$1" 2>&1 || true
}
collect_evidence() ( # SYSTEM RUN DIR FLIP_TS -> markdown (best effort: greps may find nothing)
  set +e; sys=$1 rep=$2 d=$3 flip=$4
  echo "**run $rep**"; echo; echo '```'
  echo "# ping A->B: last reply before and first reply after the flip (flip at [$flip]), summary"
  awk -v flip="$flip" '/bytes from/ { t = $1; gsub(/[][]/, "", t); t += 0
         if (t <= flip) a = $0; else if (!b) b = $0 }
       END { print a; print (b ? b : "(no reply after the flip)") }' "$d/ping.log"
  echo "($(grep -c 'no answer yet' "$d/ping.log") 'no answer yet' lines)"; tail -2 "$d/ping.log"
  case $sys in
    anytun)
      if [[ -f $d/s2-table-before.txt ]]; then
        echo "# S2 connection table received via sync before the flip (anytun-showtables)"
        grep -vE '^\s*$|input stream error' "$d/s2-table-before.txt" | head -20
      fi
      echo "# anytun logs (S1, S2)"
      grep -hE 'sync|autodetected|connection' "$d/anytun-$NS_S1.log" | tail -6 | sed 's/^/S1: /'
      grep -hE 'sync|autodetected|connection|Authentication' "$d/anytun-$NS_S2.log" | tail -6 | sed 's/^/S2: /'
      echo "# packet counters of the tunnel devices after the run"
      for ns in $NS_S1 $NS_S2; do echo "$ns: $(ip -n $ns -s link show $TUN_DEV | awk '/RX:/{getline; rx=$2} /TX:/{getline; tx=$2} END{print "rx_pkts=" rx " tx_pkts=" tx}')"; done ;;
    wireguard-go)
      echo "# S2 (same key as S1, no sync): first handshake with each client after the flip"
      cat "$d/wg-timeline.txt"
      echo "# wg show (S2, A, B) at the end"
      for ns in $NS_S2 $NS_A $NS_B; do nsx $ns wg show "bn-wg-${ns#bn-}" 2>&1 | grep -E 'interface|peer|endpoint|handshake|transfer'; done ;;
  esac
  echo '```'; echo
)

case ${1:-} in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down ;;
  run) shift; cmd_run "$@" ;;
  failover) shift; cmd_failover "$@" ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
