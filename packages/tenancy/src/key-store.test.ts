import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SluiceError, createLogger, silentLogger, type Logger } from '@sluice/core';
import { createDevKeyStore, hashKey, keyIdOf, oneTenantRule, openKeyFile, parseKeyFile, type KeyFile, type KeyRecord, type Principal } from './key-store';
import { expectInvalidConfig } from '../../../test/helpers/expect-invalid-config';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'));
  file = join(dir, 'keys.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function newKey(id: string, prefix: 'sk' | 'pk' = 'sk'): string {
  return `${prefix}_${id}_${randomBytes(32).toString('base64url')}`;
}

function record(id: string, key: string, overrides: Partial<KeyRecord> = {}): KeyRecord {
  return { id, name: `key ${id}`, sha256: hashKey(key), datasets: { trieve: ['*'] }, created_at: '2025-01-31T12:00:00.000Z', ...overrides };
}

function writeKeys(keys: KeyRecord[]): void {
  writeFileSync(file, JSON.stringify({ version: 1, keys } satisfies KeyFile, null, 2));
  // Whatever the umask: only the world-writable tests make the file world-writable.
  chmodSync(file, 0o644);
}

/** Moves the file's mtime on, as an edit would, whatever the file system's timestamp resolution. */
function bumpMtime(seconds: number): void {
  const at = new Date(Date.now() + seconds * 1000);
  utimesSync(file, at, at);
}

function capturingLogger(): { logger: Logger; lines: Array<{ level: string; msg: string; error?: string }> } {
  const lines: Array<{ level: string; msg: string; error?: string }> = [];
  return { logger: createLogger({ level: 'debug', write: (line) => lines.push(JSON.parse(line) as { level: string; msg: string }) }), lines };
}

const idA = '3f9a1c0b2d4e';
const idB = 'a1b2c3d4e5f6';

describe('authenticate', () => {
  const keyA = newKey(idA);
  const keyB = newKey(idB);

  test('the right key gives its principal, named by its (not secret) id', () => {
    writeKeys([record(idA, keyA), record(idB, keyB)]);
    const store = openKeyFile(file, { logger: silentLogger });
    expect(store.authenticate(keyA)?.keyId).toBe(`key_${idA}`);
    expect(store.authenticate(keyB)?.keyId).toBe(`key_${idB}`);
  });

  test('a known id with the wrong secret is not known', () => {
    writeKeys([record(idA, keyA)]);
    const store = openKeyFile(file, { logger: silentLogger });
    expect(store.authenticate(newKey(idA))).toBeUndefined();
    // The other key's secret under this id is still wrong: the hash covers the whole key.
    expect(store.authenticate(`sk_${idA}_${keyB.slice(`sk_${idB}_`.length)}`)).toBeUndefined();
  });

  test('an unknown id is not known', () => {
    writeKeys([record(idA, keyA)]);
    expect(openKeyFile(file, { logger: silentLogger }).authenticate(keyB)).toBeUndefined();
  });

  test.each([
    ['empty', ''],
    ['the prefix alone', 'sk_'],
    ['no prefix', keyA.slice(3)],
    ['a Bearer prefix', `Bearer ${keyA}`],
    ['a trailing space', `${keyA} `],
    ['an upper-case id', keyA.replace(idA, idA.toUpperCase())],
    ['a short id', keyA.replace(idA, idA.slice(1))],
    ['a short secret', keyA.slice(0, -1)],
    ['a long secret', `${keyA}A`],
    ['base64 padding', `${keyA.slice(0, -1)}=`],
    ['a character outside base64url', `${keyA.slice(0, -1)}+`],
    ['a huge string', 'x'.repeat(100_000)],
    ['the dev key shape', 'sk_dev_0123456789abcdef'],
  ])('a malformed key (%s) is not known, and does not throw', (_what, presented) => {
    writeKeys([record(idA, keyA)]);
    const store = openKeyFile(file, { logger: silentLogger });
    expect(() => store.authenticate(presented)).not.toThrow();
    expect(store.authenticate(presented)).toBeUndefined();
  });

  test('a revoked key is not known; the others still are', () => {
    writeKeys([record(idA, keyA, { revoked_at: '2025-02-01T00:00:00Z' }), record(idB, keyB)]);
    const store = openKeyFile(file, { logger: silentLogger });
    expect(store.authenticate(keyA)).toBeUndefined();
    expect(store.authenticate(keyB)?.keyId).toBe(`key_${idB}`);
  });

  test('keyIdOf reads the id of well-formed keys only', () => {
    expect(keyIdOf(keyA)).toBe(idA);
    expect(keyIdOf(`${keyA}x`)).toBeUndefined();
  });
});

describe('publishable keys', () => {
  const origins = ['https://shop.example'];

  test('a publishable key is known only by its pk_ prefix, a secret key only by its sk_ prefix', () => {
    const publishable = newKey(idA, 'pk');
    const secret = newKey(idB);
    writeKeys([record(idA, publishable, { kind: 'publishable', datasets: { trieve: ['ds-1'] }, origins }), record(idB, secret)]);
    const store = openKeyFile(file, { logger: silentLogger });
    expect(store.authenticate(publishable)).toMatchObject({ keyId: `key_${idA}`, kind: 'publishable' });
    expect(store.authenticate(secret)).toMatchObject({ keyId: `key_${idB}`, kind: 'secret' });
    expect(keyIdOf(publishable)).toBe(idA);
    // The same secret under the other prefix is another key: its hash differs.
    expect(store.authenticate(publishable.replace(/^pk_/, 'sk_'))).toBeUndefined();
    expect(store.authenticate(secret.replace(/^sk_/, 'pk_'))).toBeUndefined();
  });

  test('a record whose kind does not match the prefix of the key it hashes is not known', () => {
    // Made by hand: the hash of an sk_ key, on a publishable record, and the other way round.
    const secretShaped = newKey(idA);
    const publishableShaped = newKey(idB, 'pk');
    writeKeys([record(idA, secretShaped, { kind: 'publishable', datasets: { trieve: ['ds-1'] }, origins }), record(idB, publishableShaped)]);
    const store = openKeyFile(file, { logger: silentLogger });
    expect(store.authenticate(secretShaped)).toBeUndefined();
    expect(store.authenticate(publishableShaped)).toBeUndefined();
  });
});

describe('allowsOrigin', () => {
  const secret = newKey(idA);
  const withOrigins = newKey(idB);
  const publishable = newKey('c0ffee000001', 'pk');
  const origins = ['https://shop.example', 'https://*.shop.example'];
  const principals = (): Record<'secret' | 'secretWithOrigins' | 'publishable', Principal> => {
    writeKeys([
      record(idA, secret, { datasets: { trieve: ['ds-a'] } }),
      record(idB, withOrigins, { datasets: { trieve: ['ds-b'] }, origins }),
      record('c0ffee000001', publishable, { kind: 'publishable', datasets: { trieve: ['ds-b'] }, origins }),
    ]);
    const store = openKeyFile(file, { logger: silentLogger });
    const found = { secret: store.authenticate(secret), secretWithOrigins: store.authenticate(withOrigins), publishable: store.authenticate(publishable) };
    if (found.secret === undefined || found.secretWithOrigins === undefined || found.publishable === undefined) throw new Error('a key was not authenticated');
    return { secret: found.secret, secretWithOrigins: found.secretWithOrigins, publishable: found.publishable };
  };

  test.each([
    ['a server (no Origin)', undefined, { secret: true, secretWithOrigins: true, publishable: false }],
    ['a listed origin', 'https://shop.example', { secret: false, secretWithOrigins: true, publishable: true }],
    ['a subdomain under a listed wildcard', 'https://eu.www.shop.example', { secret: false, secretWithOrigins: true, publishable: true }],
    ['a look-alike origin', 'https://evil-shop.example', { secret: false, secretWithOrigins: false, publishable: false }],
    ['a foreign origin', 'https://evil.example', { secret: false, secretWithOrigins: false, publishable: false }],
    ['the null origin', 'null', { secret: false, secretWithOrigins: false, publishable: false }],
  ])('from %s', (_from, origin, expected) => {
    const { secret: s, secretWithOrigins: o, publishable: p } = principals();
    expect({ secret: s.allowsOrigin(origin), secretWithOrigins: o.allowsOrigin(origin), publishable: p.allowsOrigin(origin) }).toEqual(expected);
    expect({ secret: s.listsOrigins, secretWithOrigins: o.listsOrigins, publishable: p.listsOrigins }).toEqual({ secret: false, secretWithOrigins: true, publishable: true });
  });
});

describe('isAllowedOrigin', () => {
  const keyA = newKey(idA);
  const keyB = newKey(idB);

  test('an origin is allowed when a key that is not revoked lists it (or a wildcard over it)', () => {
    writeKeys([
      record(idA, keyA, { datasets: { trieve: ['ds-a'] }, origins: ['https://shop.example', 'https://*.shop.example'] }),
      record(idB, keyB, { datasets: { trieve: ['ds-b'] }, origins: ['https://old.example'], revoked_at: '2025-02-01T00:00:00.000Z' }),
    ]);
    const store = openKeyFile(file, { logger: silentLogger });
    expect(store.isAllowedOrigin('https://shop.example')).toBe(true);
    expect(store.isAllowedOrigin('https://www.shop.example')).toBe(true);
    expect(store.isAllowedOrigin('https://old.example')).toBe(false);
    expect(store.isAllowedOrigin('https://evil-shop.example')).toBe(false);
    expect(store.isAllowedOrigin('null')).toBe(false);
  });

  test('an origin added to the file is allowed once the file is read again; a revoked key\'s no longer is', () => {
    writeKeys([record(idA, keyA, { origins: ['https://shop.example'] })]);
    let clock = 0;
    const store = openKeyFile(file, { logger: silentLogger, now: () => clock });
    expect(store.isAllowedOrigin('https://blog.example')).toBe(false);
    writeKeys([record(idA, keyA, { origins: ['https://shop.example'], revoked_at: '2025-02-01T00:00:00.000Z' }), record(idB, keyB, { origins: ['https://blog.example'] })]);
    bumpMtime(10);
    clock += 1000;
    expect(store.isAllowedOrigin('https://blog.example')).toBe(true);
    expect(store.isAllowedOrigin('https://shop.example')).toBe(false);
  });
});

describe('canWrite', () => {
  const key = newKey(idA);

  test('each namespace grants exactly its listed datasets; absent namespaces grant nothing', () => {
    writeKeys([record(idA, key, { datasets: { trieve: ['0b9c6a1e-5f0e-4a8e-9d0e-111111111111', 'docs-site'], neuralens: ['app_1'], greenflash: [] } })]);
    const principal = openKeyFile(file, { logger: silentLogger }).authenticate(key);
    if (principal === undefined) throw new Error('key not authenticated');
    expect(principal.canWrite('trieve', '0b9c6a1e-5f0e-4a8e-9d0e-111111111111')).toBe(true);
    expect(principal.canWrite('trieve', 'docs-site')).toBe(true);
    expect(principal.canWrite('trieve', 'other-site')).toBe(false);
    // Compared exactly: a UUID's other spelling, or its tracking_id, must be listed itself.
    expect(principal.canWrite('trieve', '0B9C6A1E-5F0E-4A8E-9D0E-111111111111')).toBe(false);
    expect(principal.canWrite('neuralens', 'app_1')).toBe(true);
    expect(principal.canWrite('neuralens', 'docs-site')).toBe(false);
    // A dataset granted in one namespace is not granted in another.
    expect(principal.canWrite('neuralens', '0b9c6a1e-5f0e-4a8e-9d0e-111111111111')).toBe(false);
    expect(principal.canWrite('greenflash', 'app_1')).toBe(false);
    expect(principal.canWrite('native', 'app_1')).toBe(false);
  });

  test('"*" grants every dataset of its namespace, and only of that namespace', () => {
    writeKeys([record(idA, key, { datasets: { greenflash: ['*'], native: ['orders'] } })]);
    const principal = openKeyFile(file, { logger: silentLogger }).authenticate(key);
    if (principal === undefined) throw new Error('key not authenticated');
    expect(principal.canWrite('greenflash', 'prod_1')).toBe(true);
    expect(principal.canWrite('greenflash', 'anything at all')).toBe(true);
    expect(principal.canWrite('native', 'orders')).toBe(true);
    expect(principal.canWrite('native', 'payments')).toBe(false);
    expect(principal.canWrite('trieve', 'prod_1')).toBe(false);
    expect(principal.canWrite('neuralens', '*')).toBe(false);
  });

  test('an empty datasets object grants nothing', () => {
    writeKeys([record(idA, key, { datasets: {} })]);
    const principal = openKeyFile(file, { logger: silentLogger }).authenticate(key);
    for (const namespace of ['trieve', 'neuralens', 'greenflash', 'native'] as const) expect(principal?.canWrite(namespace, 'x')).toBe(false);
  });
});

describe('isKnownDataset', () => {
  const keyA = newKey(idA);
  const keyB = newKey(idB);

  test('a dataset is known in a namespace when any key lists it there, revoked keys included', () => {
    writeKeys([
      record(idA, keyA, { datasets: { native: ['orders'], trieve: ['docs-site'] } }),
      record(idB, keyB, { datasets: { native: ['refunds'] }, revoked_at: '2025-02-01T00:00:00.000Z' }),
    ]);
    const store = openKeyFile(file, { logger: silentLogger });
    expect(store.isKnownDataset('native', 'orders')).toBe(true);
    expect(store.isKnownDataset('native', 'refunds')).toBe(true);
    expect(store.isKnownDataset('native', 'payments')).toBe(false);
    expect(store.isKnownDataset('native', 'docs-site')).toBe(false);
    expect(store.isKnownDataset('trieve', 'docs-site')).toBe(true);
    expect(store.isKnownDataset('greenflash', 'orders')).toBe(false);
  });

  test('"*" makes every dataset of its namespace known', () => {
    writeKeys([record(idA, keyA, { datasets: { greenflash: ['*'] } })]);
    const store = openKeyFile(file, { logger: silentLogger });
    expect(store.isKnownDataset('greenflash', 'prod_1')).toBe(true);
    expect(store.isKnownDataset('native', 'prod_1')).toBe(false);
  });

  test('a dataset added to the file is known once the file is read again', () => {
    writeKeys([record(idA, keyA, { datasets: { native: ['orders'] } })]);
    let clock = 0;
    const store = openKeyFile(file, { logger: silentLogger, now: () => clock });
    expect(store.isKnownDataset('native', 'payments')).toBe(false);
    writeKeys([record(idA, keyA, { datasets: { native: ['orders', 'payments'] } })]);
    bumpMtime(10);
    clock += 1000;
    expect(store.isKnownDataset('native', 'payments')).toBe(true);
  });

  test('without a key file (the dev key) every dataset is known', () => {
    const store = createDevKeyStore('sk_dev_abc');
    for (const namespace of ['trieve', 'neuralens', 'greenflash', 'native'] as const) expect(store.isKnownDataset(namespace, 'anything')).toBe(true);
  });
});

describe('createDevKeyStore', () => {
  test('the dev key may write to any dataset of any namespace, from any origin or none', () => {
    const store = createDevKeyStore('sk_dev_abc');
    const principal = store.authenticate('sk_dev_abc');
    expect(principal?.keyId).toBe('dev');
    expect(principal?.kind).toBe('dev');
    for (const origin of [undefined, 'https://shop.example', 'http://localhost:3000', 'null']) expect(principal?.allowsOrigin(origin)).toBe(true);
    for (const origin of ['https://shop.example', 'null']) expect(store.isAllowedOrigin(origin)).toBe(true);
    for (const namespace of ['trieve', 'neuralens', 'greenflash', 'native'] as const) {
      expect(principal?.canWrite(namespace, 'any-dataset')).toBe(true);
      expect(principal?.canWrite(namespace, '0b9c6a1e-5f0e-4a8e-9d0e-111111111111')).toBe(true);
    }
  });

  test('any other key is not known', () => {
    const store = createDevKeyStore('sk_dev_abc');
    for (const wrong of ['sk_dev_ab', 'sk_dev_abcd', '', 'SK_DEV_ABC', 'x'.repeat(10_000)]) expect(store.authenticate(wrong)).toBeUndefined();
  });

  test('an empty dev key is refused', () => {
    expectInvalidConfig(() => createDevKeyStore(''), 'The dev API key must not be empty');
  });
});

describe('reloading', () => {
  const keyA = newKey(idA);
  const keyB = newKey(idB);

  test('a changed file is read again, but no sooner than reloadIntervalMs after the last check', () => {
    writeKeys([record(idA, keyA)]);
    let clock = 1_000_000;
    const { logger, lines } = capturingLogger();
    const store = openKeyFile(file, { logger, reloadIntervalMs: 1000, now: () => clock });
    expect(store.authenticate(keyA)).toBeDefined();
    expect(store.authenticate(keyB)).toBeUndefined();

    writeKeys([record(idA, keyA, { revoked_at: '2025-02-01T00:00:00.000Z' }), record(idB, keyB)]);
    bumpMtime(10);
    clock += 999;
    expect(store.authenticate(keyA)).toBeDefined();
    expect(store.authenticate(keyB)).toBeUndefined();

    clock += 1;
    expect(store.authenticate(keyB)?.keyId).toBe(`key_${idB}`);
    expect(store.authenticate(keyA)).toBeUndefined();
    expect(lines).toEqual([expect.objectContaining({ level: 'info', msg: 'API key file reloaded', file, keys: 2, active: 1 })]);
  });

  test('a file replaced by rename (as the keys CLI writes it) is read again', () => {
    writeKeys([record(idA, keyA)]);
    let clock = 0;
    const store = openKeyFile(file, { logger: silentLogger, now: () => clock });
    const replacement = join(dir, 'keys.json.tmp');
    writeFileSync(replacement, JSON.stringify({ version: 1, keys: [record(idB, keyB)] }));
    renameSync(replacement, file);
    bumpMtime(10);
    clock += 1000;
    expect(store.authenticate(keyA)).toBeUndefined();
    expect(store.authenticate(keyB)).toBeDefined();
  });

  test('an unchanged file is not read again, however often keys are checked', () => {
    writeKeys([record(idA, keyA)]);
    let clock = 0;
    const { logger, lines } = capturingLogger();
    const store = openKeyFile(file, { logger, reloadIntervalMs: 0, now: () => clock });
    for (let i = 0; i < 5; i++) {
      clock += 5000;
      expect(store.authenticate(keyA)).toBeDefined();
    }
    expect(lines).toEqual([]);
  });

  test('a file that becomes invalid keeps the last good keys and logs one error; a fixed file is read again', () => {
    writeKeys([record(idA, keyA)]);
    let clock = 0;
    const { logger, lines } = capturingLogger();
    const store = openKeyFile(file, { logger, now: () => clock });

    writeFileSync(file, '{"version": 1, "keys": [');
    bumpMtime(10);
    clock += 1000;
    expect(store.authenticate(keyA)?.keyId).toBe(`key_${idA}`);
    clock += 1000;
    expect(store.authenticate(keyA)?.keyId).toBe(`key_${idA}`);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', msg: 'API key file is invalid; keeping the last good keys', file });
    expect(lines[0]?.error).toMatch(/^.*keys\.json: is not valid JSON \(/);

    writeKeys([record(idA, keyA), record(idB, keyB, { datasets: { trieve: ['*'], bogus: [] } as KeyRecord['datasets'] })]);
    bumpMtime(20);
    clock += 1000;
    expect(store.authenticate(keyB)).toBeUndefined();
    expect(lines[1]).toMatchObject({
      level: 'error',
      error: `${file}: keys[1].datasets has an unknown namespace "bogus"; known: trieve, neuralens, greenflash, native`,
    });

    writeKeys([record(idB, keyB)]);
    bumpMtime(30);
    clock += 1000;
    expect(store.authenticate(keyB)).toBeDefined();
    expect(store.authenticate(keyA)).toBeUndefined();
    expect(lines[2]).toMatchObject({ level: 'info', msg: 'API key file reloaded' });
  });

  test('a file made world-writable keeps the last good keys and logs one error, even with a key planted in it; chmod o-w reads it again', () => {
    writeKeys([record(idA, keyA)]);
    let clock = 0;
    const { logger, lines } = capturingLogger();
    const store = openKeyFile(file, { logger, now: () => clock });

    chmodSync(file, 0o666);
    clock += 1000;
    expect(store.authenticate(keyA)?.keyId).toBe(`key_${idA}`);
    const planted = newKey(idB);
    writeFileSync(file, JSON.stringify({ version: 1, keys: [record(idA, keyA), record(idB, planted)] }));
    bumpMtime(10);
    clock += 1000;
    expect(store.authenticate(planted)).toBeUndefined();
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        msg: 'API key file is invalid; keeping the last good keys',
        file,
        error: `${file}: the API key file is world-writable (mode 0666), so anyone on this machine could add a key; run \`chmod o-w ${file}\``,
      }),
      expect.objectContaining({ level: 'error', msg: 'API key file is invalid; keeping the last good keys' }),
    ]);

    chmodSync(file, 0o664);
    clock += 1000;
    expect(store.authenticate(planted)?.keyId).toBe(`key_${idB}`);
    expect(lines[2]).toMatchObject({ level: 'info', msg: 'API key file reloaded' });
  });

  test('a file that disappears keeps the last good keys and logs one error; when it comes back it is read', () => {
    writeKeys([record(idA, keyA)]);
    let clock = 0;
    const { logger, lines } = capturingLogger();
    const store = openKeyFile(file, { logger, now: () => clock });
    rmSync(file);
    clock += 1000;
    expect(store.authenticate(keyA)).toBeDefined();
    clock += 1000;
    expect(store.authenticate(keyA)).toBeDefined();
    expect(lines).toEqual([expect.objectContaining({ level: 'error', msg: 'API key file cannot be read; keeping the last good keys', file })]);

    writeKeys([record(idB, keyB)]);
    clock += 1000;
    expect(store.authenticate(keyB)).toBeDefined();
    expect(store.authenticate(keyA)).toBeUndefined();
  });
});

describe('openKeyFile at open', () => {
  test('a missing file throws INVALID_CONFIG with the exact message', () => {
    expectInvalidConfig(() => openKeyFile(file, { logger: silentLogger }), `${file}: the API key file does not exist; create a key with \`npm run keys -- create --file ${file} --name NAME --trieve DATASET\` (docs/keys.md)`);
  });

  test('a directory in place of the file cannot be read', () => {
    expectInvalidConfig(() => openKeyFile(dir, { logger: silentLogger }), `${dir}: cannot read the API key file (EISDIR)`);
  });

  test('an invalid file throws INVALID_CONFIG with the exact message', () => {
    writeFileSync(file, JSON.stringify({ version: 1, keys: [{ id: idA }] }));
    expectInvalidConfig(() => openKeyFile(file, { logger: silentLogger }), `${file}: keys[0].name is required`);
  });

  test.each(['0666', '0602', '0777'])('a world-writable file (mode %s) throws INVALID_CONFIG naming the file, its mode and the fix', (shown) => {
    writeKeys([record(idA, newKey(idA))]);
    chmodSync(file, parseInt(shown, 8));
    expectInvalidConfig(() => openKeyFile(file, { logger: silentLogger }), `${file}: the API key file is world-writable (mode ${shown}), so anyone on this machine could add a key; run \`chmod o-w ${file}\``);
  });

  test('a file writable by its group only is accepted', () => {
    const key = newKey(idA);
    writeKeys([record(idA, key)]);
    chmodSync(file, 0o664);
    expect(openKeyFile(file, { logger: silentLogger }).authenticate(key)).toBeDefined();
  });

  test('an empty key list is valid: no key is known', () => {
    writeFileSync(file, '{"version": 1, "keys": []}');
    expect(openKeyFile(file, { logger: silentLogger }).authenticate(newKey(idA))).toBeUndefined();
  });

  test('unknown options and a bad interval are refused', () => {
    writeFileSync(file, '{"version": 1, "keys": []}');
    expectInvalidConfig(() => openKeyFile(file, { logger: silentLogger, reloadMs: 5 } as Parameters<typeof openKeyFile>[1]), 'Unknown option "reloadMs" in openKeyFile options; known options: logger, reloadIntervalMs, now');
    expectInvalidConfig(() => openKeyFile(file, { logger: silentLogger, reloadIntervalMs: -1 }), 'openKeyFile: reloadIntervalMs must be a number of milliseconds, 0 or more, got -1');
  });
});

describe('parseKeyFile', () => {
  const sha = hashKey(newKey(idA));
  const valid = (): Record<string, unknown> => ({
    id: idA,
    name: 'acme web',
    sha256: sha,
    datasets: { trieve: ['ds-1'] },
    created_at: '2025-01-31T12:00:00.000Z',
  });
  const withKey = (changes: Record<string, unknown>, drop: string[] = []): string => {
    const entry: Record<string, unknown> = { ...valid(), id: 'c0ffee000001', ...changes };
    for (const field of drop) delete entry[field];
    return JSON.stringify({ version: 1, keys: [valid(), { ...valid(), id: idB }, entry] });
  };
  const known = 'known: id, name, kind, sha256, datasets, origins, created_at, revoked_at';

  test('a valid file parses, keeping every field', () => {
    const text = JSON.stringify({
      version: 1,
      keys: [
        { ...valid(), datasets: { trieve: ['ds-1', 'docs-site'], neuralens: ['*'], greenflash: [], native: ['orders'] } },
        { ...valid(), id: idB, sha256: sha.toUpperCase(), datasets: { neuralens: ['app_2'] }, revoked_at: '2025-02-01T08:30:00+02:00' },
        { ...valid(), id: 'c0ffee000001', kind: 'publishable', datasets: { trieve: ['ds-1'] }, origins: ['https://shop.example', 'https://*.shop.example'] },
        { ...valid(), id: 'c0ffee000002', kind: 'secret', origins: [] },
      ],
    });
    expect(parseKeyFile(text, 'keys.json')).toEqual({
      version: 1,
      keys: [
        { ...valid(), datasets: { trieve: ['ds-1', 'docs-site'], neuralens: ['*'], greenflash: [], native: ['orders'] } },
        { ...valid(), id: idB, sha256: sha, datasets: { neuralens: ['app_2'] }, revoked_at: '2025-02-01T08:30:00+02:00' },
        { ...valid(), id: 'c0ffee000001', kind: 'publishable', datasets: { trieve: ['ds-1'] }, origins: ['https://shop.example', 'https://*.shop.example'] },
        { ...valid(), id: 'c0ffee000002', kind: 'secret', origins: [] },
      ],
    });
  });

  test.each<[string, string, string]>([
    ['not JSON', '{"version": 1,', 'keys.json: is not valid JSON ('],
    ['an array', '[]', 'keys.json: must be a JSON object, got an array'],
    ['null', 'null', 'keys.json: must be a JSON object, got null'],
    ['an unknown top-level field', '{"version": 1, "keys": [], "key": []}', 'keys.json: the top level has an unknown field "key"; known: version, keys'],
    ['no version', '{"keys": []}', 'keys.json: version is required (1)'],
    ['another version', '{"version": 2, "keys": []}', 'keys.json: version must be 1, got 2'],
    ['a string version', '{"version": "1", "keys": []}', 'keys.json: version must be 1, got "1"'],
    ['no keys', '{"version": 1}', 'keys.json: keys is required (an array, possibly empty)'],
    ['keys an object', '{"version": 1, "keys": {}}', 'keys.json: keys must be an array, got an object'],
    ['a key not an object', '{"version": 1, "keys": ["sk_x"]}', 'keys.json: keys[0] must be an object, got a string'],
    ['an unknown key field', withKey({ secret: 'x' }), `keys.json: keys[2] has an unknown field "secret"; ${known}`],
    ['no id', withKey({}, ['id']), 'keys.json: keys[2].id is required'],
    ['a numeric id', withKey({ id: 123 }), 'keys.json: keys[2].id must be a string, got a number'],
    ['a short id', withKey({ id: '3f9a1c' }), 'keys.json: keys[2].id must be 12 lowercase hex characters, got "3f9a1c"'],
    ['an upper-case id', withKey({ id: '3F9A1C0B2D4E' }), 'keys.json: keys[2].id must be 12 lowercase hex characters, got "3F9A1C0B2D4E"'],
    ['a duplicate id', withKey({ id: idB }), `keys.json: keys[2].id "${idB}" is also the id of keys[1]; ids must be unique`],
    ['no name', withKey({}, ['name']), 'keys.json: keys[2].name is required'],
    ['a null name', withKey({ name: null }), 'keys.json: keys[2].name must be a string, got null'],
    ['a blank name', withKey({ name: '  ' }), 'keys.json: keys[2].name must not be empty'],
    ['no sha256', withKey({}, ['sha256']), 'keys.json: keys[2].sha256 is required'],
    ['a short sha256', withKey({ sha256: sha.slice(1) }), 'keys.json: keys[2].sha256 must be 64 hex characters (the SHA-256 of the key), got 63 characters'],
    ['a non-hex sha256', withKey({ sha256: `${sha.slice(1)}g` }), 'keys.json: keys[2].sha256 must be 64 hex characters (the SHA-256 of the key), got 64 characters'],
    ['a numeric sha256', withKey({ sha256: 5 }), 'keys.json: keys[2].sha256 must be a string, got a number'],
    ['no datasets', withKey({}, ['datasets']), 'keys.json: keys[2].datasets is required (an object, possibly empty)'],
    ['datasets an array', withKey({ datasets: ['ds-1'] }), 'keys.json: keys[2].datasets must be an object, got an array'],
    [
      'an unknown namespace',
      withKey({ datasets: { trieve: ['ds-1'], trieve_ctr: ['ds-1'] } }),
      'keys.json: keys[2].datasets has an unknown namespace "trieve_ctr"; known: trieve, neuralens, greenflash, native',
    ],
    ['a dataset list not an array', withKey({ datasets: { neuralens: 'app_1' } }), 'keys.json: keys[2].datasets.neuralens must be an array of dataset ids, got a string'],
    ['a numeric dataset id', withKey({ datasets: { greenflash: ['p1', 7] } }), 'keys.json: keys[2].datasets.greenflash[1] must be a string, got a number'],
    ['an empty dataset id', withKey({ datasets: { native: [''] } }), 'keys.json: keys[2].datasets.native[0] must not be empty'],
    ['a padded dataset id', withKey({ datasets: { trieve: [' ds-1'] } }), 'keys.json: keys[2].datasets.trieve[0] " ds-1" must not start or end with whitespace'],
    ['no created_at', withKey({}, ['created_at']), 'keys.json: keys[2].created_at is required'],
    [
      'a created_at that is not ISO 8601',
      withKey({ created_at: 'yesterday' }),
      'keys.json: keys[2].created_at must be an ISO 8601 timestamp such as "2025-01-31T12:00:00.000Z", got "yesterday"',
    ],
    [
      'a created_at that is no date',
      withKey({ created_at: '2025-13-45T99:00:00Z' }),
      'keys.json: keys[2].created_at must be an ISO 8601 timestamp such as "2025-01-31T12:00:00.000Z", got "2025-13-45T99:00:00Z"',
    ],
    ['a null revoked_at', withKey({ revoked_at: null }), 'keys.json: keys[2].revoked_at must be a string, got null'],
    [
      'a revoked_at without a time',
      withKey({ revoked_at: '2025-02-01' }),
      'keys.json: keys[2].revoked_at must be an ISO 8601 timestamp such as "2025-01-31T12:00:00.000Z", got "2025-02-01"',
    ],
    ['an unknown kind', withKey({ kind: 'public' }), 'keys.json: keys[2].kind must be "secret" or "publishable", got "public"'],
    ['a numeric kind', withKey({ kind: 1 }), 'keys.json: keys[2].kind must be a string, got a number'],
    ['origins a string', withKey({ origins: 'https://shop.example' }), 'keys.json: keys[2].origins must be an array of origins such as "https://shop.example", got a string'],
    ['a numeric origin', withKey({ origins: ['https://shop.example', 443] }), 'keys.json: keys[2].origins[1] must be a string, got a number'],
    [
      'an origin with a path',
      withKey({ origins: ['https://shop.example/'] }),
      'keys.json: keys[2].origins[0] "https://shop.example/" must be only scheme://host[:port], without a path or a trailing "/": "https://shop.example"',
    ],
    [
      'an upper-case origin',
      withKey({ origins: ['https://Shop.example'] }),
      'keys.json: keys[2].origins[0] "https://Shop.example" must be written as browsers send it (lowercase host, punycode, no default port): "https://shop.example"',
    ],
    [
      'the null origin',
      withKey({ origins: ['null'] }),
      'keys.json: keys[2].origins[0] "null" cannot be allowed: browsers send "null" from sandboxed frames and file:// pages, which any site can make',
    ],
    ['an origin listed twice', withKey({ origins: ['https://a.example', 'https://b.example', 'https://a.example'] }), 'keys.json: keys[2].origins[2] "https://a.example" is also keys[2].origins[0]; list each origin once'],
    [
      'a publishable key without origins',
      withKey({ kind: 'publishable' }),
      'keys.json: keys[2] is a publishable key, which is accepted only from the pages of its origins: its origins must list at least one',
    ],
    [
      'a publishable key with an empty origin list',
      withKey({ kind: 'publishable', origins: [] }),
      'keys.json: keys[2] is a publishable key, which is accepted only from the pages of its origins: its origins must list at least one',
    ],
    [
      'a publishable key holding "*"',
      withKey({ kind: 'publishable', origins: ['https://shop.example'], datasets: { trieve: ['ds-1'], greenflash: ['*'] } }),
      'keys.json: keys[2].datasets.greenflash lists "*", which a publishable key may not hold: it is public, so it names its datasets one by one',
    ],
  ])('%s is refused with an exact message naming the path', (_what, text, message) => {
    let thrown: unknown;
    try {
      parseKeyFile(text, 'keys.json');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SluiceError);
    const error = thrown as SluiceError;
    expect(error.code).toBe('INVALID_CONFIG');
    if (message.endsWith('(')) expect(error.message.startsWith(message)).toBe(true);
    else expect(error.message).toBe(message);
  });
});

describe('one namespace per dataset id', () => {
  const keyA = newKey(idA);
  const keyB = newKey(idB);
  const idC = 'c0ffee000001';
  const keyC = newKey(idC);
  const fileWith = (...keys: KeyRecord[]): string => JSON.stringify({ version: 1, keys } satisfies KeyFile);
  const rule = oneTenantRule;

  test.each<[string, KeyRecord[], string]>([
    [
      'the same id under two namespaces, for two keys',
      [record(idA, keyA, { name: 'acme web', datasets: { trieve: ['shop'] } }), record(idB, keyB, { datasets: { neuralens: ['shop'] } })],
      `keys.json: keys[1].datasets.neuralens lists "shop", which keys[0] ("acme web") holds under trieve; ${rule}`,
    ],
    [
      'an id under another namespace than an earlier key\'s "*"',
      [record(idA, keyA, { name: 'acme web', datasets: { greenflash: ['*'] } }), record(idB, keyB, { datasets: { native: ['orders'] } })],
      `keys.json: keys[1].datasets.native lists "orders", but keys[0] ("acme web") holds "*" under greenflash; ${rule}`,
    ],
    [
      '"*" under another namespace than an earlier key\'s id',
      [record(idA, keyA, { name: 'acme web', datasets: { native: ['orders'] } }), record(idB, keyB, { datasets: { trieve: ['docs'], greenflash: ['*'] } })],
      `keys.json: keys[1].datasets.greenflash lists "*", but keys[0] ("acme web") holds "orders" under native; ${rule}`,
    ],
    [
      '"*" under two namespaces, for two keys',
      [record(idA, keyA, { name: 'acme web', datasets: { trieve: ['*'] } }), record(idB, keyB, { datasets: { neuralens: ['*'] } })],
      `keys.json: keys[1].datasets.neuralens lists "*", which keys[0] ("acme web") holds under trieve; ${rule}`,
    ],
    [
      'a revoked key\'s id (its events are stored under it)',
      [
        record(idA, keyA, { name: 'old web', datasets: { trieve: ['shop'] }, revoked_at: '2025-02-01T00:00:00.000Z' }),
        record(idB, keyB, { datasets: { trieve: ['other'] } }),
        record(idC, keyC, { datasets: { native: ['shop'] } }),
      ],
      `keys.json: keys[2].datasets.native lists "shop", which keys[0] ("old web") holds under trieve; ${rule}`,
    ],
    [
      'a third key that shares the id with neither of two keys sharing it',
      [
        record(idA, keyA, { name: 'acme', datasets: { trieve: ['shop'] } }),
        record(idB, keyB, { datasets: { trieve: ['shop'] } }),
        record(idC, keyC, { datasets: { neuralens: ['shop'] } }),
      ],
      `keys.json: keys[2].datasets.neuralens lists "shop", which keys[0] ("acme") holds under trieve; ${rule}`,
    ],
  ])('%s is refused, naming both keys', (_what, keys, message) => {
    expectInvalidConfig(() => parseKeyFile(fileWith(...keys), 'keys.json'), message);
  });

  test.each<[string, KeyRecord[]]>([
    ['one key holding an id under several namespaces (one tenant, whose dialects share it)', [record(idA, keyA, { datasets: { trieve: ['shop', '*'], neuralens: ['shop'], native: ['*'] } })]],
    [
      'two keys holding an id under the same namespace (rotation; a server and a browser key)',
      [record(idA, keyA, { datasets: { trieve: ['shop'] }, revoked_at: '2025-02-01T00:00:00.000Z' }), record(idB, keyB, { datasets: { trieve: ['shop', '*'] } }), record(idC, keyC, { datasets: { trieve: ['*'] } })],
    ],
    [
      'the replacement of a key that holds an id under two namespaces, with the same grants',
      [record(idA, keyA, { datasets: { trieve: ['shop'], neuralens: ['shop'] }, revoked_at: '2025-02-01T00:00:00.000Z' }), record(idB, keyB, { datasets: { trieve: ['shop'], neuralens: ['shop'] } })],
    ],
    [
      'keys joined into one tenant through a key that shares the id with each (a server key under two dialects, a browser key per dialect)',
      [record(idA, keyA, { datasets: { trieve: ['shop'], neuralens: ['shop'] } }), record(idB, keyB, { datasets: { trieve: ['shop'] } }), record(idC, keyC, { datasets: { neuralens: ['shop'] } })],
    ],
    ['different ids under different namespaces', [record(idA, keyA, { datasets: { trieve: ['shop'], native: ['orders'] } }), record(idB, keyB, { datasets: { neuralens: ['shop-b'], greenflash: [] } })]],
  ])('%s is allowed', (_what, keys) => {
    expect(parseKeyFile(fileWith(...keys), 'keys.json').keys).toHaveLength(keys.length);
  });

  test('a key file that has such a collision stops the store at open', () => {
    writeKeys([record(idA, keyA, { name: 'acme web', datasets: { trieve: ['shop'] } }), record(idB, keyB, { datasets: { neuralens: ['shop'] } })]);
    expectInvalidConfig(() => openKeyFile(file, { logger: silentLogger }), `${file}: keys[1].datasets.neuralens lists "shop", which keys[0] ("acme web") holds under trieve; ${rule}`);
  });

  test('a key file edited into a collision keeps the last good keys and logs why', () => {
    writeKeys([record(idA, keyA, { name: 'acme web', datasets: { trieve: ['shop'] } }), record(idB, keyB, { datasets: { neuralens: ['shop-b'] } })]);
    let clock = 0;
    const { logger, lines } = capturingLogger();
    const store = openKeyFile(file, { logger, now: () => clock });
    writeKeys([record(idA, keyA, { name: 'acme web', datasets: { trieve: ['shop'] } }), record(idB, keyB, { datasets: { neuralens: ['shop-b', 'shop'] } })]);
    bumpMtime(10);
    clock += 1000;
    const principal = store.authenticate(keyB);
    expect(principal?.canWrite('neuralens', 'shop-b')).toBe(true);
    expect(principal?.canWrite('neuralens', 'shop')).toBe(false);
    expect(store.isKnownDataset('neuralens', 'shop')).toBe(false);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        msg: 'API key file is invalid; keeping the last good keys',
        error: `${file}: keys[1].datasets.neuralens lists "shop", which keys[0] ("acme web") holds under trieve; ${rule}`,
      }),
    ]);
  });
});
