#!/usr/bin/env bash
# netns-bench.sh candidate slot for this relay. BN_ROLE=server: `bun relay.ts` as the server,
# its config built from BN_CLIENTS ("mux:route:passphrase ..."). BN_ROLE=client: a stock
# anytun 0.3.8 client by default, or this relay's own client role with CANDIDATE_OURS_CLIENT=1.
# Stays in the foreground (the harness ends it by PID).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUN=${BUN:-$ROOT/node_modules/.bin/bun}

if [[ $BN_ROLE == server ]]; then
  # The harness waits for a TUN named $BN_DEV on every node; the relay routes between clients in
  # userspace and needs none, so give the harness an idle placeholder device.
  ip link show "$BN_DEV" >/dev/null 2>&1 || ip tuntap add dev "$BN_DEV" mode tun
  clients=""
  for c in $BN_CLIENTS; do
    IFS=: read -r id route pass <<<"$c"
    clients+="${clients:+,}{\"mux\":$id,\"passphrase\":\"$pass\",\"routes\":[\"$route\"]}"
  done
  sync='{}'
  if [[ -n ${BN_SYNC_PEERS:-} ]]; then
    # the fleet key: the same on every server of this bench run, derived from what they share
    key=$(printf 'bench fleet %s' "$BN_CLIENTS" | sha256sum | cut -c1-64)
    sync="{ \"listen\": \"$BN_LOCAL_IP:$BN_SYNC_PORT\", \"peers\": [\"$BN_SYNC_PEERS\"], \"key\": \"$key\" }"
  fi
  cfg=$BN_STATE_DIR/relay-$BN_NODE.json
  cat >"$cfg" <<JSON
{ "mode": "server", "senderId": ${BN_SENDER_ID:-1}, "listen": ["$BN_SERVER_IP:$BN_PORT"],
  "admin": { "listen": "127.0.0.1:8080" }, "clients": [$clients], "sync": $sync,
  "plugins": [{ "use": "routes", "networks": ["$BN_INNER_NET"] }], "log": ["stdout:3"] }
JSON
  exec "$BUN" "$ROOT/relay.ts" --config "$cfg"
elif [[ ${CANDIDATE_OURS_CLIENT:-0} == 1 ]]; then
  exec "$BUN" "$ROOT/relay.ts" -r "$BN_SERVER_IP" -o "$BN_PORT" -p "$BN_PORT" -d "$BN_DEV" \
    -m "$BN_CLIENT_ID" -E "$BN_PASSPHRASE" -e client -n "$BN_INNER" --mtu "$BN_MTU" -L stdout:3
else
  exec anytun -D -L stdout:3 -r "$BN_SERVER_IP" -o "$BN_PORT" -p "$BN_PORT" -d "$BN_DEV" -t tun \
    -m "$BN_CLIENT_ID" -E "$BN_PASSPHRASE" -e client
fi
