# anytun relay, one image per PoP; the config is mounted at /etc/anytun-relay/config.json.
#
#   docker build -t anytun-relay .
#   # server routing between clients in userspace (no TUN): runs as the non-root user "bun"
#   docker run -d --name relay -p 4444:4444/udp -v $PWD/server.json:/etc/anytun-relay/config.json:ro anytun-relay
#   # with TUN devices (peer/client mode, local, nat, tcp.capture): the same user "bun" with
#   # CAP_NET_ADMIN (given to it as an ambient capability) and the tun device
#   docker run -d --cap-drop ALL --cap-add NET_ADMIN --device /dev/net/tun \
#     -v $PWD/server.json:/etc/anytun-relay/config.json:ro anytun-relay
#   # nat, local and tcp.capture also need kernel settings; /proc/sys is read-only in a container
#   # and the image has no sysctl, so pass them (in the container's own network namespace):
#   #   --sysctl net.ipv4.ip_forward=1 --sysctl net.ipv4.conf.default.accept_local=1 \
#   #   --sysctl net.ipv4.conf.default.rp_filter=0 --sysctl net.ipv4.conf.all.rp_filter=0
#   # (with --network host set them on the host instead.) Tested: npm run test:container (podman).
#
# Reload: docker kill -s HUP relay. Stop: docker stop (SIGTERM: not ready at once, exit after
# drainSeconds; keep drainSeconds below docker's stop timeout, 10 s by default).

FROM oven/bun:1.4.5 AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN bun install --production --ignore-scripts
COPY relay.ts tsconfig.json ./
COPY src ./src
COPY plugins ./plugins
COPY scripts ./scripts

FROM oven/bun:1.4.5-slim
# iproute2: TUN addresses, kernel routes and NAT rules (only used by modes that need them);
# libssl3: OpenSSL 3's libcrypto, SATP's per-packet crypto (config cryptoLibrary; without it: node:crypto)
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 libssl3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
# Durable send counters (stateDir): keep this volume across container restarts, or a restarted
# relay cannot prove which seqs it already sent and starts past a fresh reservation only.
RUN mkdir -p /var/lib/anytun-relay && chown bun:bun /var/lib/anytun-relay && chmod 0700 /var/lib/anytun-relay
ENV STATE_DIRECTORY=/var/lib/anytun-relay
VOLUME /var/lib/anytun-relay
USER bun
EXPOSE 4444/udp 2323/tcp
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["bun", "scripts/healthcheck.ts"]
STOPSIGNAL SIGTERM
CMD ["bun", "relay.ts", "--config", "/etc/anytun-relay/config.json"]
