import { createHash, timingSafeEqual } from 'node:crypto';

/** Decides whether an API key may write. Issue-level tenancy plugs in behind this interface. */
export interface ApiKeyAuthenticator {
  isValid(key: string): boolean;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Accepts exactly one key. Keys are compared as SHA-256 digests with timingSafeEqual, so the
 * comparison takes the same time whatever the key's length or content.
 */
export function createSingleKeyAuthenticator(key: string): ApiKeyAuthenticator {
  const expected = digest(key);
  return { isValid: (candidate) => timingSafeEqual(digest(candidate), expected) };
}

/** Trieve's API page says a bare key; its SDK sends "Bearer KEY". Both are accepted. */
export function keyFromAuthorization(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const trimmed = header.trim();
  const key = trimmed.replace(/^bearer(\s+|$)/i, '');
  return key === '' ? undefined : key;
}
