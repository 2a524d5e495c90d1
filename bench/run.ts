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
import { buildDist } from '@sluice/dev';
import { analyticsScenario } from './scenarios/analytics';
import { dedupScenario } from './scenarios/dedup';
import { workerScenario } from './scenarios/worker';
import { e2eScenario } from './scenarios/e2e';
import { gatewayScenario } from './scenarios/gateway';
import { overloadScenario } from './scenarios/overload';

export interface ScenarioOption {
  name: string;
  description: string;
  default: number;
  min: number;
}

export type Unit = 'ms' | 'µs' | 'req/s' | 'events/s' | 'MB/s' | 'B/key' | 'MiB' | 'messages' | 'requests' | '%';

/**
 * One row of the table: a figure measured in this run, the same figure for a baseline measured in
 * the same run, and a goal on the figure itself or on its ratio to the baseline.
 */
export interface Measurement {
  phase: string;
  /** What was measured: a query, a load, a step. */
  name: string;
  value: number;
  unit: Unit;
  /** Latencies and sizes are better lower, rates higher. */
  better: 'lower' | 'higher';
  /** The baseline's figure and what the baseline is. */
  baseline: { value: number; what: string } | null;
  /** A bound on the value, or on the ratio to the baseline (ratio = how many times the baseline's performance). */
  goal: { atMost: number } | { atLeast: number } | { ratioAtLeast: number } | null;
  /** Answers compared with the baseline's; null when not compared. */
  check: 'MATCH' | 'MISMATCH' | null;
  /** A little more for the table: a max, a p99. */
  note?: string;
}

/** How many times the baseline's performance the figure is: above 1 is better than the baseline. */
export function ratioOf(m: Pick<Measurement, 'value' | 'better' | 'baseline'>): number | null {
  if (m.baseline === null || m.value === 0 || m.baseline.value === 0) return null;
  return m.better === 'higher' ? m.value / m.baseline.value : m.baseline.value / m.value;
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
  /** A progress bar for a long phase, redrawn on stderr; `done === total` ends it. */
  progress(label: string, done: number, total: number): void;
  /** With --cpu-prof: where services started by the scenario write their CPU profiles (node --cpu-prof). */
  cpuProfileDirectory: string | undefined;
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

const scenarios: readonly Scenario[] = [gatewayScenario, overloadScenario, e2eScenario, analyticsScenario, dedupScenario, workerScenario];

const resultsFile = join(__dirname, 'results', 'latest.json');
const chartFile = join(__dirname, 'results', 'latest.svg');
const profilesDirectory = join(__dirname, 'results', 'profiles');

class UsageError extends Error {}

function usage(): string {
  const lines = ['usage: npm run bench -- [scenario...] [--option value]... [--cpu-prof]', '', 'scenarios (default: all):'];
  for (const scenario of scenarios) {
    lines.push(`  ${scenario.name.padEnd(12)} ${scenario.description}`);
    for (const option of scenario.options) lines.push(`    --${option.name} N`.padEnd(20) + ` ${option.description} (default ${option.default})`);
  }
  lines.push('', '--cpu-prof: the services a scenario starts write CPU profiles (open them in Chrome DevTools) to ' + profilesDirectory + '.');
  lines.push(`Results are also written to ${resultsFile} and drawn in ${chartFile}.`);
  return lines.join('\n');
}

interface Parsed {
  selected: Scenario[];
  options: Map<string, number>;
  cpuProfile: boolean;
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
  let cpuProfile = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--cpu-prof') {
      cpuProfile = true;
      continue;
    }
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
  return { selected, options, cpuProfile };
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

function formatValue(value: number, unit: Unit): string {
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${unit}`;
}

function formatGoal(m: Measurement): string {
  if (m.goal === null) return '-';
  if ('atMost' in m.goal) return `<= ${formatValue(m.goal.atMost, m.unit)}`;
  if ('atLeast' in m.goal) return `>= ${formatValue(m.goal.atLeast, m.unit)}`;
  return `ratio >= ${m.goal.ratioAtLeast}`;
}

export function verdict(m: Measurement): 'PASS' | 'FAIL' | '-' {
  if (m.goal === null) return '-';
  if ('atMost' in m.goal) return m.value <= m.goal.atMost ? 'PASS' : 'FAIL';
  if ('atLeast' in m.goal) return m.value >= m.goal.atLeast ? 'PASS' : 'FAIL';
  const ratio = ratioOf(m);
  return ratio !== null && ratio >= m.goal.ratioAtLeast ? 'PASS' : 'FAIL';
}

export interface TableRow {
  scenario: string;
  m: Measurement;
}

export function renderTable(rows: readonly TableRow[]): string {
  const header = ['scenario', 'phase', 'measure', 'value', 'baseline', 'baseline is', 'ratio', 'goal', 'verdict', 'check', 'note'];
  const cells = rows.map(({ scenario, m }) => {
    const ratio = ratioOf(m);
    return [
      scenario,
      m.phase,
      m.name,
      formatValue(m.value, m.unit),
      m.baseline === null ? '-' : formatValue(m.baseline.value, m.unit),
      m.baseline?.what ?? '-',
      ratio === null ? '-' : `${ratio.toFixed(2)}x`,
      formatGoal(m),
      verdict(m),
      m.check ?? '-',
      m.note ?? '',
    ];
  });
  const numeric = new Set([3, 4, 6]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: string[]): string => c.map((v, i) => (numeric.has(i) ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A bar per figure that has a baseline: its ratio to the baseline (1 = as good as the baseline), with the goal marked. */
export function renderChart(rows: readonly TableRow[], machineLine: string): string {
  const bars = rows.flatMap(({ scenario, m }) => {
    const ratio = ratioOf(m);
    return ratio === null ? [] : [{ label: `${scenario} · ${m.phase} · ${m.name}`, ratio, goal: m.goal !== null && 'ratioAtLeast' in m.goal ? m.goal.ratioAtLeast : null, verdict: verdict(m) }];
  });
  const labelWidth = 520;
  const plotWidth = 420;
  const rowHeight = 22;
  const top = 48;
  const height = top + bars.length * rowHeight + 40;
  const maxRatio = Math.max(2, ...bars.map((b) => b.ratio));
  const x = (ratio: number): number => labelWidth + (Math.min(ratio, maxRatio) / maxRatio) * plotWidth;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + plotWidth + 80}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="8" y="18" font-size="14" font-weight="bold">npm run bench: each figure against its baseline measured in the same run (ratio; 1 = the baseline)</text>`,
    `<text x="8" y="36" fill="#555">${escapeXml(machineLine)}</text>`,
    `<line x1="${x(1)}" y1="${top - 6}" x2="${x(1)}" y2="${height - 30}" stroke="#999" stroke-dasharray="4 3"/>`,
    `<text x="${x(1) + 3}" y="${height - 16}" fill="#555">1x</text>`,
  ];
  bars.forEach((bar, i) => {
    const y = top + i * rowHeight;
    const colour = bar.verdict === 'FAIL' ? '#d9534f' : bar.ratio >= 1 ? '#4a9a5b' : '#e0a030';
    parts.push(`<text x="${labelWidth - 8}" y="${y + 14}" text-anchor="end">${escapeXml(bar.label)}</text>`);
    parts.push(`<rect x="${labelWidth}" y="${y + 3}" width="${Math.max(1, x(bar.ratio) - labelWidth)}" height="${rowHeight - 8}" fill="${colour}"/>`);
    parts.push(`<text x="${x(bar.ratio) + 4}" y="${y + 14}">${bar.ratio.toFixed(2)}x</text>`);
    if (bar.goal !== null) parts.push(`<line x1="${x(bar.goal)}" y1="${y + 1}" x2="${x(bar.goal)}" y2="${y + rowHeight - 3}" stroke="#000" stroke-width="2"/>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Draws a progress bar on stderr, in place on a terminal and as a line every 10% otherwise. */
function createProgress(): (label: string, done: number, total: number) => void {
  let lastLine = '';
  let lastTenth = -1;
  return (label, done, total) => {
    const fraction = total <= 0 ? 1 : Math.min(1, done / total);
    const width = 30;
    const filled = Math.round(fraction * width);
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%`;
    if (process.stderr.isTTY) {
      if (line !== lastLine) process.stderr.write(`\r${line}${fraction >= 1 ? '\n' : ''}`);
    } else {
      const tenth = Math.floor(fraction * 10);
      if (tenth !== lastTenth || label !== lastLine.split(' [')[0]) process.stderr.write(line + '\n');
      lastTenth = tenth;
    }
    lastLine = line;
  };
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
    return await runScenarios(parsed.selected, parsed.options, parsed.cpuProfile, interrupt.signal);
  } finally {
    finished();
  }
}

async function runScenarios(selected: readonly Scenario[], chosen: Map<string, number>, cpuProfile: boolean, signal: AbortSignal): Promise<number> {
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
  // The services run as users run them, compiled; tsc -b is incremental, so a current build costs a second or two.
  log('building the services (npm run build)');
  buildDist();
  const host = machine();
  log(`machine: ${host.cpu}, ${host.cores} cores, ${host.ramGiB} GiB RAM, Node ${host.node} (${host.platform})`);
  const startedAt = new Date();
  const results: { name: string; options: Record<string, number>; result?: ScenarioResult; error?: string }[] = [];
  for (const scenario of selected) {
    const options = Object.fromEntries(scenario.options.map((o) => [o.name, chosen.get(o.name) ?? o.default]));
    log(`\n== ${scenario.name}: ${Object.entries(options).map(([k, v]) => `--${k} ${v}`).join(' ')}`);
    try {
      const cpuProfileDirectory = cpuProfile ? join(profilesDirectory, scenario.name) : undefined;
      if (cpuProfileDirectory !== undefined) mkdirSync(cpuProfileDirectory, { recursive: true });
      const result = await scenario.run({ options, log, progress: createProgress(), cpuProfileDirectory, onCleanup: (cleanup) => void cleanups.push(cleanup), signal });
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
  const machineLine = `machine: ${host.cpu}, ${host.cores} cores, ${host.ramGiB} GiB RAM, Node ${host.node}`;
  log(`\n${machineLine}`);
  log('ratio = how many times the baseline\'s performance (above 1 beats the baseline); the verdict judges the value or the ratio against the goal.');

  const failures = results.flatMap((r) => [
    ...(r.error === undefined ? [] : [`${r.name}: ${r.error}`]),
    ...(r.result?.failures ?? []).map((f) => `${r.name}: ${f}`),
  ]);
  const missed = rows.filter(({ m }) => verdict(m) === 'FAIL').map(({ scenario, m }) => `${scenario} ${m.phase} ${m.name}`);
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
        ratio: ratioOf(m),
        verdict: verdict(m),
      })),
    })),
  };
  writeFileSync(resultsFile, JSON.stringify(json, null, 2) + '\n');
  writeFileSync(chartFile, renderChart(rows, machineLine));
  log(`results: ${resultsFile}, chart: ${chartFile}`);

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
