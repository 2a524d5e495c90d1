import { readFileSync } from 'node:fs';
import type { Options as PrettierOptions, Plugin as PrettierPlugin } from 'prettier';
import type * as PrettierStandalone from 'prettier/standalone';
import { generateSchemaTypes, schemaTypesFile } from './schema-types-generator';

// json-schema-to-typescript formats with prettier, whose Node entry loads itself with a dynamic
// import(), which Jest's CommonJS runtime refuses. Prettier's standalone build is the same
// formatter (same package, same version) without that import; it only needs its parser plugins
// named. The script uses the Node entry; the test below checks that both agree on the file.
jest.mock('prettier', () => {
  const standalone = jest.requireActual<typeof PrettierStandalone>('prettier/standalone');
  const plugins = [jest.requireActual<PrettierPlugin>('prettier/plugins/estree'), jest.requireActual<PrettierPlugin>('prettier/plugins/typescript')];
  return { format: (code: string, options: PrettierOptions) => standalone.format(code, { ...options, plugins }) };
});

describe('generated/schema-types.ts', () => {
  test('is what scripts/generate-types.ts writes from the schemas today', async () => {
    const fresh = await generateSchemaTypes();
    const committed = readFileSync(schemaTypesFile, 'utf8');
    if (committed !== fresh) {
      const committedLines = committed.split('\n');
      const freshLines = fresh.split('\n');
      const line = committedLines.findIndex((text, i) => text !== freshLines[i]);
      const where = line === -1 ? `it ends at line ${committedLines.length}, a fresh run goes on` : `first difference at line ${line + 1}: ${JSON.stringify(freshLines[line] ?? '')}`;
      throw new Error(`packages/envelope/src/generated/schema-types.ts is out of date with schemas/ (${where}); run \`npm run generate:types\` and commit the result`);
    }
  });
});
