import { SluiceError, errorMessage } from '@sluice/core';

/**
 * A query ClickHouse answered with an error is the query's fault (SQL_REJECTED); a query that
 * never got an answer means ClickHouse is unavailable.
 */
export function classifyQueryError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const networkCodes = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'];
  if (typeof code === 'string' && networkCodes.includes(code)) {
    return new SluiceError('CLICKHOUSE_UNAVAILABLE', `ClickHouse is unavailable: ${errorMessage(error)}`, { cause: error });
  }
  return new SluiceError('SQL_REJECTED', errorMessage(error).trim(), { cause: error });
}
