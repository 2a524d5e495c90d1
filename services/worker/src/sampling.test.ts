import type { Envelope } from '@sluice/envelope';
import { configuredRate, decideSample, parseSamplingRules, samplePoint, samplingUnit, type SamplingRules } from './sampling';

const base: Envelope = {
  schema_version: 1,
  event_id: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
  insert_id: 'i-1',
  dataset_id: 'ds',
  source: 'trieve',
  event_type: 'search',
  event_name: 'search',
  occurred_at: 0,
  received_at: 0,
};

describe('samplePoint', () => {
  test('is the same for the same dataset and unit, and differs across datasets', () => {
    expect(samplePoint('ds', 'request:r1')).toBe(samplePoint('ds', 'request:r1'));
    expect(samplePoint('ds', 'request:r1')).not.toBe(samplePoint('other', 'request:r1'));
  });

  test('is uniform on [0, 1): 100,000 units keep 10% ± 1% at rate 0.1, and every point is in range', () => {
    let kept = 0;
    for (let i = 0; i < 100_000; i++) {
      const point = samplePoint('ds', `insert:${i}`);
      expect(point >= 0 && point < 1).toBe(true);
      if (point < 0.1) kept++;
    }
    expect(kept).toBeGreaterThanOrEqual(9_000);
    expect(kept).toBeLessThanOrEqual(11_000);
  });
});

describe('decideSample', () => {
  const rules: SamplingRules = {
    datasets: {
      ds: {
        default: 0.5,
        eventTypes: { view: 0.2 },
        requestTypes: { search: 0.1 },
      },
    },
  };

  test('a request and every event naming its request_id get one decision', () => {
    let together = 0;
    for (let i = 0; i < 2_000; i++) {
      const request_id = `r-${i}`;
      const family: Envelope[] = [
        {
          ...base,
          insert_id: `s-${i}`,
          event_type: 'search',
          request_id,
          request_type: 'search',
        },
        {
          ...base,
          insert_id: `c-${i}`,
          event_type: 'click',
          request_id,
          request_type: 'search',
          position: 1,
        },
        {
          ...base,
          insert_id: `p-${i}`,
          event_type: 'purchase',
          request_id,
          request_type: 'search',
          revenue: 5,
        },
      ];
      const decisions = family.map((e) => decideSample(e, rules));
      expect(new Set(decisions.map((d) => d.keep)).size).toBe(1);
      expect(decisions.every((d) => d.rate === 0.1)).toBe(true);
      if (decisions[0]?.keep) together++;
    }
    expect(together).toBeGreaterThan(100);
    expect(together).toBeLessThan(300);
  });

  test('without a request_id the event type rate applies, else the dataset default, else 1', () => {
    expect(configuredRate({ ...base, event_type: 'view' }, rules)).toBe(0.2);
    expect(configuredRate({ ...base, event_type: 'outcome' }, rules)).toBe(0.5);
    expect(configuredRate({ ...base, dataset_id: 'unconfigured' }, rules)).toBe(1);
    expect(configuredRate({ ...base, event_type: 'click', request_id: 'r', request_type: 'rag' }, rules)).toBe(0.5);
  });

  test("the producer's sample_rate and the configured rate: the lower wins", () => {
    expect(decideSample({ ...base, event_type: 'outcome', sample_rate: 0.3 }, rules).rate).toBe(0.3);
    expect(decideSample({ ...base, event_type: 'view', sample_rate: 0.3 }, rules).rate).toBe(0.2);
  });

  test('force_sample keeps the event and records rate 1, since it was certain to be kept', () => {
    expect(decideSample({ ...base, sample_rate: 0, force_sample: true }, rules)).toEqual({ keep: true, rate: 1 });
  });

  test('rate 0 keeps nothing; rate 1 keeps everything', () => {
    for (let i = 0; i < 200; i++) {
      expect(decideSample({ ...base, insert_id: `x-${i}`, sample_rate: 0 }, { datasets: {} }).keep).toBe(false);
      expect(decideSample({ ...base, insert_id: `x-${i}` }, { datasets: {} })).toEqual({ keep: true, rate: 1 });
    }
  });

  test('the unit is the request_id when present, else the insert_id', () => {
    expect(samplingUnit({ insert_id: 'i', request_id: 'r' })).toBe('request:r');
    expect(samplingUnit({ insert_id: 'i', request_id: null })).toBe('insert:i');
  });
});

describe('parseSamplingRules', () => {
  test('accepts a full file', () => {
    const json = {
      datasets: {
        ds: {
          default: 0.5,
          eventTypes: { view: 0.2 },
          requestTypes: { search: 0.1 },
        },
      },
    };
    expect(parseSamplingRules(json, 'f')).toEqual(json);
  });

  test.each([
    [[], 'f: the file must hold a JSON object'],
    [{ datasets: { ds: { default: 2 } } }, 'f: datasets.ds.default must be a number from 0 to 1, got 2'],
    [{ datasets: { ds: { eventTypes: { view: '0.5' } } } }, 'f: datasets.ds.eventTypes.view must be a number from 0 to 1, got "0.5"'],
    [{ datasets: { ds: { rate: 0.5 } } }, 'Unknown option "rate" in f at datasets.ds; known options: default, eventTypes, requestTypes'],
    [{ dataset: {} }, 'Unknown option "dataset" in f; known options: datasets'],
    [{ datasets: [] }, 'f: datasets must be an object keyed by dataset id'],
  ])('rejects %j with an exact message', (json, message) => {
    expect(() => parseSamplingRules(json, 'f')).toThrow(message);
  });
});
