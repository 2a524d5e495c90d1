import { backoffDelay, defaultBackoff, type BackoffOptions } from './backoff';

const noJitter: BackoffOptions = { ...defaultBackoff, jitter: 0 };
const middle = (): number => 0.5;
const lowest = (): number => 0;
const almostOne = (): number => 1 - Number.EPSILON;

describe('backoffDelay', () => {
  test('grows by the multiplier from the initial delay', () => {
    expect([0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, noJitter))).toEqual([200, 400, 800, 1600, 3200, 6400]);
    expect([0, 1, 2].map((attempt) => backoffDelay(attempt, { initialDelayMs: 100, maxDelayMs: 10_000, multiplier: 3, jitter: 0 }))).toEqual([100, 300, 900]);
  });

  test('with jitter, the middle of the spread is the exponential delay', () => {
    expect([0, 1, 2, 3].map((attempt) => backoffDelay(attempt, defaultBackoff, middle))).toEqual([200, 400, 800, 1600]);
  });

  test('never decreases from one attempt to the next (for the same random draw)', () => {
    for (const random of [lowest, middle, almostOne]) {
      const delays = Array.from({ length: 30 }, (_, attempt) => backoffDelay(attempt, defaultBackoff, random));
      for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1] ?? 0);
    }
  });

  test('caps at maxDelayMs', () => {
    expect(backoffDelay(6, noJitter)).toBe(10_000); // 200 * 2^6 = 12 800
    expect(backoffDelay(20, noJitter)).toBe(10_000);
    expect(backoffDelay(5000, noJitter)).toBe(10_000); // 2^5000 is Infinity
    expect(backoffDelay(40, defaultBackoff, middle)).toBe(10_000);
  });

  test('jitter never lifts a capped delay above maxDelayMs', () => {
    expect(backoffDelay(40, defaultBackoff, almostOne)).toBe(10_000);
    expect(backoffDelay(40, defaultBackoff, lowest)).toBe(7_000);
  });

  test('jitter stays within ±jitter of the (capped) exponential delay', () => {
    const cases: [number, number][] = [
      [0, 200],
      [3, 1600],
      [10, 10_000],
    ];
    for (const [attempt, base] of cases) {
      expect(backoffDelay(attempt, defaultBackoff, lowest)).toBe(Math.round(base * (1 - defaultBackoff.jitter)));
      const highest = backoffDelay(attempt, defaultBackoff, almostOne);
      expect(highest).toBeLessThanOrEqual(Math.min(defaultBackoff.maxDelayMs, Math.round(base * (1 + defaultBackoff.jitter))));
      expect(highest).toBeGreaterThanOrEqual(Math.min(defaultBackoff.maxDelayMs, base + 1));
      for (let draw = 0; draw < 1; draw += 0.05) {
        const delay = backoffDelay(attempt, defaultBackoff, () => draw);
        expect(delay).toBeGreaterThanOrEqual(Math.round(base * 0.7));
        expect(delay).toBeLessThanOrEqual(Math.min(defaultBackoff.maxDelayMs, Math.round(base * 1.3)));
      }
    }
  });

  test('consults random once per call and returns whole milliseconds', () => {
    const random = jest.fn(() => 0.123);
    const delay = backoffDelay(2, defaultBackoff, random);
    expect(random).toHaveBeenCalledTimes(1);
    expect(Number.isInteger(delay)).toBe(true);
    expect(delay).toBe(Math.round(800 - 240 + 0.123 * 480));
  });

  test('jitter 1 spreads from zero to twice the delay', () => {
    const full: BackoffOptions = { initialDelayMs: 1000, maxDelayMs: 60_000, multiplier: 2, jitter: 1 };
    expect(backoffDelay(0, full, lowest)).toBe(0);
    expect(backoffDelay(0, full, middle)).toBe(1000);
    expect(backoffDelay(0, full, almostOne)).toBe(2000);
  });

  test('uses Math.random by default and the default options', () => {
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(0);
      expect(delay).toBeGreaterThanOrEqual(140);
      expect(delay).toBeLessThanOrEqual(260);
    }
  });
});
