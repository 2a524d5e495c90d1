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

/** ClickHouse's own error code (DB::Exception's "Code: N"), from either client, when it answered with one. */
export function clickHouseErrorCode(error: unknown): number | undefined {
  const { clickhouseCode, code } = (error ?? {}) as { clickhouseCode?: unknown; code?: unknown };
  if (typeof clickhouseCode === 'number') return clickhouseCode;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  const inMessage = /\bCode: (\d+)\./.exec(errorMessage(error));
  return inMessage?.[1] === undefined ? undefined : Number(inMessage[1]);
}

/**
 * Codes with which ClickHouse refuses an insert for a reason of its own state or setup, not its
 * rows: the same rows pass once it recovers, so they are retried, never dead-lettered.
 */
const notTheRows = new Set([
  60, // UNKNOWN_TABLE
  81, // UNKNOWN_DATABASE
  159, // TIMEOUT_EXCEEDED
  160, // TOO_SLOW
  164, // READONLY
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  225, // NO_ZOOKEEPER
  236, // ABORTED
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  243, // NOT_ENOUGH_SPACE
  252, // TOO_MANY_PARTS (but see tooManyPartitions)
  319, // UNKNOWN_STATUS_OF_INSERT
  394, // QUERY_WAS_CANCELLED
  425, // SYSTEM_ERROR
  497, // ACCESS_DENIED
  516, // AUTHENTICATION_FAILED
  999, // KEEPER_EXCEPTION
]);

/** Code 252 also means "too many partitions for single INSERT block", which is the rows' doing. */
const tooManyPartitions = /Too many partitions for single INSERT block/;

/**
 * Whether ClickHouse refused an insert because of what its rows hold (a value it cannot parse or
 * hold, a constraint, too many partitions), so that other rows would pass: an answer with a
 * ClickHouse error code outside notTheRows. No answer, or no code, is never the rows' fault.
 */
export function isRefusalOfRows(error: unknown): boolean {
  if (classifyQueryError(error).code !== 'SQL_REJECTED') return false;
  const code = clickHouseErrorCode(error);
  if (code === undefined) return false;
  return !notTheRows.has(code) || (code === 252 && tooManyPartitions.test(errorMessage(error)));
}

/**
 * The row of an insert that ClickHouse names in its refusal ("violated at row 12", "(at row 3)"),
 * counted from 1, when it names one: the first row it could not take.
 */
export function refusedRow(error: unknown): number | undefined {
  const found = /\bat row (\d+)\b/.exec(errorMessage(error))?.[1];
  return found === undefined ? undefined : Number(found);
}
