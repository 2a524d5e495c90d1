/**
 * docs/browser.md's snippets in a real browser: headless Chromium (Debian's chromium, driven by
 * playwright-core) loads a page on one origin, which sends events to the gateway on another.
 * Pages on the origins the publishable key "shop web" lists (one exact, one wildcard) send on
 * every door and with a beacon on pagehide, and their events are stored. A page on an origin no
 * key lists is blocked by the browser (or, for a beacon, refused by the gateway), and nothing of
 * it is stored, while the same snippet run from Node with the servers-only key is stored.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { createKey, openKeyFile } from '@sluice/tenancy';
import { browserSnippets, launchChromium, loadInNode, openPage, pageScript, sendFromPage, servePage, type BrowserPage, type PageOutcome, type PageServer } from '../helpers/browser';
import { lastSeen, removeTestDirectory, startInProcessPipeline, testLogger, waitFor, type InProcessPipeline } from '../helpers/pipeline';

const guide = readFileSync(join(__dirname, '..', '..', 'docs', 'browser.md'), 'utf8');
const snippets = browserSnippets(guide);
const dataset = 'shop';
/** An origin no key lists: its page holds the servers-only key, unless a test gives it the publishable one. */
const foreignHost = 'foreign.localhost';
/** The publishable key lists this origin exactly... */
const shopHost = 'shop.localhost';
/** ...and every subdomain of brand.localhost (`http://*.brand.localhost:PORT`), but not brand.localhost itself. */
const brandSubdomainHost = 'www.brand.localhost';
const brandHost = 'brand.localhost';

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface Door {
  name: string;
  method: 'PUT' | 'POST';
  path: string;
  /** The guide's function that sends to this door, and its arguments for events of user `userId`. */
  send: string;
  args(userId: string): unknown[];
  /** The status of an accepted call. */
  ok: number;
  /** The rows one call stores. */
  rows: number;
}

const doors: Door[] = [
  {
    name: 'Trieve events',
    method: 'PUT',
    path: '/api/analytics/events',
    send: 'sendTrieveEvent',
    ok: 204,
    args: (userId) => [{ event_type: 'view', event_name: 'product_viewed', items: ['sku-1'], user_id: userId }],
    rows: 1,
  },
  {
    name: 'Trieve CTR',
    method: 'PUT',
    path: '/api/analytics/ctr',
    send: 'sendTrieveClick',
    ok: 204,
    args: (userId) => [{ request_id: '6f2b6a56-2f5e-4c3b-8a0f-0d6c1f2e3a4b', ctr_type: 'search', position: 2, clicked_chunk_tracking_id: 'sku-1', metadata: { user_id: userId } }],
    rows: 1,
  },
  {
    name: 'Neuralens',
    method: 'POST',
    path: '/analytics/event',
    send: 'sendNeuralensEvent',
    ok: 200,
    args: (userId) => [{ uid: userId, items: [{ id: 'AV768' }], query: 'solid wood chair', page: 'SEARCH_RESULT_PAGE', event: 'CLICK_PRODUCT', index: 3, timestamp: 1715644800 }],
    rows: 1,
  },
  {
    name: 'Greenflash',
    method: 'POST',
    path: '/api/v1/events',
    send: 'sendGreenflashEvent',
    ok: 200,
    args: (userId) => [{ eventType: 'trial_started', value: '49.00', valueType: 'currency', userId }],
    rows: 1,
  },
  {
    name: 'batch',
    method: 'POST',
    path: '/v1/batch',
    send: 'sendBatch',
    ok: 200,
    args: (userId) => [
      [
        { source: 'trieve', event: { event_type: 'view', event_name: 'product_viewed', items: ['sku-1'], user_id: userId } },
        { source: 'neuralens', event: { uid: userId, items: [{ id: 'AV768' }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1715644800 } },
      ],
    ],
    rows: 2,
  },
];

let directory: string;
let pipeline: InProcessPipeline;
let pages: PageServer;
let browser: Browser;
let sendFromNode: ReturnType<typeof loadInNode>;
let publishableKey: string;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'sluice-browser-'));
  // The page server first: the publishable key's origins carry its port. Scripts are made on request, once set.
  const scripts: { publishable?: string; serversOnly?: string } = {};
  pages = await servePage((origin) => (origin === new URL(pages.url(foreignHost)).origin ? scripts.serversOnly : scripts.publishable) ?? '');
  const port = new URL(pages.url(shopHost)).port;
  const datasets = { trieve: [dataset], neuralens: [dataset], greenflash: [dataset] };
  const serversOnly = createKey(undefined, { name: 'servers only', datasets }, new Date());
  const shopWeb = createKey(serversOnly.contents, { name: 'shop web', datasets, kind: 'publishable', origins: [`http://${shopHost}:${port}`, `http://*.${brandHost}:${port}`] }, new Date());
  publishableKey = shopWeb.key;
  const keyFile = join(directory, 'keys.json');
  writeFileSync(keyFile, shopWeb.contents);
  // One partition: once an event sent later is stored, any event the page got through is stored too.
  pipeline = await startInProcessPipeline({ keyStore: openKeyFile(keyFile, { logger: testLogger }), partitions: 1 });
  scripts.serversOnly = pageScript(snippets, { url: pipeline.gatewayUrl, key: serversOnly.key, dataset });
  scripts.publishable = pageScript(snippets, { url: pipeline.gatewayUrl, key: publishableKey, dataset });
  sendFromNode = loadInNode(scripts.serversOnly);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pages?.close();
  await pipeline?.stop();
  removeTestDirectory(directory);
});

test('the guide has a snippet for every door, and its page script loads in the page', async () => {
  expect([...snippets.keys()].sort()).toEqual(['batch', 'beacon', 'config', 'greenflash', 'neuralens', 'trieve-ctr', 'trieve-events']);
  const tab = await openPage(browser, pages.url(foreignHost));
  try {
    const defined = await tab.page.evaluate((names) => names.filter((name) => typeof (globalThis as unknown as Record<string, unknown>)[name] === 'function'), doors.map((d) => d.send));
    expect({ defined, console: tab.consoleMessages }).toEqual({ defined: doors.map((d) => d.send), console: [] });
  } finally {
    await tab.close();
  }
});

/** Which of `users` have events stored, one entry per row, in order. */
async function storedUsers(users: string[]): Promise<string[]> {
  const rows = await pipeline.clickhouse.queryRows<{ user_id: string }>(
    `SELECT user_id FROM events WHERE dataset_id = {d:String} AND has({users:Array(String)}, user_id) ORDER BY user_id`,
    { d: dataset, users },
  );
  return rows.map((r) => r.user_id);
}

async function waitForRows(userId: string, rows: number, what: string): Promise<void> {
  await waitFor(async () => ((await storedUsers([userId])).length >= rows ? true : undefined), what, 60_000);
}

/**
 * Sends `server-${userId}` from Node with the servers-only key, on the door, and waits for it: with
 * one partition, whatever of `page-${userId}` got through the gateway before it is stored by then.
 * So the page's events are then stored, or never will be.
 */
async function expectOnlyTheServersEventsStored(door: Door, userId: string): Promise<void> {
  const fromServer = await sendFromNode(door.send, door.args(`server-${userId}`));
  expect(fromServer).toEqual({ status: door.ok, body: expect.any(String) as unknown });
  await waitForRows(`server-${userId}`, door.rows, `the server's ${door.name} events`);
  expect(await storedUsers([`page-${userId}`, `server-${userId}`])).toEqual(Array<string>(door.rows).fill(`server-${userId}`));
}

/** The page's send failed as a CORS failure does: fetch rejects, Chromium says why in the console, the request failed. */
async function expectBlockedByCors(tab: BrowserPage, door: Door, outcome: PageOutcome): Promise<void> {
  expect(outcome).toEqual({ error: 'TypeError: Failed to fetch' });
  const url = `${pipeline.gatewayUrl}${door.path}`;
  const blocked = `Access to fetch at '${url}' from origin '${tab.origin}' has been blocked by CORS policy`;
  // Chromium reports to the console on its own schedule, not before fetch rejects.
  const reported = await lastSeen(
    async () => [...tab.consoleMessages],
    (messages) => messages.some((m) => m.text.startsWith(blocked)),
    5_000,
  );
  expect(reported).toContainEqual({ type: 'error', text: expect.stringMatching(`^${escapeRegExp(blocked)}: `) as unknown });
  expect(tab.failedRequests.filter((r) => r.url === url)).toEqual([{ method: door.method, url, reason: 'net::ERR_FAILED' }]);
}

/** Runs `code` in the page's global scope, where the page script's `const` declarations (`sluice`, `pending`) live. */
async function runInPage(tab: BrowserPage, code: string): Promise<void> {
  await tab.page.evaluate(code);
}

/** Gives a page the publishable key in place of the one its origin was served. */
const usePublishableKey = (tab: BrowserPage) => runInPage(tab, `sluice.key = ${JSON.stringify(publishableKey)};`);

/** How many beacons the gateway refused with ORIGIN_NOT_ALLOWED, from its /metrics. */
async function beaconOriginRefusals(): Promise<number> {
  const text = await (await fetch(`${pipeline.gatewayUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('sluice_gateway_events_rejected_total{') && l.includes('dialect="beacon"') && l.includes('reason="ORIGIN_NOT_ALLOWED"'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const trieveEvents = doors[0] as Door;
const beaconEvent = (userId: string) => ({ source: 'trieve', event: { event_type: 'view', event_name: 'product_viewed', items: ['sku-1'], user_id: userId } });

describe.each(doors.map((d) => [d.name, d] as const))('%s', (_name, door) => {
  test('a page on an origin the key does not list is blocked by the browser, and nothing of it is stored', async () => {
    const tab = await openPage(browser, pages.url(foreignHost));
    try {
      await expectBlockedByCors(tab, door, await sendFromPage(tab.page, door.send, door.args(`page-${door.send}`)));
    } finally {
      await tab.close();
    }
    // The same snippet from a server: the key, the dataset and the event are good.
    await expectOnlyTheServersEventsStored(door, door.send);
  });

  test("a page on the publishable key's origin sends, the browser lets it read the answer, and its events are stored", async () => {
    const tab = await openPage(browser, pages.url(shopHost));
    try {
      const userId = `shop-${door.send}`;
      expect(await sendFromPage(tab.page, door.send, door.args(userId))).toEqual({ status: door.ok, body: expect.any(String) as unknown });
      await waitForRows(userId, door.rows, `the page's ${door.name} events`);
      expect(await storedUsers([userId])).toEqual(Array<string>(door.rows).fill(userId));
      expect(tab.consoleMessages).toEqual([]);
    } finally {
      await tab.close();
    }
  });
});

describe('the wildcard origin http://*.brand.localhost:PORT', () => {
  test('a page on a subdomain, www.brand.localhost, sends and its event is stored', async () => {
    const tab = await openPage(browser, pages.url(brandSubdomainHost));
    try {
      const userId = 'www-brand';
      expect(await sendFromPage(tab.page, trieveEvents.send, trieveEvents.args(userId))).toEqual({ status: trieveEvents.ok, body: '' });
      await waitForRows(userId, 1, "the subdomain page's event");
      expect(tab.consoleMessages).toEqual([]);
    } finally {
      await tab.close();
    }
  });

  test('the bare brand.localhost is not covered: the browser blocks its page, and nothing of it is stored', async () => {
    const tab = await openPage(browser, pages.url(brandHost));
    try {
      await expectBlockedByCors(tab, trieveEvents, await sendFromPage(tab.page, trieveEvents.send, trieveEvents.args('page-bare-brand')));
    } finally {
      await tab.close();
    }
    await expectOnlyTheServersEventsStored(trieveEvents, 'bare-brand');
  });
});

test('the publishable key in a page on an origin no key lists is blocked by the browser, and nothing of it is stored', async () => {
  const tab = await openPage(browser, pages.url(foreignHost));
  try {
    await usePublishableKey(tab);
    await expectBlockedByCors(tab, trieveEvents, await sendFromPage(tab.page, trieveEvents.send, trieveEvents.args('page-foreign-publishable')));
  } finally {
    await tab.close();
  }
  await expectOnlyTheServersEventsStored(trieveEvents, 'foreign-publishable');
});

describe('the beacon door', () => {
  test("a page on the key's origin queues an event, is left for about:blank, and its beacon is stored", async () => {
    const tab = await openPage(browser, pages.url(shopHost));
    try {
      await runInPage(tab, `pending.push(${JSON.stringify(beaconEvent('beacon-shop'))});`);
      await tab.page.goto('about:blank');
      await waitForRows('beacon-shop', 1, 'the beacon sent on pagehide');
      expect(tab.consoleMessages).toEqual([]);
    } finally {
      await tab.close();
    }
  });

  test("fetch with keepalive to the beacon door reads the door's 204, and its event is stored", async () => {
    const tab = await openPage(browser, pages.url(shopHost));
    try {
      // As docs/browser.md describes it: a string body (text/plain, no preflight), the key and dataset in the query string.
      const status = await tab.page.evaluate(`(async () => {
        const query = new URLSearchParams({ key: sluice.key, dataset_id: sluice.dataset });
        const response = await fetch(\`\${sluice.url}/v1/beacon?\${query}\`, { method: 'POST', keepalive: true, body: JSON.stringify({ events: [${JSON.stringify(beaconEvent('keepalive-shop'))}] }) });
        return response.status;
      })()`);
      expect(status).toBe(204);
      await waitForRows('keepalive-shop', 1, 'the keepalive fetch');
      expect(tab.consoleMessages).toEqual([]);
    } finally {
      await tab.close();
    }
  });

  test('the publishable key on an origin no key lists: the beacon goes without a preflight, the gateway refuses it, and nothing of it is stored', async () => {
    const refusedBefore = await beaconOriginRefusals();
    const tab = await openPage(browser, pages.url(foreignHost));
    try {
      await usePublishableKey(tab);
      await runInPage(tab, `pending.push(${JSON.stringify(beaconEvent('page-foreign-beacon'))});`);
      await tab.page.goto('about:blank');
      // The beacon has reached the gateway once it is refused, or stored (which the check below fails).
      await waitFor(
        async () => ((await beaconOriginRefusals()) > refusedBefore || (await storedUsers(['page-foreign-beacon'])).length > 0 ? true : undefined),
        'the foreign beacon to reach the gateway',
        60_000,
      );
    } finally {
      await tab.close();
    }
    await expectOnlyTheServersEventsStored(trieveEvents, 'foreign-beacon');
    expect(await beaconOriginRefusals()).toBe(refusedBefore + 1);
  });
});
