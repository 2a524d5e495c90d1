import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@sluice/core';
import { hashKey, oneTenantRule, openKeyFile, parseKeyFile, type KeyFile } from './key-store';
import { createKey, grantDatasets, listKeys, readKeyFileText, revokeKey, setOrigins, updateKeyFile, writeKeyFileAtomic, type RandomBytes } from './key-admin';
import { expectInvalidConfig } from '../../../test/helpers/expect-invalid-config';
import { runKeysCli } from '../../../test/helpers/keys-cli';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-key-admin-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic bytes: each call returns `size` bytes counting up from the next seed. */
function countingRandom(seeds: number[]): RandomBytes {
  return (size) => {
    const seed = seeds.shift() ?? 0xee;
    return Buffer.from(Array.from({ length: size }, (_, i) => (seed + i) & 0xff));
  };
}

const t0 = new Date('2025-01-31T12:00:00.000Z');
const t1 = new Date('2025-02-01T08:30:00.000Z');

describe('createKey', () => {
  test('makes sk_<12 hex id>_<43 base64url secret> from the random source, and stores only its SHA-256', () => {
    const created = createKey(undefined, { name: 'acme web', datasets: { trieve: ['ds-1', 'docs-site'], native: ['orders'] } }, t0, countingRandom([0x10, 0x20]));
    expect(created.id).toBe('101112131415');
    expect(created.key).toBe(`sk_101112131415_${Buffer.from(Array.from({ length: 32 }, (_, i) => 0x20 + i)).toString('base64url')}`);
    expect(created.key).toMatch(/^sk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(JSON.parse(created.contents)).toEqual({
      version: 1,
      keys: [{ id: '101112131415', name: 'acme web', sha256: hashKey(created.key), datasets: { trieve: ['ds-1', 'docs-site'], native: ['orders'] }, created_at: '2025-01-31T12:00:00.000Z' }],
    });
    expect(created.contents).not.toContain(created.key.slice('sk_101112131415_'.length));
    expect(created.contents.endsWith('}\n')).toBe(true);
  });

  test('with the real random source, every key differs', () => {
    let contents: string | undefined;
    const keys = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const created = createKey(contents, { name: `k${i}`, datasets: {} }, t0);
      contents = created.contents;
      keys.add(created.key);
    }
    expect(keys.size).toBe(20);
    expect(new Set(listKeys(contents).map((k) => k.id)).size).toBe(20);
  });

  test('appends to the existing keys, drawing again when an id is taken', () => {
    const first = createKey(undefined, { name: 'one', datasets: {} }, t0, countingRandom([0x10, 0x20]));
    const second = createKey(first.contents, { name: 'two', datasets: { greenflash: ['*'] } }, t1, countingRandom([0x10, 0x40, 0x50]));
    expect(second.id).toBe('404142434445');
    expect(listKeys(second.contents).map((k) => [k.id, k.name, k.created_at])).toEqual([
      ['101112131415', 'one', '2025-01-31T12:00:00.000Z'],
      ['404142434445', 'two', '2025-02-01T08:30:00.000Z'],
    ]);
  });

  test('trims the name and drops repeated dataset ids', () => {
    const created = createKey(undefined, { name: '  acme  ', datasets: { trieve: ['a', 'b', 'a'] } }, t0);
    expect(listKeys(created.contents)[0]).toMatchObject({ name: 'acme', datasets: { trieve: ['a', 'b'] } });
  });

  test.each<[string, { name: string; datasets: Record<string, string[]> }, string]>([
    ['a blank name', { name: ' ', datasets: {} }, 'A key needs a name (--name), such as the customer or the app it is for'],
    ['an unknown namespace', { name: 'n', datasets: { trieve_ctr: ['x'] } }, 'Unknown namespace "trieve_ctr"; known: trieve, neuralens, greenflash, native'],
    ['an empty dataset id', { name: 'n', datasets: { neuralens: [''] } }, 'A neuralens dataset id must not be empty'],
    ['a padded dataset id', { name: 'n', datasets: { native: ['orders '] } }, 'The native dataset id "orders " must not start or end with whitespace'],
  ])('refuses %s', (_what, input, message) => {
    expectInvalidConfig(() => createKey(undefined, input, t0), message);
  });

  test('refuses a broken random source rather than write a weak key', () => {
    expectInvalidConfig(() => createKey(undefined, { name: 'n', datasets: {} }, t0, () => Buffer.alloc(3)), 'Could not draw an unused key id; is the random source working?');
    expectInvalidConfig(
      () => createKey(undefined, { name: 'n', datasets: {} }, t0, (size) => Buffer.alloc(size === 6 ? 6 : 16, 1)),
      'The random source did not give 32 bytes for the secret',
    );
  });

  test('an invalid file is refused, naming the file, and not rewritten', () => {
    expectInvalidConfig(() => createKey('{"version": 2, "keys": []}', { name: 'n', datasets: {} }, t0, undefined, 'keys.json'), 'keys.json: version must be 1, got 2');
  });
});

describe('publishable keys and origins', () => {
  const shop = ['https://shop.example', 'https://*.shop.example'];

  test('a publishable key is pk_<id>_<secret>, recorded as publishable with its origins', () => {
    const created = createKey(undefined, { name: 'shop web', datasets: { trieve: ['shop'] }, kind: 'publishable', origins: [...shop, shop[0] ?? ''] }, t0, countingRandom([0x10, 0x20]));
    expect(created.key).toMatch(/^pk_101112131415_[A-Za-z0-9_-]{43}$/);
    expect(JSON.parse(created.contents)).toEqual({
      version: 1,
      keys: [{ id: '101112131415', name: 'shop web', kind: 'publishable', sha256: hashKey(created.key), datasets: { trieve: ['shop'] }, origins: shop, created_at: '2025-01-31T12:00:00.000Z' }],
    });
    expect(listKeys(created.contents)[0]).toMatchObject({ kind: 'publishable', origins: shop });
  });

  test('a created publishable key authenticates as publishable, only from its origins', () => {
    const created = createKey(undefined, { name: 'shop web', datasets: { trieve: ['shop'] }, kind: 'publishable', origins: shop }, t0);
    const file = join(dir, 'keys.json');
    writeKeyFileAtomic(file, created.contents);
    const store = openKeyFile(file, { logger: silentLogger });
    const principal = store.authenticate(created.key);
    expect(principal?.kind).toBe('publishable');
    expect([undefined, 'https://shop.example', 'https://www.shop.example', 'https://evil.example'].map((origin) => principal?.allowsOrigin(origin))).toEqual([false, true, true, false]);
    expect(store.isAllowedOrigin('https://shop.example')).toBe(true);
  });

  test('a secret key with origins is written with them, and without the default kind', () => {
    const created = createKey(undefined, { name: 'acme', datasets: {}, origins: ['http://localhost:3000'] }, t0);
    expect((JSON.parse(created.contents) as KeyFile).keys[0]).not.toHaveProperty('kind');
    expect(listKeys(created.contents)[0]).toMatchObject({ kind: 'secret', origins: ['http://localhost:3000'] });
    expect(created.key.startsWith('sk_')).toBe(true);
  });

  test.each<[string, Parameters<typeof createKey>[1], string]>([
    ['a publishable key without origins', { name: 'n', datasets: { trieve: ['x'] }, kind: 'publishable' }, 'A publishable key needs at least one origin (--origin): a publishable key is accepted only from the pages of its origins'],
    [
      'a publishable key holding "*"',
      { name: 'n', datasets: { trieve: ['x'], native: ['*'] }, kind: 'publishable', origins: shop },
      'A publishable key may not hold "*" (every native dataset): a publishable key is public, so it names its datasets one by one',
    ],
    ['an origin with a trailing slash', { name: 'n', datasets: {}, origins: ['https://shop.example/'] }, 'The origin "https://shop.example/" must be only scheme://host[:port], without a path or a trailing "/": "https://shop.example"'],
    ['an origin without a scheme', { name: 'n', datasets: {}, origins: ['shop.example'] }, 'The origin "shop.example" is not an origin such as "https://shop.example", "http://localhost:3000" or "https://*.shop.example"'],
  ])('refuses %s', (_what, input, message) => {
    expectInvalidConfig(() => createKey(undefined, input, t0), message);
  });

  test('grant refuses "*" to a publishable key', () => {
    const created = createKey(undefined, { name: 'n', datasets: { trieve: ['x'] }, kind: 'publishable', origins: shop }, t0);
    expectInvalidConfig(
      () => grantDatasets(created.contents, created.id, 'greenflash', ['p1', '*']),
      `Key ${created.id} is publishable, so it may not hold "*" (every greenflash dataset): it is public, so it names its datasets one by one`,
    );
    expect(grantDatasets(created.contents, created.id, 'greenflash', ['p1']).key.datasets).toEqual({ trieve: ['x'], greenflash: ['p1'] });
  });

  describe('setOrigins', () => {
    const secret = (): { contents: string; id: string } => createKey(undefined, { name: 'acme', datasets: {}, origins: ['https://a.example'] }, t0);

    test('adds and removes origins, once each, in order', () => {
      const { contents, id } = secret();
      const changed = setOrigins(contents, id, { add: ['https://b.example', 'https://*.a.example', 'https://b.example'], remove: ['https://a.example'] });
      expect(changed.key.origins).toEqual(['https://b.example', 'https://*.a.example']);
      expect(listKeys(changed.contents)[0]?.origins).toEqual(['https://b.example', 'https://*.a.example']);
    });

    test('set replaces them all; set to none makes a secret key server-only again, with no origins field', () => {
      const { contents, id } = secret();
      expect(setOrigins(contents, id, { set: ['http://localhost:3000'] }).key.origins).toEqual(['http://localhost:3000']);
      const cleared = setOrigins(contents, id, { set: [] });
      expect(cleared.key.origins).toEqual([]);
      expect((JSON.parse(cleared.contents) as KeyFile).keys[0]).not.toHaveProperty('origins');
      // Nothing else of the key changes.
      expect(parseKeyFile(cleared.contents, 'x').keys[0]?.sha256).toBe(parseKeyFile(contents, 'x').keys[0]?.sha256);
    });

    test('refuses removing an origin the key does not list, an invalid origin, a revoked key, and a publishable key left with none', () => {
      const { contents, id } = secret();
      expectInvalidConfig(
        () => setOrigins(contents, id, { add: [], remove: ['https://a.example/'] }),
        `Key ${id} does not list the origin "https://a.example/" (it lists https://a.example). Nothing was changed.`,
      );
      expectInvalidConfig(
        () => setOrigins(contents, id, { add: ['https://A.example'], remove: [] }),
        'The origin "https://A.example" must be written as browsers send it (lowercase host, punycode, no default port): "https://a.example"',
      );
      expectInvalidConfig(() => setOrigins(revokeKey(contents, id, t1).contents, id, { set: [] }), `Key ${id} was revoked at 2025-02-01T08:30:00.000Z; create a new key instead`);
      const publishable = createKey(contents, { name: 'web', datasets: {}, kind: 'publishable', origins: ['https://a.example'] }, t0);
      expectInvalidConfig(
        () => setOrigins(publishable.contents, publishable.id, { add: [], remove: ['https://a.example'] }),
        `Key ${publishable.id} is publishable, so it needs at least one origin: a publishable key is accepted only from the pages of its origins (revoke it instead)`,
      );
      expectInvalidConfig(() => setOrigins(contents, 'ffffffffffff', { set: [] }, 'keys.json'), 'No key with id "ffffffffffff" in keys.json');
    });
  });
});

describe('revokeKey, grantDatasets, listKeys', () => {
  const base = (): { contents: string; id: string; key: string } =>
    createKey(createKey(undefined, { name: 'other', datasets: { native: ['x'] } }, t0, countingRandom([0x90, 0xa0])).contents, { name: 'acme', datasets: { trieve: ['ds-1'] } }, t0, countingRandom([0x10, 0x20]));

  test('revoke marks the key revoked at now and leaves the others alone', () => {
    const { contents, id } = base();
    const revoked = revokeKey(contents, id, t1);
    expect(revoked.alreadyRevoked).toBe(false);
    expect(revoked.key).toMatchObject({ id, revoked_at: '2025-02-01T08:30:00.000Z' });
    const after = JSON.parse(revoked.contents) as KeyFile;
    expect(after.keys.map((k) => k.revoked_at)).toEqual([undefined, '2025-02-01T08:30:00.000Z']);
    expect(after.keys[1]?.sha256).toBe((JSON.parse(contents) as KeyFile).keys[1]?.sha256);
  });

  test('revoking twice keeps the first time', () => {
    const { contents, id } = base();
    const once = revokeKey(contents, id, t0);
    const twice = revokeKey(once.contents, id, t1);
    expect(twice.alreadyRevoked).toBe(true);
    expect(twice.contents).toBe(once.contents);
    expect(twice.key.revoked_at).toBe('2025-01-31T12:00:00.000Z');
  });

  test('an unknown id is refused, with a hint when it is not even an id', () => {
    const { contents } = base();
    expectInvalidConfig(() => revokeKey(contents, 'ffffffffffff', t1, 'keys.json'), 'No key with id "ffffffffffff" in keys.json');
    expectInvalidConfig(
      () => revokeKey(contents, 'sk_101112131415_abc', t1, 'keys.json'),
      'No key with id "sk_101112131415_abc" in keys.json (an id is 12 hex characters, as `list` shows; a key sk_<id>_<secret> carries it after "sk_")',
    );
    expectInvalidConfig(() => grantDatasets(contents, 'ffffffffffff', 'trieve', ['x']), 'No key with id "ffffffffffff" in the key file');
    expectInvalidConfig(() => revokeKey(undefined, 'ffffffffffff', t1), 'No key with id "ffffffffffff" in the key file');
  });

  test('grant adds datasets to one namespace, once each, "*" included', () => {
    const { contents, id } = base();
    const granted = grantDatasets(contents, id, 'trieve', ['ds-2', 'ds-1', 'ds-2']);
    expect(granted.key.datasets).toEqual({ trieve: ['ds-1', 'ds-2'] });
    const more = grantDatasets(granted.contents, id, 'native', ['*']);
    expect(listKeys(more.contents)[1]?.datasets).toEqual({ trieve: ['ds-1', 'ds-2'], native: ['*'] });
    expect(listKeys(more.contents)[0]?.datasets).toEqual({ native: ['x'] });
    expect(parseKeyFile(more.contents, 'x').keys[1]?.sha256).toBe(parseKeyFile(contents, 'x').keys[1]?.sha256);
  });

  test('grant refuses a revoked key, no datasets and bad dataset ids', () => {
    const { contents, id } = base();
    expectInvalidConfig(() => grantDatasets(revokeKey(contents, id, t1).contents, id, 'trieve', ['x']), `Key ${id} was revoked at 2025-02-01T08:30:00.000Z; create a new key instead`);
    expectInvalidConfig(() => grantDatasets(contents, id, 'greenflash', []), 'Name at least one greenflash dataset to grant');
    expectInvalidConfig(() => grantDatasets(contents, id, 'greenflash', ['']), 'A greenflash dataset id must not be empty');
  });

  test('list shows id, name, datasets, created and revoked, and never the hash or the key', () => {
    const { contents, id, key } = base();
    const revoked = revokeKey(contents, id, t1).contents;
    const listed = listKeys(revoked);
    expect(listed).toEqual([
      { id: '909192939495', keyId: 'key_909192939495', name: 'other', kind: 'secret', datasets: { native: ['x'] }, origins: [], created_at: '2025-01-31T12:00:00.000Z' },
      { id, keyId: `key_${id}`, name: 'acme', kind: 'secret', datasets: { trieve: ['ds-1'] }, origins: [], created_at: '2025-01-31T12:00:00.000Z', revoked_at: '2025-02-01T08:30:00.000Z' },
    ]);
    const shown = JSON.stringify(listed);
    expect(shown).not.toContain(hashKey(key));
    expect(shown).not.toContain('sha256');
    expect(shown).not.toContain(key.slice(-20));
    expect(listKeys(undefined)).toEqual([]);
  });

  test('a created key authenticates through the key store, and a revoked one does not', () => {
    const { contents, id, key } = base();
    const file = join(dir, 'keys.json');
    writeKeyFileAtomic(file, contents);
    const principal = openKeyFile(file, { logger: silentLogger }).authenticate(key);
    expect(principal?.keyId).toBe(`key_${id}`);
    expect(principal?.canWrite('trieve', 'ds-1')).toBe(true);
    expect(principal?.canWrite('trieve', 'ds-2')).toBe(false);
    writeKeyFileAtomic(file, revokeKey(contents, id, t1).contents);
    expect(openKeyFile(file, { logger: silentLogger }).authenticate(key)).toBeUndefined();
  });
});

describe('one namespace per dataset id', () => {
  const rule = oneTenantRule;
  /** Key A ("acme web", id 101112131415) holds Trieve dataset "shop"; key B ("bolt", id 404142434445) holds Neuralens "shop-b". */
  const twoTenants = (): { contents: string; a: string; b: string } => {
    const a = createKey(undefined, { name: 'acme web', datasets: { trieve: ['shop'] } }, t0, countingRandom([0x10, 0x20]));
    const b = createKey(a.contents, { name: 'bolt', datasets: { neuralens: ['shop-b'] } }, t0, countingRandom([0x40, 0x50]));
    return { contents: b.contents, a: a.id, b: b.id };
  };

  test('a new key may not take an id another key holds under another namespace', () => {
    const { contents } = twoTenants();
    expectInvalidConfig(
      () => createKey(contents, { name: 'cobalt', datasets: { native: ['orders'], neuralens: ['shop'] } }, t1),
      `A new key may not be granted neuralens "shop": key 101112131415 ("acme web") holds "shop" under trieve; ${rule}. Nothing was changed.`,
    );
    expectInvalidConfig(
      () => createKey(contents, { name: 'cobalt', datasets: { greenflash: ['*'] } }, t1),
      `A new key may not be granted greenflash "*": key 101112131415 ("acme web") holds "shop" under trieve; ${rule}. Nothing was changed.`,
    );
    // Under the same namespace it may: a second key of the same tenant.
    expect(listKeys(createKey(contents, { name: 'acme browser', datasets: { trieve: ['shop'] } }, t1).contents)).toHaveLength(3);
  });

  test("a grant may not put an id under another namespace than another key's, revoked keys included", () => {
    const { contents, a, b } = twoTenants();
    expectInvalidConfig(
      () => grantDatasets(contents, b, 'neuralens', ['shop-c', 'shop']),
      `Key ${b} may not be granted neuralens "shop": key ${a} ("acme web") holds "shop" under trieve; ${rule}. Nothing was changed.`,
    );
    expectInvalidConfig(
      () => grantDatasets(revokeKey(contents, a, t1).contents, b, 'native', ['shop']),
      `Key ${b} may not be granted native "shop": key ${a} ("acme web", revoked at 2025-02-01T08:30:00.000Z) holds "shop" under trieve; ${rule}. Nothing was changed.`,
    );
    // "*" holds every id of its namespace, so it collides with any id under another namespace.
    expectInvalidConfig(
      () => grantDatasets(contents, a, 'greenflash', ['*']),
      `Key ${a} may not be granted greenflash "*": key ${b} ("bolt") holds "shop-b" under neuralens; ${rule}. Nothing was changed.`,
    );
    const wildcard = createKey(undefined, { name: 'everything', datasets: { greenflash: ['*'] } }, t0, countingRandom([0x10, 0x20]));
    const empty = createKey(wildcard.contents, { name: 'empty', datasets: {} }, t0, countingRandom([0x40, 0x50]));
    expectInvalidConfig(
      () => grantDatasets(empty.contents, empty.id, 'native', ['orders']),
      `Key ${empty.id} may not be granted native "orders": key ${wildcard.id} ("everything") holds "*" under greenflash; ${rule}. Nothing was changed.`,
    );
  });

  test('the key that holds an id may take it under another namespace too, and another key under the same one', () => {
    const { contents, a, b } = twoTenants();
    const both = grantDatasets(contents, a, 'neuralens', ['shop']);
    expect(both.key.datasets).toEqual({ trieve: ['shop'], neuralens: ['shop'] });
    expect(grantDatasets(contents, b, 'trieve', ['shop']).key.datasets).toEqual({ neuralens: ['shop-b'], trieve: ['shop'] });
  });

  test('the CLI refuses such a grant with exit 1 and one line, and leaves the file as it was', () => {
    const file = join(dir, 'keys.json');
    const { contents, a, b } = twoTenants();
    writeFileSync(file, contents);
    expect(runKeysCli(['grant', b, '--native', 'orders', '--neuralens', 'shop', '--file', file])).toEqual({
      status: 1,
      stdout: '',
      stderr: `keys: Key ${b} may not be granted neuralens "shop": key ${a} ("acme web") holds "shop" under trieve; ${rule}. Nothing was changed.\n`,
    });
    expect(readFileSync(file, 'utf8')).toBe(contents);
  });
});

describe('reading and writing the file', () => {
  test('a missing file reads as undefined; a directory cannot be read', () => {
    expect(readKeyFileText(join(dir, 'nope.json'))).toBeUndefined();
    expectInvalidConfig(() => readKeyFileText(dir), `${dir}: cannot read the key file (EISDIR)`);
  });

  test('writes create missing directories and the file with mode 0600, leaving no temporary file', () => {
    const file = join(dir, 'a', 'b', 'keys.json');
    writeKeyFileAtomic(file, '{"version": 1, "keys": []}\n');
    expect(readFileSync(file, 'utf8')).toBe('{"version": 1, "keys": []}\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['keys.json']);
  });

  test('a rewrite of a world-writable file is 0600 even under umask 000, so the gateway accepts it', () => {
    const file = join(dir, 'keys.json');
    writeFileSync(file, 'old');
    chmodSync(file, 0o666);
    const umask = process.umask(0);
    try {
      writeKeyFileAtomic(file, '{"version": 1, "keys": []}\n');
    } finally {
      process.umask(umask);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test('a rewrite replaces the file (a new inode) and makes a readable-by-all file 0600', () => {
    const file = join(dir, 'keys.json');
    writeFileSync(file, 'old', { mode: 0o644 });
    const before = statSync(file).ino;
    writeKeyFileAtomic(file, 'new');
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(file).ino).not.toBe(before);
    expect(readdirSync(dir)).toEqual(['keys.json']);
  });

  test('a failed write leaves the old file and no temporary file', () => {
    const file = join(dir, 'keys.json');
    writeFileSync(file, 'old');
    const inDirectory = join(dir, 'sub');
    writeFileSync(inDirectory, 'a file where a directory should be');
    expectInvalidConfig(() => writeKeyFileAtomic(join(inDirectory, 'keys.json'), 'new'), `${join(inDirectory, 'keys.json')}: cannot write the key file (EEXIST)`);
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(dir).sort()).toEqual(['keys.json', 'sub']);
  });

  test('updateKeyFile creates the file when missing, and does not write when the edit fails', () => {
    const file = join(dir, 'keys.json');
    const created = updateKeyFile(file, (contents) => createKey(contents, { name: 'n', datasets: { native: ['*'] } }, t0));
    expect(listKeys(readKeyFileText(file))).toEqual([expect.objectContaining({ id: created.id, name: 'n' })]);
    writeFileSync(file, '{"version": 1, "keys": {}}');
    expectInvalidConfig(() => updateKeyFile(file, (contents) => createKey(contents, { name: 'm', datasets: {} }, t0, undefined, file)), `${file}: keys must be an array, got an object`);
    expect(readFileSync(file, 'utf8')).toBe('{"version": 1, "keys": {}}');
  });
});

describe('the keys CLI (scripts/keys.ts)', () => {
  const cli = runKeysCli;
  const keyPattern = /sk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}/g;

  test('create prints the key once; it authenticates; grant, list and revoke act on it', () => {
    const file = join(dir, 'nested', 'keys.json');
    const created = cli(['create', '--name', 'acme web', '--trieve', 'ds-1', '--trieve', 'docs-site', '--neuralens', 'app_1', '--file', file]);
    expect(created).toMatchObject({ status: 0, stderr: '' });
    const keys = created.stdout.match(keyPattern) ?? [];
    expect(keys).toHaveLength(1);
    const key = keys[0] ?? '';
    const id = key.slice(3, 15);
    expect(created.stdout).toContain(`Created secret key ${id} ("acme web") in ${file}`);
    expect(created.stdout).toContain('it cannot be shown again');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(key.slice(16));

    const store = openKeyFile(file, { logger: silentLogger, reloadIntervalMs: 0 });
    const principal = store.authenticate(key);
    expect(principal?.keyId).toBe(`key_${id}`);
    expect(principal?.canWrite('trieve', 'docs-site')).toBe(true);
    expect(principal?.canWrite('neuralens', 'app_1')).toBe(true);
    expect(principal?.canWrite('greenflash', 'p1')).toBe(false);

    expect(cli(['grant', id, '--greenflash', 'p1', '--native=orders', '--file', file])).toMatchObject({ status: 0, stderr: '' });
    expect(store.authenticate(key)?.canWrite('greenflash', 'p1')).toBe(true);
    expect(store.authenticate(key)?.canWrite('native', 'orders')).toBe(true);

    const listed = cli(['list', '--file', file]);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain(`${id}  "acme web"  secret  created `);
    expect(listed.stdout).toContain('origins: none (servers only)');
    expect(listed.stdout).toContain('trieve: ds-1, docs-site; neuralens: app_1; greenflash: p1; native: orders');
    expect(listed.stdout).toContain('active');
    expect(listed.stdout).not.toMatch(keyPattern);
    expect(listed.stdout).not.toContain(hashKey(key));
    const json = JSON.parse(cli(['list', '--json', '--file', file]).stdout) as unknown[];
    expect(json).toEqual([expect.objectContaining({ id, name: 'acme web' })]);

    const revoked = cli(['revoke', id, '--file', file]);
    expect(revoked).toMatchObject({ status: 0, stdout: `Revoked key ${id} ("acme web")\n` });
    // The store that is already open sees the revocation; so does a new one.
    expect(store.authenticate(key)).toBeUndefined();
    expect(openKeyFile(file, { logger: silentLogger }).authenticate(key)).toBeUndefined();
    expect(cli(['list', '--file', file]).stdout).toContain('REVOKED ');
    expect(cli(['revoke', id, '--file', file]).stdout).toContain(`Key ${id} was already revoked`);
  });

  test('create --publishable --origin makes a pk_ key; origins --add, --remove, --set and --clear change them; list shows kind and origins', () => {
    const file = join(dir, 'keys.json');
    const created = cli(['create', '--name', 'shop web', '--publishable', '--trieve', 'shop', '--origin', 'https://shop.example', '--origin', 'https://*.shop.example', '--file', file]);
    expect(created).toMatchObject({ status: 0, stderr: '' });
    const key = /pk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}/.exec(created.stdout)?.[0] ?? '';
    const id = key.slice(3, 15);
    expect(created.stdout).toContain(`Created publishable key ${id} ("shop web") in ${file}`);
    expect(created.stdout).toContain('From the web pages of: https://shop.example, https://*.shop.example');
    const store = openKeyFile(file, { logger: silentLogger, reloadIntervalMs: 0 });
    expect(store.authenticate(key)?.kind).toBe('publishable');

    expect(cli(['origins', id, '--add', 'http://localhost:3000', '--remove', 'https://*.shop.example', '--file', file])).toMatchObject({
      status: 0,
      stdout: `Key ${id} may now be used from the web pages of: https://shop.example, http://localhost:3000\n`,
    });
    expect(store.authenticate(key)?.allowsOrigin('http://localhost:3000')).toBe(true);
    expect(store.authenticate(key)?.allowsOrigin('https://www.shop.example')).toBe(false);
    expect(cli(['list', '--file', file]).stdout).toContain(`${id}  "shop web"  publishable  created `);
    expect(cli(['list', '--file', file]).stdout).toContain('    origins: https://shop.example, http://localhost:3000');
    expect(JSON.parse(cli(['list', '--json', '--file', file]).stdout)).toEqual([expect.objectContaining({ kind: 'publishable', origins: ['https://shop.example', 'http://localhost:3000'] })]);
    expect(cli(['origins', id, '--set', 'https://new.example', '--file', file]).stdout).toBe(`Key ${id} may now be used from the web pages of: https://new.example\n`);
    // A publishable key cannot be left without origins; the file stays as it was.
    const before = readFileSync(file, 'utf8');
    const cleared = cli(['origins', id, '--clear', '--file', file]);
    expect(cleared.status).toBe(1);
    expect(cleared.stderr).toContain('is publishable, so it needs at least one origin');
    expect(readFileSync(file, 'utf8')).toBe(before);

    const server = cli(['create', '--name', 'shop server', '--trieve', 'shop', '--origin', 'https://admin.shop.example', '--file', file]);
    const serverId = /Created secret key ([0-9a-f]{12})/.exec(server.stdout)?.[1] ?? '';
    expect(cli(['origins', serverId, '--clear', '--file', file]).stdout).toBe(`Key ${serverId} may now be used from the web pages of: none (servers only)\n`);
  });

  test('without --file, KEYS_FILE names the file', () => {
    const file = join(dir, 'from-env.json');
    expect(cli(['create', '--name', 'env'], { KEYS_FILE: file }).status).toBe(0);
    expect(listKeys(readKeyFileText(file))).toEqual([expect.objectContaining({ name: 'env' })]);
  });

  test.each<[string[], string]>([
    [['create', '--name', 'n', '--bogus', 'x'], 'keys: unknown flag "--bogus" for create; known: --file, --name, --trieve, --neuralens, --greenflash, --native, --origin, --publishable'],
    [['create', '--name', 'n', '--publishable=yes'], 'keys: --publishable takes no value'],
    [['origins'], "keys: origins needs the key's ID (as `list` shows it)"],
    [['origins', 'abc'], 'keys: origins needs --add ORIGIN, --remove ORIGIN, --set ORIGIN or --clear'],
    [['origins', 'abc', '--set', 'https://a.example', '--add', 'https://b.example'], 'keys: origins takes either --set or --clear, or --add and --remove'],
    [['origins', 'abc', '--set', 'https://a.example', '--clear'], 'keys: origins takes --set or --clear, not both'],
    [['origins', 'abc', '--trieve', 'x'], 'keys: unknown flag "--trieve" for origins; known: --file, --add, --remove, --set, --clear'],
    [['list', '--trieve', 'x'], 'keys: unknown flag "--trieve" for list; known: --file, --json'],
    [['revoke', '--force', 'abc'], 'keys: unknown flag "--force" for revoke; known: --file'],
    [["frobnicate"], "keys: unknown command \"frobnicate\"; known: create, list, revoke, grant, origins, analyst"],
    [[], 'keys: a command is required'],
    [['create'], 'keys: create needs --name NAME'],
    [['create', '--name'], 'keys: --name needs a value'],
    [['create', '--name', 'a', '--name', 'b'], 'keys: --name may be given only once'],
    [['revoke'], "keys: revoke needs the key's ID (as `list` shows it)"],
    [['revoke', 'a', 'b'], 'keys: unexpected argument "b" for revoke'],
    [['grant', 'abc'], 'keys: grant needs at least one of --trieve ID, --neuralens ID, --greenflash ID, --native ID'],
  ])('%j is a usage error: exit 2, naming the problem', (args, message) => {
    const result = cli(args.length === 0 ? [] : [...args, '--file', join(dir, 'keys.json')]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toBe(message);
    expect(result.stderr).toContain('usage: npm run keys -- <command>');
    expect(existsSync(join(dir, 'keys.json'))).toBe(false);
  });

  test('a failed command exits 1 with one line, and leaves the file as it was', () => {
    const file = join(dir, 'keys.json');
    expect(cli(['revoke', 'ffffffffffff', '--file', file])).toEqual({ status: 1, stdout: '', stderr: `keys: No key with id "ffffffffffff" in ${file}\n` });
    writeFileSync(file, '{"version": 1, "keys": [1]}');
    expect(cli(['create', '--name', 'n', '--file', file])).toEqual({ status: 1, stdout: '', stderr: `keys: ${file}: keys[0] must be an object, got a number\n` });
    expect(readFileSync(file, 'utf8')).toBe('{"version": 1, "keys": [1]}');
  });

  test('--help prints the usage and exits 0', () => {
    const result = cli(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('create --name NAME');
  });
});
