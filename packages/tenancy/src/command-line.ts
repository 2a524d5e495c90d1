import { errorMessage } from '@sluice/core';

/** A command-line mistake: the tool prints it with its usage and exits 2. */
export class UsageError extends Error {}

/** What one command takes besides --file, which every command takes. */
export interface CommandSpec {
  flags: readonly string[];
  /** Its positional arguments, as a usage error names them. */
  positionals: readonly string[];
}

export interface ParsedCommand<C extends string> {
  command: C;
  file: string | undefined;
  values: Map<string, string[]>;
  positionals: string[];
}

export interface CommandArgumentRules {
  /** Flags that take no value. */
  booleanFlags: ReadonlySet<string>;
  /** Flags that may be given once at most. */
  singleFlags: readonly string[];
}

/**
 * The flags and positional arguments after a command's name (`rest`), checked against what the
 * command takes: `--flag value`, `--flag=value`, boolean flags, and `--` before positionals that
 * start with a dash.
 */
export function parseCommandArguments<C extends string>(command: C, rest: readonly string[], spec: CommandSpec, rules: CommandArgumentRules): ParsedCommand<C> {
  const known = ['--file', ...spec.flags];
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
    if (rules.booleanFlags.has(flag)) {
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
  const expected = spec.positionals;
  if (positionals.length !== expected.length) {
    const extra = positionals[expected.length];
    throw new UsageError(extra !== undefined ? `unexpected argument ${JSON.stringify(extra)} for ${command}` : `${command} needs ${expected[positionals.length] ?? ''}`);
  }
  for (const single of ['--file', ...rules.singleFlags]) {
    if ((values.get(single)?.length ?? 0) > 1) throw new UsageError(`${single} may be given only once`);
  }
  return { command, file: values.get('--file')?.[0], values, positionals };
}

/** A command-line tool: its usage text, and what it does with its arguments (UsageError for a mistake). */
export interface CommandLineTool {
  usage: string;
  run(argv: readonly string[], env: NodeJS.ProcessEnv, out: (line: string) => void): void;
}

/**
 * Runs a tool as a process does, and returns its exit code: 0 done, 1 the command failed (one line
 * on stderr), 2 a usage error (the message, then the usage). `--help` or `-h` anywhere prints the usage.
 */
export function runCommandLine(name: string, tool: CommandLineTool, argv: readonly string[], env: NodeJS.ProcessEnv, streams: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): number {
  const out = (line: string): void => void streams.stdout.write(line + '\n');
  try {
    if (argv.includes('--help') || argv.includes('-h')) out(tool.usage);
    else tool.run(argv, env, out);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      streams.stderr.write(`${name}: ${error.message}\n\n${tool.usage}\n`);
      return 2;
    }
    streams.stderr.write(`${name}: ${errorMessage(error).replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  }
}
