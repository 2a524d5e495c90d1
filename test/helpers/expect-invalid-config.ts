import { SluiceError } from '@sluice/core';

/** Calls fn and checks that it throws SluiceError('INVALID_CONFIG') with exactly this message (or one matching it). */
export function expectInvalidConfig(fn: () => unknown, message: string | RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(SluiceError);
  expect(thrown).toMatchObject({ code: 'INVALID_CONFIG', status: 500 });
  if (typeof message === 'string') expect((thrown as SluiceError).message).toBe(message);
  else expect((thrown as SluiceError).message).toMatch(message);
}
