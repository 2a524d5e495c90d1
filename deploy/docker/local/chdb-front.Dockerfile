# sluice-local/chdb-front — a STAND-IN for a ClickHouse server, for tests only: the project's
# ClickHouse HTTP front on embedded chDB (packages/dev/src/chdb-http-main.ts, compiled), on the
# worker image, which already holds chDB. docker-compose.local-images.yml runs it as `clickhouse`.
# Built by `npm run images` and the container suite (packages/dev/src/project-images.ts); the
# context holds only chdb-http-main.js.
ARG WORKER_IMAGE=sluice-worker:latest
FROM ${WORKER_IMAGE}
USER root
# A named volume starts as the image's folder, owner included.
RUN mkdir -p /var/lib/clickhouse && chown 10001:10001 /var/lib/clickhouse
USER 10001:10001
COPY chdb-http-main.js /app/chdb-front/main.js
LABEL org.opencontainers.image.description="Tests only: ClickHouse's HTTP interface over embedded chDB (Sluice's chDB front), standing in for a ClickHouse server"
EXPOSE 8123
CMD ["node", "chdb-front/main.js"]
