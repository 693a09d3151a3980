#!/usr/bin/env bash
# Failover benchmark (root): A pings B every 10 ms through an anycast pair S1/S2 behind a router;
# the route flips from S1 to S2 mid-run. Runs, in one invocation, anytun 0.3.8 with its own sync
# and this relay (server on S1/S2 with sync, stock anytun clients; BENCH_OURS_CLIENTS=1 for our
# clients too). Prints pings lost, the gap at the flip and the largest gap per run.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${BENCH_RESULTS:-$HERE/../../.bench/failover-results.md}
mkdir -p "$(dirname "$out")"
export CANDIDATE_SERVER_CMD=$HERE/candidate.sh CANDIDATE_CLIENT_CMD=$HERE/candidate.sh
export BN_RESULTS=$out BN_REPEATS=${BN_REPEATS:-2} BN_FO_POST=${BN_FO_POST:-10}
before=0; [[ -f $out ]] && before=$(wc -l <"$out")
"$HERE/netns-bench.sh" failover anytun
"$HERE/netns-bench.sh" failover candidate
if [[ ${BENCH_OURS_CLIENTS:-0} == 1 ]]; then CANDIDATE_OURS_CLIENT=1 "$HERE/netns-bench.sh" failover candidate; fi
echo
echo "candidate = bun relay.ts servers with sync, stock anytun 0.3.8 clients"
tail -n +"$((before + 1))" "$out" | grep -E '^\| |^## '
