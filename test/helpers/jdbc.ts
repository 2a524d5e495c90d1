/**
 * The ClickHouse JDBC driver for tests that use it as an analyst's tool would: its jars, fetched with
 * Maven (test/clients/jdbc/pom.xml) into .cache/jdbc/<version>/libs on first use, and the check
 * program beside the pom, run as a single-file Java program.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repositoryRoot = join(__dirname, '..', '..');
const clientDirectory = join(repositoryRoot, 'test', 'clients', 'jdbc');
export const jdbcCheckProgram = join(clientDirectory, 'JdbcCheck.java');

function jdbcVersion(): string {
  const version = /<clickhouse-jdbc\.version>([^<]+)</.exec(readFileSync(join(clientDirectory, 'pom.xml'), 'utf8'))?.[1];
  if (version === undefined) throw new Error('test/clients/jdbc/pom.xml has no <clickhouse-jdbc.version>');
  return version;
}

/** The driver's jars, fetched once into .cache/jdbc/<version>/libs; a rename makes the cache whole or absent. */
export async function jdbcJars(): Promise<string> {
  const version = jdbcVersion();
  const libs = join(repositoryRoot, '.cache', 'jdbc', version, 'libs');
  if (existsSync(join(libs, `clickhouse-jdbc-${version}.jar`))) return libs;
  const staging = `${libs}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(libs, '..'), { recursive: true });
  await run('mvn', ['-q', '-B', '-f', join(clientDirectory, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`, '-DincludeScope=runtime'], { timeout: 300_000 });
  rmSync(libs, { recursive: true, force: true });
  renameSync(staging, libs);
  return libs;
}

/** Runs JdbcCheck.java with `args` and gives back its last line of output, parsed. */
export async function runJdbcCheck<T>(args: string[]): Promise<T> {
  const libs = await jdbcJars();
  const { stdout } = await run('java', ['-cp', join(libs, '*'), jdbcCheckProgram, ...args], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;
}
