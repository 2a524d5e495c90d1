/**
 * CORS on the ingestion doors, as pure functions of the request: the answer to a preflight, the
 * headers of every other answer, and whether a key may be used from the request's origin.
 *
 * The origins belong to the keys (the key file's `origins`, docs/keys.md). A preflight carries no
 * key, so it is answered for any origin some key allows (KeyStore.isAllowedOrigin), and a page of
 * any other origin is stopped by the browser at its preflight. The request itself then names its
 * key, which must allow its origin (originRefusal): a page cannot use another tenant's key, a
 * server-only key, or a key that does not list it. Every answer to an allowed origin carries the
 * CORS headers, refusals included, so the page can read why it was refused.
 */
import { SluiceError } from '@sluice/core';
import { type Principal } from '@sluice/tenancy';

/** What CORS needs to know of a door. */
export interface CorsDoor {
  /** As browsers send it in Access-Control-Request-Method: upper case. */
  method: string;
  path: string;
  /** Every request header the door takes: exactly what its preflight allows. */
  allowedHeaders: readonly string[];
}

export type HeaderValues = Record<string, string>;

/** How long a browser may reuse a preflight's answer: Chromium's ceiling (Firefox would keep it a day). */
export const preflightMaxAgeSeconds = 7200;

/** Answer headers a page may read beyond the CORS-safelisted ones: when to retry a 429 or a 503. */
export const exposedHeaders: readonly string[] = ['Retry-After'];

/** Every answer depends on the request's Origin, so shared caches must keep one answer per origin. */
const vary: HeaderValues = { Vary: 'Origin' };

/**
 * The CORS headers granting `origin` access to an answer. Credentials are allowed because Trieve's
 * SDK sends its requests with `credentials: "include"` (a browser refuses those an answer without
 * it); no door reads a cookie, so a cookie the browser adds grants nothing.
 */
function granted(origin: string): HeaderValues {
  return { ...vary, 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true' };
}

/** The CORS headers of an answer (not a preflight's): access for an origin some key allows, else only Vary. */
export function answerHeaders(origin: string | undefined, isAllowedOrigin: (origin: string) => boolean): HeaderValues {
  if (origin === undefined || !isAllowedOrigin(origin)) return vary;
  return { ...granted(origin), 'Access-Control-Expose-Headers': exposedHeaders.join(', ') };
}

export interface Preflight {
  origin: string;
  /** Access-Control-Request-Method. */
  method: string;
  /** Access-Control-Request-Headers, when sent: names separated by commas. */
  headers: string | undefined;
}

/** A preflight's answer: 204 with these headers, or the refusal (its headers grant nothing). */
export type PreflightAnswer = { ok: true; headers: HeaderValues } | { ok: false; headers: HeaderValues; refusal: SluiceError };

/** Answers a preflight to `door`: its method and headers for an origin some key allows, else a refusal without access. */
export function preflightAnswer(door: CorsDoor, preflight: Preflight, isAllowedOrigin: (origin: string) => boolean): PreflightAnswer {
  const refuse = (refusal: SluiceError): PreflightAnswer => ({ ok: false, headers: vary, refusal });
  if (!isAllowedOrigin(preflight.origin)) {
    return refuse(new SluiceError('ORIGIN_NOT_ALLOWED', `No API key allows requests from the origin ${JSON.stringify(preflight.origin)}; a key lists the origins it may be used from (docs/keys.md)`));
  }
  if (preflight.method !== door.method) {
    return refuse(new SluiceError('PREFLIGHT_REFUSED', `${door.path} takes ${door.method} requests, not ${JSON.stringify(preflight.method)}`));
  }
  const taken = new Set(door.allowedHeaders.map((name) => name.toLowerCase()));
  const asked = (preflight.headers ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = asked.filter((name) => !taken.has(name.toLowerCase()));
  if (unknown.length > 0) {
    const names = unknown.map((name) => JSON.stringify(name)).join(', ');
    return refuse(new SluiceError('PREFLIGHT_REFUSED', `${door.method} ${door.path} does not take the request ${unknown.length === 1 ? 'header' : 'headers'} ${names}; it takes ${door.allowedHeaders.join(', ')}`));
  }
  return {
    ok: true,
    headers: {
      ...granted(preflight.origin),
      'Access-Control-Allow-Methods': door.method,
      'Access-Control-Allow-Headers': door.allowedHeaders.join(', '),
      'Access-Control-Max-Age': String(preflightMaxAgeSeconds),
    },
  };
}

/**
 * Why a key may not be used from `origin` (its request's Origin header; undefined: a server), or
 * undefined when it may. Asked right after the key is known, before anything else.
 */
export function originRefusal(principal: Principal, origin: string | undefined): SluiceError | undefined {
  if (principal.allowsOrigin(origin)) return undefined;
  if (origin === undefined) {
    return new SluiceError(
      'ORIGIN_NOT_ALLOWED',
      'This is a publishable key (pk_...), which is accepted only from the web pages of its origins, and this request has no Origin header: a server sends events with a secret key (sk_...)',
    );
  }
  if (principal.kind === 'secret' && !principal.listsOrigins) {
    return new SluiceError(
      'ORIGIN_NOT_ALLOWED',
      `This API key is for servers only (it lists no origins), and this request comes from a web page of ${JSON.stringify(origin)}: a page sends events with a publishable key (pk_...) that lists its origin (docs/keys.md)`,
    );
  }
  return new SluiceError('ORIGIN_NOT_ALLOWED', `This API key may not be used from the origin ${JSON.stringify(origin)}: it is not one of the key's origins (docs/keys.md)`);
}
