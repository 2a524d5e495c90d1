/**
 * `node --import tsx scripts/keys.ts <command>`: creates, lists, grants and revokes the gateway's
 * API keys in the key file (docs/keys.md). The file is --file PATH, else $KEYS_FILE, else
 * .data/keys.json in the current directory. A running gateway picks changes up within a second.
 *
 * Exit codes: 0 done, 1 the command failed (one line on stderr), 2 a usage error.
 */
import { resolve } from 'node:path';
import { errorMessage, datasetNamespaces, type DatasetNamespace } from '@sluice/core';
import {
  createKey,
  grantDatasets,
  listKeys,
  readKeyFileText,
  revokeKey,
  updateKeyFile,
  type Datasets,
  type KeyListing,
} from '../services/gateway/src/tenancy/key-admin';

const usage = `usage: node --import tsx scripts/keys.ts <command> [--file PATH]

commands:
  create --name NAME [--trieve ID]... [--neuralens ID]... [--greenflash ID]... [--native ID]...
                       make a key; prints it once (it cannot be shown again)
  list [--json]        every key: id, name, datasets, created, revoked (never the key)
  revoke ID            refuse the key from now on
  grant ID [--trieve ID]... [--neuralens ID]... [--greenflash ID]... [--native ID]...
                       let the key write to more datasets

A dataset id "*" means every dataset of that namespace. A Trieve dataset known by both its UUID
and its tracking_id must be granted under both. Two keys may not hold one dataset id under two
namespaces (a dataset is known by its id alone; docs/keys.md).

--file PATH            the key file (default: $KEYS_FILE, else .data/keys.json)`;

class UsageError extends Error {}

type Command = 'create' | 'list' | 'revoke' | 'grant';
const commands: readonly Command[] = ['create', 'list', 'revoke', 'grant'];

/** Flags each command takes, besides --file (every command) and the namespaces (create, grant). */
const commandFlags: Record<Command, readonly string[]> = {
  create: ['--name', ...datasetNamespaces.map((n) => `--${n}`)],
  list: ['--json'],
  revoke: [],
  grant: datasetNamespaces.map((n) => `--${n}`),
};
const booleanFlags = new Set(['--json']);
const positionalCount: Record<Command, number> = { create: 0, list: 0, revoke: 1, grant: 1 };

interface Parsed {
  command: Command;
  file: string | undefined;
  values: Map<string, string[]>;
  positionals: string[];
}

function parseArguments(argv: readonly string[]): Parsed | 'help' {
  if (argv.length === 0) throw new UsageError('a command is required');
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const [first, ...rest] = argv;
  if (first === undefined || first.startsWith('-')) throw new UsageError(`the command must come first, got ${JSON.stringify(first)}`);
  if (!(commands as readonly string[]).includes(first)) throw new UsageError(`unknown command ${JSON.stringify(first)}; known: ${commands.join(', ')}`);
  const command = first as Command;
  const known = ['--file', ...commandFlags[command]];
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? '';
    if (arg === '--') {
      positionals.push(...rest.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    const flag = equals === -1 ? arg : arg.slice(0, equals);
    if (!known.includes(flag)) throw new UsageError(`unknown flag ${JSON.stringify(flag)} for ${command}; known: ${known.join(', ')}`);
    let value: string;
    if (booleanFlags.has(flag)) {
      if (equals !== -1) throw new UsageError(`${flag} takes no value`);
      value = '';
    } else if (equals !== -1) {
      value = arg.slice(equals + 1);
    } else {
      const next = rest[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`${flag} needs a value`);
      value = next;
      i++;
    }
    values.set(flag, [...(values.get(flag) ?? []), value]);
  }
  if (positionals.length !== positionalCount[command]) {
    const extra = positionals[positionalCount[command]];
    throw new UsageError(
      extra !== undefined ? `unexpected argument ${JSON.stringify(extra)} for ${command}` : `${command} needs the key's ID (as \`list\` shows it)`,
    );
  }
  for (const single of ['--file', '--name']) {
    if ((values.get(single)?.length ?? 0) > 1) throw new UsageError(`${single} may be given only once`);
  }
  return { command, file: values.get('--file')?.[0], values, positionals };
}

function datasetsFrom(values: Map<string, string[]>): Datasets {
  const datasets: Datasets = {};
  for (const namespace of datasetNamespaces) {
    const ids = values.get(`--${namespace}`);
    if (ids !== undefined) datasets[namespace] = ids;
  }
  return datasets;
}

function describeDatasets(datasets: Datasets): string {
  const parts = datasetNamespaces.flatMap((n) => (datasets[n] === undefined ? [] : [`${n}: ${datasets[n].join(', ') || '(none)'}`]));
  return parts.length === 0 ? '(no datasets)' : parts.join('; ');
}

function describeKey(key: KeyListing): string {
  const state = key.revoked_at === undefined ? 'active' : `REVOKED ${key.revoked_at}`;
  return `${key.id}  ${JSON.stringify(key.name)}  created ${key.created_at}  ${state}\n    ${describeDatasets(key.datasets)}`;
}

function run(argv: readonly string[], env: NodeJS.ProcessEnv, out: (line: string) => void): void {
  const parsed = parseArguments(argv);
  if (parsed === 'help') return out(usage);
  const { command, values, positionals } = parsed;
  const path = resolve(parsed.file ?? (env.KEYS_FILE !== undefined && env.KEYS_FILE !== '' ? env.KEYS_FILE : '.data/keys.json'));
  switch (command) {
    case 'create': {
      const name = values.get('--name')?.[0];
      if (name === undefined) throw new UsageError('create needs --name NAME');
      const datasets = datasetsFrom(values);
      const created = updateKeyFile(path, (contents) => createKey(contents, { name, datasets }, new Date(), undefined, path));
      out(`Created key ${created.id} (${JSON.stringify(name.trim())}) in ${path}`);
      out(`It may write to: ${describeDatasets(datasets)}`);
      out('');
      out(`    ${created.key}`);
      out('');
      out('Copy this key now: it cannot be shown again. Only its SHA-256 hash is stored; if it is lost, revoke it and create another.');
      return;
    }
    case 'list': {
      const keys = listKeys(readKeyFileText(path), path);
      if (values.has('--json')) return out(JSON.stringify(keys, null, 2));
      if (keys.length === 0) return out(`No keys in ${path}`);
      for (const key of keys) out(describeKey(key));
      return;
    }
    case 'revoke': {
      const id = positionals[0] ?? '';
      const revoked = updateKeyFile(path, (contents) => revokeKey(contents, id, new Date(), path));
      out(revoked.alreadyRevoked ? `Key ${id} was already revoked (at ${revoked.key.revoked_at ?? '?'})` : `Revoked key ${id} (${JSON.stringify(revoked.key.name)})`);
      return;
    }
    case 'grant': {
      const id = positionals[0] ?? '';
      const datasets = datasetsFrom(values);
      const namespaces = Object.keys(datasets) as DatasetNamespace[];
      if (namespaces.length === 0) throw new UsageError(`grant needs at least one of ${datasetNamespaces.map((n) => `--${n} ID`).join(', ')}`);
      const granted = updateKeyFile(path, (contents) => {
        let result: ReturnType<typeof grantDatasets> | undefined;
        let text = contents;
        for (const namespace of namespaces) {
          result = grantDatasets(text, id, namespace, datasets[namespace] ?? [], path);
          text = result.contents;
        }
        return { contents: text ?? '', key: result?.key };
      });
      out(`Key ${id} may now write to: ${granted.key === undefined ? '?' : describeDatasets(granted.key.datasets)}`);
      return;
    }
  }
}

function main(): number {
  try {
    run(process.argv.slice(2), process.env, (line) => process.stdout.write(line + '\n'));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`keys: ${error.message}\n\n${usage}\n`);
      return 2;
    }
    process.stderr.write(`keys: ${errorMessage(error).replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  }
}

process.exitCode = main();
