# sluice-local/node-build:20 — Node.js 20 with npm on the locally built Debian base: the build
# stage of deploy/docker/Dockerfile (npm ci, tsc -b). ca-certificates lets npm reach the registry
# over TLS and lets packages with prebuilt native binaries download them.
# Built by `node --import tsx scripts/images.ts` (packages/dev/src/local-images.ts).
ARG BASE_IMAGE=sluice-local/debian:trixie
FROM ${BASE_IMAGE}

RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*

LABEL org.opencontainers.image.description="Node.js 20 with npm (Debian trixie's packages), the build stage for Sluice's images, built locally"
CMD ["node"]
