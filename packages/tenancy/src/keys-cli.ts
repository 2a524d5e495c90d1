import { resolve } from 'node:path';
import { parseCommandArguments, UsageError, type CommandLineTool, type CommandSpec, type ParsedCommand } from './command-line';
import { createKey, grantDatasets, listKeys, readKeyFileText, revokeKey, setOrigins, updateKeyFile, type Datasets, type KeyListing, type OriginsChange } from './key-admin';
import { datasetNamespaces, type DatasetNamespace } from './key-store';

/**
 * `npm run keys -- <command>` (or `node packages/tenancy/dist/keys-main.js <command>` where only
 * the compiled package is, as in the gateway image): creates, lists, grants and revokes the
 * gateway's API keys in the key file, and sets the web origins each may be used from
 * (docs/keys.md). The file is --file PATH, else $KEYS_FILE, else .data/keys.json in the current
 * directory. A running gateway picks changes up within a second.
 */
const keysUsage = `usage: npm run keys -- <command> [--file PATH]

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

--file PATH            the key file (default: $KEYS_FILE, else .data/keys.json)`;

type KeyCommand = 'create' | 'list' | 'revoke' | 'grant' | 'origins';
const keyID = "the key's ID (as `list` shows it)";
const keyCommands: Record<KeyCommand, CommandSpec> = {
  create: { flags: ['--name', ...datasetNamespaces.map((n) => `--${n}`), '--origin', '--publishable'], positionals: [] },
  list: { flags: ['--json'], positionals: [] },
  revoke: { flags: [], positionals: [keyID] },
  grant: { flags: datasetNamespaces.map((n) => `--${n}`), positionals: [keyID] },
  origins: { flags: ['--add', '--remove', '--set', '--clear'], positionals: [keyID] },
};
const argumentRules = { booleanFlags: new Set(['--json', '--publishable', '--clear']), singleFlags: ['--name'] };

function isKeyCommand(word: string): word is KeyCommand {
  return Object.hasOwn(keyCommands, word);
}

/**
 * The keys tool. Each of `groups` is a further tool under a command word of its own (the analysts'
 * commands, under `analyst`, live with the ClickHouse users they render): its arguments follow
 * that word, and its usage follows the keys'.
 */
export function createKeysCommandLine(groups: Record<string, CommandLineTool> = {}): CommandLineTool {
  return {
    usage: [keysUsage, ...Object.values(groups).map((group) => group.usage)].join('\n\n'),
    run(argv, env, out) {
      const [first, ...rest] = argv;
      if (first === undefined) throw new UsageError('a command is required');
      if (first.startsWith('-')) throw new UsageError(`the command must come first, got ${JSON.stringify(first)}`);
      const group = Object.hasOwn(groups, first) ? groups[first] : undefined;
      if (group !== undefined) return group.run(rest, env, out);
      if (!isKeyCommand(first)) throw new UsageError(`unknown command ${JSON.stringify(first)}; known: ${[...Object.keys(keyCommands), ...Object.keys(groups)].join(', ')}`);
      runKeyCommand(parseCommandArguments(first, rest, keyCommands[first], argumentRules), env, out);
    },
  };
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

function runKeyCommand(parsed: ParsedCommand<KeyCommand>, env: NodeJS.ProcessEnv, out: (line: string) => void): void {
  const { command, values, positionals } = parsed;
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

