// Writes packages/envelope/src/generated/schema-types.ts, the TypeScript types of the schemas in
// schemas/ (the single source of both the validation and the types). Run after changing a schema:
//   npm run generate:types
// A unit test (packages/dev/src/schema-types-generator.test.ts) fails while the committed file differs from a fresh run.
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { generateSchemaTypes, schemaTypesFile } from '@sluice/dev/schema-types-generator';

async function main(): Promise<void> {
  const text = await generateSchemaTypes();
  writeFileSync(schemaTypesFile, text);
  console.log(`wrote ${relative(process.cwd(), schemaTypesFile)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
