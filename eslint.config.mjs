import tseslint from 'typescript-eslint';

// The architecture rule: one package talks to Kafka, one to ClickHouse; the rest use our interfaces.
const owners = {
  kafkajs: '@sluice/kafka',
  '@clickhouse/client': '@sluice/clickhouse',
  chdb: '@sluice/clickhouse',
};
// Tests, scripts and the bench use a service through its public entry (services/*/src/index.ts).
const intoServices = { group: ['**/services/*/src/**'], message: 'Import a service from its package (@sluice/gateway, @sluice/worker), not from a file inside it.' };
const forbid = (modules, extraPatterns = [], extraPaths = []) => ({
  'no-restricted-imports': [
    'error',
    {
      paths: [...modules.map((name) => ({ name, message: `Only ${owners[name]} may import ${name}; depend on the interfaces in @sluice/core.` })), ...extraPaths],
      patterns: [...modules.map((name) => ({ group: [`${name}/*`], message: `Only ${owners[name]} may import ${name}.` })), ...extraPatterns],
    },
  ],
});
const outsideServices = ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'];

export default tseslint.config(
  { ignores: ['node_modules/**', '.cache/**', '.data/**', 'coverage/**', '**/dist/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      eqeqeq: ['error', 'always'],
    },
  },
  { files: ['**/*.ts'], ignores: ['packages/kafka/**', 'packages/clickhouse/**'], rules: forbid(['kafkajs', '@clickhouse/client', 'chdb']) },
  { files: ['packages/kafka/**/*.ts'], rules: forbid(['@clickhouse/client', 'chdb']) },
  // kafkajs takes its grouping of a send's messages when it first loads: ./kafkajs puts Sluice's in place first.
  {
    files: ['packages/kafka/src/**/*.ts'],
    ignores: ['packages/kafka/src/kafkajs.ts', '**/*.test.ts'],
    rules: forbid(['@clickhouse/client', 'chdb'], [], [{ name: 'kafkajs', allowTypeImports: true, message: 'Import kafkajs through ./kafkajs, which puts partition-grouping in place before kafkajs loads.' }]),
  },
  { files: ['packages/clickhouse/**/*.ts'], rules: forbid(['kafkajs']) },
  { files: outsideServices, rules: forbid(['kafkajs', '@clickhouse/client', 'chdb'], [intoServices]) },
  // These tests are an analyst's client: the official ClickHouse client against our HTTP interface.
  { files: ['test/integration/chdb-http.test.ts', 'test/integration/analyst-http.test.ts', 'test/integration/analytics-exact.test.ts'], rules: forbid(['kafkajs', 'chdb'], [intoServices]) },
  // chDB with a users configuration of its own, so that ClickHouse's own loader and access control check the users files.
  { files: ['test/helpers/chdb-access-probe.ts'], rules: forbid(['kafkajs', '@clickhouse/client'], [intoServices]) },
  // Fakes in tests implement async interfaces without awaiting anything.
  { files: ['**/*.test.ts', 'test/**/*.ts'], rules: { '@typescript-eslint/unbound-method': 'off', '@typescript-eslint/require-await': 'off' } },
);
