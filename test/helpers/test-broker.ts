import { join } from 'node:path';
import { createLogger } from '@sluice/core';
import { removeBrokerData, repositoryRoot, startLocalBroker, type LocalBroker } from '@sluice/dev';

/**
 * Ports of the test suite's own Kafka: away from `npm start` (9092/9093), so both can run at
 * once; TEST_KAFKA_PORT moves them, for a second checkout's run beside this one. Tests that stop a
 * broker start their own on the next ports.
 */
const basePort = Number(process.env.TEST_KAFKA_PORT ?? 19092);
export const testBrokerPorts = { port: basePort, controllerPort: basePort + 1 };

export const testDataRoot = join(repositoryRoot, '.data', 'test');

/** Starts a broker on an empty data folder, or, with keepData, on the folder an earlier one left. */
export async function startTestBroker(name: string, ports: { port: number; controllerPort: number }, options: { keepData?: boolean } = {}): Promise<LocalBroker> {
  const dataDirectory = join(testDataRoot, name);
  if (!options.keepData) removeBrokerData(dataDirectory);
  return startLocalBroker({ dataDirectory, ...ports, heapMegabytes: 384, logger: createLogger({ level: 'warn', bindings: { service: `test-${name}` } }) });
}
