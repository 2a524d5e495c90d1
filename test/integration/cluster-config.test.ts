/**
 * deploy/clickhouse/cluster/ (the server configuration of deploy/compose/cluster.yml) as ClickHouse's
 * own config loader reads it: chDB's, in a process of its own (test/helpers/chdb-access-probe.ts),
 * with a node's environment as its compose service sets it. No server can run here; a server
 * refuses a config file it cannot load, and a macro or host read wrongly would put a node in the
 * wrong replica group.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repositoryRoot } from '@sluice/dev';
import type { ProbeAnswer, ProbeRequest } from '../helpers/chdb-access-probe';
import { removeTestDirectory } from '../helpers/pipeline';

const clusterConfig = join(repositoryRoot, 'deploy', 'clickhouse', 'cluster');
let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sluice-cluster-config-'));
  mkdirSync(join(directory, 'config.d'));
  mkdirSync(join(directory, 'users.d'));
  copyFileSync(join(clusterConfig, 'config.d', 'cluster.xml'), join(directory, 'config.d', 'cluster.xml'));
  copyFileSync(join(clusterConfig, 'users.d', 'sluice.xml'), join(directory, 'users.d', 'sluice.xml'));
  writeFileSync(join(directory, 'config.xml'), '<clickhouse><user_directories><users_xml><path>users.xml</path></users_xml></user_directories></clickhouse>\n');
  writeFileSync(
    join(directory, 'users.xml'),
    '<clickhouse><profiles><default/></profiles><quotas><default/></quotas><users><default><password/><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota><access_management>1</access_management></default></users></clickhouse>\n',
  );
});

afterEach(() => removeTestDirectory(directory));

/** The rows of each statement, as chDB answers them with the node's configuration and environment. */
function asNodeLoadsIt(environment: Record<string, string>, statements: string[]): Record<string, unknown>[][] {
  const request: ProbeRequest = { kind: 'query', dataPath: join(directory, 'data'), configFile: join(directory, 'config.xml'), statements };
  // tsx by its path, and not from the repository: chDB reads a config.xml from its working directory.
  const result = spawnSync(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, join(__dirname, '..', 'helpers', 'chdb-access-probe.ts'), JSON.stringify(request)], {
    cwd: directory,
    env: { ...process.env, ...environment },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`the probe printed no result: ${result.stderr}`);
  const answer = JSON.parse(line) as ProbeAnswer;
  if (!answer.ok) throw new Error(`chDB did not load the configuration: ${answer.error}`);
  return answer.results.map((statement) => {
    if (!('rows' in statement)) throw new Error(`a statement failed: ${JSON.stringify(statement)}`);
    return statement.rows;
  });
}

test("node clickhouse-2-1's configuration: its macros, the cluster c1 shard by shard, its interserver name and the sluice user", () => {
  const [macros, clusters, interserver, users] = asNodeLoadsIt(
    { CLICKHOUSE_SHARD: '2', CLICKHOUSE_REPLICA: 'clickhouse-2-1', CLICKHOUSE_CLUSTER_SECRET: 'a-secret', CLICKHOUSE_SLUICE_PASSWORD: 'a-password' },
    [
      'SELECT macro, substitution FROM system.macros ORDER BY macro',
      'SELECT cluster, shard_num, replica_num, host_name, port FROM system.clusters ORDER BY cluster, shard_num, replica_num',
      "SELECT value FROM system.server_settings WHERE name = 'interserver_http_host'",
      "SELECT name, default_database FROM system.users WHERE name = 'sluice'",
    ],
  );
  expect(macros).toEqual([
    { macro: 'cluster', substitution: 'c1' },
    { macro: 'replica', substitution: 'clickhouse-2-1' },
    { macro: 'shard', substitution: '2' },
  ]);
  // c1 alone (chDB defines no other; on a server, replace="true" drops the image's sample clusters).
  expect(clusters).toEqual(
    [
      [1, 1, 'clickhouse-1-1'],
      [1, 2, 'clickhouse-1-2'],
      [2, 1, 'clickhouse-2-1'],
      [2, 2, 'clickhouse-2-2'],
    ].map(([shard_num, replica_num, host_name]) => ({ cluster: 'c1', shard_num, replica_num, host_name, port: 9000 })),
  );
  expect(interserver).toEqual([{ value: 'clickhouse-2-1' }]);
  expect(users).toEqual([{ name: 'sluice', default_database: 'sluice' }]);
});
