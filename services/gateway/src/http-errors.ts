import { SluiceError, errorMessage, type Logger } from '@sluice/core';

/** body-parser reports failures as errors with a `type`; each becomes a catalogue error. */
const bodyParserErrors: Record<string, (error: Error) => SluiceError> = {
  'entity.too.large': (e) => new SluiceError('PAYLOAD_TOO_LARGE', `The body is larger than the limit: ${e.message}`),
  'entity.parse.failed': (e) => new SluiceError('INVALID_JSON', `The body is not valid JSON: ${e.message}`),
  'entity.verify.failed': (e) => new SluiceError('INVALID_JSON', `The body is not valid JSON: ${e.message}`),
  'encoding.unsupported': (e) => new SluiceError('UNSUPPORTED_MEDIA_TYPE', e.message),
  'charset.unsupported': (e) => new SluiceError('UNSUPPORTED_MEDIA_TYPE', e.message),
  'request.aborted': () => new SluiceError('INVALID_JSON', 'The request was aborted before its body was complete'),
  'request.size.invalid': () => new SluiceError('INVALID_JSON', 'The body is shorter or longer than its Content-Length'),
};

export function toSluiceError(error: unknown, logger: Logger): SluiceError {
  if (error instanceof SluiceError) return error;
  const { type, status } = (error ?? {}) as { type?: unknown; status?: unknown };
  const mapped = typeof type === 'string' ? bodyParserErrors[type] : undefined;
  if (mapped && error instanceof Error) return mapped(error);
  // A body that fails to decompress (gzip, deflate, br) is the client's fault: 400, not 500.
  if (status === 400 && error instanceof Error) return new SluiceError('INVALID_JSON', `The body could not be decoded: ${error.message}`);
  logger.error('unexpected error while handling a request', { error: errorMessage(error), stack: error instanceof Error ? error.stack : undefined });
  return new SluiceError('INTERNAL', 'Internal error; the event was not acknowledged', { cause: error });
}

/** Seconds a client should wait before retrying a retriable refusal, unless the error says otherwise. */
export const defaultRetryAfterSeconds = 1;
