/**
 * `npm run bench -- [scenario...] [--option value]...`: runs benchmark scenarios, prints one table
 * and writes the results to bench/results/latest.json. Without a scenario, every scenario runs.
 *
 * Exit codes: 0 done (a missed goal is a result, shown as FAIL), 1 a scenario failed (wrong
 * results or an error), 2 a usage error, 130 interrupted (Ctrl-C; no results are written).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createLogger, errorMessage, onShutdownSignal } from '@sluice/core';
import { analyticsScenario } from './scenarios/analytics';
import { dedupScenario } from './scenarios/dedup';

export interface ScenarioOption {
  name: string;
  description: string;
  default: number;
  min: number;
}

/** One row of the table: a query (or step) timed, optionally against a baseline and a goal. */
export interface Measurement {
  phase: string;
  query: string;
  medianMs: number;
  maxMs: number;
  baselineMedianMs: number | null;
  goalMs: number | null;
  /** The view's and the baseline's answers compared; null when not compared. */
  check: 'MATCH' | 'MISMATCH' | null;
}

export interface ScenarioResult {
  measurements: Measurement[];
  /** Anything else worth keeping in the JSON (sizes, load rate, ...). */
  details: Record<string, unknown>;
  /** Reasons the scenario's numbers cannot be trusted; any makes the run exit 1. */
  failures: string[];
}

export interface ScenarioContext {
  options: Record<string, number>;
  /** Progress for the reader; stdout, one line each. */
  log(line: string): void;
  /** Registers cleanup to run at the end, however the scenario ends (e.g. removing a temp directory). */
  onCleanup(cleanup: () => Promise<void> | void): void;
  /**
   * Aborted on Ctrl-C. Scenarios check it between statements: exiting while chDB runs a query
   * crashes the process (SIGSEGV) before the temp directory is removed.
   */
  signal: AbortSignal;
}

export interface Scenario {
  name: string;
  description: string;
  options: readonly ScenarioOption[];
  run(context: ScenarioContext): Promise<ScenarioResult>;
}

const scenarios: readonly Scenario[] = [analyticsScenario, dedupScenario];

const resultsFile = join(__dirname, 'results', 'latest.json');

class UsageError extends Error {}

function usage(): string {
  const lines = ['usage: npm run bench -- [scenario...] [--option value]...', '', 'scenarios (default: all):'];
  for (const scenario of scenarios) {
    lines.push(`  ${scenario.name.padEnd(12)} ${scenario.description}`);
    for (const option of scenario.options) lines.push(`    --${option.name} N`.padEnd(20) + ` ${option.description} (default ${option.default})`);
  }
  lines.push('', `Results are also written to ${resultsFile}.`);
  return lines.join('\n');
}

interface Parsed {
  selected: Scenario[];
  options: Map<string, number>;
}

/** Integers may be written 10000000, 10_000_000, 10M or 500k. */
function parseCount(flag: string, text: string | undefined): number {
  const match = /^(\d[\d_]*)([kKmM]?)$/.exec(text ?? '');
  if (!match?.[1]) throw new UsageError(`--${flag} needs a whole number (e.g. 1000000, 1_000_000 or 1M), got ${JSON.stringify(text ?? '')}`);
  const factor = match[2] === '' ? 1 : match[2]?.toLowerCase() === 'k' ? 1_000 : 1_000_000;
  return Number(match[1].replace(/_/g, '')) * factor;
}

function parseArguments(argv: readonly string[]): Parsed | 'help' {
  const names: string[] = [];
  const raw = new Map<string, string | undefined>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      if (eq > 0) raw.set(arg.slice(2, eq), arg.slice(eq + 1));
      else raw.set(arg.slice(2), argv[++i]);
    } else {
      names.push(arg);
    }
  }
  const known = scenarios.map((s) => s.name);
  for (const name of names) {
    if (!known.includes(name)) throw new UsageError(`unknown scenario ${JSON.stringify(name)}; known scenarios: ${known.join(', ')}`);
  }
  const selected = names.length === 0 ? [...scenarios] : scenarios.filter((s) => names.includes(s.name));
  const allowed = new Map(selected.flatMap((s) => s.options.map((o) => [o.name, o] as const)));
  const options = new Map<string, number>();
  for (const [flag, text] of raw) {
    const option = allowed.get(flag);
    if (!option) {
      const list = [...allowed.keys()].map((n) => `--${n}`).join(', ') || '(none)';
      throw new UsageError(`unknown option --${flag} for ${selected.map((s) => s.name).join(', ')}; known options: ${list}`);
    }
    const value = parseCount(flag, text);
    if (value < option.min) throw new UsageError(`--${flag} must be at least ${option.min}, got ${value}`);
    options.set(flag, value);
  }
  return { selected, options };
}

function machine(): Record<string, string | number> {
  const cpuList = cpus();
  return {
    cpu: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    ramGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

const fmtMs = (ms: number | null): string => (ms === null ? '-' : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));

function verdict(m: Measurement): string {
  if (m.goalMs === null) return '-';
  return m.medianMs < m.goalMs ? 'PASS' : 'FAIL';
}

function renderTable(rows: { scenario: string; m: Measurement }[]): string {
  const header = ['scenario', 'phase', 'query', 'view median ms', 'view max ms', 'baseline median ms', 'ratio', 'goal', 'PASS/FAIL', 'results'];
  const cells = rows.map(({ scenario, m }) => [
    scenario,
    m.phase,
    m.query,
    fmtMs(m.medianMs),
    fmtMs(m.maxMs),
    fmtMs(m.baselineMedianMs),
    m.baselineMedianMs === null ? '-' : `${(m.baselineMedianMs / m.medianMs).toFixed(1)}x`,
    m.goalMs === null ? '-' : `< ${m.goalMs} ms`,
    verdict(m),
    m.check ?? '-',
  ]);
  const numeric = new Set([3, 4, 5, 6]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]): string => c.map((v, i) => (numeric.has(i) ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

async function main(): Promise<number> {
  let parsed: Parsed | 'help';
  try {
    parsed = parseArguments(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`bench: ${error.message}\n\n${usage()}\n`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(usage() + '\n');
    return 0;
  }
  // A benchmark cut short must still remove its multi-GB temp directory, so Ctrl-C only asks the
  // scenario to stop after its current statement; the run then ends through the normal path.
  const interrupt = new AbortController();
  let finished: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finished = resolve));
  onShutdownSignal(createLogger({ level: 'warn' }), async () => {
    process.stderr.write('bench: stopping after the current statement (press Ctrl-C again a few seconds later to force)...\n');
    interrupt.abort();
    await done;
    process.exit(130);
  });
  try {
    return await runScenarios(parsed.selected, parsed.options, interrupt.signal);
  } finally {
    finished();
  }
}

async function runScenarios(selected: readonly Scenario[], chosen: Map<string, number>, signal: AbortSignal): Promise<number> {
  const log = (line: string): void => void process.stdout.write(line + '\n');
  const cleanups: (() => Promise<void> | void)[] = [];
  const runCleanups = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        process.stderr.write(`bench: cleanup failed: ${errorMessage(error)}\n`);
      }
    }
  };
  const host = machine();
  log(`machine: ${host.cpu}, ${host.cores} cores, ${host.ramGiB} GiB RAM, Node ${host.node} (${host.platform})`);
  const startedAt = new Date();
  const results: { name: string; options: Record<string, number>; result?: ScenarioResult; error?: string }[] = [];
  for (const scenario of selected) {
    const options = Object.fromEntries(scenario.options.map((o) => [o.name, chosen.get(o.name) ?? o.default]));
    log(`\n== ${scenario.name}: ${Object.entries(options).map(([k, v]) => `--${k} ${v}`).join(' ')}`);
    try {
      const result = await scenario.run({ options, log, onCleanup: (cleanup) => void cleanups.push(cleanup), signal });
      results.push({ name: scenario.name, options, result });
    } catch (error) {
      if (!signal.aborted) process.stderr.write(`bench: scenario ${scenario.name} failed: ${errorMessage(error)}\n`);
      results.push({ name: scenario.name, options, error: errorMessage(error) });
    } finally {
      await runCleanups();
    }
    if (signal.aborted) {
      process.stderr.write('bench: interrupted; temp data removed, no results written\n');
      return 130;
    }
  }

  const rows = results.flatMap((r) => (r.result?.measurements ?? []).map((m) => ({ scenario: r.name, m })));
  log('\n' + renderTable(rows));
  log(`\nmachine: ${host.cpu}, ${host.cores} cores, ${host.ramGiB} GiB RAM, Node ${host.node}`);
  log('ratio = baseline median / view median (the speed-up); PASS/FAIL judges the view median against the goal.');

  const failures = results.flatMap((r) => [
    ...(r.error === undefined ? [] : [`${r.name}: ${r.error}`]),
    ...(r.result?.failures ?? []).map((f) => `${r.name}: ${f}`),
  ]);
  const missed = rows.filter(({ m }) => verdict(m) === 'FAIL').map(({ scenario, m }) => `${scenario} ${m.phase} ${m.query}`);
  if (missed.length > 0) log(`goal missed by: ${missed.join('; ')}`);

  mkdirSync(join(__dirname, 'results'), { recursive: true });
  const json = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: host,
    argv: process.argv.slice(2),
    ok: failures.length === 0,
    failures,
    scenarios: results.map((r) => ({
      name: r.name,
      options: r.options,
      ...(r.error === undefined ? {} : { error: r.error }),
      details: r.result?.details ?? {},
      measurements: (r.result?.measurements ?? []).map((m) => ({
        ...m,
        ratio: m.baselineMedianMs === null ? null : m.baselineMedianMs / m.medianMs,
        verdict: verdict(m),
      })),
    })),
  };
  writeFileSync(resultsFile, JSON.stringify(json, null, 2) + '\n');
  log(`results: ${resultsFile}`);

  if (failures.length > 0) {
    const banner = '!'.repeat(78);
    process.stderr.write(`\n${banner}\nBENCHMARK FAILED: its numbers cannot be trusted\n${failures.map((f) => `  - ${f}`).join('\n')}\n${banner}\n`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${errorMessage(error)}\n`);
    process.exitCode = 1;
  },
);
