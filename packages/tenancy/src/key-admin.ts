/**
 * Key administration behind `scripts/keys.ts` (docs/keys.md). The edits are pure functions from
 * the key file's text to its new text, so they are tested without a disk; readKeyFileText and
 * writeKeyFileAtomic do the I/O.
 *
 * A new key is `sk_<id>_<secret>`, or `pk_<id>_<secret>` for a publishable key (id: 6 random
 * bytes as 12 hex characters; secret: 32 random bytes in base64url). It is returned once, to be
 * shown once: the file keeps only its SHA-256.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { SluiceError } from '@sluice/core';
import {
  anyDataset,
  datasetIdProblem,
  datasetNamespaces,
  hashKey,
  keyIdPattern,
  keyPrefixes,
  oneTenantRule,
  tenantCollision,
  parseKeyFile,
  type DatasetNamespace,
  type KeyFile,
  type KeyKind,
  type KeyRecord,
} from './key-store';
import { originPatternProblem } from './origins';
import { writeFileAtomically } from './files';

/** Where a message says a problem is, when the caller does not name the file. */
const defaultSource = 'the key file';

export type Datasets = Partial<Record<DatasetNamespace, string[]>>;

/** What `list` shows of a key: never its hash (and the key itself is stored nowhere). */
export interface KeyListing {
  id: string;
  /** As the gateway logs it. */
  keyId: string;
  name: string;
  kind: KeyKind;
  datasets: Datasets;
  /** The web origins it may be used from; none: a secret key for servers only. */
  origins: string[];
  created_at: string;
  revoked_at?: string;
}

export type RandomBytes = (size: number) => Buffer;

function invalid(message: string): never {
  throw new SluiceError('INVALID_CONFIG', message);
}

/** The file's keys; a missing file (undefined) is an empty one. */
function load(contents: string | undefined, source: string): KeyFile {
  return contents === undefined ? { version: 1, keys: [] } : parseKeyFile(contents, source);
}

/** The new text, checked again so that nothing invalid is ever written. */
function serialise(file: KeyFile, source: string): string {
  const text = JSON.stringify(file, null, 2) + '\n';
  parseKeyFile(text, source);
  return text;
}

function toListing(record: KeyRecord): KeyListing {
  const datasets: Datasets = {};
  for (const namespace of datasetNamespaces) {
    const list = record.datasets[namespace];
    if (list !== undefined) datasets[namespace] = [...list];
  }
  return {
    id: record.id,
    keyId: `key_${record.id}`,
    name: record.name,
    kind: record.kind ?? 'secret',
    datasets,
    origins: [...(record.origins ?? [])],
    created_at: record.created_at,
    ...(record.revoked_at === undefined ? {} : { revoked_at: record.revoked_at }),
  };
}

function checkDatasetIds(namespace: string, datasetIds: readonly string[]): void {
  if (!(datasetNamespaces as readonly string[]).includes(namespace)) {
    invalid(`Unknown namespace ${JSON.stringify(namespace)}; known: ${datasetNamespaces.join(', ')}`);
  }
  for (const datasetId of datasetIds) {
    const problem = datasetIdProblem(datasetId);
    if (problem === 'empty') invalid(`A ${namespace} dataset id must not be empty`);
    if (problem === 'padded') invalid(`The ${namespace} dataset id ${JSON.stringify(datasetId)} must not start or end with whitespace`);
  }
}

function checkOrigins(origins: readonly string[]): void {
  for (const origin of origins) {
    const problem = originPatternProblem(origin);
    if (problem !== undefined) invalid(`The origin ${JSON.stringify(origin)} ${problem}`);
  }
}

/** What a publishable key may not be, since anyone can read it out of a page; `key` names it in the message. */
function refuseUnsafePublishable(key: string, datasets: Datasets, origins: readonly string[]): void {
  if (origins.length === 0) invalid(`${key} needs at least one origin (--origin): a publishable key is accepted only from the pages of its origins`);
  const everything = datasetNamespaces.find((namespace) => datasets[namespace]?.includes(anyDataset));
  if (everything !== undefined) invalid(`${key} may not hold "*" (every ${everything} dataset): a publishable key is public, so it names its datasets one by one`);
}

/** Appends ids not yet in the list, keeping the order given and dropping repeats. */
function merged(existing: readonly string[] | undefined, added: readonly string[]): string[] {
  const result = [...(existing ?? [])];
  for (const datasetId of added) if (!result.includes(datasetId)) result.push(datasetId);
  return result;
}

/**
 * Refuses a grant that would make two tenants of one dataset id (tenantCollision says why), before
 * anything is written. The grantee is keys[granteeIndex], or the key about to be appended when that
 * is the file's length; `grantee` names it in the message.
 */
function refuseNamespaceCollision(file: KeyFile, granteeIndex: number, grantee: string, datasets: Datasets): void {
  const after = file.keys.map((record) => record.datasets);
  const current = after[granteeIndex] ?? {};
  const granted: Datasets = { ...current };
  for (const [namespace, datasetIds] of Object.entries(datasets) as [DatasetNamespace, string[]][]) granted[namespace] = merged(current[namespace], datasetIds);
  after[granteeIndex] = granted;
  const collision = tenantCollision(after.map((keyDatasets) => ({ datasets: keyDatasets })));
  if (collision === undefined) return;
  const [own, other] = collision.second.keyIndex === granteeIndex ? [collision.second, collision.first] : [collision.first, collision.second];
  const holder = file.keys[other.keyIndex];
  const state = holder?.revoked_at === undefined ? '' : `, revoked at ${holder.revoked_at}`;
  invalid(
    `${grantee} may not be granted ${own.namespace} ${JSON.stringify(own.grant)}: key ${holder?.id} (${JSON.stringify(holder?.name)}${state}) holds ${JSON.stringify(other.grant)} under ${other.namespace}; ${oneTenantRule}. Nothing was changed.`,
  );
}

function findKey(file: KeyFile, id: string, source: string): KeyRecord {
  const record = file.keys.find((k) => k.id === id);
  if (record === undefined) {
    const hint = keyIdPattern.test(id) ? '' : ' (an id is 12 hex characters, as `list` shows; a key sk_<id>_<secret> carries it after "sk_")';
    return invalid(`No key with id ${JSON.stringify(id)} in ${source}${hint}`);
  }
  return record;
}

/**
 * Adds a new key: secret unless `kind` says publishable, usable from `origins` (none: a secret key
 * for servers only). `key` is the only copy of the secret: show it once, then forget it.
 */
export function createKey(
  contents: string | undefined,
  input: { name: string; datasets: Datasets; kind?: KeyKind; origins?: readonly string[] },
  now: Date,
  random: RandomBytes = randomBytes,
  source: string = defaultSource,
): { contents: string; key: string; id: string } {
  const file = load(contents, source);
  const name = input.name.trim();
  if (name === '') invalid('A key needs a name (--name), such as the customer or the app it is for');
  const datasets: Datasets = {};
  for (const [namespace, datasetIds] of Object.entries(input.datasets)) {
    checkDatasetIds(namespace, datasetIds);
    datasets[namespace as DatasetNamespace] = merged(undefined, datasetIds);
  }
  const kind = input.kind ?? 'secret';
  const origins = merged(undefined, input.origins ?? []);
  checkOrigins(origins);
  if (kind === 'publishable') refuseUnsafePublishable('A publishable key', datasets, origins);
  refuseNamespaceCollision(file, file.keys.length, 'A new key', datasets);
  const taken = new Set(file.keys.map((k) => k.id));
  let id = '';
  for (let attempt = 0; attempt < 100 && (id === '' || taken.has(id)); attempt++) id = random(6).toString('hex');
  if (!keyIdPattern.test(id) || taken.has(id)) invalid('Could not draw an unused key id; is the random source working?');
  const secret = random(32).toString('base64url');
  if (secret.length !== 43) invalid('The random source did not give 32 bytes for the secret');
  const key = `${keyPrefixes[kind]}_${id}_${secret}`;
  const record: KeyRecord = {
    id,
    name,
    ...(kind === 'secret' ? {} : { kind }),
    sha256: hashKey(key),
    datasets,
    ...(origins.length === 0 ? {} : { origins }),
    created_at: now.toISOString(),
  };
  return { contents: serialise({ version: 1, keys: [...file.keys, record] }, source), key, id };
}

/** Marks a key revoked (it stays listed). Revoking a revoked key changes nothing. */
export function revokeKey(
  contents: string | undefined,
  id: string,
  now: Date,
  source: string = defaultSource,
): { contents: string; key: KeyListing; alreadyRevoked: boolean } {
  const file = load(contents, source);
  const record = findKey(file, id, source);
  if (record.revoked_at !== undefined) return { contents: serialise(file, source), key: toListing(record), alreadyRevoked: true };
  const revoked: KeyRecord = { ...record, revoked_at: now.toISOString() };
  const keys = file.keys.map((k) => (k.id === id ? revoked : k));
  return { contents: serialise({ version: 1, keys }, source), key: toListing(revoked), alreadyRevoked: false };
}

/** Every key, in the file's order, without hashes. */
export function listKeys(contents: string | undefined, source: string = defaultSource): KeyListing[] {
  return load(contents, source).keys.map(toListing);
}

/** Lets a key write to more datasets of one namespace ("*": all of them). */
export function grantDatasets(
  contents: string | undefined,
  id: string,
  namespace: DatasetNamespace,
  datasetIds: readonly string[],
  source: string = defaultSource,
): { contents: string; key: KeyListing } {
  const file = load(contents, source);
  const record = findKey(file, id, source);
  if (record.revoked_at !== undefined) invalid(`Key ${id} was revoked at ${record.revoked_at}; create a new key instead`);
  if (datasetIds.length === 0) invalid(`Name at least one ${namespace} dataset to grant`);
  checkDatasetIds(namespace, datasetIds);
  if (record.kind === 'publishable' && datasetIds.includes(anyDataset)) {
    invalid(`Key ${id} is publishable, so it may not hold "*" (every ${namespace} dataset): it is public, so it names its datasets one by one`);
  }
  refuseNamespaceCollision(file, file.keys.indexOf(record), `Key ${id}`, { [namespace]: datasetIds });
  const granted: KeyRecord = { ...record, datasets: { ...record.datasets, [namespace]: merged(record.datasets[namespace], datasetIds) } };
  const keys = file.keys.map((k) => (k.id === id ? granted : k));
  return { contents: serialise({ version: 1, keys }, source), key: toListing(granted) };
}

/** How to change a key's origins: replace them all (`set`), or remove some and add others. */
export type OriginsChange = { set: readonly string[] } | { add: readonly string[]; remove: readonly string[] };

/**
 * Changes the web origins a key may be used from. Removing an origin the key does not list is
 * refused (a typo would otherwise leave the origin allowed); a secret key left without origins is
 * for servers only, and a publishable key may not be left without any.
 */
export function setOrigins(contents: string | undefined, id: string, change: OriginsChange, source: string = defaultSource): { contents: string; key: KeyListing } {
  const file = load(contents, source);
  const record = findKey(file, id, source);
  if (record.revoked_at !== undefined) invalid(`Key ${id} was revoked at ${record.revoked_at}; create a new key instead`);
  const current = record.origins ?? [];
  let origins: string[];
  if ('set' in change) {
    origins = merged(undefined, change.set);
  } else {
    const missing = change.remove.filter((origin) => !current.includes(origin));
    if (missing.length > 0) {
      const listed = current.length === 0 ? 'it lists none' : `it lists ${current.join(', ')}`;
      invalid(`Key ${id} does not list the origin ${missing.map((origin) => JSON.stringify(origin)).join(', ')} (${listed}). Nothing was changed.`);
    }
    origins = merged(
      current.filter((origin) => !change.remove.includes(origin)),
      change.add,
    );
  }
  checkOrigins(origins);
  if (record.kind === 'publishable' && origins.length === 0) {
    invalid(`Key ${id} is publishable, so it needs at least one origin: a publishable key is accepted only from the pages of its origins (revoke it instead)`);
  }
  const changed: KeyRecord = { ...record, origins };
  // No origins is written as none at all, as `create` writes a server-only key.
  if (origins.length === 0) delete changed.origins;
  const keys = file.keys.map((k) => (k.id === id ? changed : k));
  return { contents: serialise({ version: 1, keys }, source), key: toListing(changed) };
}

/** The key file's text, or undefined when there is no file yet. */
export function readKeyFileText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SluiceError('INVALID_CONFIG', `${path}: cannot read the key file (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
  }
}

/**
 * Replaces the file in one step: writes a temporary file beside it (mode 0600), flushes it, then
 * renames it over the old one, so a reader (the gateway) sees the old file or the new, never half.
 * Creates the directory when missing.
 */
export function writeKeyFileAtomic(path: string, contents: string): void {
  writeFileAtomically(path, contents, { mode: 0o600, what: 'the key file' });
}

/** Reads the file (missing: empty), applies one edit, writes the result atomically. */
export function updateKeyFile<T extends { contents: string }>(path: string, edit: (contents: string | undefined) => T): T {
  const result = edit(readKeyFileText(path));
  writeKeyFileAtomic(path, result.contents);
  return result;
}
