import type { Principal } from '@sluice/tenancy';
import { answerHeaders, originRefusal, preflightAnswer, type CorsDoor } from './cors';
import { corsDoorOf, dialectEndpoints } from './dialects';
import { batchCorsDoor } from './ingest/batch';

const shop = 'https://shop.example';
const isAllowedOrigin = (origin: string): boolean => origin === shop;
const door: CorsDoor = { method: 'PUT', path: '/api/analytics/events', allowedHeaders: ['Authorization', 'TR-Dataset', 'Content-Type'] };

describe('the doors as CORS sees them: each allows exactly the headers its endpoint reads', () => {
  test.each([
    ['/api/analytics/events', 'PUT', 'Authorization, TR-Dataset, TR-Organization, Idempotency-Key, Content-Type, Content-Encoding'],
    ['/api/analytics/ctr', 'PUT', 'Authorization, TR-Dataset, TR-Organization, Idempotency-Key, Content-Type, Content-Encoding'],
    ['/analytics/event', 'POST', 'X-Neuralens-API-Key, X-Neuralens-Application-ID, Idempotency-Key, Content-Type, Content-Encoding'],
    ['/api/v1/events', 'POST', 'Authorization, Idempotency-Key, Content-Type, Content-Encoding'],
    ['/v1/batch', 'POST', 'Authorization, Idempotency-Key, Content-Type, Content-Encoding'],
  ])('%s: %s with %s', (path, method, headers) => {
    const doors = [...dialectEndpoints.map(corsDoorOf), batchCorsDoor];
    expect(doors.find((d) => d.path === path)).toEqual({ path, method, allowedHeaders: headers.split(', ') });
  });
});

describe('preflightAnswer', () => {
  test('an allowed origin gets the method, the headers, a max age and Vary, and no more', () => {
    expect(preflightAnswer(door, { origin: shop, method: 'PUT', headers: 'authorization,content-type,tr-dataset' }, isAllowedOrigin)).toEqual({
      ok: true,
      headers: {
        Vary: 'Origin',
        'Access-Control-Allow-Origin': shop,
        'Access-Control-Allow-Credentials': 'true',
        'Access-Control-Allow-Methods': 'PUT',
        'Access-Control-Allow-Headers': 'Authorization, TR-Dataset, Content-Type',
        'Access-Control-Max-Age': '7200',
      },
    });
  });

  test.each([
    ['no headers asked', undefined],
    ['an empty list', ''],
    ['any case, spaces and empty items', ' Authorization , TR-DATASET,,'],
  ])('the headers may be asked for as browsers and others write them: %s', (_what, headers) => {
    expect(preflightAnswer(door, { origin: shop, method: 'PUT', headers }, isAllowedOrigin).ok).toBe(true);
  });

  test.each([
    ['an origin no key allows', { origin: 'https://evil.example', method: 'PUT', headers: 'authorization' }, 'ORIGIN_NOT_ALLOWED', 'No API key allows requests from the origin "https://evil.example"; a key lists the origins it may be used from (docs/keys.md)'],
    ['the null origin', { origin: 'null', method: 'PUT', headers: undefined }, 'ORIGIN_NOT_ALLOWED', 'No API key allows requests from the origin "null"; a key lists the origins it may be used from (docs/keys.md)'],
    ['another method', { origin: shop, method: 'POST', headers: 'authorization' }, 'PREFLIGHT_REFUSED', '/api/analytics/events takes PUT requests, not "POST"'],
    ['a method in lower case (browsers send it upper case)', { origin: shop, method: 'put', headers: undefined }, 'PREFLIGHT_REFUSED', '/api/analytics/events takes PUT requests, not "put"'],
    [
      'a header the door does not take',
      { origin: shop, method: 'PUT', headers: 'authorization,x-requested-with' },
      'PREFLIGHT_REFUSED',
      'PUT /api/analytics/events does not take the request header "x-requested-with"; it takes Authorization, TR-Dataset, Content-Type',
    ],
    [
      'two such headers',
      { origin: shop, method: 'PUT', headers: 'x-a,authorization,x-b' },
      'PREFLIGHT_REFUSED',
      'PUT /api/analytics/events does not take the request headers "x-a", "x-b"; it takes Authorization, TR-Dataset, Content-Type',
    ],
  ])('%s is refused, granting nothing', (_what, preflight, code, message) => {
    const answer = preflightAnswer(door, preflight, isAllowedOrigin);
    expect(answer).toEqual({ ok: false, headers: { Vary: 'Origin' }, refusal: expect.objectContaining({ code, status: 403, message }) as unknown });
  });
});

describe('answerHeaders', () => {
  test('an origin some key allows may read the answer, and Retry-After in it', () => {
    expect(answerHeaders(shop, isAllowedOrigin)).toEqual({
      Vary: 'Origin',
      'Access-Control-Allow-Origin': shop,
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Expose-Headers': 'Retry-After',
    });
  });

  test.each([
    ['a foreign origin', 'https://evil.example'],
    ['no Origin (a server)', undefined],
  ])('%s gets only Vary', (_what, origin) => {
    expect(answerHeaders(origin, isAllowedOrigin)).toEqual({ Vary: 'Origin' });
  });
});

describe('originRefusal', () => {
  const principal = (kind: Principal['kind'], origins: readonly string[]): Principal => ({
    keyId: 'key_3f9a1c0b2d4e',
    kind,
    listsOrigins: origins.length > 0,
    canWrite: () => true,
    allowsOrigin: (origin) => kind === 'dev' || (origin === undefined ? kind === 'secret' : origins.includes(origin)),
  });

  test.each([
    ['a secret key from a server', principal('secret', []), undefined],
    ['a secret key with origins from a server', principal('secret', [shop]), undefined],
    ['a secret key with origins from one of them', principal('secret', [shop]), shop],
    ['a publishable key from one of its origins', principal('publishable', [shop]), shop],
    ['the dev key from anywhere', principal('dev', []), 'https://evil.example'],
    ['the dev key from a server', principal('dev', []), undefined],
  ])('%s is allowed', (_what, key, origin) => {
    expect(originRefusal(key, origin)).toBeUndefined();
  });

  test.each([
    [
      'a server-only key from a page',
      principal('secret', []),
      shop,
      'This API key is for servers only (it lists no origins), and this request comes from a web page of "https://shop.example": a page sends events with a publishable key (pk_...) that lists its origin (docs/keys.md)',
    ],
    [
      'a secret key from a page it does not list',
      principal('secret', [shop]),
      'https://evil.example',
      'This API key may not be used from the origin "https://evil.example": it is not one of the key\'s origins (docs/keys.md)',
    ],
    [
      'a publishable key from a page it does not list',
      principal('publishable', [shop]),
      'https://evil.example',
      'This API key may not be used from the origin "https://evil.example": it is not one of the key\'s origins (docs/keys.md)',
    ],
    [
      'a publishable key from a server',
      principal('publishable', [shop]),
      undefined,
      'This is a publishable key (pk_...), which is accepted only from the web pages of its origins, and this request has no Origin header: a server sends events with a secret key (sk_...)',
    ],
  ])('%s is refused, saying why', (_what, key, origin, message) => {
    expect(originRefusal(key, origin)).toMatchObject({ code: 'ORIGIN_NOT_ALLOWED', status: 403, message });
  });
});
