import { resolve } from 'node:path';
import { SluiceError } from '@sluice/core';
import { parseCommandArguments, UsageError, type CommandLineTool, type CommandSpec, type ParsedCommand } from '@sluice/tenancy';
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
} from './analyst-users';

/**
 * `npm run keys -- analyst <command>`: the SQL analysts of a ClickHouse server and the datasets each
 * may read, in the analysts file (--file PATH, else .data/analysts.json), rendered as the server's
 * users.d file (docs/analysts.md, "Per-dataset access (server mode)"). The keys tool
 * (@sluice/tenancy) runs it under its `analyst` command word.
 */
const analystsUsage = `analyst commands: SQL analysts of a ClickHouse server, each reading only some datasets, enforced
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

--file PATH            for analyst commands, the analysts file (default: .data/analysts.json)`;

type AnalystCommand = 'analyst add' | 'analyst list' | 'analyst remove' | 'analyst datasets' | 'analyst render';
const analystName = "the analyst's NAME";
const analystCommands: Record<AnalystCommand, CommandSpec> = {
  'analyst add': { flags: ['--datasets'], positionals: [analystName] },
  'analyst list': { flags: ['--json'], positionals: [] },
  'analyst remove': { flags: [], positionals: [analystName] },
  'analyst datasets': { flags: [], positionals: [analystName, 'the datasets (ID[,ID]..., or "*")'] },
  'analyst render': { flags: ['--database', '--out'], positionals: [] },
};
const argumentRules = { booleanFlags: new Set(['--json']), singleFlags: ['--datasets', '--database', '--out'] };

function isAnalystCommand(command: string): command is AnalystCommand {
  return Object.hasOwn(analystCommands, command);
}

export const analystsCommandLine: CommandLineTool = {
  usage: analystsUsage,
  run(argv, env, out) {
    const [word, ...rest] = argv;
    const known = Object.keys(analystCommands)
      .map((c) => c.slice('analyst '.length))
      .join(', ');
    if (word === undefined || word.startsWith('-')) throw new UsageError(`analyst needs a command: ${known}`);
    const command = `analyst ${word}`;
    if (!isAnalystCommand(command)) throw new UsageError(`unknown command ${JSON.stringify(command)}; known: ${known}`);
    runAnalyst(parseCommandArguments(command, rest, analystCommands[command], argumentRules), env, out);
  },
};

function describeAnalyst(analyst: AnalystListing): string {
  return `${analyst.name}  created ${analyst.created_at}\n    datasets: ${describeAnalystDatasets(analyst.datasets)}`;
}

/** What to do after a change, which the server sees only once the rendered file is deployed. */
const renderHint = 'The server sees this once the rendered file is in its users.d: npm run keys -- analyst render --out PATH (docs/analysts.md, Per-dataset access)';

function runAnalyst({ command, file, values, positionals }: ParsedCommand<AnalystCommand>, env: NodeJS.ProcessEnv, out: (line: string) => void): void {
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

