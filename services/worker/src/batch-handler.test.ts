import { silentLogger, type ConsumedBatch, type ConsumedMessage } from '@sluice/core';
import type { Envelope } from '@sluice/envelope';
import { createBatchHandler } from './batch-handler';
import type { DeadLetter, DeadLetterSink } from './dead-letters';
import type { BlockLog, InsertBlock } from './insert-blocks';
import { dedupIdentity, type StoredKeys } from './steps/deduplicate';

const noneStored: StoredKeys = { storedAmong: async () => new Set() };
const discardDeadLetters: DeadLetterSink = { store: async () => undefined };

/** An in-memory block log, as insert_blocks would keep it. */
function memoryBlocks(): BlockLog & { recorded: InsertBlock[] } {
  const recorded: InsertBlock[] = [];
  return {
    recorded,
    lastOffsetOf: async (topic, partition, firstOffset) => recorded.find((b) => b.topic === topic && b.partition === partition && b.firstOffset === firstOffset)?.lastOffset,
    record: async (block) => void recorded.push(block),
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

test('an insert ClickHouse keeps refusing is handed back to Kafka (thrown, so not committed)', async () => {
  const insertRows = jest.fn(async () => {
    throw new Error('Code: 53. Type mismatch');
  });
  const { handle } = createBatchHandler({ storedKeys: noneStored,
    blocks: memoryBlocks(), deadLetters: discardDeadLetters, clickhouse: { insertBlock: insertRows }, logger: silentLogger, backoff: instantBackoff, maxRejectedInsertAttempts: 3 });
  await expect(handle(batch([message(JSON.stringify(envelope), '1')]))).rejects.toThrow('Type mismatch');
  expect(insertRows).toHaveBeenCalledTimes(3);
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
    maxRejectedInsertAttempts: 2,
  });
  await expect(handle(batch([message('{not json', '1')]))).rejects.toThrow('Memory limit exceeded');
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

  test('a re-delivered batch shorter than the recorded block is handed back rather than stored differently', async () => {
    const blocks = memoryBlocks();
    await blocks.record({ topic: 'events', partition: 2, firstOffset: '10', lastOffset: '14' });
    const insertBlock = jest.fn(async () => undefined);
    const { handle } = createBatchHandler({ storedKeys: noneStored, blocks, deadLetters: discardDeadLetters, clickhouse: { insertBlock }, logger: silentLogger });
    await expect(handle(batch([send('a', '10'), send('b', '11')]))).rejects.toThrow('inside the block 10-14 an earlier attempt recorded');
    expect(insertBlock).not.toHaveBeenCalled();
  });
});
