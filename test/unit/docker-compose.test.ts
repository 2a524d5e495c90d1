// docker-compose.yml is checked by Compose itself: `docker-compose config` parses and validates
// the file and prints it resolved, with no Docker engine needed. Debian's docker-compose package
// provides the command (npm test installs it when it can); without it this test fails, never skips.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const installHint = "docker-compose is not installed: install Debian's docker-compose package (apt-get install docker-compose), then run the tests again";

function compose(env: NodeJS.ProcessEnv, files: readonly string[] = ['docker-compose.yml']): SpawnSyncReturns<string> {
  const result = spawnSync('docker-compose', [...files.flatMap((file) => ['-f', file]), 'config'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? installHint : `docker-compose could not run: ${result.error.message}`);
  }
  return result;
}

const indentOf = (line: string): number => line.length - line.trimStart().length;

/**
 * The children of a YAML mapping in block style, as printed by `docker-compose config`: each
 * `name:` line at `indent` with the lines below it that are indented further.
 */
function children(lines: readonly string[], indent: number): Map<string, string[]> {
  const result = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of lines) {
    if (line.trim() === '') continue;
    const depth = indentOf(line);
    if (depth < indent) break;
    if (depth === indent) {
      const key = /^\s*([^\s:#][^:]*):/.exec(line)?.[1];
      current = [];
      if (key !== undefined) result.set(key, current);
      const inline = line.slice(line.indexOf(':') + 1).trim();
      if (inline !== '') current.push(`${' '.repeat(indent + 2)}${inline}`);
    } else {
      current?.push(line);
    }
  }
  return result;
}

/** The lines under the top-level `key:` of the printed file. */
function topLevel(output: string, key: string): string[] {
  const lines = output.split('\n');
  const start = lines.findIndex((line) => line === `${key}:`);
  return start === -1 ? [] : lines.slice(start + 1);
}

/** A service's `environment:` mapping, values unquoted. */
function environmentOf(serviceLines: readonly string[]): Map<string, string> {
  const start = serviceLines.findIndex((line) => line.trim() === 'environment:');
  if (start === -1) return new Map();
  const depth = indentOf(serviceLines[start] ?? '');
  const env = new Map<string, string>();
  for (const [name, valueLines] of children(serviceLines.slice(start + 1), depth + 2)) {
    env.set(name, (valueLines[0] ?? '').trim().replace(/^(["'])(.*)\1$/, '$2'));
  }
  return env;
}

/** A service's published ports as Compose 1.29 prints them (`- 127.0.0.1:8091:8091/tcp`), without the protocol. */
function publishedPorts(serviceLines: readonly string[]): string[] {
  const start = serviceLines.findIndex((line) => line.trim() === 'ports:');
  if (start === -1) return [];
  const items: string[] = [];
  for (const line of serviceLines.slice(start + 1)) {
    const item = /^\s*- (.*)$/.exec(line)?.[1];
    if (item === undefined) break;
    items.push(item.replace(/^(["'])(.*)\1$/, '$2').replace(/\/tcp$/, ''));
  }
  return items;
}

describe('docker-compose.yml', () => {
  let result: SpawnSyncReturns<string>;
  let services: Map<string, string[]>;

  beforeAll(() => {
    result = compose({ ...process.env, DEV_API_KEY: 'docker-compose-test-key', ADMIN_TOKEN: 'docker-compose-test-admin-token' });
    services = children(topLevel(result.stdout, 'services'), 2);
  });

  const service = (name: string): string[] => {
    const lines = services.get(name);
    if (lines === undefined) throw new Error(`service ${name} is missing; services: ${[...services.keys()].join(', ')}`);
    return lines;
  };

  it('is accepted by docker-compose config', () => {
    // The exit status with Compose's error message, so a failure shows why.
    expect(`exit ${String(result.status)}\n${result.stderr}`).toMatch(/^exit 0\n/);
    expect(result.stdout).toContain('services:');
  });

  it('defines the kafka, clickhouse, gateway and worker services', () => {
    expect([...services.keys()].sort()).toEqual(expect.arrayContaining(['clickhouse', 'gateway', 'kafka', 'worker']));
  });

  it('points the gateway at the kafka service', () => {
    const env = environmentOf(service('gateway'));
    expect(env.get('KAFKA_BROKERS')).toBe('kafka:9092');
    expect(env.get('GATEWAY_HOST')).toBe('0.0.0.0');
    expect(env.get('DEV_API_KEY')).toBe('docker-compose-test-key');
  });

  it('points the worker at the clickhouse and kafka services', () => {
    const env = environmentOf(service('worker'));
    expect(env.get('CLICKHOUSE_URL')).toBe('http://clickhouse:8123');
    expect(env.get('KAFKA_BROKERS')).toBe('kafka:9092');
  });

  it("builds the gateway and the worker from the Dockerfile's own targets, which run the compiled services", () => {
    for (const name of ['gateway', 'worker']) {
      const text = service(name).join('\n');
      expect(text).toContain('dockerfile: deploy/docker/Dockerfile');
      expect(text).toContain(`target: ${name}`);
      // The image's command, not one that needs tsx.
      expect(text).not.toContain('command:');
    }
  });

  it('refuses to start the gateway without DEV_API_KEY', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, ADMIN_TOKEN: 'docker-compose-test-admin-token' };
    delete env.DEV_API_KEY;
    const missing = compose(env);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('DEV_API_KEY');
  });

  it("gives the worker's admin listener the ADMIN_TOKEN, and refuses to start without one", () => {
    expect(environmentOf(service('worker')).get('ADMIN_TOKEN')).toBe('docker-compose-test-admin-token');
    const env: NodeJS.ProcessEnv = { ...process.env, DEV_API_KEY: 'docker-compose-test-key' };
    delete env.ADMIN_TOKEN;
    const missing = compose(env);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain('set ADMIN_TOKEN');
    // An empty token counts as none.
    const empty = compose({ ...env, ADMIN_TOKEN: '' });
    expect([empty.status === 0, empty.stderr]).toEqual([false, expect.stringContaining('set ADMIN_TOKEN')]);
  });

  it("publishes the worker's admin listener and ClickHouse on loopback only", () => {
    expect(publishedPorts(service('worker'))).toEqual(['127.0.0.1:8091:8091']);
    expect(publishedPorts(service('clickhouse'))).toEqual(['127.0.0.1:8123:8123']);
  });
});

describe('docker-compose.kafka-cluster.yml, laid over docker-compose.yml', () => {
  let result: SpawnSyncReturns<string>;
  let services: Map<string, string[]>;
  const nodes = ['kafka', 'kafka-2', 'kafka-3'];

  beforeAll(() => {
    result = compose({ ...process.env, DEV_API_KEY: 'docker-compose-test-key', ADMIN_TOKEN: 'docker-compose-test-admin-token' }, ['docker-compose.yml', 'docker-compose.kafka-cluster.yml']);
    services = children(topLevel(result.stdout, 'services'), 2);
  });

  const environment = (name: string): Map<string, string> => environmentOf(services.get(name) ?? []);

  it('is accepted by docker-compose config', () => {
    expect(`exit ${String(result.status)}\n${result.stderr}`).toMatch(/^exit 0\n/);
  });

  it('runs three nodes of one cluster, each broker and controller, three voters', () => {
    expect(nodes.map((node) => [node, environment(node).get('KAFKA_NODE_ID'), environment(node).get('KAFKA_ADVERTISED_LISTENERS')])).toEqual([
      ['kafka', '1', 'PLAINTEXT://kafka:9092'],
      ['kafka-2', '2', 'PLAINTEXT://kafka-2:9092'],
      ['kafka-3', '3', 'PLAINTEXT://kafka-3:9092'],
    ]);
    for (const node of nodes) {
      const env = environment(node);
      expect([node, env.get('KAFKA_CONTROLLER_QUORUM_VOTERS'), env.get('KAFKA_PROCESS_ROLES')]).toEqual([node, '1@kafka:9093,2@kafka-2:9093,3@kafka-3:9093', 'broker,controller']);
      expect([node, env.get('CLUSTER_ID')]).toEqual([node, environment('kafka').get('CLUSTER_ID')]);
    }
    expect(environment('kafka').get('CLUSTER_ID')).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('gives topics, internal ones included, replication factor 3 and min.insync.replicas 2', () => {
    for (const node of nodes) {
      const env = environment(node);
      expect([node, env.get('KAFKA_DEFAULT_REPLICATION_FACTOR'), env.get('KAFKA_MIN_INSYNC_REPLICAS'), env.get('KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR'), env.get('KAFKA_TRANSACTION_STATE_LOG_MIN_ISR')]).toEqual([
        node,
        '3',
        '2',
        '3',
        '2',
      ]);
    }
  });

  it('points the gateway and the worker at all three brokers, and waits for each to be healthy', () => {
    for (const service of ['gateway', 'worker']) {
      expect([service, environment(service).get('KAFKA_BROKERS')]).toEqual([service, 'kafka:9092,kafka-2:9092,kafka-3:9092']);
      const lines = (services.get(service) ?? []).join('\n');
      for (const node of nodes) expect(lines).toMatch(new RegExp(`\\s${node}:\\n\\s+condition: service_healthy`));
    }
  });
});
