import { silentLogger, type ConsumedBatch, type ConsumedMessage } from '@sluice/core';
import type { Envelope } from '@sluice/envelope';
import { createBatchHandler, jointBlockMaxMessages } from './batch-handler';
import type { DeadLetter, DeadLetterSink } from './dead-letters';
import { toEventRow, type EventRow } from './event-row';
import { jointToken, type BlockLog, type InsertBlock } from './insert-blocks';
import { createWorkerMetrics } from './metrics';
import { createValidateEnvelopeStep } from './steps/validate-envelope';
import { dedupIdentity, type StoredKeys } from './steps/deduplicate';
import { decideSample } from './sampling';

const noneStored: StoredKeys = { storedAmong: async () => new Set() };
const discardDeadLetters: DeadLetterSink = { store: async () => undefined };

/** An in-memory block log, as insert_block_log and insert_joint_log would keep it. */
function memoryBlocks(): BlockLog & { recorded: InsertBlock[]; joints: Map<string, { blocks: readonly InsertBlock[]; rows: EventRow[] | undefined }> } {
  const recorded: InsertBlock[] = [];
  const joints = new Map<string, { blocks: readonly InsertBlock[]; rows: EventRow[] | undefined }>();
  const same = (b: InsertBlock, topic: string, partition: number, firstOffset: string): boolean => b.topic === topic && b.partition === partition && b.firstOffset === firstOffset;
  return {
    recorded,
    joints,
    recordedBlock: async (topic, partition, firstOffset) => {
      for (const [token, joint] of joints) {
        const block = joint.blocks.find((b) => same(b, topic, partition, firstOffset));
        if (block !== undefined) return { lastOffset: block.lastOffset, joint: token };
      }
      const alone = recorded.findLast((b) => same(b, topic, partition, firstOffset));
      return alone === undefined ? undefined : { lastOffset: alone.lastOffset };
    },
    record: async (block) => void recorded.push(block),
    recordJoint: async (joint, cleared) => {
      joints.set(jointToken(joint.blocks), { blocks: joint.blocks, rows: [...joint.rows] });
      for (const blocks of cleared) joints.set(jointToken(blocks), { blocks, rows: undefined });
    },
    jointRows: async (token) => joints.get(token)?.rows,
  };
}

const envelope: Envelope = {
  schema_version: 1,
  event_id: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
  insert_id: 'order-1',
  dataset_id: 'ds',
  source: 'native',
  event_type: 'purchase',
  event_name: 'order',
  occurred_at: 1715644800000,
  received_at: 1715644800123,
  items: ['sku-1'],
  revenue: 9.5,
  geo: { lat: 1.5, long: 2.5, region: 'north' },
};

function message(value: string | null, offset: string): ConsumedMessage {
  return { topic: 'events', partition: 2, offset, key: null, value: value === null ? null : Buffer.from(value), headers: {}, timestamp: 0 };
}

function batch(messages: ConsumedMessage[], stale = false): ConsumedBatch & { heartbeats: number } {
  const result = {
    topic: 'events',
    partition: 2,
    messages,
    heartbeats: 0,
    heartbeat: async () => {
      result.heartbeats++;
    },
    isStale: () => stale,
    earlierStored: async () => undefined,
    release: () => undefined,
  };
  return result;
}

const instantBackoff = { initialDelayMs: 1, maxDelayMs: 1, multiplier: 1, jitter: 0 };

test('valid envelopes become rows with lineage; bad messages are counted by step and skipped', async () => {
  const inserted: { table: string; rows: readonly object[] }[] = [];
  const { handle, stats } = createBatchHandler({
    storedKeys: noneStored,
    blocks: memoryBlocks(),
    deadLetters: discardDeadLetters,
    clickhouse: { insertBlock: async (table, rows) => void inserted.push({ table, rows }) },
    logger: silentLogger,
  });
  await handle(
    batch([
      message(JSON.stringify(envelope), '10'),
      message('{not json', '11'),
      message(null, '12'),
      message(JSON.stringify({ ...envelope, event_id: 'not-a-uuid' }), '13'),
      message(JSON.stringify({ ...envelope, insert_id: 'order-2', extra: 1 }), '14'),
    ]),
  );
  expect(inserted).toHaveLength(1);
  expect(inserted[0]?.table).toBe('events');
  expect(inserted[0]?.rows).toEqual([
    expect.objectContaining({
      event_id: envelope.event_id,
      insert_id: 'order-1',
      occurred_at: 1715644800000,
      revenue: 9.5,
      items: ['sku-1'],
      geo_lat: 1.5,
      geo_long: 2.5,
      geo_region: 'north',
      user_id: null,
      sample_rate: 1,
      force_sample: false,
      properties: '{}',
      raw: 'null',
      kafka_topic: 'events',
      kafka_partition: 2,
      kafka_offset: '10',
    }),
  ]);
  expect(Object.fromEntries(stats.outcomes)).toEqual({
    'parse:ok': 3,
    'parse:dlq': 2,
    'validate:ok': 1,
    'validate:dlq': 2,
    'dataset:ok': 1,
    'sample:ok': 1,
    'dedup:ok': 1,
    'insert:ok': 1,
  });
  expect(stats.storedRows).toBe(1);
});

test('an envelope naming a dataset the key file does not know is a dead letter; the rest of the block is stored', async () => {
  const inserted: object[] = [];
  const deadLetters: DeadLetter[] = [];
  const { handle, stats } = createBatchHandler({
    storedKeys: noneStored,
    blocks: memoryBlocks(),
    deadLetters: { store: async (letters) => void deadLetters.push(...letters) },
    datasets: { isKnownDataset: (namespace, datasetId) => namespace === 'native' && datasetId === 'ds' },
    clickhouse: { insertBlock: async (_table, rows) => void inserted.push(...rows) },
    logger: silentLogger,
  });
  await handle(batch([message(JSON.stringify({ ...envelope, dataset_id: 'stranger' }), '1'), message(JSON.stringify(envelope), '2')]));
  expect(inserted).toEqual([expect.objectContaining({ dataset_id: 'ds', insert_id: 'order-1' })]);
  expect(deadLetters).toEqual([
    expect.objectContaining({
      step: 'dataset',
      reason: 'dataset "stranger" is not known: no key in KEYS_FILE lists it under "native" (source native)',
      datasetId: 'stranger',
      insertId: 'order-1',
    }),
  ]);
  expect(stats.outcomes.get('dataset:dlq')).toBe(1);
});

test('a batch with nothing valid inserts nothing', async () => {
  const insertRows = jest.fn(async () => undefined);
  const { handle } = createBatchHandler({ storedKeys: noneStored,
    blocks: memoryBlocks(), deadLetters: discardDeadLetters, clickhouse: { insertBlock: insertRows }, logger: silentLogger });
  await handle(batch([message('[]', '1')]));
  expect(insertRows).not.toHaveBeenCalled();
});

test('while ClickHouse is unreachable the insert is retried, heartbeating, until it succeeds', async () => {
  let calls = 0;
  const { handle, stats } = createBatchHandler({
    storedKeys: noneStored,
    blocks: memoryBlocks(),
    deadLetters: discardDeadLetters,
    clickhouse: {
      insertBlock: async () => {
        if (++calls < 4) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      },
    },
    logger: silentLogger,
    backoff: instantBackoff,
  });
  const work = batch([message(JSON.stringify(envelope), '1')]);
  await handle(work);
  expect(calls).toBe(4);
  expect(work.heartbeats).toBe(3);
  expect(stats.retries).toBe(3);
  expect(stats.storedRows).toBe(1);
});

test('a backoff longer than a second heartbeats every second, so the group never sees a silent member', async () => {
  jest.useFakeTimers();
  try {
    let calls = 0;
    const { handle } = createBatchHandler({
      storedKeys: noneStored,
      blocks: memoryBlocks(),
      deadLetters: discardDeadLetters,
      clickhouse: {
        insertBlock: async () => {
          if (++calls === 1) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        },
      },
      logger: silentLogger,
      backoff: { initialDelayMs: 9_500, maxDelayMs: 9_500, multiplier: 1, jitter: 0 },
    });
    const work = batch([message(JSON.stringify(envelope), '1')]);
    const handled = handle(work);
    await jest.advanceTimersByTimeAsync(9_500);
    await handled;
    expect(calls).toBe(2);
    expect(work.heartbeats).toBe(10);
  } finally {
    jest.useRealTimers();
  }
});

/**
 * A ClickHouse that refuses, as a constraint would, every block holding a row whose insert_id
 * starts with "poison", naming the first such row or not, and stores a block with a token it has
 * seen once only.
 */
function refusingClickHouse(options: { crashAfterInserts?: number; namesRow?: boolean } = {}) {
  const tokens = new Set<string>();
  const stored: string[] = [];
  const attempts: string[] = [];
  let inserts = 0;
  return {
    stored,
    attempts,
    insertBlock: async (_table: string, rows: readonly object[], token: string): Promise<void> => {
      attempts.push(token);
      const ids = rows.map((row) => (row as { insert_id: string }).insert_id);
      const poison = ids.findIndex((id) => id.startsWith('poison'));
      const where = options.namesRow === false ? '' : ` at row ${poison + 1}`;
      if (poison >= 0) throw new Error(`Query failed: Code: 469. DB::Exception: Constraint \`no_poison\` for table sluice.events is violated${where}. (VIOLATED_CONSTRAINT)`);
      if (!tokens.has(token)) stored.push(...ids);
      tokens.add(token);
      if (options.crashAfterInserts !== undefined && ++inserts === options.crashAfterInserts) throw Object.assign(new Error('worker killed'), { code: 'ECONNRESET' });
    },
  };
}

describe('rows ClickHouse refuses', () => {
  const send = (insertId: string, offset: string): ConsumedMessage => message(JSON.stringify({ ...envelope, insert_id: insertId }), offset);
  const ids = ['a', 'b', 'poison-1', 'c', 'd', 'e', 'poison-2', 'f'];
  const messages = (): ConsumedMessage[] => ids.map((id, i) => send(id, String(10 + i)));

  test('are isolated, cut at the row ClickHouse names, and dead-lettered with its error; the rest is stored once and the batch committed', async () => {
    const clickhouse = refusingClickHouse();
    const letters: DeadLetter[] = [];
    const { handle, stats } = createBatchHandler({ storedKeys: noneStored, blocks: memoryBlocks(), deadLetters: { store: async (l) => void letters.push(...l) }, clickhouse, logger: silentLogger });
    expect(await handle(batch(messages()))).toEqual({ handledThrough: '17' });
    expect(clickhouse.stored.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(letters.map((l) => [l.step, l.insertId, l.message.offset])).toEqual([
      ['insert', 'poison-1', '12'],
      ['insert', 'poison-2', '16'],
    ]);
    expect(letters[0]?.reason).toMatch(/^ClickHouse refused the row: .*Code: 469.*VIOLATED_CONSTRAINT/);
    expect(stats).toMatchObject({ storedRows: 6, deadLetters: 2 });
    // The tokens name each part's place in the block, so a rebuilt block is cut the same way.
    expect(clickhouse.attempts).toEqual(['events/2/10-17', ...['[0,2)', '[2,3)', '[3,8)', '[3,6)', '[6,7)', '[7,8)'].map((range) => `events/2/10-17${range}`)]);
  });

  test('are found by bisecting when ClickHouse does not name the row', async () => {
    const clickhouse = refusingClickHouse({ namesRow: false });
    const letters: DeadLetter[] = [];
    const { handle } = createBatchHandler({ storedKeys: noneStored, blocks: memoryBlocks(), deadLetters: { store: async (l) => void letters.push(...l) }, clickhouse, logger: silentLogger });
    await handle(batch(messages()));
    expect(clickhouse.stored.sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(letters.map((l) => l.insertId)).toEqual(['poison-1', 'poison-2']);
    expect(clickhouse.attempts.slice(0, 3)).toEqual(['events/2/10-17', 'events/2/10-17[0,4)', 'events/2/10-17[0,2)']);
  });

  test('a crash in the middle of isolating: the block rebuilt from the same messages stores each good row exactly once', async () => {
    for (const [crashAfter, namesRow] of [1, 2, 3].flatMap((n) => [[n, true], [n, false]] as const)) {
      const blocks = memoryBlocks();
      const clickhouse = refusingClickHouse({ crashAfterInserts: crashAfter, namesRow });
      const deps = { storedKeys: noneStored, blocks, deadLetters: discardDeadLetters, clickhouse, logger: silentLogger, backoff: instantBackoff };
      // The crash: the partition is revoked while ClickHouse does not answer, and the batch is handed back.
      await expect(createBatchHandler(deps).handle(batch(messages(), true))).rejects.toThrow();
      await createBatchHandler(deps).handle(batch(messages()));
      expect([crashAfter, namesRow, clickhouse.stored.sort()]).toEqual([crashAfter, namesRow, ['a', 'b', 'c', 'd', 'e', 'f']]);
    }
  });

  test('an insert ClickHouse refuses for a reason of its own (memory, too many parts) is retried, never dead-lettered', async () => {
    let calls = 0;
    const letters: DeadLetter[] = [];
    const insertBlock = jest.fn(async () => {
      if (++calls <= 3) throw new Error(calls === 1 ? 'Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)' : 'Code: 252. DB::Exception: Too many parts (300). (TOO_MANY_PARTS)');
    });
    const { handle, stats } = createBatchHandler({ storedKeys: noneStored, blocks: memoryBlocks(), deadLetters: { store: async (l) => void letters.push(...l) }, clickhouse: { insertBlock }, logger: silentLogger, backoff: instantBackoff });
    await handle(batch([message(JSON.stringify(envelope), '1')]));
    expect(insertBlock).toHaveBeenCalledTimes(4);
    expect(letters).toEqual([]);
    expect(stats.storedRows).toBe(1);
  });
});

test('a step that throws on a message dead-letters that message instead of stalling the partition', async () => {
  const letters: DeadLetter[] = [];
  const inserted: object[] = [];
  const { handle } = createBatchHandler({
    storedKeys: noneStored,
    blocks: memoryBlocks(),
    deadLetters: { store: async (l) => void letters.push(...l) },
    clickhouse: { insertBlock: async (_table, rows) => void inserted.push(...rows) },
    validate: (value) => {
      if ((value as Envelope).insert_id === 'boom') throw new RangeError('Maximum call stack size exceeded');
      return { kind: 'ok', value: value as Envelope };
    },
    logger: silentLogger,
  });
  await handle(batch([message(JSON.stringify({ ...envelope, insert_id: 'boom' }), '1'), message(JSON.stringify(envelope), '2')]));
  expect(letters.map((l) => [l.step, l.reason, l.insertId])).toEqual([['validate', 'the validate step failed on this message: Maximum call stack size exceeded', 'boom']]);
  expect(inserted).toEqual([expect.objectContaining({ insert_id: 'order-1' })]);
});

test('bytes that are not UTF-8 are a dead letter, never stored as U+FFFD', async () => {
  const letters: DeadLetter[] = [];
  const inserted: object[] = [];
  const text = JSON.stringify({ ...envelope, event_name: 'caf\u00e9' });
  const latin1 = Buffer.from(text, 'latin1');
  const { handle } = createBatchHandler({
    storedKeys: noneStored,
    blocks: memoryBlocks(),
    deadLetters: { store: async (l) => void letters.push(...l) },
    clickhouse: { insertBlock: async (_table, rows) => void inserted.push(...rows) },
    logger: silentLogger,
  });
  await handle(batch([{ ...message(null, '1'), value: latin1 }]));
  expect(inserted).toEqual([]);
  expect(letters.map((l) => [l.step, l.reason])).toEqual([['parse', 'the message is not valid UTF-8: an envelope is JSON text in UTF-8']]);
});

test('a batch whose partition was revoked stops retrying at once', async () => {
  const insertRows = jest.fn(async () => {
    throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  });
  const { handle } = createBatchHandler({ storedKeys: noneStored,
    blocks: memoryBlocks(), deadLetters: discardDeadLetters, clickhouse: { insertBlock: insertRows }, logger: silentLogger, backoff: instantBackoff });
  await expect(handle(batch([message(JSON.stringify(envelope), '1')], true))).rejects.toThrow('ClickHouse is unavailable');
  expect(insertRows).toHaveBeenCalledTimes(1);
});

test('sampled-out events and duplicates are dropped and counted; the kept row records its sample rate', async () => {
  const inserted: object[] = [];
  const storedAmong = jest.fn(async () => new Set([dedupIdentity({ dataset_id: 'ds', insert_id: 'stored-before' })]));
  const { handle, stats } = createBatchHandler({
    storedKeys: { storedAmong },
    blocks: memoryBlocks(), deadLetters: discardDeadLetters,
    clickhouse: {
      insertBlock: async (_table, rows) => void inserted.push(...rows),
    },
    sampling: {
      datasets: { ds: { eventTypes: { purchase: 0 }, default: 0.5 } },
    },
    logger: silentLogger,
  });
  const send = (patch: Partial<Envelope>, offset: string): ConsumedMessage => message(JSON.stringify({ ...envelope, ...patch }), offset);
  await handle(
    batch([
      send({ insert_id: 'dropped-by-rate' }, '1'),
      send({ insert_id: 'forced', force_sample: true }, '2'),
      send({ insert_id: 'stored-before', event_type: 'view', force_sample: true }, '3'),
      send({ insert_id: 'twice', event_type: 'view', force_sample: true }, '4'),
      send({ insert_id: 'twice', event_type: 'view', force_sample: true }, '5'),
    ]),
  );
  expect(inserted).toEqual([
    expect.objectContaining({ insert_id: 'forced', sample_rate: 1 }),
    expect.objectContaining({
      insert_id: 'twice',
      kafka_offset: '4',
      sample_rate: 1,
    }),
  ]);
  expect(storedAmong).toHaveBeenCalledTimes(1);
  expect(stats.outcomes.get('sample:drop')).toBe(1);
  expect(stats.outcomes.get('dedup:drop')).toBe(2);
  expect(stats.outcomes.get('dedup:ok')).toBe(2);
});

test("a kept row records the rate the sampling step kept it at, which replaces the producer's own", async () => {
  const inserted: object[] = [];
  const rules = { datasets: { ds: { default: 0.5 } } };
  // The producer's own rate, 0.9, is above the configured 0.5: the lower one is the event's rate.
  const candidates = Array.from({ length: 20 }, (_, i) => ({ ...envelope, insert_id: `rated-${i}`, sample_rate: 0.9 }));
  const kept = candidates.find((candidate) => decideSample(candidate, rules).keep);
  if (kept === undefined) throw new Error('no candidate is kept at rate 0.5');
  const { handle } = createBatchHandler({
    storedKeys: noneStored,
    blocks: memoryBlocks(),
    deadLetters: discardDeadLetters,
    clickhouse: { insertBlock: async (_table, rows) => void inserted.push(...rows) },
    sampling: rules,
    logger: silentLogger,
  });
  await handle(batch([message(JSON.stringify(kept), '1')]));
  expect(inserted).toEqual([expect.objectContaining({ insert_id: kept.insert_id, sample_rate: 0.5 })]);
});

test('a dedup lookup ClickHouse cannot answer is retried; nothing is inserted until it answers', async () => {
  let lookups = 0;
  const insertRows = jest.fn(async () => undefined);
  const { handle } = createBatchHandler({
    deadLetters: discardDeadLetters,
    blocks: memoryBlocks(),
    storedKeys: {
      storedAmong: async () => {
        if (++lookups < 3)
          throw Object.assign(new Error('connect ECONNREFUSED'), {
            code: 'ECONNREFUSED',
          });
        return new Set<string>();
      },
    },
    clickhouse: { insertBlock: insertRows },
    logger: silentLogger,
    backoff: instantBackoff,
  });
  await handle(batch([message(JSON.stringify(envelope), '1')]));
  expect(lookups).toBe(3);
  expect(insertRows).toHaveBeenCalledTimes(1);
});

test('messages that can never be stored become dead letters, stored before the batch ends, with what is known of them', async () => {
  const stored: DeadLetter[] = [];
  const events: string[] = [];
  const { handle, stats } = createBatchHandler({
    storedKeys: noneStored,
    blocks: memoryBlocks(),
    deadLetters: {
      store: async (deadLetters) => {
        events.push('dead letters stored');
        stored.push(...deadLetters);
      },
    },
    clickhouse: { insertBlock: async () => void events.push('rows inserted') },
    logger: silentLogger,
  });
  await handle(
    batch([
      message('{not json', '1'),
      message(JSON.stringify({ ...envelope, event_type: 'Not Snake' }), '2'),
      message(JSON.stringify(envelope), '3'),
      message('x'.repeat(1024 * 1024 + 1), '4'),
    ]),
  );
  expect(events).toEqual(['dead letters stored', 'rows inserted']);
  expect(stored.map((d) => [d.step, d.message.offset, d.datasetId, d.insertId])).toEqual([
    ['parse', '1', '', ''],
    ['validate', '2', 'ds', 'order-1'],
    ['parse', '4', '', ''],
  ]);
  expect(stored[1]?.reason).toContain('/event_type');
  expect(stored[2]?.reason).toBe('the message is 1048577 bytes, over the 1048576-byte limit');
  expect(stats.deadLetters).toBe(3);
});

test('when the dead letters cannot be stored, the batch is handed back to Kafka rather than committed', async () => {
  const { handle } = createBatchHandler({
    storedKeys: noneStored,
    blocks: memoryBlocks(),
    deadLetters: {
      store: async () => {
        throw new Error('Code: 241. Memory limit exceeded');
      },
    },
    clickhouse: { insertBlock: async () => undefined },
    logger: silentLogger,
    backoff: instantBackoff,
    maxRefusedAttempts: 2,
  });
  await expect(handle(batch([message('{not json', '1')]))).rejects.toThrow('Memory limit exceeded');
});

test('outcomes are counted once per batch, also for a batch handed back to Kafka part way', async () => {
  const metrics = createWorkerMetrics();
  const { handle, stats } = createBatchHandler({
    storedKeys: {
      storedAmong: async () => {
        throw new Error('Code: 241. Memory limit exceeded');
      },
    },
    blocks: memoryBlocks(),
    deadLetters: discardDeadLetters,
    clickhouse: { insertBlock: async () => undefined },
    metrics,
    logger: silentLogger,
    backoff: instantBackoff,
    maxRefusedAttempts: 2,
  });
  const valid = (insertId: string, offset: string): ConsumedMessage => message(JSON.stringify({ ...envelope, insert_id: insertId }), offset);
  await expect(handle(batch([valid('a', '1'), valid('b', '2'), message('{not json', '3')]))).rejects.toThrow('Memory limit exceeded');
  expect(Object.fromEntries(stats.outcomes)).toEqual({ 'parse:ok': 2, 'parse:dlq': 1, 'validate:ok': 2, 'dataset:ok': 2, 'sample:ok': 2, 'dedup:retry': 1 });
  const text = await metrics.registry.metrics();
  expect(text).toContain('sluice_worker_step_outcomes_total{step="parse",outcome="ok"} 2');
  expect(text).toContain('sluice_worker_step_outcomes_total{step="sample",outcome="ok"} 2');
  expect(text).toContain('sluice_worker_retries_total{step="dedup"} 1');
});

describe('blocks', () => {
  const send = (insertId: string, offset: string): ConsumedMessage => message(JSON.stringify({ ...envelope, insert_id: insertId }), offset);

  test('a batch is recorded as one block before its insert, which carries the block token; the whole batch is handled', async () => {
    const blocks = memoryBlocks();
    const tokens: string[] = [];
    const { handle } = createBatchHandler({
      storedKeys: noneStored,
      blocks,
      deadLetters: discardDeadLetters,
      clickhouse: { insertBlock: async (_table, _rows, token) => void tokens.push(token) },
      logger: silentLogger,
    });
    expect(await handle(batch([send('a', '10'), send('b', '11'), message('{bad', '12')]))).toEqual({ handledThrough: '12' });
    expect(blocks.recorded).toEqual([{ topic: 'events', partition: 2, firstOffset: '10', lastOffset: '12' }]);
    expect(tokens).toEqual(['events/2/10-12']);
  });

  /** A handler that notes, in order, each call it makes outside itself; and with `stepsBegin`, when a batch's steps begin. */
  function notingSteps({ stepsBegin = false } = {}) {
    const steps: string[] = [];
    const blocks = memoryBlocks();
    const validateEnvelope = createValidateEnvelopeStep();
    const { handle } = createBatchHandler({
      storedKeys: { storedAmong: async () => (steps.push('dedup lookup'), new Set()) },
      blocks: { ...blocks, record: async (block) => (steps.push('record'), blocks.record(block)) },
      deadLetters: discardDeadLetters,
      clickhouse: { insertBlock: async () => void steps.push('insert') },
      validate: (value) => {
        if (stepsBegin && !steps.includes('steps')) steps.push('steps');
        return validateEnvelope(value);
      },
      logger: silentLogger,
    });
    /** The batch, noting when it waits for the partition's earlier batches and when it lets the consumer fetch on. */
    const noting = (consumed: ConsumedBatch): ConsumedBatch => ({
      ...consumed,
      earlierStored: async () => void steps.push('earlier stored'),
      release: (through: string) => void steps.push(`release through ${through}`),
    });
    return { handle, steps, noting, blocks };
  }

  test("a block inserted alone lets the consumer fetch on once it is recorded, and its dedup waits for the partition's earlier blocks to be stored", async () => {
    const { handle, steps, noting } = notingSteps();
    const released = noting(batch([send('a', '10'), send('b', '11')]));
    expect(await handle(released)).toEqual({ handledThrough: '11' });
    expect(steps).toEqual(['earlier stored', 'dedup lookup', 'record', 'release through 11', 'insert']);
  });

  test('a batch whose earlier block was not stored is handed back before its dedup lookup', async () => {
    const storedAmong = jest.fn(async () => new Set<string>());
    const { handle } = createBatchHandler({ storedKeys: { storedAmong }, blocks: memoryBlocks(), deadLetters: discardDeadLetters, clickhouse: { insertBlock: async () => undefined }, logger: silentLogger });
    const afterFailure = { ...batch([send('a', '10')]), earlierStored: () => Promise.reject(new Error('an earlier batch from events[2] was not stored')) };
    await expect(handle(afterFailure)).rejects.toThrow('an earlier batch from events[2] was not stored');
    expect(storedAmong).not.toHaveBeenCalled();
  });

  test('after a crash, a longer re-delivered batch is cut back to the recorded block: same rows, same token, the rest delivered again', async () => {
    const blocks = memoryBlocks();
    await blocks.record({ topic: 'events', partition: 2, firstOffset: '10', lastOffset: '11' });
    const inserts: { rows: readonly object[]; token: string }[] = [];
    const storedAmong = jest.fn(async () => new Set<string>());
    const { handle } = createBatchHandler({
      storedKeys: { storedAmong },
      blocks,
      deadLetters: discardDeadLetters,
      clickhouse: { insertBlock: async (_table, rows, token) => void inserts.push({ rows, token }) },
      logger: silentLogger,
    });
    expect(await handle(batch([send('a', '10'), send('b', '11'), send('c', '12')]))).toEqual({ handledThrough: '11' });
    expect(inserts.map((i) => [i.token, i.rows.length])).toEqual([['events/2/10-11', 2]]);
    // Copies stored by this very block (a crash after a partial insert) are not counted as earlier ones.
    expect(storedAmong).toHaveBeenCalledWith(expect.any(Array), { partition: 2, firstOffset: '10', lastOffset: '11' });
    expect(blocks.recorded).toHaveLength(1);
  });

  /** A batch of another partition than the others' 2. */
  const batchOf = (partition: number, ...ids: [string, string][]): ConsumedBatch => ({
    ...batch(ids.map(([insertId, offset]) => ({ ...send(insertId, offset), partition }))),
    partition,
  });

  test('batches handled at the same time are recorded as one joint block and stored by one insert under its token; each is handled through its own end', async () => {
    const blocks = memoryBlocks();
    const inserts: { rows: readonly EventRow[]; token: string }[] = [];
    const { handle } = createBatchHandler({
      storedKeys: noneStored,
      blocks,
      deadLetters: discardDeadLetters,
      clickhouse: { insertBlock: async (_table, rows, token) => void inserts.push({ rows: rows as EventRow[], token }) },
      logger: silentLogger,
    });
    const handled = await Promise.all([handle(batchOf(0, ['a', '10'], ['b', '11'])), handle(batchOf(1, ['c', '20'])), handle(batchOf(3, ['d', '7']))]);
    expect(handled).toEqual([{ handledThrough: '11' }, { handledThrough: '20' }, { handledThrough: '7' }]);
    const token = 'events/0/10-11+events/1/20-20+events/3/7-7';
    expect(inserts.map((i) => [i.token, i.rows.map((r) => r.insert_id)])).toEqual([[token, ['a', 'b', 'c', 'd']]]);
    expect(blocks.recorded).toEqual([]);
    expect(blocks.joints.get(token)?.rows?.map((r) => r.insert_id)).toEqual(['a', 'b', 'c', 'd']);
  });

  test('batches join only within their group (shard), and a batch larger than a joint block takes goes alone', async () => {
    const tokens: string[] = [];
    const { handle } = createBatchHandler({
      storedKeys: noneStored,
      blocks: memoryBlocks(),
      deadLetters: discardDeadLetters,
      clickhouse: { insertBlock: async (_table, _rows, token) => void tokens.push(token) },
      jointGroupOf: (partition) => partition % 2,
      logger: silentLogger,
    });
    const large = Array.from({ length: jointBlockMaxMessages + 1 }, (_, i): [string, string] => [`l-${i}`, String(i)]);
    await Promise.all([handle(batchOf(0, ['a', '1'])), handle(batchOf(1, ['b', '1'])), handle(batchOf(2, ['c', '1'])), handle(batchOf(3, ['d', '1'])), handle(batchOf(5, ...large))]);
    expect(tokens.sort()).toEqual(['events/0/1-1+events/2/1-1', 'events/1/1-1+events/3/1-1', `events/5/0-${jointBlockMaxMessages}`]);
  });

  test("a large batch never joins, so the small ones handled beside it are stored without waiting for its steps", async () => {
    const tokens: string[] = [];
    let releaseLarge: () => void = () => undefined;
    const largeHeldUp = new Promise<void>((resolve) => (releaseLarge = resolve));
    const { handle } = createBatchHandler({
      storedKeys: {
        // The large batch's dedup lookup waits until the small ones are stored.
        storedAmong: async (keys) => {
          if (keys.length > jointBlockMaxMessages) await largeHeldUp;
          return new Set<string>();
        },
      },
      blocks: memoryBlocks(),
      deadLetters: discardDeadLetters,
      clickhouse: { insertBlock: async (_table, _rows, token) => void tokens.push(token) },
      logger: silentLogger,
    });
    const large = batchOf(0, ...Array.from({ length: jointBlockMaxMessages + 1 }, (_, i): [string, string] => [`l-${i}`, String(i)]));
    const largeDone = handle(large);
    await Promise.all([handle(batchOf(4, ['a', '1'])), handle(batchOf(5, ['b', '1']))]);
    expect(tokens).toEqual(['events/4/1-1+events/5/1-1']);
    releaseLarge();
    await largeDone;
    expect(tokens).toEqual(['events/4/1-1+events/5/1-1', `events/0/0-${jointBlockMaxMessages}`]);
  });

  test('a large batch is recorded and lets the consumer fetch on before its steps run, so the next fetch overlaps them', async () => {
    const { handle, steps, noting, blocks } = notingSteps({ stepsBegin: true });
    const last = String(jointBlockMaxMessages);
    const large = noting(batchOf(0, ...Array.from({ length: jointBlockMaxMessages + 1 }, (_, i): [string, string] => [`l-${i}`, String(i)])));
    expect(await handle(large)).toEqual({ handledThrough: last });
    expect(steps).toEqual(['record', `release through ${last}`, 'steps', 'earlier stored', 'dedup lookup', 'insert']);
    expect(blocks.recorded).toEqual([{ topic: 'events', partition: 0, firstOffset: '0', lastOffset: last }]);
  });

  test("batches handled at the same time take turns at their steps: the first one's are done before the second's begin", async () => {
    const validated: number[] = [];
    const validateEnvelope = createValidateEnvelopeStep();
    const { handle } = createBatchHandler({
      storedKeys: noneStored,
      blocks: memoryBlocks(),
      deadLetters: discardDeadLetters,
      clickhouse: { insertBlock: async () => undefined },
      validate: (value) => {
        validated.push(Number((value as Envelope).insert_id.split('-')[0]));
        return validateEnvelope(value);
      },
      logger: silentLogger,
    });
    const ofPartition = (partition: number) => batchOf(partition, ...Array.from({ length: 3_000 }, (_, i): [string, string] => [`${partition}-${i}`, String(i)]));
    await Promise.all([handle(ofPartition(0)), handle(ofPartition(1))]);
    // Each batch gives the event loop turns during its steps; the other's still wait for theirs.
    expect(validated).toEqual([...Array<number>(3_000).fill(0), ...Array<number>(3_000).fill(1)]);
  });

  test('a failed joint insert fails every batch in it, and each repeats the whole joint block, rows and token, when it is delivered again', async () => {
    const blocks = memoryBlocks();
    const inserts: { rows: readonly EventRow[]; token: string }[] = [];
    let down = true;
    const storedAmong = jest.fn(async () => new Set<string>());
    const { handle } = createBatchHandler({
      storedKeys: { storedAmong },
      blocks,
      deadLetters: discardDeadLetters,
      clickhouse: {
        insertBlock: async (_table, rows, token) => {
          if (down) throw new Error('connect ECONNREFUSED 127.0.0.1:8123');
          inserts.push({ rows: rows as EventRow[], token });
        },
      },
      backoff: instantBackoff,
      logger: silentLogger,
    });
    // ClickHouse is down, and meanwhile the partitions move to other workers.
    const revoked = (b: ConsumedBatch): ConsumedBatch => ({ ...b, isStale: () => down });
    const results = await Promise.allSettled([handle(revoked(batchOf(0, ['a', '10']))), handle(revoked(batchOf(1, ['b', '20'], ['c', '21'])))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    down = false;
    storedAmong.mockClear();
    // Partition 1 comes back first and longer; partition 0 later, to a worker that handles it alone.
    expect(await handle(batchOf(1, ['b', '20'], ['c', '21'], ['e', '22']))).toEqual({ handledThrough: '21' });
    expect(await handle(batchOf(0, ['a', '10']))).toEqual({ handledThrough: '10' });
    const token = 'events/0/10-10+events/1/20-21';
    expect(inserts.map((i) => [i.token, i.rows.map((r) => r.insert_id)])).toEqual([
      [token, ['a', 'b', 'c']],
      [token, ['a', 'b', 'c']],
    ]);
    // The rows come from the block log, as decided the first time: no second dedup lookup.
    expect(storedAmong).not.toHaveBeenCalled();
  });

  test("a repeated joint block's rows, which this worker may never have looked up, are told to the key filter before they are stored", async () => {
    const blocks = memoryBlocks();
    const joint = [0, 1].map((partition) => ({ topic: 'events', partition, firstOffset: '10', lastOffset: '10' }));
    const rows = ['a', 'b'].map((insertId, partition) => toEventRow({ ...envelope, insert_id: insertId }, { topic: 'events', partition, offset: '10' }));
    await blocks.recordJoint({ blocks: joint, rows }, []);
    const steps: string[] = [];
    const { handle } = createBatchHandler({
      storedKeys: { storedAmong: async () => new Set(), remember: (keys) => void steps.push(`remember ${keys.map((key) => key.insert_id).join()}`) },
      blocks,
      deadLetters: discardDeadLetters,
      clickhouse: { insertBlock: async (_table, inserted) => void steps.push(`insert ${inserted.length}`) },
      logger: silentLogger,
    });
    expect(await handle(batchOf(1, ['b', '10']))).toEqual({ handledThrough: '10' });
    expect(steps).toEqual(['remember a,b', 'insert 2']);
  });

  test("once every block of a joint block is committed, the next joint record clears its rows, and a late copy of its batch is skipped, not stored again", async () => {
    const blocks = memoryBlocks();
    const tokens: string[] = [];
    const { handle, observe } = createBatchHandler({
      storedKeys: noneStored,
      blocks,
      deadLetters: discardDeadLetters,
      clickhouse: { insertBlock: async (_table, _rows, token) => void tokens.push(token) },
      logger: silentLogger,
    });
    await Promise.all([handle(batchOf(0, ['a', '10'])), handle(batchOf(1, ['b', '20']))]);
    const first = 'events/0/10-10+events/1/20-20';
    observe({ kind: 'committed', topic: 'events', partition: 0, offset: '11' });
    // Not all of it committed yet: the next joint block leaves its rows.
    await Promise.all([handle(batchOf(0, ['c', '11'])), handle(batchOf(3, ['d', '5']))]);
    expect(blocks.joints.get(first)?.rows).toHaveLength(2);
    observe({ kind: 'committed', topic: 'events', partition: 1, offset: '21' });
    await Promise.all([handle(batchOf(0, ['e', '12'])), handle(batchOf(1, ['f', '21']))]);
    expect(blocks.joints.get(first)?.rows).toBeUndefined();
    expect(await handle(batchOf(1, ['b', '20']))).toEqual({ handledThrough: '20' });
    expect(tokens).toEqual([first, 'events/0/11-11+events/3/5-5', 'events/0/12-12+events/1/21-21']);
  });

  test('a re-delivered batch shorter than the recorded block is handed back rather than stored differently', async () => {
    const blocks = memoryBlocks();
    await blocks.record({ topic: 'events', partition: 2, firstOffset: '10', lastOffset: '14' });
    const insertBlock = jest.fn(async () => undefined);
    const { handle } = createBatchHandler({ storedKeys: noneStored, blocks, deadLetters: discardDeadLetters, clickhouse: { insertBlock }, logger: silentLogger });
    await expect(handle(batch([send('a', '10'), send('b', '11')]))).rejects.toThrow('inside the block 10-14 an earlier attempt recorded');
    expect(insertBlock).not.toHaveBeenCalled();
  });
});
