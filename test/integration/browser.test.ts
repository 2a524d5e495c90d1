/**
 * docs/browser.md's snippets in a real browser: headless Chromium (Debian's chromium, driven by
 * playwright-core) loads a page on one origin, which sends events with fetch to the gateway on
 * another. The key lists no origins, so it is for servers only: from the page every door must be
 * blocked by the browser, and nothing stored, while the same snippet run from Node is stored.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { openKeyFile } from '@sluice/core';
import { createKey } from '../../services/gateway/src/tenancy/key-admin';
import { browserSnippets, launchChromium, loadInNode, openPage, pageScript, sendFromPage, servePage, type PageServer } from '../helpers/browser';
import { lastSeen, removeTestDirectory, startInProcessPipeline, testLogger, waitFor, type InProcessPipeline } from '../helpers/pipeline';

const guide = readFileSync(join(__dirname, '..', '..', 'docs', 'browser.md'), 'utf8');
const snippets = browserSnippets(guide);
const dataset = 'shop';
/** An origin no key lists. */
const foreignHost = 'foreign.localhost';

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

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'sluice-browser-'));
  const created = createKey(undefined, { name: 'servers only', datasets: { trieve: [dataset], neuralens: [dataset], greenflash: [dataset] } }, new Date());
  const keyFile = join(directory, 'keys.json');
  writeFileSync(keyFile, created.contents);
  // One partition: once an event sent later is stored, any event the page got through is stored too.
  pipeline = await startInProcessPipeline({ keyStore: openKeyFile(keyFile, { logger: testLogger }), partitions: 1 });
  const script = pageScript(snippets, { url: pipeline.gatewayUrl, key: created.key, dataset });
  pages = await servePage(() => script);
  sendFromNode = loadInNode(script);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pages?.close();
  await pipeline?.stop();
  removeTestDirectory(directory);
});

test('the guide has a snippet for every door, and its page script loads in the page', async () => {
  expect([...snippets.keys()].sort()).toEqual(['batch', 'config', 'greenflash', 'neuralens', 'trieve-ctr', 'trieve-events']);
  const tab = await openPage(browser, pages.url(foreignHost));
  try {
    const defined = await tab.page.evaluate((names) => names.filter((name) => typeof (globalThis as unknown as Record<string, unknown>)[name] === 'function'), doors.map((d) => d.send));
    expect({ defined, console: tab.consoleMessages }).toEqual({ defined: doors.map((d) => d.send), console: [] });
  } finally {
    await tab.close();
  }
});

describe.each(doors.map((d) => [d.name, d] as const))('%s', (_name, door) => {
  test('a page on an origin the key does not list is blocked by the browser, and nothing of it is stored', async () => {
    const tab = await openPage(browser, pages.url(foreignHost));
    try {
      const outcome = await sendFromPage(tab.page, door.send, door.args(`page-${door.send}`));
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
    } finally {
      await tab.close();
    }

    // The same snippet from a server: the key, the dataset and the event are good.
    const fromServer = await sendFromNode(door.send, door.args(`server-${door.send}`));
    expect(fromServer).toEqual({ status: door.ok, body: expect.any(String) as unknown });
    const storedUsers = () =>
      pipeline.clickhouse
        .queryRows<{ user_id: string }>(`SELECT user_id FROM events WHERE dataset_id = {d:String} AND has({users:Array(String)}, user_id) ORDER BY user_id`, {
          d: dataset,
          users: [`page-${door.send}`, `server-${door.send}`],
        })
        .then((rows) => rows.map((r) => r.user_id));
    await waitFor(async () => ((await storedUsers()).filter((u) => u.startsWith('server-')).length >= door.rows ? true : undefined), `the server's ${door.name} events`, 60_000);
    expect(await storedUsers()).toEqual(Array<string>(door.rows).fill(`server-${door.send}`));
  });
});
