#!/usr/bin/env bash
# netns-bench.sh candidate slot for this relay. BN_ROLE=server: `bun relay.ts` as the server,
# its config built from BN_CLIENTS ("mux:route:passphrase ..."). BN_ROLE=client: a stock
# anytun 0.3.8 client by default, or this relay's own client role with CANDIDATE_OURS_CLIENT=1.
# CANDIDATE_SUITE=noise: the Noise suite instead of SATP (servers take it on BN_PORT, SATP moves
# to BN_PORT+1; clients are ours with --protocol noise; every key is derived from what the
# harness hands both ends, so they agree without a key exchange). Stays in the foreground (the
# harness ends it by PID).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUN=${BUN:-$ROOT/node_modules/.bin/bun}
SUITE=${CANDIDATE_SUITE:-satp}
# a private key (base64 of 32 bytes, X25519 clamps them) from a label; its public key
noise_priv() { "$BUN" -e 'process.stdout.write(require("node:crypto").createHash("sha256").update(process.argv[1]).digest("base64") + "\n")' "bench noise $1"; }
noise_pub() { noise_priv "$1" | "$BUN" "$ROOT/relay.ts" pubkey; }

if [[ $BN_ROLE == server ]]; then
  # The harness waits for a TUN named $BN_DEV on every node; the relay routes between clients in
  # userspace and needs none, so give the harness an idle placeholder device.
  ip link show "$BN_DEV" >/dev/null 2>&1 || ip tuntap add dev "$BN_DEV" mode tun
  clients=""
  for c in $BN_CLIENTS; do
    IFS=: read -r id route pass <<<"$c"
    if [[ $SUITE == noise ]]; then
      clients+="${clients:+,}{\"mux\":$id,\"protocol\":\"noise\",\"publicKey\":\"$(noise_pub "client $pass")\",\"routes\":[\"$route\"]}"
    else
      clients+="${clients:+,}{\"mux\":$id,\"passphrase\":\"$pass\",\"routes\":[\"$route\"]}"
    fi
  done
  listen="\"listen\": [\"$BN_SERVER_IP:$BN_PORT\"]"
  if [[ $SUITE == noise ]]; then
    noise_priv "group $BN_INNER_NET" >"$BN_STATE_DIR/group-$BN_NODE.key"
    chmod 600 "$BN_STATE_DIR/group-$BN_NODE.key"
    listen="\"listen\": [\"$BN_SERVER_IP:$((BN_PORT + 1))\"], \"noise\": { \"listen\": [\"$BN_SERVER_IP:$BN_PORT\"], \"privateKeyFile\": \"$BN_STATE_DIR/group-$BN_NODE.key\" }"
  fi
  sync='{}'
  if [[ -n ${BN_SYNC_PEERS:-} ]]; then
    # the fleet key: the same on every server of this bench run, derived from what they share
    key=$(printf 'bench fleet %s' "$BN_CLIENTS" | sha256sum | cut -c1-64)
    sync="{ \"listen\": \"$BN_LOCAL_IP:$BN_SYNC_PORT\", \"peers\": [\"$BN_SYNC_PEERS\"], \"key\": \"$key\" }"
  fi
  cfg=$BN_STATE_DIR/relay-$BN_NODE.json
  cat >"$cfg" <<JSON
{ "mode": "server", "senderId": ${BN_SENDER_ID:-1}, $listen,
  "admin": { "listen": "127.0.0.1:8080" }, "mtu": ${BN_MTU:-1400}, "clients": [$clients], "sync": $sync,
  "plugins": [{ "use": "routes", "networks": ["$BN_INNER_NET"] }], "log": ["stdout:3"] }
JSON
  exec "$BUN" "$ROOT/relay.ts" --config "$cfg"
elif [[ $SUITE == noise ]]; then
  key=${BN_STATE_DIR:-/tmp}/client-$BN_CLIENT_ID.key
  noise_priv "client $BN_PASSPHRASE" >"$key"
  chmod 600 "$key"
  exec "$BUN" "$ROOT/relay.ts" -r "$BN_SERVER_IP" -o "$BN_PORT" -p "$BN_PORT" -d "$BN_DEV" \
    --protocol noise --server-public-key "$(noise_pub "group $BN_INNER_NET")" --private-key-file "$key" \
    -n "$BN_INNER" --mtu "$BN_MTU" -L stdout:3
elif [[ ${CANDIDATE_OURS_CLIENT:-0} == 1 ]]; then
  exec "$BUN" "$ROOT/relay.ts" -r "$BN_SERVER_IP" -o "$BN_PORT" -p "$BN_PORT" -d "$BN_DEV" \
    -m "$BN_CLIENT_ID" -E "$BN_PASSPHRASE" -e client -n "$BN_INNER" --mtu "$BN_MTU" -L stdout:3
else
  exec anytun -D -L stdout:3 -r "$BN_SERVER_IP" -o "$BN_PORT" -p "$BN_PORT" -d "$BN_DEV" -t tun \
    -m "$BN_CLIENT_ID" -E "$BN_PASSPHRASE" -e client
fi
