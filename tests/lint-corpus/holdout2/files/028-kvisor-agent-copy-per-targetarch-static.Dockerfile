FROM cgr.dev/chainguard/static:latest@sha256:633aabd19a2d1b9d4ccc1f4b704eb5e9d34ce6ad231a4f5b7f7a3af1307fdba8

# the agent needs to run as root, there is no way around this
USER 0

ARG TARGETARCH
COPY bin/kvisor-agent-$TARGETARCH /usr/local/bin/kvisor-agent

ENTRYPOINT ["/usr/local/bin/kvisor-agent"]
