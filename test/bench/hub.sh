#!/usr/bin/env bash
# Hub benchmark (root): in one invocation and interleaved runs, two clients A and B talk through
# a server: anytun 0.3.8 (anytun-controld + anytun server), wireguard-go, and this relay as the
# server with stock anytun 0.3.8 clients (and, with BENCH_OURS_CLIENTS=1, with our own clients).
# Prints the table: TCP Mbit/s, UDP packets/s, tunnel CPU seconds. Needs anytun wireguard-go
# wireguard-tools iperf3 socat jq iputils-ping (apt-get install them).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${BENCH_RESULTS:-$HERE/../../.bench/hub-results.md}
mkdir -p "$(dirname "$out")"
systems=(plain anytun wireguard-go candidate)
export CANDIDATE_SERVER_CMD=$HERE/candidate.sh CANDIDATE_CLIENT_CMD=$HERE/candidate.sh
export BN_RESULTS=$out BN_REPEATS=${BN_REPEATS:-2}
before=0; [[ -f $out ]] && before=$(wc -l <"$out")
"$HERE/netns-bench.sh" run "${systems[@]}"
echo
echo "candidate = bun relay.ts server with stock anytun 0.3.8 clients"
tail -n +"$((before + 1))" "$out" | sed -n '/^| system/,/^$/p'
# The ratio this relay / anytun 0.3.8 over this invocation's runs (the figure that must not fall).
tail -n +"$((before + 1))" "$out" | awk -F'|' '
  function first(s) { gsub(/^ +/, "", s); split(s, a, " "); return a[1] + 0 }
  $2 ~ /^ *(anytun|candidate) *$/ {
    sys = $2; gsub(/ /, "", sys); n[sys]++
    tcp[sys] += first($4); u1400[sys] += first($10); u100[sys] += first($12)
  }
  END {
    if (n["anytun"] && n["candidate"])
      printf "candidate / anytun (mean of %d runs): TCP %.2f, UDP 1400 B rx %.2f, UDP 100 B rx %.2f\n", n["candidate"],
        (tcp["candidate"] / n["candidate"]) / (tcp["anytun"] / n["anytun"]),
        (u1400["candidate"] / n["candidate"]) / (u1400["anytun"] / n["anytun"]),
        (u100["candidate"] / n["candidate"]) / (u100["anytun"] / n["anytun"])
  }'
