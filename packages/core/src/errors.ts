/**
 * The one catalogue of error codes. Every error a client or an operator can see
 * carries one of these codes; docs/errors.md lists them and a test keeps the
 * two in step.
 */
export const errorCatalogue = {
  INVALID_JSON: { status: 400, retriable: false, summary: 'The body is not well-formed JSON.' },
  INVALID_EVENT: { status: 400, retriable: false, summary: 'The body does not match the schema, or holds a value no column can store (a lone surrogate, a time past 2149-06-06); the message names the field.' },
  MISSING_HEADER: { status: 400, retriable: false, summary: 'A required header (such as TR-Dataset) is absent or empty.' },
  UNAUTHORIZED: { status: 401, retriable: false, summary: 'No API key, or an API key that is not known.' },
  FORBIDDEN: { status: 403, retriable: false, summary: 'The API key is valid but may not write to this dataset.' },
  ORIGIN_NOT_ALLOWED: {
    status: 403,
    retriable: false,
    summary:
      "The request's Origin is not one its API key allows: a secret key without origins (for servers only) used from a web page, a page whose origin the key does not list, or a publishable key used without an Origin (from a server). For a CORS preflight, which carries no key: no key allows the origin.",
  },
  PUBLISHABLE_KEY_REQUIRED: {
    status: 403,
    retriable: false,
    summary: 'POST /v1/beacon takes only publishable keys (pk_...): its key travels in the URL or the body, which get logged, so a secret key is refused there.',
  },
  PREFLIGHT_REFUSED: { status: 403, retriable: false, summary: 'A CORS preflight asked for a method or a request header that this door does not take; the message lists what it takes.' },
  NOT_FOUND: { status: 404, retriable: false, summary: 'No such route.' },
  ADMIN_TOKEN_MISSING: { status: 401, retriable: false, summary: 'A state-changing admin route (such as POST /replay) was called without Authorization: Bearer <ADMIN_TOKEN>.' },
  ADMIN_TOKEN_WRONG: { status: 401, retriable: false, summary: "The admin token sent is not the worker's ADMIN_TOKEN." },
  ADMIN_DISABLED: { status: 403, retriable: false, summary: 'The worker has no ADMIN_TOKEN, so its state-changing admin routes (such as POST /replay) are off.' },
  HOST_NOT_ALLOWED: { status: 403, retriable: false, summary: "The Host header names none of the admin listener's own names (DNS rebinding); see ADMIN_ALLOWED_HOSTS." },
  CROSS_ORIGIN: { status: 403, retriable: false, summary: 'An admin request came from another origin (a web page posting across sites); the Origin header must match the Host.' },
  REPLAY_IN_PROGRESS: { status: 409, retriable: false, summary: 'A replay is already running on this worker; send the request again once it has finished.' },
  PAYLOAD_TOO_LARGE: { status: 413, retriable: false, summary: 'The body is larger than the configured limit.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retriable: false, summary: 'The Content-Type (or Content-Encoding) is not one this route accepts.' },
  RATE_LIMITED: { status: 429, retriable: true, summary: "The API key sent more events (or, for a batch, more bytes) than its rate allows; wait for Retry-After seconds." },
  KAFKA_UNAVAILABLE: { status: 503, retriable: true, summary: 'Kafka did not acknowledge the event in time; it may still arrive, so retry later with the same insert_id.' },
  PUBLISH_BUFFER_FULL: { status: 503, retriable: true, summary: "The gateway's publish buffer is full; retry later." },
  OVERLOADED: { status: 503, retriable: true, summary: 'The gateway has as many requests in flight as it serves within its latency budget (OVERLOAD_MAX_IN_FLIGHT), or requests wait longer than OVERLOAD_MAX_WAIT_MS to be read; this one was refused before its body was read, and its connection, if kept alive, is not read for OVERLOAD_PAUSE_MS (250 ms). Retry after Retry-After seconds.' },
  SHUTTING_DOWN: { status: 503, retriable: true, summary: 'The process is stopping and takes no new work; retry against another instance.' },
  INVALID_REQUEST: { status: 400, retriable: false, summary: 'An admin request (such as POST /replay) has an unknown or invalid field; the message names it.' },
  SQL_REJECTED: { status: 400, retriable: false, summary: 'ClickHouse refused a query (its syntax, an unknown table, or rows it cannot store).' },
  CLICKHOUSE_UNAVAILABLE: { status: 503, retriable: true, summary: 'ClickHouse could not be reached.' },
  INVALID_CONFIG: { status: 500, retriable: false, summary: 'A configuration value or option is invalid; the process refuses to start.' },
  INTERNAL: { status: 500, retriable: false, summary: 'An unexpected failure; the event was not acknowledged.' },
} as const satisfies Record<string, { status: number; retriable: boolean; summary: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

/** An event's insert_id, and its position in the request (0 for a single event). */
export interface IndexedInsertId {
  index: number;
  insert_id: string;
}

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retriable: boolean;
  /** JSON pointer of the offending field, when there is one. */
  readonly field: string | undefined;
  /** For retriable errors: how long the client should wait, when we know better than the default. */
  readonly retryAfterSeconds: number | undefined;
  /**
   * For a refusal whose events may still reach Kafka (KAFKA_UNAVAILABLE): the insert ids a retry
   * must reuse to be stored once, when the client could not know them.
   */
  readonly insertIds: readonly IndexedInsertId[] | undefined;

  constructor(code: ErrorCode, message: string, options: { field?: string; cause?: unknown; retryAfterSeconds?: number; insertIds?: readonly IndexedInsertId[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.retriable = errorCatalogue[code].retriable;
    this.field = options.field;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.insertIds = options.insertIds;
  }

  /** The same refusal, naming the insert ids of its events; a new error, since one may be shared by several requests. */
  withInsertIds(insertIds: readonly IndexedInsertId[]): SluiceError {
    return new SluiceError(this.code, this.message, { field: this.field, cause: this, retryAfterSeconds: this.retryAfterSeconds, insertIds });
  }
}

export function isSluiceError(value: unknown): value is SluiceError {
  return value instanceof SluiceError;
}

export function errorMessage(value: unknown): string {
  return value instanceof Error ? value.message : String(value);
}
