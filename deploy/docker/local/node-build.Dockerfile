# sluice-local/node-build:20 — Node.js 20 with npm on the locally built Debian base: the build
# stage of deploy/docker/Dockerfile (npm ci, tsc -b). ca-certificates lets npm reach the registry
# over TLS and lets packages with prebuilt native binaries download them.
# Built by `npm run images` (packages/dev/src/local-images.ts).
ARG BASE_IMAGE=sluice-local/debian:trixie
FROM ${BASE_IMAGE}

RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# What the machine building the images trusts (local-images.ts copies its bundle here): npm then
# reaches the registry through a TLS-inspecting proxy too. Only the build stage has it.
COPY host-ca-certificates.crt /etc/ssl/certs/host-ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/host-ca-certificates.crt

LABEL org.opencontainers.image.description="Node.js 20 with npm (Debian trixie's packages), the build stage for Sluice's images, built locally"
CMD ["node"]
