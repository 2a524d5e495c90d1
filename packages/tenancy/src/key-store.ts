/**
 * API-key tenancy: which key may write to which datasets.
 *
 * A key looks like `sk_<keyId>_<secret>` (a secret key, for servers) or `pk_<keyId>_<secret>` (a
 * publishable key, meant to be embedded in web pages): keyId is 12 lowercase hex characters (not
 * secret; it names the key in logs and metrics as `key_<keyId>`), secret is 32 random bytes in
 * base64url (43 characters, no padding). Keys are made by `scripts/keys.ts` (docs/keys.md) and are
 * never stored: the key file keeps only the SHA-256 of the whole key, in hex.
 *
 * The key file (KEYS_FILE) is JSON:
 *
 * ```json
 * {
 *   "version": 1,
 *   "keys": [
 *     {
 *       "id": "3f9a1c0b2d4e",
 *       "name": "acme web",
 *       "kind": "publishable",
 *       "sha256": "<64 hex characters: SHA-256 of the whole key>",
 *       "datasets": {
 *         "trieve": ["<dataset uuid>", "<tracking_id>"],
 *         "neuralens": ["<application id>"],
 *         "greenflash": ["<product id>"],
 *         "native": ["<dataset id>"]
 *       },
 *       "origins": ["https://shop.example", "https://*.shop.example"],
 *       "created_at": "2025-01-31T12:00:00.000Z",
 *       "revoked_at": "2025-02-01T08:30:00.000Z"
 *     }
 *   ]
 * }
 * ```
 *
 * - `datasets` maps a namespace to the dataset ids the key may write to; `"*"` in a list means
 *   any dataset of that namespace. A namespace absent from `datasets` grants nothing. Ids are
 *   compared exactly, so a Trieve dataset known by both its UUID and its tracking_id must be
 *   listed under both.
 * - `revoked_at` is optional; a key that has one is revoked (refused) whatever its value.
 * - `kind` is optional: "secret" (the default) or "publishable". A publishable key is public, so it
 *   must list its origins and may not hold `"*"`; it is refused without an Origin (from a server).
 * - `origins` is optional: the web origins the key may be used from, as browsers send them
 *   (origins.ts). A secret key without origins is for servers only: a request carrying an Origin
 *   header is refused.
 * - Two tenants may not hold one dataset id under two namespaces: dedup and the analytics views
 *   know a dataset by its id alone (see tenantCollision).
 * - Every level is checked: unknown fields, wrong types, duplicate ids and a sha256 that is not
 *   64 hex characters are refused with a message naming the path, such as
 *   `keys.json: keys[2].datasets has an unknown namespace "trieve_ctr"; known: trieve, ...`.
 *
 * The file is re-read when it changes (checked at most once per reloadIntervalMs, when a key is
 * presented), so keys can be added, granted and revoked without a restart. A file that turns
 * invalid (or disappears, or becomes world-writable) is logged and the last good keys stay in
 * force. A world-writable file is refused at open too.
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { SluiceError, errorMessage, rejectUnknownKeys, type Logger } from '@sluice/core';
import { originMatcher, originPatternProblem } from './origins';

/** The namespace a dataset id lives in: a Trieve dataset (id or tracking_id), a Neuralens application, a Greenflash product, or a Kafka-native producer's dataset. */
export type DatasetNamespace = 'trieve' | 'neuralens' | 'greenflash' | 'native';

/** A secret key is for servers (and, with origins, pages too); a publishable key only for its origins' pages. */
export type KeyKind = 'secret' | 'publishable';

export interface Principal {
  /** Not secret: identifies the key in logs and metrics (e.g. "key_3f9a1c"), or "dev" for the dev key. */
  keyId: string;
  /** "dev" is the one key of a gateway without a key file: any dataset, any origin. */
  readonly kind: KeyKind | 'dev';
  /** Whether the key lists origins at all: a secret key that lists none is for servers only. */
  readonly listsOrigins: boolean;
  canWrite(namespace: DatasetNamespace, datasetId: string): boolean;
  /**
   * Whether a request from `origin` (its Origin header; undefined: none, a server) may use the key.
   * A secret key: servers, and the pages of its origins. A publishable key: only the pages of its
   * origins, never without an Origin. The dev key: anything.
   */
  allowsOrigin(origin: string | undefined): boolean;
}

export interface KeyStore {
  /** The principal for a presented key, or undefined when the key is not known (or revoked). */
  authenticate(presentedKey: string): Principal | undefined;
  /**
   * Whether any key, revoked or not, lists the dataset (or "*") under the namespace. The worker
   * uses it for Kafka-native messages, which never met a key: a revoked key's datasets stay known,
   * so an event the gateway accepted before the revocation is still stored.
   */
  isKnownDataset(namespace: DatasetNamespace, datasetId: string): boolean;
  /**
   * Whether some key that is not revoked (or the dev key) allows requests from `origin`. A CORS
   * preflight carries no key, so it is answered only for such an origin; a page of any other
   * origin is stopped by the browser at its preflight.
   */
  isAllowedOrigin(origin: string): boolean;
}

export const datasetNamespaces: readonly DatasetNamespace[] = ['trieve', 'neuralens', 'greenflash', 'native'];

/** In a dataset list: any dataset of that namespace. */
export const anyDataset = '*';

/** One key as the key file stores it. */
export interface KeyRecord {
  id: string;
  name: string;
  /** Absent: a secret key. */
  kind?: KeyKind;
  sha256: string;
  datasets: Partial<Record<DatasetNamespace, string[]>>;
  /** Web origins the key may be used from (origins.ts); absent or empty: none. */
  origins?: string[];
  created_at: string;
  revoked_at?: string;
}

export interface KeyFile {
  version: 1;
  keys: KeyRecord[];
}

export const keyIdPattern = /^[0-9a-f]{12}$/;
const presentedKeyPattern = /^(sk|pk)_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** How a key of each kind starts, so a publishable key is told from a secret one in logs and pages. */
export const keyPrefixes: Readonly<Record<KeyKind, string>> = { secret: 'sk', publishable: 'pk' };
export const keyKinds: readonly KeyKind[] = ['secret', 'publishable'];
const sha256Pattern = /^[0-9a-fA-F]{64}$/;
const isoTimestampPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** The keyId of a well-formed key (`sk_<keyId>_<secret>` or `pk_<keyId>_<secret>`), or undefined. */
export function keyIdOf(presentedKey: string): string | undefined {
  return presentedKeyPattern.exec(presentedKey)?.[2];
}

/** The kind a well-formed key says it is by its prefix, or undefined. */
function kindOf(presentedKey: string): KeyKind | undefined {
  const prefix = presentedKeyPattern.exec(presentedKey)?.[1];
  return keyKinds.find((kind) => keyPrefixes[kind] === prefix);
}

/** What the key file stores for a key: SHA-256 of the whole key, lowercase hex. */
export function hashKey(key: string): string {
  return sha256(key).toString('hex');
}

/**
 * What is wrong with a dataset id, by the one rule every file that names datasets follows (the key
 * file, the analysts file): 'empty' (nothing but whitespace), 'padded' (whitespace at either end),
 * or undefined when it is a valid id. Any other character may be part of an id.
 */
export function datasetIdProblem(datasetId: string): 'empty' | 'padded' | undefined {
  if (datasetId.trim() === '') return 'empty';
  return datasetId.trim() === datasetId ? undefined : 'padded';
}

export function isDatasetNamespace(value: string): value is DatasetNamespace {
  return (datasetNamespaces as readonly string[]).includes(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const fileFields = ['version', 'keys'] as const;
const recordFields = ['id', 'name', 'kind', 'sha256', 'datasets', 'origins', 'created_at', 'revoked_at'] as const;

/**
 * Parses and checks a key file's text. `source` (usually the file's path) starts every message.
 * Throws SluiceError('INVALID_CONFIG') naming the first problem and its path.
 */
export function parseKeyFile(text: string, source: string): KeyFile {
  const fail = (message: string): never => {
    throw new SluiceError('INVALID_CONFIG', `${source}: ${message}`);
  };
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    return fail(`is not valid JSON (${errorMessage(error)})`);
  }
  if (!isPlainObject(root)) return fail(`must be a JSON object, got ${describe(root)}`);
  const unknownField = (fields: Record<string, unknown>, known: readonly string[], where: string): void => {
    const unknown = Object.keys(fields).find((key) => !known.includes(key));
    if (unknown !== undefined) fail(`${where} has an unknown field ${JSON.stringify(unknown)}; known: ${known.join(', ')}`);
  };
  unknownField(root, fileFields, 'the top level');
  if (!('version' in root)) fail('version is required (1)');
  if (root.version !== 1) fail(`version must be 1, got ${JSON.stringify(root.version)}`);
  if (!('keys' in root)) fail('keys is required (an array, possibly empty)');
  if (!Array.isArray(root.keys)) return fail(`keys must be an array, got ${describe(root.keys)}`);

  const seen = new Map<string, number>();
  const keys = (root.keys as unknown[]).map((entry, index): KeyRecord => {
    const at = `keys[${index}]`;
    if (!isPlainObject(entry)) return fail(`${at} must be an object, got ${describe(entry)}`);
    unknownField(entry, recordFields, at);
    const string = (field: (typeof recordFields)[number], required: boolean): string | undefined => {
      if (!(field in entry)) return required ? fail(`${at}.${field} is required`) : undefined;
      const value = entry[field];
      if (typeof value !== 'string') return fail(`${at}.${field} must be a string, got ${describe(value)}`);
      return value;
    };
    const timestamp = (field: 'created_at' | 'revoked_at', required: boolean): string | undefined => {
      const value = string(field, required);
      if (value !== undefined && !(isoTimestampPattern.test(value) && !Number.isNaN(Date.parse(value)))) {
        fail(`${at}.${field} must be an ISO 8601 timestamp such as "2025-01-31T12:00:00.000Z", got ${JSON.stringify(value)}`);
      }
      return value;
    };

    const id = string('id', true) ?? '';
    if (!keyIdPattern.test(id)) fail(`${at}.id must be 12 lowercase hex characters, got ${JSON.stringify(id)}`);
    const first = seen.get(id);
    if (first !== undefined) fail(`${at}.id ${JSON.stringify(id)} is also the id of keys[${first}]; ids must be unique`);
    seen.set(id, index);

    const name = string('name', true) ?? '';
    if (name.trim() === '') fail(`${at}.name must not be empty`);

    const kindText = string('kind', false);
    const kind = kindText === undefined || isKeyKind(kindText) ? kindText : fail(`${at}.kind must be ${keyKinds.map((k) => JSON.stringify(k)).join(' or ')}, got ${JSON.stringify(kindText)}`);

    const sha256 = string('sha256', true) ?? '';
    if (!sha256Pattern.test(sha256)) fail(`${at}.sha256 must be 64 hex characters (the SHA-256 of the key), got ${sha256.length} characters`);

    if (!('datasets' in entry)) fail(`${at}.datasets is required (an object, possibly empty)`);
    const rawDatasets = entry.datasets;
    if (!isPlainObject(rawDatasets)) return fail(`${at}.datasets must be an object, got ${describe(rawDatasets)}`);
    const datasets: Partial<Record<DatasetNamespace, string[]>> = {};
    for (const [namespace, list] of Object.entries(rawDatasets)) {
      if (!isDatasetNamespace(namespace)) {
        fail(`${at}.datasets has an unknown namespace ${JSON.stringify(namespace)}; known: ${datasetNamespaces.join(', ')}`);
        continue;
      }
      const where = `${at}.datasets.${namespace}`;
      if (!Array.isArray(list)) return fail(`${where} must be an array of dataset ids, got ${describe(list)}`);
      datasets[namespace] = (list as unknown[]).map((datasetId, i) => {
        if (typeof datasetId !== 'string') return fail(`${where}[${i}] must be a string, got ${describe(datasetId)}`);
        const problem = datasetIdProblem(datasetId);
        if (problem === 'empty') fail(`${where}[${i}] must not be empty`);
        else if (problem === 'padded') fail(`${where}[${i}] ${JSON.stringify(datasetId)} must not start or end with whitespace`);
        return datasetId;
      });
    }

    const origins = 'origins' in entry ? originsOf(entry.origins, `${at}.origins`, fail) : undefined;
    if (kind === 'publishable') {
      if ((origins ?? []).length === 0) fail(`${at} is a publishable key, which is accepted only from the pages of its origins: its origins must list at least one`);
      for (const [namespace, list] of Object.entries(datasets)) {
        if (list.includes(anyDataset)) fail(`${at}.datasets.${namespace} lists "*", which a publishable key may not hold: it is public, so it names its datasets one by one`);
      }
    }

    const createdAt = timestamp('created_at', true) ?? '';
    const revokedAt = timestamp('revoked_at', false);
    return {
      id,
      name,
      ...(kind === undefined ? {} : { kind }),
      sha256: sha256.toLowerCase(),
      datasets,
      ...(origins === undefined ? {} : { origins }),
      created_at: createdAt,
      ...(revokedAt === undefined ? {} : { revoked_at: revokedAt }),
    };
  });

  // Revoked keys count: their datasets stay known, and the events they wrote are stored under those ids.
  const collision = tenantCollision(keys);
  if (collision !== undefined) {
    const { first, second } = collision;
    const holder = `keys[${first.keyIndex}] (${JSON.stringify(keys[first.keyIndex]?.name)})`;
    const held = first.grant === second.grant ? `which ${holder} holds under ${first.namespace}` : `but ${holder} holds ${JSON.stringify(first.grant)} under ${first.namespace}`;
    fail(`keys[${second.keyIndex}].datasets.${second.namespace} lists ${JSON.stringify(second.grant)}, ${held}; ${oneTenantRule}`);
  }
  return { version: 1, keys };
}

export function isKeyKind(value: string): value is KeyKind {
  return (keyKinds as readonly string[]).includes(value);
}

/** A key's origins, each valid (originPatternProblem) and listed once; `fail` names the problem at `where`. */
function originsOf(value: unknown, where: string, fail: (message: string) => never): string[] {
  if (!Array.isArray(value)) return fail(`${where} must be an array of origins such as "https://shop.example", got ${describe(value)}`);
  const seen = new Map<string, number>();
  return (value as unknown[]).map((origin, i) => {
    if (typeof origin !== 'string') return fail(`${where}[${i}] must be a string, got ${describe(origin)}`);
    const problem = originPatternProblem(origin);
    if (problem !== undefined) fail(`${where}[${i}] ${JSON.stringify(origin)} ${problem}`);
    const first = seen.get(origin);
    if (first !== undefined) fail(`${where}[${i}] ${JSON.stringify(origin)} is also ${where}[${first}]; list each origin once`);
    seen.set(origin, i);
    return origin;
  });
}

/** Why two keys may not hold one dataset id under two namespaces, as every refusal ends. */
export const oneTenantRule =
  'a dataset id names one dataset, so keys that hold it under different namespaces must be one tenant\'s, sharing it under some namespace too (docs/keys.md)';

/** One key's grant that puts a dataset id under a namespace: the id itself, or "*". */
export interface HeldGrant {
  /** Which key: its position in the key file. */
  keyIndex: number;
  namespace: DatasetNamespace;
  grant: string;
}

/** Two keys that would be two tenants of one dataset id: `second` holds it under another namespace than `first`. */
export interface TenantCollision {
  datasetId: string;
  first: HeldGrant;
  second: HeldGrant;
}

/**
 * The first dataset id that two tenants would share, or undefined. Dedup and the analytics views
 * tell datasets apart by dataset_id alone, not by namespace: were Trieve dataset `shop` of one key
 * and Neuralens application `shop` of another both granted, one tenant's `Idempotency-Key: order-1`
 * would drop the other's event as a duplicate, and their views would mix.
 *
 * Keys that hold an id under the same namespace are one tenant's (a key and its replacement, a
 * server and a browser key), and so, by way of them, are all keys joined to them that way. For
 * each id, the keys holding it (by the id itself or by `"*"`) must form one such tenant; one key
 * holding an id under several namespaces is one tenant whose dialects share the dataset.
 */
export function tenantCollision(keys: readonly Pick<KeyRecord, 'datasets'>[]): TenantCollision | undefined {
  const holders = new Map<string, HeldGrant[]>();
  const wildcards: HeldGrant[] = [];
  keys.forEach((record, keyIndex) => {
    for (const [namespace, datasetIds] of Object.entries(record.datasets) as [DatasetNamespace, string[]][]) {
      for (const grant of datasetIds) {
        const held = { keyIndex, namespace, grant };
        if (grant === anyDataset) wildcards.push(held);
        else holders.set(grant, [...(holders.get(grant) ?? []), held]);
      }
    }
  });
  // Each id is held by its own grants and by every "*"; the "*" grants alone stand for every other id.
  holders.set(anyDataset, []);
  for (const [datasetId, held] of holders) {
    const ordered = [...held, ...wildcards].sort((a, b) => a.keyIndex - b.keyIndex);
    const tenantOf = tenantsOf(ordered);
    const [first] = ordered;
    const second = ordered.find((h) => first !== undefined && tenantOf(h.keyIndex) !== tenantOf(first.keyIndex));
    if (first !== undefined && second !== undefined) return { datasetId, first, second };
  }
  return undefined;
}

/** Joins the keys that hold a grant under the same namespace; answers each key's tenant (a representative key). */
function tenantsOf(held: readonly HeldGrant[]): (keyIndex: number) => number {
  const parent = new Map<number, number>();
  const find = (key: number): number => {
    let root = key;
    while ((parent.get(root) ?? root) !== root) root = parent.get(root) ?? root;
    parent.set(key, root);
    return root;
  };
  const firstInNamespace = new Map<DatasetNamespace, number>();
  for (const { keyIndex, namespace } of held) {
    const other = firstInNamespace.get(namespace);
    if (other === undefined) firstInNamespace.set(namespace, keyIndex);
    else parent.set(find(keyIndex), find(other));
  }
  return find;
}

/** Every dataset some key lists, per namespace. */
type KnownDatasets = Map<DatasetNamespace, Set<string>>;

function knownDatasetsOf(file: KeyFile): KnownDatasets {
  const known: KnownDatasets = new Map(datasetNamespaces.map((namespace) => [namespace, new Set<string>()]));
  for (const record of file.keys) {
    for (const namespace of datasetNamespaces) for (const datasetId of record.datasets[namespace] ?? []) known.get(namespace)?.add(datasetId);
  }
  return known;
}

function isKnownIn(known: KnownDatasets, namespace: DatasetNamespace, datasetId: string): boolean {
  const listed = known.get(namespace);
  return listed !== undefined && (listed.has(anyDataset) || listed.has(datasetId));
}

interface LiveKey {
  digest: Buffer;
  kind: KeyKind;
  revoked: boolean;
  principal: Principal;
}

function principalFor(record: KeyRecord): Principal {
  const grants = new Map<DatasetNamespace, Set<string>>();
  for (const namespace of datasetNamespaces) {
    const list = record.datasets[namespace];
    if (list !== undefined) grants.set(namespace, new Set(list));
  }
  const kind = record.kind ?? 'secret';
  const listed = originMatcher(record.origins ?? []);
  return {
    keyId: `key_${record.id}`,
    kind,
    listsOrigins: (record.origins ?? []).length > 0,
    canWrite(namespace, datasetId) {
      const granted = grants.get(namespace);
      return granted !== undefined && (granted.has(anyDataset) || granted.has(datasetId));
    },
    allowsOrigin: (origin) => (origin === undefined ? kind === 'secret' : listed(origin)),
  };
}

function indexKeys(file: KeyFile): Map<string, LiveKey> {
  return new Map(
    file.keys.map((record) => [
      record.id,
      { digest: Buffer.from(record.sha256, 'hex'), kind: record.kind ?? 'secret', revoked: record.revoked_at !== undefined, principal: principalFor(record) },
    ]),
  );
}

/** Every origin some key that is not revoked allows. */
function allowedOriginsOf(file: KeyFile): (origin: string) => boolean {
  return originMatcher([...new Set(file.keys.flatMap((record) => (record.revoked_at === undefined ? (record.origins ?? []) : [])))]);
}

/** A key's SHA-256 in one call: a third cheaper than a Hash object, on every request. */
function sha256(key: string): Buffer {
  return hash('sha256', key, 'buffer');
}

function authenticateIn(keys: Map<string, LiveKey>, presentedKey: string): Principal | undefined {
  const keyId = keyIdOf(presentedKey);
  if (keyId === undefined) return undefined;
  const live = keys.get(keyId);
  if (live === undefined) return undefined;
  // Both sides are 32-byte digests, so the comparison is constant time whatever was presented.
  const matches = timingSafeEqual(sha256(presentedKey), live.digest);
  // A record made by hand could hash a key of the other prefix: a key is only ever what its prefix says.
  return matches && !live.revoked && kindOf(presentedKey) === live.kind ? live.principal : undefined;
}

const devPrincipal: Principal = { keyId: 'dev', kind: 'dev', listsOrigins: false, canWrite: () => true, allowsOrigin: () => true };

/** With no key store configured (the local default): the one dev key may write to any dataset, from any origin. */
export function createDevKeyStore(devKey: string): KeyStore {
  if (devKey === '') throw new SluiceError('INVALID_CONFIG', 'The dev API key must not be empty');
  const expected = sha256(devKey);
  return {
    authenticate: (presentedKey) => (timingSafeEqual(sha256(presentedKey), expected) ? devPrincipal : undefined),
    isKnownDataset: () => true,
    isAllowedOrigin: () => true,
  };
}

/** What identifies one version of the file: a rename (new inode), a write (mtime, size), a chmod (mode). */
function versionOf(path: string): string {
  const stats = statSync(path);
  return `${stats.ino}:${stats.mtimeMs}:${stats.size}:${stats.mode}`;
}

/** Anyone on the machine could plant a `"*"` key in a world-writable key file, so it is refused. */
function assertNotWorldWritable(path: string): void {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o002) !== 0) {
    throw new SluiceError('INVALID_CONFIG', `${path}: the API key file is world-writable (mode ${mode.toString(8).padStart(4, '0')}), so anyone on this machine could add a key; run \`chmod o-w ${path}\``);
  }
}

/** The key file's text, once it is known to be readable and not world-writable. */
function readKeyFileText(path: string): string {
  const text = readOrExplain(path);
  assertNotWorldWritable(path);
  return text;
}

function readOrExplain(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new SluiceError('INVALID_CONFIG', `${path}: the API key file does not exist; create a key with \`npm run keys -- create --file ${path} --name NAME --trieve DATASET\` (docs/keys.md)`, { cause: error });
    }
    throw new SluiceError('INVALID_CONFIG', `${path}: cannot read the API key file (${code ?? errorMessage(error)})`, { cause: error });
  }
}

/**
 * Reads a key file, and reads it again when it changes (looking at most once per
 * reloadIntervalMs, default 1 s), so keys are added or revoked without a restart. A file that
 * turns invalid keeps the last good keys in force and is logged; one invalid at open throws.
 */
export function openKeyFile(path: string, options: { logger: Logger; reloadIntervalMs?: number; now?: () => number }): KeyStore {
  rejectUnknownKeys(options, ['logger', 'reloadIntervalMs', 'now'], 'openKeyFile options');
  const reloadIntervalMs = options.reloadIntervalMs ?? 1000;
  if (!(Number.isFinite(reloadIntervalMs) && reloadIntervalMs >= 0)) {
    throw new SluiceError('INVALID_CONFIG', `openKeyFile: reloadIntervalMs must be a number of milliseconds, 0 or more, got ${String(reloadIntervalMs)}`);
  }
  const now = options.now ?? Date.now;
  const logger = options.logger;

  // Stat before reading: should the file change in between, the next check reads it again.
  let version: string;
  try {
    version = versionOf(path);
  } catch {
    version = '';
  }
  const opened = parseKeyFile(readKeyFileText(path), path);
  let keys = indexKeys(opened);
  let known = knownDatasetsOf(opened);
  let allowedOrigin = allowedOriginsOf(opened);
  let checkedAt = now();

  const reloadIfChanged = (): void => {
    const at = now();
    if (at - checkedAt < reloadIntervalMs) return;
    checkedAt = at;
    let current: string;
    try {
      current = versionOf(path);
    } catch (error) {
      const missing = `missing:${(error as NodeJS.ErrnoException).code ?? ''}`;
      if (version !== missing) {
        version = missing;
        logger.error('API key file cannot be read; keeping the last good keys', { file: path, error: errorMessage(error) });
      }
      return;
    }
    if (current === version) return;
    // Remember this version even when it is invalid, so a bad file is logged once, not every check.
    version = current;
    try {
      const file = parseKeyFile(readKeyFileText(path), path);
      keys = indexKeys(file);
      known = knownDatasetsOf(file);
      allowedOrigin = allowedOriginsOf(file);
      logger.info('API key file reloaded', { file: path, keys: file.keys.length, active: file.keys.filter((k) => k.revoked_at === undefined).length });
    } catch (error) {
      logger.error('API key file is invalid; keeping the last good keys', { file: path, error: errorMessage(error) });
    }
  };

  return {
    authenticate(presentedKey) {
      reloadIfChanged();
      return authenticateIn(keys, presentedKey);
    },
    isKnownDataset(namespace, datasetId) {
      reloadIfChanged();
      return isKnownIn(known, namespace, datasetId);
    },
    isAllowedOrigin(origin) {
      reloadIfChanged();
      return allowedOrigin(origin);
    },
  };
}
