import { parsers, readSettings, rejectUnknownKeys, type Setting } from './config';
import { SluiceError } from './errors';

/** The error readSettings (or rejectUnknownKeys) throws; fails the test when nothing is thrown. */
function thrown(run: () => unknown): SluiceError {
  try {
    run();
  } catch (error) {
    if (error instanceof SluiceError) return error;
    throw error;
  }
  throw new Error('expected an error, but nothing was thrown');
}

const spec = {
  PORT: { parse: parsers.port, default: 8090, description: 'HTTP port' } as Setting<number>,
  BATCH_SIZE: { parse: parsers.positiveInt, default: 500, description: 'Rows per insert' } as Setting<number>,
  DATA_DIR: { parse: parsers.nonEmpty, default: '.data', description: 'Where chDB keeps its data' } as Setting<string>,
  CLICKHOUSE_URL: { parse: parsers.url, default: 'http://127.0.0.1:8123', description: 'ClickHouse HTTP endpoint' } as Setting<string>,
  KAFKA_BROKERS: { parse: parsers.hostPortList, default: ['127.0.0.1:9092'], description: 'Kafka bootstrap servers' } as Setting<string[]>,
  LOG_LEVEL: { parse: parsers.oneOf('debug', 'info', 'warn', 'error'), default: 'info', description: 'Log level' } as Setting<'debug' | 'info' | 'warn' | 'error'>,
};

describe('readSettings', () => {
  test('every setting falls back to its default when unset', () => {
    expect(readSettings(spec, {})).toEqual({
      PORT: 8090,
      BATCH_SIZE: 500,
      DATA_DIR: '.data',
      CLICKHOUSE_URL: 'http://127.0.0.1:8123',
      KAFKA_BROKERS: ['127.0.0.1:9092'],
      LOG_LEVEL: 'info',
    });
  });

  test('an empty value counts as unset', () => {
    expect(readSettings(spec, { PORT: '', LOG_LEVEL: '' })).toMatchObject({ PORT: 8090, LOG_LEVEL: 'info' });
  });

  test('given values are parsed', () => {
    expect(
      readSettings(spec, {
        PORT: '0',
        BATCH_SIZE: '1000',
        DATA_DIR: '  /var/lib/sluice  ',
        CLICKHOUSE_URL: 'https://ch.example.com:8443/',
        KAFKA_BROKERS: 'kafka-1:9092, kafka-2:9093,',
        LOG_LEVEL: 'debug',
      }),
    ).toEqual({
      PORT: 0,
      BATCH_SIZE: 1000,
      DATA_DIR: '/var/lib/sluice',
      CLICKHOUSE_URL: 'https://ch.example.com:8443/',
      KAFKA_BROKERS: ['kafka-1:9092', 'kafka-2:9093'],
      LOG_LEVEL: 'debug',
    });
  });

  test.each([['kafka:9092'], ['127.0.0.1:9092,kafka-2:19092'], ['[::1]:9092'], ['[2001:db8::1]:9092, kafka:65535']])('KAFKA_BROKERS=%j is accepted', (raw) => {
    expect(parsers.hostPortList(raw)).toEqual({ ok: true, value: raw.split(',').map((s) => s.trim()) });
  });

  test('variables outside the spec are ignored', () => {
    expect(readSettings({ PORT: spec.PORT }, { PORT: '80', HOME: '/root', PATH: '/bin' })).toEqual({ PORT: 80 });
  });

  test('a default of undefined still makes a setting optional', () => {
    const optional = { TOKEN: { parse: parsers.nonEmpty, default: undefined, description: 'token' } as Setting<string | undefined> };
    expect(readSettings(optional, {})).toEqual({ TOKEN: undefined });
  });

  test('a required setting that is missing is named with its description', () => {
    const required = { DEV_API_KEY: { parse: parsers.nonEmpty, description: 'the API key producers send' } as Setting<string> };
    const error = thrown(() => readSettings(required, {}));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.status).toBe(500);
    expect(error.retriable).toBe(false);
    expect(error.message).toBe('Invalid configuration: DEV_API_KEY is required (the API key producers send)');
    expect(thrown(() => readSettings(required, { DEV_API_KEY: '' })).message).toBe(error.message);
  });

  test.each<[keyof typeof spec, string, string]>([
    ['PORT', '65536', 'a port number between 0 and 65535'],
    ['PORT', '-1', 'a port number between 0 and 65535'],
    ['PORT', '80.5', 'a port number between 0 and 65535'],
    ['PORT', 'http', 'a port number between 0 and 65535'],
    ['PORT', ' 80', 'a port number between 0 and 65535'],
    ['BATCH_SIZE', '0', 'a positive integer'],
    ['BATCH_SIZE', '-3', 'a positive integer'],
    ['BATCH_SIZE', '1.5', 'a positive integer'],
    ['BATCH_SIZE', '1e3', 'a positive integer'],
    ['BATCH_SIZE', '9007199254740992', 'a positive integer'],
    ['DATA_DIR', '   ', 'a non-empty string'],
    ['CLICKHOUSE_URL', 'ftp://ch.example.com', 'an http:// or https:// URL'],
    ['CLICKHOUSE_URL', 'ch.example.com:8123', 'an http:// or https:// URL'],
    ['CLICKHOUSE_URL', 'not a url', 'an http:// or https:// URL'],
    ['KAFKA_BROKERS', 'kafka-1', 'a comma-separated list of host:port'],
    ['KAFKA_BROKERS', 'kafka-1:9092,kafka-2', 'a comma-separated list of host:port'],
    ['KAFKA_BROKERS', ' , ', 'a comma-separated list of host:port'],
    ['KAFKA_BROKERS', 'kafka-1:123456', 'a comma-separated list of host:port'],
    ['KAFKA_BROKERS', 'kafka-1:99999', 'a comma-separated list of host:port'],
    ['KAFKA_BROKERS', '::1:9092', 'a comma-separated list of host:port'],
    ['LOG_LEVEL', 'verbose', 'one of debug, info, warn, error'],
    ['LOG_LEVEL', 'INFO', 'one of debug, info, warn, error'],
  ])('%s=%j is rejected, naming the variable, the value and what was expected', (name, raw, expected) => {
    const error = thrown(() => readSettings(spec, { [name]: raw }));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toBe(`Invalid configuration: ${name}=${JSON.stringify(raw)} is invalid: expected ${expected}`);
  });

  test('every problem is reported at once, in the order of the spec', () => {
    const required = { ...spec, DEV_API_KEY: { parse: parsers.nonEmpty, description: 'the API key producers send' } as Setting<string> };
    const error = thrown(() => readSettings(required, { PORT: 'eighty', KAFKA_BROKERS: 'kafka', LOG_LEVEL: 'loud', BATCH_SIZE: '10' }));
    expect(error.message).toBe(
      'Invalid configuration: ' +
        [
          'PORT="eighty" is invalid: expected a port number between 0 and 65535',
          'KAFKA_BROKERS="kafka" is invalid: expected a comma-separated list of host:port',
          'LOG_LEVEL="loud" is invalid: expected one of debug, info, warn, error',
          'DEV_API_KEY is required (the API key producers send)',
        ].join('; '),
    );
  });

  test('a value with quotes or newlines is quoted unambiguously', () => {
    expect(thrown(() => readSettings(spec, { PORT: '"80"\n' })).message).toBe('Invalid configuration: PORT="\\"80\\"\\n" is invalid: expected a port number between 0 and 65535');
  });
});

describe('rejectUnknownKeys', () => {
  const known = ['brokers', 'topic', 'clientId'] as const;

  test('accepts known keys, and no keys at all', () => {
    expect(() => rejectUnknownKeys({ brokers: [], topic: 'events' }, known, 'createKafkaBus options')).not.toThrow();
    expect(() => rejectUnknownKeys({}, known, 'createKafkaBus options')).not.toThrow();
  });

  test('names one unknown key exactly', () => {
    const error = thrown(() => rejectUnknownKeys({ brokers: [], topics: 'events' }, known, 'createKafkaBus options'));
    expect(error.code).toBe('INVALID_CONFIG');
    expect(error.message).toBe('Unknown option "topics" in createKafkaBus options; known options: brokers, topic, clientId');
  });

  test('names several unknown keys, in order, with the plural', () => {
    const error = thrown(() => rejectUnknownKeys({ topics: 'events', brokers: [], client_id: 'x' }, known, 'createKafkaBus options'));
    expect(error.message).toBe('Unknown options "topics", "client_id" in createKafkaBus options; known options: brokers, topic, clientId');
  });

  test('a key is unknown even when its value is undefined', () => {
    expect(thrown(() => rejectUnknownKeys({ timeout: undefined }, known, 'x')).message).toBe('Unknown option "timeout" in x; known options: brokers, topic, clientId');
  });
});
