import { Kafka, logLevel } from 'kafkajs';

/** Asks brokers for their cluster's metadata, once per call; for launchers waiting on a broker they started. */
export interface BrokerProbe {
  /** Whether a broker answered; a broker that is not up yet is false, not an error. */
  answers(): Promise<boolean>;
}

export function createBrokerProbe(brokers: string[]): BrokerProbe {
  const admin = new Kafka({ clientId: 'sluice-readiness', brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  return {
    async answers() {
      try {
        await admin.connect();
        await admin.describeCluster();
        await admin.disconnect();
        return true;
      } catch {
        await admin.disconnect().catch(() => undefined);
        return false;
      }
    },
  };
}
