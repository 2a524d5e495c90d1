// The keys tool as its own program, for where only the compiled package is (the gateway image):
//   node packages/tenancy/dist/keys-main.js create --name shop --trieve shop --file /etc/sluice/keys/keys.json
// `npm run keys` (scripts/keys.ts) adds the analysts' commands, which live in @sluice/clickhouse.
import { createKeysCommandLine } from './keys-cli';
import { runCommandLine } from './command-line';

process.exitCode = runCommandLine('keys', createKeysCommandLine(), process.argv.slice(2), process.env, process);
