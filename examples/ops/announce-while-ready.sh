#!/usr/bin/env bash
# Health loop for BIRD (examples/ops/bird.conf): the anycast prefix is announced only while the
# relay's /readyz answers 200. Run it next to the relay (a systemd unit or the container's
# sidecar). Environment:
#   RELAY_ADMIN     admin base URL (default http://127.0.0.1:8080)
#   RELAY_ADMIN_TOKEN  bearer token if /readyz needs one (admin.openHealth false)
#   BIRD_PROTOCOL   the static protocol to toggle (default anycast)
#   INTERVAL        seconds between checks (default 1)
#   ONCE=1          check once and exit (for tests)
set -u
proto=${BIRD_PROTOCOL:-anycast}
interval=${INTERVAL:-1}
state=unknown
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bun=$(command -v bun || echo "$here/node_modules/.bin/bun")
while :; do
  if RELAY_HEALTH_PATH=/readyz "$bun" "$here/scripts/healthcheck.ts" >/dev/null 2>&1; then want=enable; else want=disable; fi
  if [[ $want != "$state" ]]; then
    if birdc "$want" "$proto" >/dev/null; then
      echo "$(date -Is) $want $proto (relay $([[ $want == enable ]] && echo ready || echo not ready))"
      state=$want
    else
      echo "$(date -Is) birdc $want $proto failed; retrying" >&2
    fi
  fi
  [[ ${ONCE:-0} == 1 ]] && exit 0
  sleep "$interval"
done
