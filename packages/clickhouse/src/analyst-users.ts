/**
 * Per-dataset analysts on a ClickHouse server (docs/analysts.md, "Per-dataset access (server
 * mode)"). The analysts file (schemas/analysts.v1.json, edited by `npm run keys -- analyst ...`)
 * names each analyst, the SHA-256 of their password and the datasets they may read. It is rendered
 * into a users.d file, and ClickHouse's own access control enforces it: one user per analyst, with
 * the `analyst` profile of deploy/clickhouse/server/users.d/analyst.xml, SELECT on the analyst
 * tables only, and a row filter on each of them that keeps the analyst's datasets. Sluice filters
 * nothing itself.
 *
 * Embedded chDB cannot do this: every query there runs as its `default` user (docs/analysts.md says
 * what was tried), so this is for a ClickHouse server only.
 *
 * The edits are pure functions from the file's text to its new text, as in key-admin; the I/O is
 * readAnalystsFileText and writeAnalystsFile.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { SluiceError } from '@sluice/core';
import { anyDataset, datasetIdProblem, writeFileAtomically } from '@sluice/tenancy';
import { createValidator, type AnalystsAnalyst, type AnalystsFile } from '@sluice/envelope';
import { databaseNamePattern } from './clickhouse';

export type { AnalystsAnalyst, AnalystsFile };

/** The views analysts query (docs/analysts.md). Their names are a stable interface. */
export const analystViews = [
  'search_request_summary',
  'ctr_daily',
  'ctr_by_query',
  'ctr_by_position',
  'search_conversion_daily',
  'item_ctr_by_position',
  'conversion_daily',
  'outcomes_daily',
] as const;

/**
 * The aggregate tables the views read. A view runs as the user who queries it (SQL SECURITY
 * INVOKER, ClickHouse's default), so an analyst needs SELECT on these too, and their row filter
 * applies there as well as on the view.
 */
export const analystViewSources = ['search_requests', 'item_ctr_totals', 'conversion_totals', 'outcome_totals'] as const;

/**
 * Everything an analyst is granted, each with a `dataset_id` column that its row filter reads.
 * The other tables (dedup_keys, dead letters, schema_migrations, the *_mv views) are not granted.
 */
export const analystTables: readonly string[] = ['events', ...analystViewSources, ...analystViews];

/** The ClickHouse profile every analyst gets: readonly=1 and the limits, from users.d/analyst.xml. */
export const analystProfile = 'analyst';

/** Users the server already has (docker-compose's default, analyst.xml's shared analyst): a second definition would merge into theirs. */
export const reservedAnalystNames: readonly string[] = ['default', 'analyst'];

const namePattern = /^[a-z][a-z0-9_-]{0,62}$/;

/** Where a message says a problem is, when the caller does not name the file. */
const defaultSource = 'the analysts file';

const validateFile = createValidator<AnalystsFile>('analysts.v1.json');

function invalid(message: string): never {
  throw new SluiceError('INVALID_CONFIG', message);
}

/**
 * Parses and checks the analysts file's text: the schema, then what a schema cannot say (unique
 * names). Throws SluiceError('INVALID_CONFIG') starting with `source` and naming the field.
 */
export function parseAnalystsFile(text: string, source: string = defaultSource): AnalystsFile {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    return invalid(`${source}: is not valid JSON (${(error as Error).message})`);
  }
  const checked = validateFile(root);
  if (!checked.ok) return invalid(`${source}: ${checked.issues.map((i) => `${i.path === '' ? 'the file' : i.path} ${i.message}`).join('; ')}`);
  const seen = new Map<string, number>();
  checked.value.analysts.forEach((analyst, index) => {
    const first = seen.get(analyst.name);
    if (first !== undefined) invalid(`${source}: /analysts/${index}/name ${JSON.stringify(analyst.name)} is also the name of /analysts/${first}; names must be unique`);
    seen.set(analyst.name, index);
  });
  return checked.value;
}

/** The file's analysts; a missing file (undefined) is an empty one. */
function load(contents: string | undefined, source: string): AnalystsFile {
  return contents === undefined ? { version: 1, analysts: [] } : parseAnalystsFile(contents, source);
}

/** The new text, checked again so that nothing invalid is ever written. */
function serialise(file: AnalystsFile, source: string): string {
  const text = JSON.stringify(file, null, 2) + '\n';
  parseAnalystsFile(text, source);
  return text;
}

function checkName(name: string): void {
  if (reservedAnalystNames.includes(name)) invalid(`${JSON.stringify(name)} is a user the server already has; choose another name`);
  if (!namePattern.test(name)) {
    invalid(`An analyst's name is a ClickHouse user name: a lowercase letter, then up to 62 lowercase letters, digits, _ or -; got ${JSON.stringify(name)}`);
  }
}

/** The datasets as the file stores them: ["*"] for every dataset, else the ids once each, in the order given. */
function checkDatasets(datasets: readonly string[]): AnalystsAnalyst['datasets'] {
  if (datasets.length === 0) invalid(`Name at least one dataset, or "${anyDataset}" for every dataset`);
  if (datasets.includes(anyDataset)) {
    if (datasets.some((d) => d !== anyDataset)) invalid(`"${anyDataset}" means every dataset, so it comes alone; got ${datasets.map((d) => JSON.stringify(d)).join(', ')}`);
    return [anyDataset];
  }
  for (const datasetId of datasets) {
    const problem = datasetIdProblem(datasetId);
    if (problem === 'empty') invalid('A dataset id must not be empty');
    if (problem === 'padded') invalid(`The dataset id ${JSON.stringify(datasetId)} must not start or end with whitespace`);
  }
  return [...new Set(datasets)];
}

function findAnalyst(file: AnalystsFile, name: string, source: string): AnalystsAnalyst {
  const analyst = file.analysts.find((a) => a.name === name);
  return analyst ?? invalid(`No analyst named ${JSON.stringify(name)} in ${source}`);
}

/** What `list` shows of an analyst: never the password's hash. */
export type AnalystListing = Omit<AnalystsAnalyst, 'password_sha256'>;

function toListing({ name, datasets, created_at }: AnalystsAnalyst): AnalystListing {
  return { name, datasets: [...datasets], created_at };
}

/**
 * Adds an analyst with a new password: 32 random bytes in base64url (43 characters). `password` is
 * its only copy: show it once, then forget it. The file keeps its SHA-256, unsalted as ClickHouse's
 * password_sha256_hex is, which is safe for a random password of that length.
 */
export function addAnalyst(
  contents: string | undefined,
  input: { name: string; datasets: readonly string[] },
  now: Date,
  random: (size: number) => Buffer = randomBytes,
  source: string = defaultSource,
): { contents: string; password: string; analyst: AnalystListing } {
  const file = load(contents, source);
  checkName(input.name);
  if (file.analysts.some((a) => a.name === input.name)) invalid(`${source} already has an analyst named ${JSON.stringify(input.name)}`);
  const datasets = checkDatasets(input.datasets);
  const password = random(32).toString('base64url');
  if (password.length !== 43) invalid('The random source did not give 32 bytes for the password');
  const analyst: AnalystsAnalyst = { name: input.name, password_sha256: createHash('sha256').update(password, 'utf8').digest('hex'), datasets, created_at: now.toISOString() };
  return { contents: serialise({ version: 1, analysts: [...file.analysts, analyst] }, source), password, analyst: toListing(analyst) };
}

/** Removes an analyst; once the rendered file is deployed, the server no longer knows the user. */
export function removeAnalyst(contents: string | undefined, name: string, source: string = defaultSource): { contents: string; analyst: AnalystListing } {
  const file = load(contents, source);
  const analyst = findAnalyst(file, name, source);
  return { contents: serialise({ version: 1, analysts: file.analysts.filter((a) => a !== analyst) }, source), analyst: toListing(analyst) };
}

/** Replaces an analyst's datasets with these (["*"]: every dataset). */
export function setAnalystDatasets(
  contents: string | undefined,
  name: string,
  datasets: readonly string[],
  source: string = defaultSource,
): { contents: string; analyst: AnalystListing } {
  const file = load(contents, source);
  const analyst = findAnalyst(file, name, source);
  const changed: AnalystsAnalyst = { ...analyst, datasets: checkDatasets(datasets) };
  const analysts = file.analysts.map((a) => (a === analyst ? changed : a));
  return { contents: serialise({ version: 1, analysts }, source), analyst: toListing(changed) };
}

/** Every analyst, in the file's order, without hashes. */
export function listAnalysts(contents: string | undefined, source: string = defaultSource): AnalystListing[] {
  return load(contents, source).analysts.map(toListing);
}

/**
 * A ClickHouse string literal that reads back as exactly `value`'s UTF-8 bytes. Printable ASCII
 * stays as it is (a quote and a backslash escaped); every other byte is written \xHH, so no
 * character can end the literal, and none is one that XML 1.0 cannot hold.
 */
export function sqlStringLiteral(value: string): string {
  let literal = "'";
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte === 0x27 || byte === 0x5c) literal += '\\' + String.fromCharCode(byte);
    else if (byte >= 0x20 && byte < 0x7f) literal += String.fromCharCode(byte);
    else literal += '\\x' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return literal + "'";
}

/** The row filter for an analyst's datasets: `1` (every row) for ["*"]. */
export function datasetFilter(datasets: AnalystsAnalyst['datasets']): string {
  if (datasets.length === 1 && datasets[0] === anyDataset) return '1';
  return `dataset_id IN (${datasets.map(sqlStringLiteral).join(', ')})`;
}

function xmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The users.d file for a ClickHouse server: per analyst a user with the password's SHA-256, the
 * `analyst` profile (so analyst.xml must be deployed too), `database` as default database, SELECT
 * on the analyst tables of `database`, and each of those tables filtered to the analyst's datasets.
 */
export function renderAnalystUsers(file: AnalystsFile, database: string): string {
  if (!databaseNamePattern.test(database)) invalid(`ClickHouse database name ${JSON.stringify(database)} must match [A-Za-z_][A-Za-z0-9_]*`);
  const users = file.analysts.map((analyst) => {
    const filter = xmlText(datasetFilter(analyst.datasets));
    return [
      `        <${analyst.name}>`,
      `            <password_sha256_hex>${analyst.password_sha256}</password_sha256_hex>`,
      '            <networks>',
      '                <ip>::/0</ip>',
      '            </networks>',
      `            <profile>${analystProfile}</profile>`,
      '            <quota>default</quota>',
      `            <default_database>${database}</default_database>`,
      '            <grants>',
      ...analystTables.map((table) => `                <query>GRANT SELECT ON ${database}.${table}</query>`),
      '            </grants>',
      '            <databases>',
      `                <${database}>`,
      ...analystTables.map((table) => `                    <${table}><filter>${filter}</filter></${table}>`),
      `                </${database}>`,
      '            </databases>',
      `        </${analyst.name}>`,
    ].join('\n');
  });
  return [
    '<?xml version="1.0"?>',
    // An XML comment may not hold two hyphens in a row, so the commands are named without their "--".
    '<!-- Written from the analysts file by the keys CLI (analyst render); change that file with its',
    '     analyst commands instead. Per-dataset analysts: docs/analysts.md, "Per-dataset access (server',
    '     mode)". The profile "analyst" is defined in users.d/analyst.xml, which must be there too. -->',
    '<clickhouse>',
    file.analysts.length === 0 ? '    <users/>' : ['    <users>', ...users, '    </users>'].join('\n'),
    '</clickhouse>',
    '',
  ].join('\n');
}

/** "a,b" as the CLI takes datasets. An id with a comma in it cannot be given this way: edit the file for it. */
export function parseDatasetList(text: string): string[] {
  return text.split(',');
}

/**
 * The analysts file's text, or undefined when there is none yet. A world-writable file is refused:
 * anyone on the machine could have granted themselves every dataset in it.
 */
export function readAnalystsFileText(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return invalid(`${path}: cannot read the analysts file (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o002) !== 0) {
    invalid(`${path}: the analysts file is world-writable (mode ${mode.toString(8).padStart(4, '0')}), so anyone on this machine could have changed who reads which dataset; check it, then run \`chmod o-w ${path}\``);
  }
  return text;
}

/** Writes the analysts file in one step, mode 0600, as the key file is. */
export function writeAnalystsFile(path: string, contents: string): void {
  writeFileAtomically(path, contents, { mode: 0o600, what: 'the analysts file' });
}

/**
 * Writes the rendered users.d file in one step, mode 0644 (a missing directory 0755): the server's
 * own user must read it, and it holds only hashes of random passwords, which let no one log in.
 */
export function writeAnalystUsers(path: string, xml: string): void {
  writeFileAtomically(path, xml, { mode: 0o644, directoryMode: 0o755, what: 'the users.d file' });
}

/** An analyst's datasets as the CLI says them. */
export function describeAnalystDatasets(datasets: AnalystsAnalyst['datasets']): string {
  return datasets.length === 1 && datasets[0] === anyDataset ? `every dataset (${anyDataset})` : datasets.join(', ');
}
