/**
 * A real browser for tests: headless Chromium from Debian's `chromium` package, driven by
 * playwright-core (which downloads no browser of its own), a page served on a `*.localhost`
 * origin, and what the page saw of its requests.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { delimiter, join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { chromium, type Browser, type Page } from 'playwright-core';
import { fetchRetrying, type RepeatableRequest } from './http';
import { closeServer, listen } from './pipeline';

/** Debian's launcher, `chromium` on PATH; a missing browser fails the test, never skips it. */
export function chromiumExecutable(): string {
  for (const directory of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(directory, 'chromium');
    if (directory !== '' && existsSync(candidate)) return candidate;
  }
  throw new Error(
    "Chromium is not installed (no `chromium` on PATH). `npm test` installs Debian's chromium package when it runs as root with apt-get; " +
      'otherwise run `apt-get install --no-install-recommends chromium` and run the tests again.',
  );
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumExecutable(), headless: true });
}

/** The fenced ```js blocks of a guide marked `<!-- browser-snippet: NAME -->`, by name. */
export function browserSnippets(markdown: string): Map<string, string> {
  return new Map([...markdown.matchAll(/^<!-- browser-snippet: ([\w-]+) -->\n```js\n([\s\S]*?)^```$/gm)].map((match) => [match[1] ?? '', match[2] ?? '']));
}

/**
 * The page's script: the guide's snippets after its `config` block, whose values (`const sluice =
 * {...}`) are replaced by the test's. The guide's config must name the same settings, so the
 * snippets read what the test gives them.
 */
export function pageScript(snippets: Map<string, string>, config: Record<string, string>): string {
  const documented = snippets.get('config');
  if (documented === undefined) throw new Error('the guide has no `<!-- browser-snippet: config -->` block');
  const documentedNames = Object.keys(runInNewContext(`${documented}\nsluice`) as object).sort();
  const givenNames = Object.keys(config).sort();
  if (documentedNames.join() !== givenNames.join()) throw new Error(`the guide's config names ${documentedNames.join(', ')}; the test gives ${givenNames.join(', ')}`);
  const functions = [...snippets].filter(([name]) => name !== 'config').map(([, code]) => code);
  return [`const sluice = ${JSON.stringify(config)};`, ...functions].join('\n');
}

export interface PageServer {
  /** The page on origin `http://<host>:<port>`; `host` is a name under `.localhost`, which Chromium sends to loopback. */
  url(host: string): string;
  close(): Promise<void>;
}

/**
 * One page, an empty document that loads `/page.js`, for every host name: each name is an origin
 * of its own. `scriptFor` gives each origin's script when it is asked for, so pages on different
 * origins can hold different keys.
 */
export async function servePage(scriptFor: (origin: string) => string): Promise<PageServer> {
  const html = '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>shop</title><script src="/page.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    else if (req.url === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(scriptFor(`http://${req.headers.host ?? ''}`));
    else res.writeHead(404).end();
  });
  const port = new URL(await listen(server)).port;
  return { url: (host) => `http://${host}:${port}/`, close: () => closeServer(server) };
}

export interface BrowserPage {
  page: Page;
  origin: string;
  /** What Chromium logged to the page's console (its CORS messages are errors there), in order. */
  consoleMessages: { type: string; text: string }[];
  /** Requests that got no answer the page could read, with Chromium's reason (`net::ERR_FAILED` for CORS). */
  failedRequests: { method: string; url: string; reason: string }[];
  close(): Promise<void>;
}

/** A fresh browser context (no cache, no cookies) with `url` loaded. */
export async function openPage(browser: Browser, url: string): Promise<BrowserPage> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleMessages: BrowserPage['consoleMessages'] = [];
  const failedRequests: BrowserPage['failedRequests'] = [];
  page.on('console', (message) => consoleMessages.push({ type: message.type(), text: message.text() }));
  page.on('pageerror', (error) => consoleMessages.push({ type: 'pageerror', text: error.message }));
  page.on('requestfailed', (request) => failedRequests.push({ method: request.method(), url: request.url(), reason: request.failure()?.errorText ?? '' }));
  await page.goto(url);
  return { page, origin: new URL(url).origin, consoleMessages, failedRequests, close: () => context.close() };
}

/** What the page saw of one send: the answer it could read, or the error fetch rejected with. */
export type PageOutcome = { status: number; body: string } | { error: string };

/**
 * Calls the page's `functionName(...args)`, which returns fetch's promise, as a page would: a 429
 * or 503 is sent again after Retry-After. A page reads that header only when the answer exposes
 * it, so without one it waits a second.
 */
export async function sendFromPage(page: Page, functionName: string, args: unknown[], retryForMs = 60_000): Promise<PageOutcome> {
  return page.evaluate(
    async ({ functionName, args, retryForMs }): Promise<PageOutcome> => {
      const send = (globalThis as unknown as Record<string, unknown>)[functionName];
      if (typeof send !== 'function') throw new Error(`the page defines no function ${functionName}`);
      const giveUpAt = Date.now() + retryForMs;
      for (;;) {
        let response: Response;
        try {
          response = await (send as (...values: unknown[]) => Promise<Response>)(...args);
        } catch (error) {
          return { error: String(error) };
        }
        const body = await response.text();
        if ((response.status !== 429 && response.status !== 503) || Date.now() >= giveUpAt) return { status: response.status, body };
        const seconds = Number(response.headers.get('Retry-After') ?? 1);
        await new Promise((resolve) => setTimeout(resolve, (Number.isFinite(seconds) ? seconds : 1) * 1000));
      }
    },
    { functionName, args, retryForMs },
  );
}

/**
 * The same page script run in Node, as a server would run it: Node's fetch sends no `Origin` and
 * knows no CORS, and there is no page to hide. Its fetch is the tests' retrying one, so a 429 or 503 is sent again.
 */
export function loadInNode(script: string): (functionName: string, args: unknown[]) => Promise<{ status: number; body: string }> {
  const scope: Record<string, unknown> = {
    fetch: (url: string, init: RepeatableRequest) => fetchRetrying(url, init),
    // The beacon snippet listens for pagehide: a server has no page to hide, so its listener never runs.
    addEventListener: () => undefined,
  };
  runInNewContext(script, scope);
  return async (functionName, args) => {
    const send = scope[functionName];
    if (typeof send !== 'function') throw new Error(`the page script defines no function ${functionName}`);
    const response = await (send as (...values: unknown[]) => Promise<Response>)(...args);
    return { status: response.status, body: await response.text() };
  };
}
