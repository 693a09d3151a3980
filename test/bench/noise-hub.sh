#!/usr/bin/env bash
# The Noise suite next to SATP and wireguard-go (root), all ours on both ends, in one invocation:
# the hub (two clients A and B through one server: TCP Mbit/s, UDP packets/s, tunnel CPU s) for
# wireguard-go, this relay with SATP (our clients), and this relay with the Noise suite,
# interleaved BN_REPEATS times; then the failover (A pings B every 10 ms through an anycast pair,
# the route flips S1 → S2) for wireguard-go and this relay with the Noise suite, watched
# BN_FO_POST seconds after the flip (wireguard-go's outage lasts until its next handshake).
# Needs what netns-bench.sh needs (wireguard-go wireguard-tools iperf3 socat jq iputils-ping).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${BENCH_RESULTS:-$HERE/../../.bench/noise-results.md}
mkdir -p "$(dirname "$out")"
export CANDIDATE_SERVER_CMD=$HERE/candidate.sh CANDIDATE_CLIENT_CMD=$HERE/candidate.sh
# 1432: an inner MTU whose packets fit a 1500-byte underlay with every system here (the
# Noise suite adds 34 + 28 bytes, wireguard-go 32 + 28, SATP 20 + 28) and still carries the
# harness's 1400-byte UDP payload (1428 bytes inner)
export BN_RESULTS=$out BN_REPEATS=1 BN_MTU=${BN_MTU:-1432}
before=0; [[ -f $out ]] && before=$(wc -l <"$out")
for _ in $(seq "${BENCH_REPEATS:-2}"); do
  "$HERE/netns-bench.sh" run wireguard-go
  CANDIDATE_OURS_CLIENT=1 "$HERE/netns-bench.sh" run candidate
  CANDIDATE_SUITE=noise "$HERE/netns-bench.sh" run candidate
done
if [[ ${BENCH_FAILOVER:-1} == 1 ]]; then
  export BN_FO_POST=${BN_FO_POST:-60}
  "$HERE/netns-bench.sh" failover wireguard-go
  CANDIDATE_SUITE=noise "$HERE/netns-bench.sh" failover candidate
fi
echo
echo "hub (each run: wireguard-go, this relay with SATP and our clients, this relay with the Noise suite)"
tail -n +"$((before + 1))" "$out" | awk -F'|' '
  /^\| system \| run \| TCP/ && !h { print; h = 1 }
  NF > 12 && $2 ~ /^ *wireguard-go *$/ && $3 ~ /[0-9]/ { print; c = 0 }
  NF > 12 && $2 ~ /^ *candidate *$/ && $3 ~ /[0-9]/ { c++; sub(/candidate/, c == 1 ? "relay SATP" : "relay Noise"); print }'
echo
echo "failover (wireguard-go, then this relay with the Noise suite on two synced servers)"
tail -n +"$((before + 1))" "$out" | grep -E '^\| (wireguard-go|candidate) \| [0-9]+ \| [0-9]+ \| [0-9]+ \|' || true
