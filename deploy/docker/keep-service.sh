#!/bin/sh
# Run by deploy/docker/Dockerfile in /app, which holds every workspace's manifest and dist/:
# installs the production dependencies of one service (`npm ci --omit=dev` for its workspace
# alone), then removes the workspaces npm did not link for it and what only a build needs.
set -eu
service="$1"
npm ci --omit=dev --ignore-scripts --no-audit --no-fund --workspace "@sluice/$service"
for workspace in packages/* services/*; do
  name="$(node -p "require('./$workspace/package.json').name")"
  if [ ! -e "node_modules/$name" ]; then rm -rf "$workspace"; fi
done
find packages services -name '*.tsbuildinfo' -delete
rm -f package-lock.json .npmrc
