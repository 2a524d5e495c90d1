import { SluiceError } from './errors';

/** Parses one raw string into a typed value, or returns an explanation of why it cannot. */
export type ValueParser<T> = (raw: string) => { ok: true; value: T } | { ok: false; expected: string };

export interface Setting<T> {
  parse: ValueParser<T>;
  /** Used when the variable is unset or empty; omit to make the setting required. */
  default?: T;
  description: string;
}

export type SettingsSpec = Record<string, Setting<unknown>>;
export type SettingsOf<S extends SettingsSpec> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export const parsers = {
  port: ((raw) => {
    const n = Number(raw);
    return /^\d+$/.test(raw) && n <= 65535 ? { ok: true, value: n } : { ok: false, expected: 'a port number between 0 and 65535' };
  }) as ValueParser<number>,
  positiveInt: ((raw) => {
    const n = Number(raw);
    return /^\d+$/.test(raw) && n > 0 && Number.isSafeInteger(n) ? { ok: true, value: n } : { ok: false, expected: 'a positive integer' };
  }) as ValueParser<number>,
  nonNegativeInt: ((raw) => {
    const n = Number(raw);
    return /^\d+$/.test(raw) && Number.isSafeInteger(n) ? { ok: true, value: n } : { ok: false, expected: 'a whole number, 0 or more' };
  }) as ValueParser<number>,
  nonEmpty: ((raw) => (raw.trim() === '' ? { ok: false, expected: 'a non-empty string' } : { ok: true, value: raw.trim() })) as ValueParser<string>,
  url: ((raw) => {
    try {
      const url = new URL(raw);
      return url.protocol === 'http:' || url.protocol === 'https:' ? { ok: true, value: raw } : { ok: false, expected: 'an http:// or https:// URL' };
    } catch {
      return { ok: false, expected: 'an http:// or https:// URL' };
    }
  }) as ValueParser<string>,
  hostPortList: ((raw) => {
    const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const valid = (item: string): boolean => {
      const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(item);
      return match !== null && Number(match[2]) <= 65535;
    };
    return items.length > 0 && items.every(valid) ? { ok: true, value: items } : { ok: false, expected: 'a comma-separated list of host:port' };
  }) as ValueParser<string[]>,
  oneOf<T extends string>(...allowed: readonly T[]): ValueParser<T> {
    return (raw) => ((allowed as readonly string[]).includes(raw) ? { ok: true, value: raw as T } : { ok: false, expected: `one of ${allowed.join(', ')}` });
  },
};

/**
 * Reads settings from an environment-like map. Every problem is reported at once,
 * each naming the variable, the value given and what was expected.
 */
export function readSettings<S extends SettingsSpec>(spec: S, source: Record<string, string | undefined>): SettingsOf<S> {
  const problems: string[] = [];
  const result: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(spec)) {
    const raw = source[name];
    if (raw === undefined || raw === '') {
      if ('default' in setting) result[name] = setting.default;
      else problems.push(`${name} is required (${setting.description})`);
      continue;
    }
    const parsed = setting.parse(raw);
    if (parsed.ok) result[name] = parsed.value;
    else problems.push(`${name}=${JSON.stringify(raw)} is invalid: expected ${parsed.expected}`);
  }
  if (problems.length > 0) throw new SluiceError('INVALID_CONFIG', `Invalid configuration: ${problems.join('; ')}`);
  return result as SettingsOf<S>;
}

/** Rejects option objects that carry keys we do not know, naming each one exactly. */
export function rejectUnknownKeys(options: object, known: readonly string[], where: string): void {
  const unknown = Object.keys(options).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    throw new SluiceError(
      'INVALID_CONFIG',
      `Unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')} in ${where}; known options: ${known.join(', ')}`,
    );
  }
}
