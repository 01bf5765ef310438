# flowlog-agent container image.
#
# Run it on the host's network so it sees the ENIs, with the two capabilities libpcap needs and
# nothing else (no --privileged):
#   docker run -d --name flowlog-agent --network host \
#     --cap-drop ALL --cap-add NET_RAW --cap-add NET_ADMIN \
#     -v /etc/flowlog-agent:/etc/flowlog-agent:ro -v /var/lib/flowlog-agent:/var/lib/flowlog-agent \
#     flowlog-agent
# NET_RAW opens the packet sockets; NET_ADMIN sets the capture buffer size and promiscuity.
# The image runs as a non-root user; file capabilities on node (below) give that user the two
# capabilities, bounded by what `docker run --cap-add` grants. Reload: docker kill -s HUP flowlog-agent.

# ---- build: compile TypeScript and the native libpcap bindings ----
FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap-dev python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json binding.gyp ./
COPY tsconfig.json ./
COPY src ./src
COPY bin ./bin
COPY tools ./tools
RUN npm ci --no-audit --no-fund \
 && npm prune --omit=dev

# ---- runtime: node, libpcap and the built package only ----
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 libcap2-bin \
 && setcap cap_net_raw,cap_net_admin+eip /usr/local/bin/node \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system flowlog && useradd --system --gid flowlog --home /var/lib/flowlog-agent flowlog \
 && mkdir -p /var/lib/flowlog-agent /etc/flowlog-agent && chown flowlog:flowlog /var/lib/flowlog-agent
WORKDIR /usr/lib/flowlog-agent
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/build/Release/flowlog_capture.node ./build/Release/
COPY --from=build /src/bin ./bin
COPY config ./config
USER flowlog
VOLUME ["/var/lib/flowlog-agent"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/usr/lib/flowlog-agent/bin/flowlog-agent"]
CMD ["run", "--config", "/etc/flowlog-agent/agent.yaml"]
