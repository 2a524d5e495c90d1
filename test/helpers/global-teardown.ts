import type { LocalBroker } from '@sluice/dev';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { sluiceTestBroker?: LocalBroker }).sluiceTestBroker?.stop();
}
