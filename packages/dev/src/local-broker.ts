import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { SluiceError, minInsyncReplicasFor, sleep, type Logger } from '@sluice/core';
import { createBrokerProbe } from '@sluice/kafka';

/**
 * Runs a real Apache Kafka (KRaft) from Maven-fetched jars, one node or a cluster, for `npm start`
 * and `npm test` on machines without Docker. Development only: no production package depends on @sluice/dev.
 */
export const repositoryRoot = join(__dirname, '..', '..', '..');
const deployDirectory = join(repositoryRoot, 'deploy', 'kafka');

export function kafkaVersion(): string {
  const pom = readFileSync(join(deployDirectory, 'pom.xml'), 'utf8');
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom);
  if (!match?.[1]) throw new SluiceError('INVALID_CONFIG', 'deploy/kafka/pom.xml has no <kafka.version> property');
  return match[1];
}

/**
 * Fetches the broker's jars once into .cache/kafka/<version>/libs and returns that folder. The folder
 * holds the sha256 of the pom it was fetched for, so a dependency added to the pom is fetched too.
 */
export function ensureKafkaJars(logger: Logger, cacheRoot = join(repositoryRoot, '.cache', 'kafka')): string {
  const version = kafkaVersion();
  const libs = join(cacheRoot, version, 'libs');
  const pomDigest = createHash('sha256').update(readFileSync(join(deployDirectory, 'pom.xml'))).digest('hex');
  const stamp = join(libs, 'pom.sha256');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === pomDigest) return libs;
  logger.info('fetching Apache Kafka jars with Maven (first run, or deploy/kafka/pom.xml changed)', { version });
  const staging = `${libs}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  const result = spawnSync(
    'mvn',
    ['-q', '-B', '-f', join(deployDirectory, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`, '-DincludeScope=runtime'],
    { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' },
  );
  if (result.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    const detail = result.error ? result.error.message : `${result.stdout}${result.stderr}`.trim().split('\n').slice(-15).join('\n');
    throw new SluiceError('INVALID_CONFIG', `Maven could not fetch the Kafka ${version} jars (is Maven installed?):\n${detail}`);
  }
  writeFileSync(join(staging, 'pom.sha256'), pomDigest + '\n');
  // A rename is atomic, so a run cut short never leaves a half-filled cache behind.
  rmSync(libs, { recursive: true, force: true });
  renameSync(staging, libs);
  return libs;
}

export interface LocalBrokerOptions {
  dataDirectory: string;
  port: number;
  controllerPort: number;
  heapMegabytes?: number;
  /** How long to wait for the broker to answer before giving up. */
  startTimeoutMs?: number;
  logger: Logger;
}

export interface LocalBroker {
  brokers: string[];
  pid: number;
  /** Milliseconds from spawn until the broker answered a metadata request. */
  startupMs: number;
  logFile: string;
  stop(): Promise<void>;
}

export async function startLocalBroker(options: LocalBrokerOptions): Promise<LocalBroker> {
  const { dataDirectory, port, controllerPort, logger } = options;
  const classpath = join(ensureKafkaJars(logger), '*');
  const node: NodeSpec = { nodeId: 1, dataDirectory, port, controllerPort };
  await claimNode(node, logger);
  prepareNode(classpath, node, { voters: `1@127.0.0.1:${controllerPort}`, replicationFactor: 1 }, logger);
  const running = spawnNode(classpath, node, options.heapMegabytes ?? 512);
  const brokers = [`127.0.0.1:${port}`];
  await awaitNode(running, brokers, options.startTimeoutMs ?? 90_000);
  const startupMs = Date.now() - running.startedAt;
  logger.info('Kafka is up', { brokers, pid: running.pid, startupMs, version: kafkaVersion() });

  let stopping: Promise<void> | undefined;
  return {
    brokers,
    pid: running.pid,
    startupMs,
    logFile: running.logFile,
    stop: () => (stopping ??= stopChild(running.child, running.exited, dataDirectory)),
  };
}

export interface LocalClusterOptions {
  /** Node n keeps its data in <dataDirectory>/node-<n>. */
  dataDirectory: string;
  /** One entry per node (ids 1..n); every node is a broker and a controller voter. */
  nodes: readonly { port: number; controllerPort: number }[];
  heapMegabytes?: number;
  startTimeoutMs?: number;
  logger: Logger;
}

export interface LocalClusterNode {
  nodeId: number;
  broker: string;
  /** The running process's pid; it changes on restart. */
  readonly pid: number;
  logFile: string;
  /** SIGKILL, as a crash or a lost machine: no controlled shutdown, no flush. */
  kill(): Promise<void>;
  /** Starts a killed or stopped node again on its data, and waits until it answers. */
  restart(): Promise<void>;
}

export interface LocalCluster {
  brokers: string[];
  nodes: LocalClusterNode[];
  /** Milliseconds from spawn until every node was part of the cluster. */
  startupMs: number;
  stop(): Promise<void>;
}

/**
 * Several KRaft nodes, each a broker and a controller voter, so that topics can be replicated
 * (replication factor = the number of nodes) and the quorum survives the loss of a minority.
 */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const { logger } = options;
  const classpath = join(ensureKafkaJars(logger), '*');
  const specs: NodeSpec[] = options.nodes.map((ports, index) => ({ nodeId: index + 1, dataDirectory: join(options.dataDirectory, `node-${index + 1}`), ...ports }));
  for (const spec of specs) await claimNode(spec, logger);
  const quorum: Quorum = {
    voters: specs.map((spec) => `${spec.nodeId}@127.0.0.1:${spec.controllerPort}`).join(','),
    replicationFactor: specs.length,
    // Every node must be formatted with the same cluster id: an earlier, partly formatted run's, or a new one.
    clusterId: specs.map((spec) => formattedClusterId(spec)).find((id) => id !== undefined) ?? randomClusterId(classpath),
  };
  for (const spec of specs) prepareNode(classpath, spec, quorum, logger);

  const heap = options.heapMegabytes ?? 512;
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  const brokers = specs.map((spec) => `127.0.0.1:${spec.port}`);
  const running = new Map<number, RunningNode>();
  const stopNode = async (spec: NodeSpec): Promise<void> => {
    const node = running.get(spec.nodeId);
    running.delete(spec.nodeId);
    if (node) await stopChild(node.child, node.exited, spec.dataDirectory);
  };
  const startNode = async (spec: NodeSpec): Promise<void> => {
    const node = spawnNode(classpath, spec, heap);
    running.set(spec.nodeId, node);
    await awaitNode(node, [`127.0.0.1:${spec.port}`], timeoutMs);
  };

  const startedAt = Date.now();
  try {
    // All at once: a node's broker waits for a controller quorum that needs a majority of the nodes.
    await Promise.all(specs.map(startNode));
    await waitForClusterSize(brokers, specs.length, timeoutMs);
  } catch (error) {
    await Promise.all(specs.map(stopNode));
    throw error;
  }
  const startupMs = Date.now() - startedAt;
  logger.info('Kafka cluster is up', { brokers, startupMs, version: kafkaVersion() });

  const nodeOf = (spec: NodeSpec): RunningNode => {
    const node = running.get(spec.nodeId);
    if (!node) throw new SluiceError('INVALID_CONFIG', `Kafka node ${spec.nodeId} is not running`);
    return node;
  };
  let stopping: Promise<void> | undefined;
  return {
    brokers,
    startupMs,
    nodes: specs.map((spec) => ({
      nodeId: spec.nodeId,
      broker: `127.0.0.1:${spec.port}`,
      get pid() {
        return nodeOf(spec).pid;
      },
      logFile: join(spec.dataDirectory, 'broker.log'),
      async kill() {
        const node = nodeOf(spec);
        running.delete(spec.nodeId);
        node.child.kill('SIGKILL');
        await node.exited;
        rmSync(pidFile(spec.dataDirectory), { force: true });
      },
      async restart() {
        await stopNode(spec);
        await startNode(spec);
        await waitForClusterSize(brokers, specs.length, timeoutMs);
      },
    })),
    stop: () => (stopping ??= Promise.all(specs.map(stopNode)).then(() => undefined)),
  };
}

interface NodeSpec {
  nodeId: number;
  dataDirectory: string;
  port: number;
  controllerPort: number;
}

interface Quorum {
  /** controller.quorum.voters: id@host:port of every controller. */
  voters: string;
  replicationFactor: number;
  /** Set for a cluster, whose nodes must share it; a single node draws its own. */
  clusterId?: string;
}

interface RunningNode {
  child: ChildProcess;
  exited: Promise<number | null>;
  pid: number;
  logFile: string;
  startedAt: number;
}

/** Ends a broker an earlier run left on this data folder, and refuses ports someone else holds. */
async function claimNode(node: NodeSpec, logger: Logger): Promise<void> {
  mkdirSync(node.dataDirectory, { recursive: true });
  await stopStaleBroker(node.dataDirectory, logger);
  for (const p of [node.port, node.controllerPort]) {
    if (await isPortOpen(p)) {
      throw new SluiceError('INVALID_CONFIG', `Port ${p} on 127.0.0.1 is already in use; another Kafka may be running. Stop it or choose other ports.`);
    }
  }
}

/** Writes the node's server.properties and formats its storage on first use. */
function prepareNode(classpath: string, node: NodeSpec, quorum: Quorum, logger: Logger): void {
  const logDir = join(node.dataDirectory, 'kraft-logs');
  const configFile = join(node.dataDirectory, 'server.properties');
  const values: Record<string, string> = {
    nodeId: String(node.nodeId),
    quorumVoters: quorum.voters,
    port: String(node.port),
    controllerPort: String(node.controllerPort),
    logDir,
    replicationFactor: String(quorum.replicationFactor),
    minInsyncReplicas: String(minInsyncReplicasFor(quorum.replicationFactor)),
  };
  const template = readFileSync(join(deployDirectory, 'server.properties.template'), 'utf8');
  writeFileSync(configFile, template.replace(/\$\{(\w+)\}/g, (_, name: string) => values[name] ?? `\${${name}}`));
  if (!existsSync(join(logDir, 'meta.properties'))) {
    const clusterId = quorum.clusterId ?? randomClusterId(classpath);
    runJava(classpath, ['kafka.tools.StorageTool', 'format', '--ignore-formatted', '-t', clusterId, '-c', configFile]);
    logger.info('formatted Kafka storage', { logDir });
  }
}

function randomClusterId(classpath: string): string {
  return runJava(classpath, ['kafka.tools.StorageTool', 'random-uuid']).trim();
}

/** The cluster id a node's storage was formatted with, if it was. */
function formattedClusterId(node: NodeSpec): string | undefined {
  const meta = join(node.dataDirectory, 'kraft-logs', 'meta.properties');
  if (!existsSync(meta)) return undefined;
  return /^cluster\.id=(.+)$/m.exec(readFileSync(meta, 'utf8'))?.[1]?.trim();
}

function spawnNode(classpath: string, node: NodeSpec, heapMegabytes: number): RunningNode {
  const logFile = join(node.dataDirectory, 'broker.log');
  const logFd = openSync(logFile, 'a');
  const startedAt = Date.now();
  const child = spawn(
    'java',
    [
      `-Xms${Math.min(256, heapMegabytes)}m`,
      `-Xmx${heapMegabytes}m`,
      '-XX:+UseSerialGC',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${join(deployDirectory, 'log4j2.properties')}`,
      '-cp',
      classpath,
      'kafka.Kafka',
      join(node.dataDirectory, 'server.properties'),
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new SluiceError('INVALID_CONFIG', 'Could not start java; is a JDK (17 or later) installed?');
  writeFileSync(pidFile(node.dataDirectory), String(pid));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, pid, logFile, startedAt };
}

/** Waits until the node answers; if it does not, kills it and reports the end of its log. */
async function awaitNode(node: RunningNode, brokers: string[], timeoutMs: number): Promise<void> {
  try {
    await waitUntilAnswering(brokers, node.child, timeoutMs);
  } catch (error) {
    node.child.kill('SIGKILL');
    await node.exited;
    const tail = readFileSync(node.logFile, 'utf8').split('\n').slice(-20).join('\n');
    throw new SluiceError('INVALID_CONFIG', `Kafka did not start: ${(error as Error).message}\n--- ${node.logFile} ---\n${tail}`);
  }
}

/** Waits until the cluster's metadata lists this many brokers (a restarted node has rejoined). */
async function waitForClusterSize(brokers: string[], size: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const probe = createBrokerProbe(brokers);
  let seen = 0;
  while (Date.now() < deadline) {
    // A node still starting does not answer yet; ask again.
    seen = (await probe.brokerCount()) ?? 0;
    if (seen >= size) break;
    await sleep(250);
  }
  if (seen < size) throw new SluiceError('INVALID_CONFIG', `the Kafka cluster showed ${seen} of ${size} brokers after ${timeoutMs} ms`);
}

function runJava(classpath: string, args: string[]): string {
  const result = spawnSync('java', ['-Xmx256m', '-cp', classpath, ...args], { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new SluiceError('INVALID_CONFIG', `java ${args.join(' ')} failed: ${result.error?.message ?? result.stderr}`);
  }
  return result.stdout;
}

function pidFile(dataDirectory: string): string {
  return join(dataDirectory, 'broker.pid');
}

/** A broker left behind by a run that was killed would hold our ports and data; end it. */
async function stopStaleBroker(dataDirectory: string, logger: Logger): Promise<void> {
  const file = pidFile(dataDirectory);
  if (!existsSync(file)) return;
  const pid = Number(readFileSync(file, 'utf8'));
  rmSync(file, { force: true });
  if (!Number.isInteger(pid) || !isKafkaProcess(pid)) return;
  logger.warn('stopping a Kafka broker left over from an earlier run', { pid });
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 20_000 && isProcessAlive(pid); waited += 200) await sleep(200);
  if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
}

function isKafkaProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kafka.Kafka');
  } catch {
    return false;
  }
}

/** Whether a process with this pid exists (signal 0 tests without sending anything). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function isPortOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitUntilAnswering(brokers: string[], child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Only @sluice/kafka speaks to Kafka, so the question "does it answer?" is asked there.
  const probe = createBrokerProbe(brokers);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the broker process exited with code ${child.exitCode}`);
    if (await probe.answers()) return;
    await sleep(250);
  }
  throw new Error(`no answer within ${timeoutMs} ms`);
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>, dataDirectory: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(pidFile(dataDirectory), { force: true });
}

/** Removes a broker's data folder, for test brokers that must start empty. */
export function removeBrokerData(dataDirectory: string): void {
  if (existsSync(dataDirectory) && readdirSync(dataDirectory).length > 0) rmSync(dataDirectory, { recursive: true, force: true });
}
