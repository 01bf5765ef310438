# flowlog-agent container image: the agent's .deb installed with apt on Debian 12, so the image
# has the packages' layout and runtime (/usr/lib/flowlog-agent with its own Node.js, the addons
# built against its headers). Build the .deb first (`npm run package`, see README "Install"):
#
#   npm run package && docker build -t flowlog-agent .    (.dockerignore: the context is the .deb)
#   docker run -d --name flowlog-agent --network host \
#     --cap-drop ALL --cap-add NET_RAW --cap-add NET_ADMIN \
#     -v /etc/flowlog-agent:/etc/flowlog-agent:ro -v /var/lib/flowlog-agent:/var/lib/flowlog-agent \
#     flowlog-agent
#
# The build downloads only Debian packages (the .deb's dependencies); the package build fetched
# the pinned runtime and the npm dependencies from the npm registry.
# Capture needs NET_RAW (packet sockets) and NET_ADMIN (ring size, promiscuity), and only from
# `docker run --cap-add`: the node binary has no file capabilities, so the agent runs as the
# container's root holding just the capabilities granted (a non-root user would hold none:
# Docker grants no ambient capabilities). The eBPF engine (capture.engine auto or ebpf) also needs
# --cap-add BPF, and on 5.10 kernels --ulimit memlock=-1 (BPF maps count against it there); its
# libbpf comes with the .deb's Depends. `validate`, `replay`, `init` and `--version` need none:
#   docker run --rm --cap-drop ALL -v "$PWD:/work" flowlog-agent validate --config /work/agent.yaml
# Reload the config: docker kill -s HUP flowlog-agent.
#
# BASE: any Debian 12 image (e.g. one made with debootstrap where no registry is reachable).
ARG BASE=debian:bookworm-slim
FROM ${BASE}
COPY flowlog-agent_*_amd64.deb /tmp/packages/
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/packages/flowlog-agent_*_amd64.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/packages
VOLUME ["/var/lib/flowlog-agent"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/flowlog-agent"]
CMD ["run", "--config", "/etc/flowlog-agent/agent.yaml"]
