/**
 * `npm run keys -- <command>`: creates, lists, grants and revokes the gateway's
 * API keys in the key file, and sets the web origins each may be used from (docs/keys.md). The file is --file PATH, else $KEYS_FILE, else
 * .data/keys.json in the current directory. A running gateway picks changes up within a second.
 *
 * `analyst ...` commands do the same for the SQL analysts of a ClickHouse server and the datasets
 * each may read, in the analysts file (--file PATH, else .data/analysts.json), and render it as the
 * server's users.d file (docs/analysts.md, "Per-dataset access (server mode)").
 *
 * Exit codes: 0 done, 1 the command failed (one line on stderr), 2 a usage error.
 */
import { resolve } from 'node:path';
import { SluiceError, errorMessage } from '@sluice/core';
import {
  addAnalyst,
  describeAnalystDatasets,
  listAnalysts,
  parseAnalystsFile,
  parseDatasetList,
  readAnalystsFileText,
  removeAnalyst,
  renderAnalystUsers,
  setAnalystDatasets,
  writeAnalystUsers,
  writeAnalystsFile,
  type AnalystListing,
} from '@sluice/clickhouse';
import {
  createKey,
  datasetNamespaces,
  grantDatasets,
  listKeys,
  readKeyFileText,
  revokeKey,
  setOrigins,
  updateKeyFile,
  type DatasetNamespace,
  type Datasets,
  type KeyListing,
  type OriginsChange,
} from '@sluice/tenancy';

const usage = `usage: npm run keys -- <command> [--file PATH]

commands:
  create --name NAME [--trieve ID]... [--neuralens ID]... [--greenflash ID]... [--native ID]...
         [--origin ORIGIN]... [--publishable]
                       make a key; prints it once (it cannot be shown again). A secret key
                       (sk_...) is for servers, and also for the pages of its --origin's; a
                       --publishable key (pk_...) is for pages only, and needs an --origin
  list [--json]        every key: id, name, kind, datasets, origins, created, revoked (never the key)
  revoke ID            refuse the key from now on
  grant ID [--trieve ID]... [--neuralens ID]... [--greenflash ID]... [--native ID]...
                       let the key write to more datasets
  origins ID [--add ORIGIN]... [--remove ORIGIN]...
  origins ID --set ORIGIN [--set ORIGIN]...
  origins ID --clear   change the web origins the key may be used from; a secret key with none
                       is for servers only

An ORIGIN is written as browsers send it: https://shop.example, http://localhost:3000, or
https://*.shop.example for every subdomain (quote it in a shell), not shop.example itself.

A dataset id "*" means every dataset of that namespace. A Trieve dataset known by both its UUID
and its tracking_id must be granted under both. Two keys may not hold one dataset id under two
namespaces (a dataset is known by its id alone; docs/keys.md).

analyst commands: SQL analysts of a ClickHouse server, each reading only some datasets, enforced
by the server's own users, grants and row policies (server mode only; docs/analysts.md):
  analyst add NAME --datasets ID[,ID]...
                       add an analyst; prints their password once ("*": every dataset)
  analyst list [--json]
                       every analyst: name, datasets, created (never the password)
  analyst datasets NAME ID[,ID]...
                       replace the analyst's datasets
  analyst remove NAME  remove the analyst
  analyst render [--database NAME] [--out PATH]
                       the server's users.d file for them, on stdout or written to PATH;
                       the database is $CLICKHOUSE_DATABASE, else sluice

--file PATH            the key file (default: $KEYS_FILE, else .data/keys.json); for analyst
                       commands, the analysts file (default: .data/analysts.json)`;

class UsageError extends Error {}

type KeyCommand = 'create' | 'list' | 'revoke' | 'grant' | 'origins';
type AnalystCommand = 'analyst add' | 'analyst list' | 'analyst remove' | 'analyst datasets' | 'analyst render';
type Command = KeyCommand | AnalystCommand;
const commands: readonly KeyCommand[] = ['create', 'list', 'revoke', 'grant', 'origins'];
const analystCommands: readonly AnalystCommand[] = ['analyst add', 'analyst list', 'analyst remove', 'analyst datasets', 'analyst render'];

function isAnalystCommand(command: Command): command is AnalystCommand {
  return (analystCommands as readonly string[]).includes(command);
}

/** Flags each command takes, besides --file (every command) and the namespaces (create, grant). */
const commandFlags: Record<Command, readonly string[]> = {
  create: ['--name', ...datasetNamespaces.map((n) => `--${n}`), '--origin', '--publishable'],
  list: ['--json'],
  revoke: [],
  grant: datasetNamespaces.map((n) => `--${n}`),
  origins: ['--add', '--remove', '--set', '--clear'],
  'analyst add': ['--datasets'],
  'analyst list': ['--json'],
  'analyst remove': [],
  'analyst datasets': [],
  'analyst render': ['--database', '--out'],
};
const booleanFlags = new Set(['--json', '--publishable', '--clear']);
/** The arguments each command takes, as its usage error names them. */
const positionalNames: Record<Command, readonly string[]> = {
  create: [],
  list: [],
  revoke: ["the key's ID (as `list` shows it)"],
  grant: ["the key's ID (as `list` shows it)"],
  origins: ["the key's ID (as `list` shows it)"],
  'analyst add': ["the analyst's NAME"],
  'analyst list': [],
  'analyst remove': ["the analyst's NAME"],
  'analyst datasets': ["the analyst's NAME", 'the datasets (ID[,ID]..., or "*")'],
  'analyst render': [],
};

interface Parsed {
  command: Command;
  file: string | undefined;
  values: Map<string, string[]>;
  positionals: string[];
}

function parseArguments(argv: readonly string[]): Parsed | 'help' {
  if (argv.length === 0) throw new UsageError('a command is required');
  if (argv.includes('--help') || argv.includes('-h')) return 'help';
  const [first, ...afterFirst] = argv;
  if (first === undefined || first.startsWith('-')) throw new UsageError(`the command must come first, got ${JSON.stringify(first)}`);
  let command: Command;
  let rest = afterFirst;
  if (first === 'analyst') {
    const [second, ...afterSecond] = afterFirst;
    const known = analystCommands.map((c) => c.slice('analyst '.length)).join(', ');
    const candidate = `analyst ${second ?? ''}`;
    if (second === undefined || second.startsWith('-')) throw new UsageError(`analyst needs a command: ${known}`);
    if (!(analystCommands as readonly string[]).includes(candidate)) throw new UsageError(`unknown command ${JSON.stringify(candidate)}; known: ${known}`);
    command = candidate as AnalystCommand;
    rest = afterSecond;
  } else if ((commands as readonly string[]).includes(first)) {
    command = first as KeyCommand;
  } else {
    throw new UsageError(`unknown command ${JSON.stringify(first)}; known: ${[...commands, 'analyst'].join(', ')}`);
  }
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
  const expected = positionalNames[command];
  if (positionals.length !== expected.length) {
    const extra = positionals[expected.length];
    throw new UsageError(extra !== undefined ? `unexpected argument ${JSON.stringify(extra)} for ${command}` : `${command} needs ${expected[positionals.length] ?? ''}`);
  }
  for (const single of ['--file', '--name', '--datasets', '--database', '--out']) {
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

function describeOrigins(key: Pick<KeyListing, 'kind' | 'origins'>): string {
  if (key.origins.length > 0) return key.origins.join(', ');
  return key.kind === 'secret' ? 'none (servers only)' : 'none';
}

function describeKey(key: KeyListing): string {
  const state = key.revoked_at === undefined ? 'active' : `REVOKED ${key.revoked_at}`;
  return `${key.id}  ${JSON.stringify(key.name)}  ${key.kind}  created ${key.created_at}  ${state}\n    ${describeDatasets(key.datasets)}\n    origins: ${describeOrigins(key)}`;
}

/** The origins change the flags of `origins` ask for. */
function originsChange(values: Map<string, string[]>): OriginsChange {
  const set = values.get('--set');
  const clear = values.has('--clear');
  const add = values.get('--add') ?? [];
  const remove = values.get('--remove') ?? [];
  const edits = add.length + remove.length > 0;
  if ((set !== undefined || clear) && edits) throw new UsageError('origins takes either --set or --clear, or --add and --remove');
  if (set !== undefined && clear) throw new UsageError('origins takes --set or --clear, not both');
  if (set !== undefined) return { set };
  if (clear) return { set: [] };
  if (!edits) throw new UsageError('origins needs --add ORIGIN, --remove ORIGIN, --set ORIGIN or --clear');
  return { add, remove };
}

function run(argv: readonly string[], env: NodeJS.ProcessEnv, out: (line: string) => void): void {
  const parsed = parseArguments(argv);
  if (parsed === 'help') return out(usage);
  const { command, values, positionals } = parsed;
  if (isAnalystCommand(command)) return runAnalyst({ ...parsed, command }, env, out);
  const path = resolve(parsed.file ?? (env.KEYS_FILE !== undefined && env.KEYS_FILE !== '' ? env.KEYS_FILE : '.data/keys.json'));
  switch (command) {
    case 'create': {
      const name = values.get('--name')?.[0];
      if (name === undefined) throw new UsageError('create needs --name NAME');
      const datasets = datasetsFrom(values);
      const kind = values.has('--publishable') ? 'publishable' : 'secret';
      const origins = values.get('--origin') ?? [];
      const created = updateKeyFile(path, (contents) => createKey(contents, { name, datasets, kind, origins }, new Date(), undefined, path));
      out(`Created ${kind} key ${created.id} (${JSON.stringify(name.trim())}) in ${path}`);
      out(`It may write to: ${describeDatasets(datasets)}`);
      out(`From the web pages of: ${describeOrigins({ kind, origins })}`);
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
    case 'origins': {
      const id = positionals[0] ?? '';
      const change = originsChange(values);
      const changed = updateKeyFile(path, (contents) => setOrigins(contents, id, change, path));
      out(`Key ${id} may now be used from the web pages of: ${describeOrigins(changed.key)}`);
      return;
    }
  }
}

function describeAnalyst(analyst: AnalystListing): string {
  return `${analyst.name}  created ${analyst.created_at}\n    datasets: ${describeAnalystDatasets(analyst.datasets)}`;
}

/** What to do after a change, which the server sees only once the rendered file is deployed. */
const renderHint = 'The server sees this once the rendered file is in its users.d: npm run keys -- analyst render --out PATH (docs/analysts.md, Per-dataset access)';

function runAnalyst({ command, file, values, positionals }: Parsed & { command: AnalystCommand }, env: NodeJS.ProcessEnv, out: (line: string) => void): void {
  const path = resolve(file ?? '.data/analysts.json');
  const update = <T extends { contents: string }>(edit: (contents: string | undefined) => T): T => {
    const result = edit(readAnalystsFileText(path));
    writeAnalystsFile(path, result.contents);
    return result;
  };
  const name = positionals[0] ?? '';
  switch (command) {
    case 'analyst add': {
      const datasets = values.get('--datasets')?.[0];
      if (datasets === undefined) throw new UsageError('analyst add needs --datasets ID[,ID]... (or "*" for every dataset)');
      const added = update((contents) => addAnalyst(contents, { name, datasets: parseDatasetList(datasets) }, new Date(), undefined, path));
      out(`Added analyst ${name} to ${path}`);
      out(`They may read: ${describeAnalystDatasets(added.analyst.datasets)}`);
      out('');
      out(`    ${added.password}`);
      out('');
      out('Copy this password now: it cannot be shown again. Only its SHA-256 hash is stored; if it is lost, remove the analyst and add them again.');
      out(renderHint);
      return;
    }
    case 'analyst list': {
      const analysts = listAnalysts(readAnalystsFileText(path), path);
      if (values.has('--json')) return out(JSON.stringify(analysts, null, 2));
      if (analysts.length === 0) return out(`No analysts in ${path}`);
      for (const analyst of analysts) out(describeAnalyst(analyst));
      return;
    }
    case 'analyst remove': {
      update((contents) => removeAnalyst(contents, name, path));
      out(`Removed analyst ${name} from ${path}`);
      out(renderHint);
      return;
    }
    case 'analyst datasets': {
      const changed = update((contents) => setAnalystDatasets(contents, name, parseDatasetList(positionals[1] ?? ''), path));
      out(`Analyst ${name} may now read: ${describeAnalystDatasets(changed.analyst.datasets)}`);
      out(renderHint);
      return;
    }
    case 'analyst render': {
      const database = values.get('--database')?.[0] ?? (env.CLICKHOUSE_DATABASE !== undefined && env.CLICKHOUSE_DATABASE !== '' ? env.CLICKHOUSE_DATABASE : 'sluice');
      const text = readAnalystsFileText(path);
      if (text === undefined) throw new SluiceError('INVALID_CONFIG', `${path}: there is no analysts file yet; add an analyst first (npm run keys -- analyst add NAME --datasets ID)`);
      const xml = renderAnalystUsers(parseAnalystsFile(text, path), database);
      const outPath = values.get('--out')?.[0];
      if (outPath === undefined) return out(xml.trimEnd());
      writeAnalystUsers(resolve(outPath), xml);
      const count = listAnalysts(text, path).length;
      out(`Wrote ${resolve(outPath)} (${count} ${count === 1 ? 'analyst' : 'analysts'}, database ${database})`);
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
