import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { SluiceError, sleep, type Logger } from '@sluice/core';
import { createBrokerProbe } from '@sluice/kafka';

/**
 * Runs a real single-node Apache Kafka (KRaft) from Maven-fetched jars, for `npm start` and
 * `npm test` on machines without Docker. Development only: no production package depends on @sluice/dev.
 */
export const repositoryRoot = join(__dirname, '..', '..', '..');
const deployDirectory = join(repositoryRoot, 'deploy', 'kafka');

export function kafkaVersion(): string {
  const pom = readFileSync(join(deployDirectory, 'pom.xml'), 'utf8');
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom);
  if (!match?.[1]) throw new SluiceError('INVALID_CONFIG', 'deploy/kafka/pom.xml has no <kafka.version> property');
  return match[1];
}

/** Fetches the broker's jars once into .cache/kafka/<version>/libs and returns that folder. */
export function ensureKafkaJars(logger: Logger, cacheRoot = join(repositoryRoot, '.cache', 'kafka')): string {
  const version = kafkaVersion();
  const libs = join(cacheRoot, version, 'libs');
  if (existsSync(join(libs, `kafka_2.13-${version}.jar`))) return libs;
  logger.info('fetching Apache Kafka jars with Maven (first run only)', { version });
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
  const libs = ensureKafkaJars(logger);
  mkdirSync(dataDirectory, { recursive: true });
  await stopStaleBroker(dataDirectory, logger);
  for (const p of [port, controllerPort]) {
    if (await isPortOpen(p)) {
      throw new SluiceError('INVALID_CONFIG', `Port ${p} on 127.0.0.1 is already in use; another Kafka may be running. Stop it or choose other ports.`);
    }
  }

  const logDir = join(dataDirectory, 'kraft-logs');
  const configFile = join(dataDirectory, 'server.properties');
  const values: Record<string, string> = { port: String(port), controllerPort: String(controllerPort), logDir };
  const template = readFileSync(join(deployDirectory, 'server.properties.template'), 'utf8');
  writeFileSync(configFile, template.replace(/\$\{(\w+)\}/g, (_, name: string) => values[name] ?? `\${${name}}`));

  const classpath = join(libs, '*');
  if (!existsSync(join(logDir, 'meta.properties'))) {
    const clusterId = runJava(classpath, ['kafka.tools.StorageTool', 'random-uuid']).trim();
    runJava(classpath, ['kafka.tools.StorageTool', 'format', '--ignore-formatted', '-t', clusterId, '-c', configFile]);
    logger.info('formatted Kafka storage', { logDir });
  }

  const logFile = join(dataDirectory, 'broker.log');
  const logFd = openSync(logFile, 'a');
  const heap = options.heapMegabytes ?? 512;
  const startedAt = Date.now();
  const child = spawn(
    'java',
    [
      `-Xms${Math.min(256, heap)}m`,
      `-Xmx${heap}m`,
      '-XX:+UseSerialGC',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${join(deployDirectory, 'log4j2.properties')}`,
      '-cp',
      classpath,
      'kafka.Kafka',
      configFile,
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new SluiceError('INVALID_CONFIG', 'Could not start java; is a JDK (17 or later) installed?');
  writeFileSync(pidFile(dataDirectory), String(pid));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const brokers = [`127.0.0.1:${port}`];
  try {
    await waitUntilAnswering(brokers, child, options.startTimeoutMs ?? 90_000);
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    const tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
    throw new SluiceError('INVALID_CONFIG', `Kafka did not start: ${(error as Error).message}\n--- ${logFile} ---\n${tail}`);
  }
  const startupMs = Date.now() - startedAt;
  logger.info('Kafka is up', { brokers, pid, startupMs, version: kafkaVersion() });

  let stopping: Promise<void> | undefined;
  return {
    brokers,
    pid,
    startupMs,
    logFile,
    stop: () => (stopping ??= stopChild(child, exited, dataDirectory)),
  };
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
