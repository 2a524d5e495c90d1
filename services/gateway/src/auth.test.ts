import { keyFromAuthorization } from './auth';

test.each([
  ['sk_live_1', 'sk_live_1'],
  ['Bearer sk_live_1', 'sk_live_1'],
  ['bearer   sk_live_1 ', 'sk_live_1'],
  ['  sk_live_1  ', 'sk_live_1'],
  ['Bearer ', undefined],
  ['', undefined],
  [undefined, undefined],
])('Authorization %j carries key %j', (header, key) => {
  expect(keyFromAuthorization(header)).toBe(key);
});
