import { createAdmission } from './admission';

test('takes up to its cap, refuses the next with 503 OVERLOADED and Retry-After, and takes again once a place is given back', () => {
  const admission = createAdmission(2);
  expect([admission.enter(), admission.enter()]).toEqual([undefined, undefined]);
  expect(admission.inFlight).toBe(2);
  expect(admission.enter()).toMatchObject({ code: 'OVERLOADED', status: 503, retriable: true, retryAfterSeconds: 1 });
  // A refused request took no place.
  expect(admission.inFlight).toBe(2);
  admission.leave();
  expect(admission.enter()).toBeUndefined();
  expect(admission.inFlight).toBe(2);
});

test('a cap that is no positive whole number is a configuration error', () => {
  for (const cap of [0, -1, 1.5, Number.NaN]) expect(() => createAdmission(cap)).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }) as Error);
});

test('with a queue-time budget, refuses while the event loop lags past it, and takes again once it does not', () => {
  let lagMs = 250;
  const admission = createAdmission(10, { maxWaitMs: 100, lagMs: () => lagMs });
  expect(admission.enter()).toMatchObject({ code: 'OVERLOADED', retryAfterSeconds: 1, message: expect.stringContaining('wait 250 ms') as unknown });
  expect(admission.inFlight).toBe(0);
  lagMs = 20;
  expect(admission.enter()).toBeUndefined();
});

test('every request refused at the cap gets the one refusal made beforehand, not an error (and its stack trace) of its own', () => {
  const admission = createAdmission(1);
  admission.enter();
  const first = admission.enter();
  expect(first).toMatchObject({ code: 'OVERLOADED', message: 'The gateway is serving 1 requests, its limit; retry in 1 s' });
  expect(admission.enter()).toBe(first);
});
