import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { SluiceError } from '@sluice/core';

/** What the ingest core needs of a request: no framework's request object, so it is called the same from node:http and from tests. */
export interface IngestRequest {
  method: string;
  /** The request target as sent: the path and the query string. */
  url: string;
  /** Names in lower case, as node:http gives them. */
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** A header's value, trimmed of nothing; repeated headers (which Node joins or lists) count as one. */
export function header(request: Pick<IngestRequest, 'headers'>, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Whether a request has a body at all, as HTTP frames it (the test type-is makes for req.is). */
function hasBody(request: Pick<IngestRequest, 'headers'>): boolean {
  return request.headers['transfer-encoding'] !== undefined || !Number.isNaN(Number.parseInt(request.headers['content-length'] ?? '', 10));
}

const mediaTypePattern = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/;

/** The Content-Type without its parameters, lower case; undefined when absent or malformed. */
export function mediaType(request: Pick<IngestRequest, 'headers'>): string | undefined {
  const essence = header(request, 'Content-Type')?.split(';')[0]?.trim().toLowerCase();
  return essence !== undefined && mediaTypePattern.test(essence) ? essence : undefined;
}

/** The Content-Type's charset parameter, lower case, when given. */
export function charset(request: Pick<IngestRequest, 'headers'>): string | undefined {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(header(request, 'Content-Type') ?? '');
  return match?.[1]?.toLowerCase();
}

/**
 * The first of `types` the request's body is (a "+json" type matches any type with that suffix),
 * false when it is none of them, null when the request has no body: what express's req.is answered.
 */
export function bodyIs(request: Pick<IngestRequest, 'headers'>, types: readonly string[]): string | false | null {
  if (!hasBody(request)) return null;
  const type = mediaType(request);
  if (type === undefined) return false;
  return types.find((candidate) => (candidate.startsWith('+') ? type.endsWith(candidate) : type === candidate)) ?? false;
}

/** The request's path without its query string. */
export function pathOf(request: Pick<IngestRequest, 'url'>): string {
  const query = request.url.indexOf('?');
  return query === -1 ? request.url : request.url.slice(0, query);
}

/** A query-string parameter given at most once; '' counts as not given. */
export function queryValue(request: Pick<IngestRequest, 'url'>, name: string): string | undefined {
  const query = request.url.indexOf('?');
  const values = query === -1 ? [] : new URLSearchParams(request.url.slice(query + 1)).getAll(name);
  if (values.length > 1) throw new SluiceError('INVALID_EVENT', `The query string must give ${name} at most once, as ?${name}=...`, { field: `/${name}` });
  return values[0] === '' ? undefined : values[0];
}
