# sluice-local/kafka:<version> — Apache Kafka (KRaft) for docker-compose.yml and the container
# tests, where apache/kafka cannot be pulled. A drop-in for apache/kafka as the compose files use it:
# configured by KAFKA_* variables and CLUSTER_ID, storage formatted on first start only, the
# healthcheck's /opt/kafka/bin/kafka-broker-api-versions.sh, uid 1000. The jars are the ones
# `npm start` runs (deploy/kafka/pom.xml, fetched from Maven Central into .cache/kafka/<version>/libs);
# packages/dev/src/local-images.ts copies them into the build context as libs/.
ARG BASE_IMAGE=sluice-local/debian:trixie
FROM ${BASE_IMAGE}

# The JRE's postinst links its man pages with update-alternatives, which fails when the base image
# (documentation left out) has no /usr/share/man/man1.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-21-jre-headless \
 && rm -rf /var/lib/apt/lists/*

# uid 1000 as in apache/kafka, so a data volume that image wrote stays writable here.
RUN groupadd --gid 1000 kafka \
 && useradd --uid 1000 --gid kafka --home-dir /opt/kafka --no-create-home --shell /usr/sbin/nologin kafka \
 && mkdir -p /opt/kafka/bin /opt/kafka/config /var/lib/kafka/data /etc/kafka/docker /mnt/shared/config \
 && chown kafka:kafka /opt/kafka/config /var/lib/kafka/data

COPY libs/ /opt/kafka/libs/
COPY log4j2.properties tools-log4j2.properties /opt/kafka/config/
COPY kafka-run-class.sh /opt/kafka/bin/
COPY kafka-entrypoint.sh /etc/kafka/docker/run

# The scripts of Kafka's distribution that a container is asked for, each one class run by kafka-run-class.sh.
RUN set -e; cd /opt/kafka/bin; \
    for pair in \
      kafka-server-start:kafka.Kafka \
      kafka-storage:kafka.tools.StorageTool \
      kafka-broker-api-versions:org.apache.kafka.tools.BrokerApiVersionsCommand \
      kafka-topics:org.apache.kafka.tools.TopicCommand \
      kafka-console-producer:org.apache.kafka.tools.ConsoleProducer \
      kafka-console-consumer:org.apache.kafka.tools.consumer.ConsoleConsumer \
      kafka-consumer-groups:org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
      kafka-metadata-quorum:org.apache.kafka.tools.MetadataQuorumCommand; do \
      printf '#!/bin/sh\nexec /opt/kafka/bin/kafka-run-class.sh %s "$@"\n' "${pair#*:}" > "${pair%%:*}.sh"; \
    done; \
    chmod 0755 /opt/kafka/bin/*.sh /etc/kafka/docker/run

ARG KAFKA_VERSION
ENV PATH=/opt/kafka/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.opencontainers.image.description="Apache Kafka ${KAFKA_VERSION} (KRaft), built from Apache's Maven Central jars on Debian trixie with OpenJDK 21, for Sluice's local testing only; a drop-in for apache/kafka as docker-compose.yml uses it" \
      org.opencontainers.image.version="${KAFKA_VERSION}"

USER kafka
WORKDIR /opt/kafka
EXPOSE 9092 9093
CMD ["/etc/kafka/docker/run"]
