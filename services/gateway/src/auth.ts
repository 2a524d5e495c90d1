/**
 * The key a request presents. Trieve's API page says a bare key; its SDK sends "Bearer KEY";
 * Neuralens' page shows "Bearer KEY". Both forms are accepted everywhere.
 */
export function keyFromAuthorization(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const key = header.trim().replace(/^bearer(\s+|$)/i, '');
  return key === '' ? undefined : key;
}
