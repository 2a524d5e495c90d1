# sluice-local/node:20 — the Node.js runtime (Debian trixie's nodejs 20, no npm) on the locally
# built Debian base, for the runtime stage of deploy/docker/Dockerfile when no registry can be
# pulled from. Built by `npm run images` (packages/dev/src/local-images.ts).
ARG BASE_IMAGE=sluice-local/debian:trixie
FROM ${BASE_IMAGE}

RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/*

LABEL org.opencontainers.image.description="Node.js 20 runtime (Debian trixie's nodejs, without npm), built locally for Sluice's container tests"
CMD ["node"]
