// deploy/compose/cluster.yml and the ClickHouse and Keeper configuration it mounts agree with each
// other: the cluster the servers define is the compose services, each node's macros name its own
// shard and replica, the Keeper ensemble is the keeper services. Compose itself resolves the file
// (`docker-compose config`, no engine needed, as in docker-compose.test.ts); the containers suite
// runs it where the official images exist.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

const root = join(__dirname, '..', '..');
const clusterConfig = join(root, 'deploy', 'clickhouse', 'cluster');

interface Service {
  image: string;
  hostname?: string;
  environment?: Record<string, string | number>;
  /** Compose 1.29 prints the short form, `source:target:mode`. */
  volumes?: string[];
  healthcheck?: { test: string[] };
}

function resolve(env: NodeJS.ProcessEnv = process.env): { status: number | null; stderr: string; services: Record<string, Service> } {
  const result = spawnSync('docker-compose', ['-f', 'deploy/compose/cluster.yml', 'config'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  if (result.error) throw new Error(`docker-compose could not run (install Debian's docker-compose package): ${result.error.message}`);
  const parsed = result.status === 0 ? (parse(result.stdout) as { services: Record<string, Service> }) : { services: {} };
  return { status: result.status, stderr: result.stderr, services: parsed.services };
}

/** The text of each `<tag>` element of an XML file, in order (our config files nest no tag in itself). */
function elements(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((match) => match[1] ?? '');
}

const resolved = resolve();
const keepers = Object.keys(resolved.services).filter((name) => name.startsWith('keeper-')).sort();
const servers = Object.keys(resolved.services).filter((name) => name.startsWith('clickhouse-')).sort();

test('docker-compose config accepts it: three Keeper nodes and four ClickHouse nodes, each with a healthcheck', () => {
  expect(`exit ${String(resolved.status)}\n${resolved.stderr}`).toMatch(/^exit 0\n/);
  expect(keepers).toEqual(['keeper-1', 'keeper-2', 'keeper-3']);
  expect(servers).toEqual(['clickhouse-1-1', 'clickhouse-1-2', 'clickhouse-2-1', 'clickhouse-2-2']);
  for (const service of Object.values(resolved.services)) expect(service.healthcheck?.test.length).toBeGreaterThan(0);
});

test('it runs the official images, pinned, which CLICKHOUSE_SERVER_IMAGE and CLICKHOUSE_KEEPER_IMAGE replace', () => {
  for (const name of servers) expect(resolved.services[name]?.image).toBe('clickhouse/clickhouse-server:25.8');
  for (const name of keepers) expect(resolved.services[name]?.image).toBe('clickhouse/clickhouse-keeper:25.8');
  const mirrored = resolve({ ...process.env, CLICKHOUSE_SERVER_IMAGE: 'mirror/server:1', CLICKHOUSE_KEEPER_IMAGE: 'mirror/keeper:1' });
  expect(new Set(Object.values(mirrored.services).map((service) => service.image))).toEqual(new Set(['mirror/server:1', 'mirror/keeper:1']));
});

test('every file it mounts exists', () => {
  // A bind mount's source is a path; a named volume's is a name.
  const sources = Object.values(resolved.services).flatMap((service) => (service.volumes ?? []).map((volume) => volume.split(':')[0] ?? '').filter((source) => source.startsWith('/')));
  expect(sources.length).toBeGreaterThan(0);
  expect(sources.filter((source) => !existsSync(source))).toEqual([]);
});

test("remote_servers' cluster c1 is the ClickHouse services, shard by shard, and each node's macros name its own shard and replica", () => {
  const xml = readFileSync(join(clusterConfig, 'config.d', 'cluster.xml'), 'utf8');
  const c1 = elements(xml, 'c1')[0] ?? '';
  const shards = elements(c1, 'shard');
  expect(shards.map((shard) => elements(shard, 'internal_replication'))).toEqual([['true'], ['true']]);
  const hosts = shards.map((shard) => elements(shard, 'host'));
  expect(hosts).toEqual([
    ['clickhouse-1-1', 'clickhouse-1-2'],
    ['clickhouse-2-1', 'clickhouse-2-2'],
  ]);
  hosts.forEach((replicas, index) => {
    for (const host of replicas) {
      const service = resolved.services[host];
      expect([service?.hostname, String(service?.environment?.CLICKHOUSE_SHARD), service?.environment?.CLICKHOUSE_REPLICA]).toEqual([host, String(index + 1), host]);
    }
  });
  expect(xml).toMatch(/<shard from_env="CLICKHOUSE_SHARD"\/>/);
  expect(xml).toMatch(/<replica from_env="CLICKHOUSE_REPLICA"\/>/);
});

test('the servers and the Raft configuration name the same three Keeper nodes, each with its own server id', () => {
  const serverXml = readFileSync(join(clusterConfig, 'config.d', 'cluster.xml'), 'utf8');
  const zookeeper = elements(serverXml, 'zookeeper')[0] ?? '';
  expect(elements(zookeeper, 'host')).toEqual(keepers);
  const keeperXml = readFileSync(join(clusterConfig, 'keeper', 'keeper_config.xml'), 'utf8');
  const raft = elements(keeperXml, 'server').map((server) => ({ id: elements(server, 'id')[0], hostname: elements(server, 'hostname')[0] }));
  expect(raft).toEqual(keepers.map((name) => ({ id: String(resolved.services[name]?.environment?.KEEPER_SERVER_ID), hostname: resolved.services[name]?.hostname })));
  expect(raft.map((server) => server.hostname)).toEqual(keepers);
});
