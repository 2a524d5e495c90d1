import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startTestBroker, testBrokerPorts, testDataRoot } from './test-broker';

/** One real Kafka broker for the whole integration run; each test file uses its own topics. */
export default async function globalSetup(): Promise<void> {
  // chDB folders of an earlier run hold only databases of tests that are gone.
  mkdirSync(testDataRoot, { recursive: true });
  for (const entry of readdirSync(testDataRoot, { withFileTypes: true }).filter((e) => e.name.startsWith('chdb-'))) {
    rmSync(join(testDataRoot, entry.name), { recursive: true, force: true });
  }
  const broker = await startTestBroker('kafka', testBrokerPorts);
  process.env.TEST_KAFKA_BROKERS = broker.brokers.join(',');
  process.stdout.write(`\nKafka for tests: ${broker.brokers.join(',')} (pid ${broker.pid}, started in ${broker.startupMs} ms)\n`);
  (globalThis as { sluiceTestBroker?: typeof broker }).sluiceTestBroker = broker;
}
