/**
 * deploy/compose/cluster.yml in real containers: two shards of two replicas of the official
 * ClickHouse server image and three ClickHouse Keeper nodes. `npm run migrate` with
 * CLICKHOUSE_CLUSTER=c1 against one node creates the Replicated and Distributed tables on every
 * node; replicas copy each other's rows; Distributed tables and the analysts' views read every
 * shard. The official images cannot be built here (no registry to pull them from): where they are
 * missing the suite is skipped, and its tests' names say why, so the closing summary lists them as
 * skipped with that reason rather than counting anything as passed.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { loadMigrations, renderMigrations } from '@sluice/clickhouse';
import { repositoryRoot } from '@sluice/dev';
import { DockerComposeEnvironment, Wait, type StartedDockerComposeEnvironment } from 'testcontainers';
import { waitFor } from '../helpers/pipeline';
import { freePort } from '../helpers/processes';

jest.setTimeout(300_000);

const serverImage = process.env.CLICKHOUSE_SERVER_IMAGE ?? 'clickhouse/clickhouse-server:25.8';
const keeperImage = process.env.CLICKHOUSE_KEEPER_IMAGE ?? 'clickhouse/clickhouse-keeper:25.8';

/** Why the cluster cannot run on this machine, or undefined when it can. */
function whyNotHere(): string | undefined {
  if (
    spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], {
      stdio: 'ignore',
    }).status !== 0
  )
    return 'no Docker engine answers (`docker version` failed)';
  const missing = [serverImage, keeperImage].filter((image) => spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore' }).status !== 0);
  if (missing.length === 0) return undefined;
  return `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not on this machine (no registry)`;
}

const skipReason = whyNotHere();
if (skipReason !== undefined) process.stdout.write(`\nclickhouse-cluster.test.ts: skipped, ${skipReason}\n`);
const describeCluster = skipReason === undefined ? describe : describe.skip;
const suiteTitle = `the ClickHouse cluster of deploy/compose/cluster.yml${skipReason === undefined ? '' : ` (skipped: ${skipReason})`}`;

/** Shard by shard, as remote_servers lists them: shard 1 holds the partitions placed at index 0. */
const nodes = ['clickhouse-1-1', 'clickhouse-1-2', 'clickhouse-2-1', 'clickhouse-2-2'] as const;
type Node = (typeof nodes)[number];
const keepers = ['keeper-1', 'keeper-2', 'keeper-3'] as const;
const sluiceUser = { user: 'sluice', password: 'sluice-containers' };
const analyst = { user: 'analyst', password: 'analyst-containers' };
const ports = new Map<Node, number>();
let environment: StartedDockerComposeEnvironment | undefined;

async function query<T>(node: Node, sql: string, as = sluiceUser): Promise<T[]> {
  const response = await fetch(`http://127.0.0.1:${ports.get(node) ?? 0}/?database=sluice&default_format=JSONEachRow`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${as.user}:${as.password}`).toString('base64')}`,
    },
    body: sql,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${node} answered ${response.status} to ${sql.slice(0, 80)}: ${text}`);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}

/** The tables the cluster DDL leaves, each with the engine it says: created, less those dropped later. */
function expectedTables(): Map<string, string> {
  const statements = renderMigrations(loadMigrations(), {
    mode: 'cluster',
    cluster: 'c1',
  }).flatMap((m) => m.statements);
  const tables = new Map<string, string>([['schema_migrations', 'ReplicatedReplacingMergeTree']]);
  for (const statement of statements) {
    const created = /^CREATE TABLE IF NOT EXISTS (\w+) ON CLUSTER c1\b[\s\S]*?\bENGINE = (\w+)/.exec(statement);
    if (created?.[1] !== undefined && created[2] !== undefined) tables.set(created[1], created[2]);
    const dropped = /^DROP TABLE IF EXISTS (\w+) ON CLUSTER c1$/.exec(statement);
    if (dropped?.[1] !== undefined) tables.delete(dropped[1]);
  }
  return tables;
}

/** An events row of a Kafka partition, with the columns the analysts' conversion view counts. */
function purchaseRow(dataset: string, insertId: string, partition: number, offset: number): string {
  return `(generateUUIDv4(), '${insertId}', '${dataset}', 'trieve', 'purchase', 'purchase', now64(3), now64(3), 'u-${insertId}', 1, false, '{}', '{}', 1, 'events', ${partition}, ${offset})`;
}
const eventsColumns =
  'event_id, insert_id, dataset_id, source, event_type, event_name, occurred_at, received_at, user_id, sample_rate, force_sample, properties, raw, schema_version, kafka_topic, kafka_partition, kafka_offset';

describeCluster(suiteTitle, () => {
  beforeAll(async () => {
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    const published: Record<string, string> = {};
    for (const node of nodes) {
      const port = await freePort();
      ports.set(node, port);
      published[`CLICKHOUSE_${node.slice('clickhouse-'.length).replace('-', '_')}_PUBLISHED_PORT`] = String(port);
    }
    let compose = new DockerComposeEnvironment(join(repositoryRoot, 'deploy', 'compose'), ['cluster.yml'])
      .withProjectName(`sluice-clickhouse-cluster-${process.pid}`)
      .withEnvironment({
        ...published,
        CLICKHOUSE_SERVER_IMAGE: serverImage,
        CLICKHOUSE_KEEPER_IMAGE: keeperImage,
        CLICKHOUSE_SLUICE_PASSWORD: sluiceUser.password,
        CLICKHOUSE_ANALYST_PASSWORD: analyst.password,
        CLICKHOUSE_CLUSTER_SECRET: 'containers-cluster-secret',
        CLICKHOUSE_CLUSTER_NETWORK: `sluice-clickhouse-cluster-${process.pid}`,
      })
      .withStartupTimeout(300_000);
    for (const service of [...keepers, ...nodes]) compose = compose.withWaitStrategy(`${service}-1`, Wait.forHealthCheck());
    environment = await compose.up();

    const migrate = spawnSync('npm', ['run', '-s', 'migrate'], {
      cwd: repositoryRoot,
      encoding: 'utf8',
      timeout: 240_000,
      env: {
        ...process.env,
        CLICKHOUSE_URL: `http://127.0.0.1:${ports.get('clickhouse-1-1') ?? 0}`,
        CLICKHOUSE_USER: sluiceUser.user,
        CLICKHOUSE_PASSWORD: sluiceUser.password,
        CLICKHOUSE_DATABASE: 'sluice',
        CLICKHOUSE_CLUSTER: 'c1',
      },
    });
    if (migrate.status !== 0) throw new Error(`npm run migrate failed (exit ${String(migrate.status)}):\n${migrate.stdout}${migrate.stderr}`);
  }, 600_000);

  afterAll(async () => {
    await environment?.down({ removeVolumes: true, timeout: 30_000 });
  });

  test("every node has each table the cluster DDL creates, Replicated under the _local names and the key-value tables, Distributed under the analysts' names", async () => {
    const expected = expectedTables();
    expect([...expected.values()].filter((engine) => !/^(Replicated\w*MergeTree|Distributed)$/.test(engine))).toEqual([]);
    for (const node of nodes) {
      const rows = await query<{ name: string; engine: string }>(node, "SELECT name, engine FROM system.tables WHERE database = 'sluice' AND engine NOT IN ('View', 'MaterializedView')");
      expect(new Map(rows.map((row) => [row.name, row.engine]))).toEqual(expected);
    }
  });

  test('a row inserted into events_local on one replica of shard 1 is read on the other', async () => {
    await query('clickhouse-1-1', `INSERT INTO events_local (${eventsColumns}) VALUES ${purchaseRow('ds-replicas', 'replicated-1', 0, 1)}`);
    const rows = await waitFor(
      async () => {
        const found = await query<{ insert_id: string }>('clickhouse-1-2', "SELECT insert_id FROM events_local WHERE insert_id = 'replicated-1'");
        return found.length > 0 ? found : undefined;
      },
      'the row on clickhouse-1-2',
      60_000,
    );
    expect(rows).toEqual([{ insert_id: 'replicated-1' }]);
    // The other shard's replicas hold no copy: a shard's rows stay on its own replicas.
    expect(await query('clickhouse-2-1', "SELECT insert_id FROM events_local WHERE insert_id = 'replicated-1'")).toEqual([]);
  });

  test("rows inserted into events_local on each shard are all read through events (Distributed) and through an analysts' view, as analyst", async () => {
    // Shard 1 (index 0) holds the even partitions, shard 2 the odd ones, as the worker places them.
    await query('clickhouse-1-1', `INSERT INTO events_local (${eventsColumns}) VALUES ${[0, 2, 4].map((p, i) => purchaseRow('ds-shards', `spread-${p}`, p, 100 + i)).join(', ')}`);
    await query('clickhouse-2-2', `INSERT INTO events_local (${eventsColumns}) VALUES ${[1, 3].map((p, i) => purchaseRow('ds-shards', `spread-${p}`, p, 200 + i)).join(', ')}`);
    for (const node of nodes) {
      const stored = await query<{ insert_id: string; shard: number }>(node, "SELECT insert_id, _shard_num AS shard FROM events WHERE dataset_id = 'ds-shards' ORDER BY insert_id", analyst);
      expect(stored).toEqual(
        [0, 1, 2, 3, 4].map((p) => ({
          insert_id: `spread-${p}`,
          shard: (p % 2) + 1,
        })),
      );
    }
    // conversion_daily reads conversion_totals (Distributed), which each shard's view fills from its events_local.
    const [daily] = await query<{
      purchases: string;
      converting_users: string;
    }>('clickhouse-2-1', "SELECT sum(purchases) AS purchases, sum(converting_users) AS converting_users FROM conversion_daily WHERE dataset_id = 'ds-shards'", analyst);
    expect(daily).toEqual({ purchases: '5', converting_users: '5' });
  });

  test('schema_migrations lists every migration on every node', async () => {
    const versions = loadMigrations().map((m) => m.version);
    for (const node of nodes) {
      const rows = await waitFor(
        async () => {
          const found = await query<{ version: number }>(node, 'SELECT DISTINCT version FROM schema_migrations ORDER BY version');
          return found.length === versions.length ? found : undefined;
        },
        `every migration recorded on ${node}`,
        60_000,
      );
      expect(rows.map((row) => row.version)).toEqual(versions);
    }
  });
});
