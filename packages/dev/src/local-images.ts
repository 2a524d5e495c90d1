import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceError, type Logger } from '@sluice/core';
import { ensureKafkaJars, kafkaVersion, repositoryRoot } from './local-broker';

/**
 * Builds the images docker-compose.yml and the container tests run on, from a Debian rootfs made
 * here, for machines whose Docker engine cannot pull from a registry. Each image carries a label
 * with the sha256 of what it was built from, and is built again only when that changes.
 */
export const localImageNames = ['debian', 'node', 'node-build', 'kafka'] as const;
export type LocalImageName = (typeof localImageNames)[number];

export interface LocalImage {
  name: LocalImageName;
  tag: string;
  /** False when an image built from the same inputs was there already. */
  built: boolean;
  sizeBytes: number;
  /** Time spent on this image: the build, or only the cache check. */
  elapsedMs: number;
}

export interface LocalImagesOptions {
  /** Build these and the images they are built on; every image when unset. */
  only?: readonly LocalImageName[];
  logger: Logger;
}

const debianSuite = 'trixie';
const debianMirror = 'http://deb.debian.org/debian';
const inputsLabel = 'sluice.inputs';
/** Part of the Debian base's inputs: raise it when the steps that make the rootfs change. */
const rootfsRecipeRevision = 2;
const dockerfiles = join(repositoryRoot, 'deploy', 'docker', 'local');
const workDirectory = join(repositoryRoot, '.cache', 'images');

export function localImageTag(name: LocalImageName): string {
  switch (name) {
    case 'debian':
      return `sluice-local/debian:${debianSuite}`;
    case 'node':
      return 'sluice-local/node:20';
    case 'node-build':
      return 'sluice-local/node-build:20';
    case 'kafka':
      return `sluice-local/kafka:${kafkaVersion()}`;
  }
}

export async function buildLocalImages(options: LocalImagesOptions): Promise<LocalImage[]> {
  const { logger } = options;
  const wanted = options.only ?? localImageNames;
  await checkDocker();
  const results: LocalImage[] = [];
  // Every other image is built FROM the Debian base, so it comes first.
  const base = await ensureDebianBase(logger);
  if (wanted.includes('debian')) results.push(base);
  for (const name of localImageNames) {
    if (name === 'debian' || !wanted.includes(name)) continue;
    results.push(await ensureDerivedImage(name, logger));
  }
  return results;
}

/**
 * The Debian minbase rootfs, made with debootstrap and imported. Its inputs are the recipe, not the
 * packages: a new point release is not picked up until the recipe (or the image) changes.
 */
async function ensureDebianBase(logger: Logger): Promise<LocalImage> {
  const tag = localImageTag('debian');
  const startedAt = Date.now();
  const recipe = { suite: debianSuite, variant: 'minbase', mirror: debianMirror, sources: debianSources, dpkgExcludes, aptClean, revision: rootfsRecipeRevision };
  const inputs = sha256(JSON.stringify(recipe));
  if ((await imageLabel(tag, inputsLabel)) === inputs) return cachedImage('debian', tag, startedAt);

  await requireCommand('debootstrap', ['--version'], 'debootstrap is not installed (apt-get install debootstrap); it makes the Debian base image');
  mkdirSync(workDirectory, { recursive: true });
  const rootfs = mkdtempSync(join(workDirectory, 'rootfs-'));
  try {
    logger.info('debootstrap: making a Debian rootfs (a minute or so)', { suite: debianSuite, rootfs });
    await run('debootstrap', ['--variant=minbase', debianSuite, rootfs, debianMirror], 'debootstrap failed');
    slim(rootfs);
    writeFileSync(join(rootfs, 'etc', 'apt', 'sources.list.d', 'debian.sources'), debianSources);
    rmSync(join(rootfs, 'etc', 'apt', 'sources.list'), { force: true });
    await importRootfs(rootfs, tag, inputs);
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
  const elapsedMs = Date.now() - startedAt;
  logger.info('built the Debian base image', { tag, elapsedMs });
  return { name: 'debian', tag, built: true, sizeBytes: await imageSize(tag), elapsedMs };
}

const debianSources = `Types: deb
URIs: ${debianMirror}
Suites: ${debianSuite} ${debianSuite}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: ${debianSuite}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

/**
 * Like Debian's own images: packages installed later leave out documentation and translations
 * (dpkgExcludes) and apt keeps no downloaded packages or caches (aptClean); what debootstrap
 * installed is pruned to match.
 */
function slim(rootfs: string): void {
  writeFileSync(join(rootfs, 'etc', 'dpkg', 'dpkg.cfg.d', 'docker-slim'), dpkgExcludes);
  writeFileSync(join(rootfs, 'etc', 'apt', 'apt.conf.d', 'docker-clean'), aptClean);
  const keepOnly = (folder: string, keep: (entry: string) => boolean): void => {
    for (const entry of readdirSync(join(rootfs, folder))) if (!keep(entry)) rmSync(join(rootfs, folder, entry), { recursive: true, force: true });
  };
  for (const folder of ['usr/share/man', 'usr/share/info', 'usr/share/lintian']) rmSync(join(rootfs, folder), { recursive: true, force: true });
  keepOnly('usr/share/locale', (entry) => entry === 'locale.alias');
  for (const packageDocs of readdirSync(join(rootfs, 'usr/share/doc'))) keepOnly(join('usr/share/doc', packageDocs), (entry) => entry === 'copyright');
  keepOnly('var/cache/apt/archives', (entry) => entry === 'partial' || entry === 'lock');
  keepOnly('var/cache/apt', (entry) => entry === 'archives');
  keepOnly('var/lib/apt/lists', (entry) => entry === 'partial' || entry === 'lock');
}

const aptClean = `DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
`;

const dpkgExcludes = `path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
`;

/** tar of the rootfs piped into `docker import`, with the environment a Dockerfile's FROM expects. */
async function importRootfs(rootfs: string, tag: string, inputs: string): Promise<void> {
  const tar = spawn('tar', ['--numeric-owner', '-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const changes = [
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'ENV LANG=C.UTF-8',
    `LABEL ${inputsLabel}=${inputs}`,
    `LABEL org.opencontainers.image.description="Debian ${debianSuite} minbase, made by debootstrap for Sluice's local images"`,
    'CMD ["bash"]',
  ].flatMap((change) => ['--change', change]);
  const imported = run('docker', ['import', ...changes, '-', tag], 'docker import failed', tar.stdout);
  const tarred = exitOf(tar, 'tar');
  await Promise.all([imported, tarred]);
}

/** An image FROM the Debian base; its inputs include the base's id, so a new base rebuilds it. */
async function ensureDerivedImage(name: Exclude<LocalImageName, 'debian'>, logger: Logger): Promise<LocalImage> {
  const tag = localImageTag(name);
  const startedAt = Date.now();
  const dockerfile = join(dockerfiles, `${name}.Dockerfile`);
  const baseTag = localImageTag('debian');
  const baseId = (await run('docker', ['image', 'inspect', '--format', '{{.Id}}', baseTag], `the base image ${baseTag} is missing`)).trim();
  const context = contextFiles(name, logger);
  const buildArgs: Record<string, string> = name === 'kafka' ? { BASE_IMAGE: baseTag, KAFKA_VERSION: kafkaVersion() } : { BASE_IMAGE: baseTag };
  const inputs = digestOf(baseId, buildArgs, [dockerfile, ...context.map((file) => file.source)]);
  if ((await imageLabel(tag, inputsLabel)) === inputs) return cachedImage(name, tag, startedAt);

  mkdirSync(workDirectory, { recursive: true });
  const contextDirectory = mkdtempSync(join(workDirectory, `${name}-context-`));
  try {
    for (const file of context) {
      mkdirSync(join(contextDirectory, file.target, '..'), { recursive: true });
      copyFileSync(file.source, join(contextDirectory, file.target));
    }
    logger.info('building image', { tag });
    await run(
      'docker',
      [
        'build',
        '--file',
        dockerfile,
        '--tag',
        tag,
        '--label',
        `${inputsLabel}=${inputs}`,
        ...Object.entries(buildArgs).flatMap(([key, value]) => ['--build-arg', `${key}=${value}`]),
        contextDirectory,
      ],
      `docker build of ${tag} failed`,
    );
  } finally {
    rmSync(contextDirectory, { recursive: true, force: true });
  }
  const elapsedMs = Date.now() - startedAt;
  logger.info('built image', { tag, elapsedMs });
  return { name, tag, built: true, sizeBytes: await imageSize(tag), elapsedMs };
}

interface ContextFile {
  source: string;
  /** Path inside the build context. */
  target: string;
}

function contextFiles(name: Exclude<LocalImageName, 'debian'>, logger: Logger): ContextFile[] {
  if (name === 'node-build') return [{ source: hostCertificateBundle(), target: 'host-ca-certificates.crt' }];
  if (name !== 'kafka') return [];
  // The very jars `npm start` runs the broker from.
  const libs = ensureKafkaJars(logger);
  return [
    ...readdirSync(libs)
      .filter((file) => file.endsWith('.jar'))
      .sort()
      .map((file) => ({ source: join(libs, file), target: join('libs', file) })),
    { source: join(repositoryRoot, 'deploy', 'kafka', 'log4j2.properties'), target: 'log4j2.properties' },
    ...['tools-log4j2.properties', 'kafka-run-class.sh', 'kafka-entrypoint.sh'].map((file) => ({ source: join(dockerfiles, file), target: file })),
  ];
}

/**
 * The certificate authorities this machine trusts, for npm in the build image: where the registry is
 * reached through a TLS-inspecting proxy, its CA is in this bundle and in no image's.
 */
function hostCertificateBundle(): string {
  const bundle = [process.env.NODE_EXTRA_CA_CERTS, '/etc/ssl/certs/ca-certificates.crt'].find((file): file is string => file !== undefined && file !== '' && existsSync(file));
  if (bundle !== undefined) return bundle;
  const empty = join(workDirectory, 'no-host-ca-certificates.crt');
  mkdirSync(workDirectory, { recursive: true });
  writeFileSync(empty, '');
  return empty;
}

function digestOf(baseId: string, buildArgs: Record<string, string>, files: string[]): string {
  const hash = createHash('sha256');
  hash.update(`${baseId}\n${JSON.stringify(buildArgs)}\n`);
  for (const file of files) {
    // The name too: a renamed jar is a different context.
    hash.update(`${file.slice(repositoryRoot.length)}\n`);
    hash.update(readFileSync(file));
  }
  return hash.digest('hex');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function cachedImage(name: LocalImageName, tag: string, startedAt: number): Promise<LocalImage> {
  return { name, tag, built: false, sizeBytes: await imageSize(tag), elapsedMs: Date.now() - startedAt };
}

/** The label's value, or undefined when the image does not exist. */
async function imageLabel(tag: string, label: string): Promise<string | undefined> {
  try {
    const value = await run('docker', ['image', 'inspect', '--format', `{{ index .Config.Labels "${label}" }}`, tag], 'docker image inspect failed');
    return value.trim();
  } catch {
    return undefined;
  }
}

/** The docker CLI with these arguments: its stdout, or a SluiceError with the end of its output. */
export function docker(args: string[]): Promise<string> {
  return run('docker', args, `docker ${args[0] ?? ''} failed`);
}

export async function imageSize(tag: string): Promise<number> {
  return Number(await run('docker', ['image', 'inspect', '--format', '{{.Size}}', tag], `docker image inspect ${tag} failed`));
}

/** Fails with a clear message when the docker client is missing or its daemon does not answer. */
export async function checkDocker(): Promise<void> {
  await requireCommand('docker', ['--version'], 'docker is not installed, or not on the PATH (the Docker CLI builds the local images)');
  try {
    await run('docker', ['version', '--format', '{{.Server.Version}}'], 'the Docker daemon did not answer');
  } catch (error) {
    throw new SluiceError('INVALID_CONFIG', `${(error as Error).message} (is dockerd running, and may this user use its socket?)`, { cause: error });
  }
}

async function requireCommand(command: string, args: string[], message: string): Promise<void> {
  try {
    await run(command, args, message);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new SluiceError('INVALID_CONFIG', message, { cause: error });
    throw error;
  }
}

/**
 * Runs a command (an argument array, no shell) and resolves with its stdout; on a non-zero exit
 * rejects with a SluiceError holding the end of its output. ENOENT (no such command) is passed on as is.
 */
function run(command: string, args: string[], failure: string, input?: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    if (input && child.stdin) input.pipe(child.stdin);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-20_000)));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) return resolve(stdout);
      const tail = `${stdout.slice(-4_000)}${stderr}`.trim().split('\n').slice(-25).join('\n');
      reject(new SluiceError('INVALID_CONFIG', `${failure} (${command} exited with ${code}):\n${tail}`));
    });
  });
}

function exitOf(child: ReturnType<typeof spawn>, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new SluiceError('INVALID_CONFIG', `${label} exited with ${code}: ${stderr.trim()}`))));
  });
}
