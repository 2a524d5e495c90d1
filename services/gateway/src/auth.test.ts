import { createSingleKeyAuthenticator, keyFromAuthorization } from './auth';

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

test('the single-key authenticator accepts only its key, whatever the length of the candidate', () => {
  const authenticator = createSingleKeyAuthenticator('sk_dev_abc');
  expect(authenticator.isValid('sk_dev_abc')).toBe(true);
  for (const wrong of ['sk_dev_ab', 'sk_dev_abcd', '', 'SK_DEV_ABC', 'x'.repeat(10_000)]) expect(authenticator.isValid(wrong)).toBe(false);
});
