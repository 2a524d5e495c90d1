// The tests' HTTP client: it must come back after "later" answers as a real client does, and must
// not hide any other answer, or a test would pass over a gateway that refuses.
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { fetchRetrying } from '../helpers/http';

/** A server that gives the scripted answers in turn, then 204, and counts the requests. */
async function scripted(answers: { status: number; retryAfter?: string }[]): Promise<{ url: string; requests: () => number; server: Server }> {
  let requests = 0;
  const server = createServer((_req, res) => {
    const answer = answers[requests++] ?? { status: 204 };
    if (answer.retryAfter !== undefined) res.setHeader('Retry-After', answer.retryAfter);
    res.statusCode = answer.status;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, requests: () => requests, server };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

test.each([
  ['503 and 429 with Retry-After are sent again until the answer changes', [{ status: 503, retryAfter: '0' }, { status: 429, retryAfter: '0' }], 204, 3],
  ['a 503 without Retry-After is the answer', [{ status: 503 }], 503, 1],
  ['a 400 is the answer', [{ status: 400, retryAfter: '0' }], 400, 1],
])('%s', async (_name, answers, status, requests) => {
  const server = await scripted(answers);
  servers.push(server.server);
  const response = await fetchRetrying(server.url, { method: 'PUT', body: 'x' });
  expect([response.status, server.requests()]).toEqual([status, requests]);
});

test('past its deadline the last "later" answer is returned, so a gateway that never recovers still fails the test', async () => {
  const server = await scripted(Array.from({ length: 100 }, () => ({ status: 503, retryAfter: '1' })));
  servers.push(server.server);
  const response = await fetchRetrying(server.url, {}, 1_500);
  expect(response.status).toBe(503);
  expect(server.requests()).toBeGreaterThanOrEqual(2);
});
