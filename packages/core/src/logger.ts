/** Structured JSON-lines logger on stderr, so stdout stays free for what a user reads. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function isLogLevel(value: string): value is LogLevel {
  return value in levelRank;
}

export function createLogger(options: {
  level?: LogLevel;
  bindings?: Record<string, unknown>;
  write?: (line: string) => void;
} = {}): Logger {
  const threshold = levelRank[options.level ?? 'info'];
  const bindings = options.bindings ?? {};
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (levelRank[level] < threshold) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...bindings, ...fields }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...options, bindings: { ...bindings, ...fields } }),
  };
}

export const silentLogger: Logger = createLogger({ write: () => undefined });
