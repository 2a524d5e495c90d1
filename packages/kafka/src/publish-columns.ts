import type { OutgoingMessage } from '@sluice/core';

/**
 * A turn's publishes as columns, each distinct headers object once. Structured cloning a message
 * object each cost the two threads 1.6-2.4 µs a message together, these columns 0.4-0.5
 * (microbenchmark: 1,000 batch-door messages a postMessage).
 */
export interface PublishColumns {
  /** Each publish's id and its number of messages, in order. */
  ids: number[];
  counts: number[];
  keys: string[];
  values: (string | Buffer)[];
  headerSets: (Record<string, string> | undefined)[];
  /** Each message's index into headerSets. */
  headerSetOf: number[];
}

/** The publishes of one turn, for one postMessage to the publisher thread. */
export function columnsOf(publishes: readonly (readonly [id: number, messages: readonly OutgoingMessage[]])[]): PublishColumns {
  const columns: PublishColumns = { ids: [], counts: [], keys: [], values: [], headerSets: [], headerSetOf: [] };
  const headerSetIndex = new Map<Record<string, string> | undefined, number>();
  for (const [id, messages] of publishes) {
    columns.ids.push(id);
    columns.counts.push(messages.length);
    for (const { key, value, headers } of messages) {
      columns.keys.push(key);
      columns.values.push(value);
      let index = headerSetIndex.get(headers);
      if (index === undefined) {
        index = columns.headerSets.push(headers) - 1;
        headerSetIndex.set(headers, index);
      }
      columns.headerSetOf.push(index);
    }
  }
  return columns;
}

/** The publishes columnsOf made, as the publisher thread gets them back: a Buffer arrives as a plain Uint8Array, which kafkajs would not take for bytes. */
export function publishesOf(columns: PublishColumns): [id: number, messages: OutgoingMessage[]][] {
  const publishes: [number, OutgoingMessage[]][] = [];
  let next = 0;
  columns.ids.forEach((id, publish) => {
    const messages: OutgoingMessage[] = [];
    for (const end = next + (columns.counts[publish] ?? 0); next < end; next++) {
      const value: string | Uint8Array = columns.values[next] ?? '';
      const headers = columns.headerSets[columns.headerSetOf[next] ?? -1];
      const message: OutgoingMessage = { key: columns.keys[next] ?? '', value: typeof value === 'string' || Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength) };
      if (headers !== undefined) message.headers = headers;
      messages.push(message);
    }
    publishes.push([id, messages]);
  });
  return publishes;
}
