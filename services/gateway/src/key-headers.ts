import { SluiceError } from '@sluice/core';
import { header, type IngestRequest } from './ingest/request';

/** The longest dataset id or idempotency key we store: they are part of the Kafka key and of the dedup key. */
export const maxKeyLength = 256;

/** A header that becomes part of an event's identity (dataset, insert id): trimmed, non-empty, bounded. */
export function keyHeader(request: Pick<IngestRequest, 'headers'>, name: string, required: true): string;
export function keyHeader(request: Pick<IngestRequest, 'headers'>, name: string, required: false): string | undefined;
export function keyHeader(request: Pick<IngestRequest, 'headers'>, name: string, required: boolean): string | undefined {
  const value = header(request, name)?.trim();
  if (!value) {
    if (required) throw new SluiceError('MISSING_HEADER', `Missing required header "${name}"`);
    return undefined;
  }
  if (value.length > maxKeyLength) throw new SluiceError('INVALID_EVENT', `Header "${name}" is ${value.length} characters long; the limit is ${maxKeyLength}`);
  return value;
}
