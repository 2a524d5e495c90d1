/**
 * The local Kafka image (deploy/docker/local/kafka.Dockerfile) in a real container, configured as
 * docker-compose.yml configures apache/kafka: it passes the compose healthcheck, takes and serves a
 * message, keeps it across a restart (its storage is formatted once, not on every start), and stops
 * on SIGTERM by shutting the broker down, well before docker stop's SIGKILL.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { createLogger, sleep, type ConsumedBatch } from '@sluice/core';
import { createKafkaBus, type KafkaBus } from '@sluice/kafka';
import { buildLocalImages, localImageTag, repositoryRoot } from '@sluice/dev';

// No registry can be pulled from, so no Ryuk sidecar: the test removes its container itself.
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';

/** The host's port for the extra listener a client outside Docker's network connects to. */
const hostPort = 19500;
const logger = createLogger({ level: 'error' });

interface ComposeKafka {
  environment: Record<string, string | number>;
  healthcheck: { test: string[] };
}

function composeKafkaService(): ComposeKafka {
  const compose = parse(readFileSync(join(repositoryRoot, 'docker-compose.yml'), 'utf8')) as { services: { kafka: ComposeKafka } };
  return compose.services.kafka;
}

/**
 * docker-compose.yml's environment as it is, plus a HOST listener advertised as 127.0.0.1:<hostPort>
 * for this test's clients outside Docker's network. The container's own name "kafka" (compose's
 * service name, in the quorum voters and the advertised listener) points at itself.
 */
function containerEnvironment(): Record<string, string> {
  const environment = Object.fromEntries(Object.entries(composeKafkaService().environment).map(([name, value]) => [name, String(value)]));
  return {
    ...environment,
    KAFKA_LISTENERS: `${environment.KAFKA_LISTENERS},HOST://:19092`,
    KAFKA_ADVERTISED_LISTENERS: `${environment.KAFKA_ADVERTISED_LISTENERS},HOST://127.0.0.1:${hostPort}`,
    KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: `${environment.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP},HOST:PLAINTEXT`,
  };
}

function docker(args: string[]): string {
  const result = spawnSync('docker', args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`docker ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout.trim();
}

async function readAll(bus: KafkaBus, topic: string, expected: number): Promise<string[]> {
  const values: string[] = [];
  const consumer = await bus.createConsumer({ groupId: `kafka-image-test-${Date.now()}`, topic, fromBeginning: true });
  await consumer.run(async (batch: ConsumedBatch) => void values.push(...batch.messages.map((message) => message.value?.toString() ?? '')));
  for (let waited = 0; values.length < expected && waited < 60_000; waited += 250) await sleep(250);
  await consumer.stop();
  return values;
}

let container: StartedTestContainer | undefined;

beforeAll(async () => {
  await buildLocalImages({ only: ['kafka'], logger });
}, 900_000);

afterAll(async () => {
  await container?.stop({ timeout: 30_000 });
});

test('the local Kafka image keeps its data across a restart and stops gracefully on SIGTERM', async () => {
  const [command, ...args] = composeKafkaService().healthcheck.test;
  expect(command).toBe('CMD');
  container = await new GenericContainer(localImageTag('kafka'))
    .withEnvironment(containerEnvironment())
    .withExtraHosts([{ host: 'kafka', ipAddress: '127.0.0.1' }])
    .withExposedPorts({ container: 19092, host: hostPort })
    // The compose healthcheck's command, asked more often so the test does not wait 10 s a round.
    .withHealthCheck({ test: ['CMD', ...args], interval: 1_000, timeout: 20_000, retries: 120, startPeriod: 1_000 })
    .withWaitStrategy(Wait.forHealthCheck())
    .withStartupTimeout(120_000)
    .start();
  const started = container;
  expect(docker(['inspect', '--format', '{{.Config.User}}', started.getId()])).toBe('kafka');

  const bus = createKafkaBus({ brokers: [`127.0.0.1:${hostPort}`], clientId: 'sluice-kafka-image-test', logger });
  const topic = 'kafka-image-test';
  await bus.ensureTopics([{ name: topic, partitions: 1 }]);
  const publisher = await bus.createPublisher({ topic });
  await publisher.publish([{ key: 'k', value: 'before the restart' }]);
  await publisher.close();
  expect(await readAll(bus, topic, 1)).toEqual(['before the restart']);

  // docker restart: SIGTERM, then the same container starts again on its own data.
  await started.restart({ timeout: 30_000 });
  expect(await bus.countMessages(topic)).toBe(1);
  expect(await readAll(bus, topic, 1)).toEqual(['before the restart']);
  expect(docker(['logs', started.getId()])).toMatch(/formatted already; keeping it/);

  const stopStartedAt = Date.now();
  docker(['stop', '--time', '30', started.getId()]);
  const stopMs = Date.now() - stopStartedAt;
  process.stdout.write(`docker stop took ${stopMs} ms\n`);
  // 143 = 128 + SIGTERM: the JVM ran its shutdown hook (the broker's controlled shutdown) and
  // exited; 137 would be docker's SIGKILL after the grace period.
  expect(Number(docker(['inspect', '--format', '{{.State.ExitCode}}', started.getId()]))).toBe(143);
}, 300_000);
