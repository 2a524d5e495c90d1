// Two tiers: unit tests sit beside the code they test; integration tests under test/integration
// run against a real Kafka broker (started once by the global setup) and real ClickHouse (chDB).
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] };

// The workspace packages resolve to their TypeScript sources under the `sluice-source` export
// condition, and to the compiled dist/ without it (as in an image). Tests run the sources: Jest's
// resolver by the condition below, and every process a test starts (services under tsx, probes) by
// NODE_OPTIONS, which Jest's workers and their children inherit.
const sourceCondition = '--conditions=sluice-source';
const startedWithCondition = process.execArgv.includes(sourceCondition) || (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(sourceCondition);
if (!startedWithCondition && /[\\/]jest(\.js)?$/.test(process.argv[1] ?? '')) {
  // Jest's own process runs the global setup, which resolves the packages with the conditions this
  // process started with, too late to add here: a plain `npx jest` starts Jest again with it (the
  // npm scripts set it from the start).
  const { spawnSync } = require('node:child_process');
  const env = { ...process.env, NODE_OPTIONS: [process.env.NODE_OPTIONS, sourceCondition].filter(Boolean).join(' ') };
  const again = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env });
  process.exit(again.status ?? 1);
}
if (!(process.env.NODE_OPTIONS ?? '').includes(sourceCondition)) {
  process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, sourceCondition].filter(Boolean).join(' ');
}
const testEnvironmentOptions = { customExportConditions: ['sluice-source', 'node', 'node-addons'] };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      testEnvironmentOptions,
      transform,
      testMatch: ['<rootDir>/packages/*/src/**/*.test.ts', '<rootDir>/services/*/src/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      testEnvironmentOptions,
      transform,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
      slowTestThreshold: 30,
    },
    {
      // `npm run test:containers` only (a Docker engine is needed): the images and docker-compose.yml in real containers.
      displayName: 'containers',
      testEnvironment: 'node',
      testEnvironmentOptions,
      transform,
      testMatch: ['<rootDir>/test/containers/**/*.test.ts'],
      globalSetup: '<rootDir>/test/containers/global-setup.ts',
      slowTestThreshold: 300,
    },
  ],
  // Two cores: one test file per core.
  maxWorkers: 2,
  testTimeout: 120000,
};
