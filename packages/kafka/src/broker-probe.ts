import { Kafka, logLevel } from './kafkajs';

/** Asks brokers for their cluster's metadata, once per call; for launchers waiting on a broker they started. */
export interface BrokerProbe {
  /** Whether a broker answered; a broker that is not up yet is false, not an error. */
  answers(): Promise<boolean>;
  /** How many brokers the cluster's metadata lists (a restarted node counts once it rejoined); undefined when none answered. */
  brokerCount(): Promise<number | undefined>;
}

export function createBrokerProbe(brokers: string[]): BrokerProbe {
  const admin = new Kafka({ clientId: 'sluice-readiness', brokers, logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  return {
    async answers() {
      return (await this.brokerCount()) !== undefined;
    },
    async brokerCount() {
      try {
        await admin.connect();
        const { brokers: listed } = await admin.describeCluster();
        await admin.disconnect();
        return listed.length;
      } catch {
        await admin.disconnect().catch(() => undefined);
        return undefined;
      }
    },
  };
}
