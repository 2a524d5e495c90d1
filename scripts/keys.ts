/**
 * `npm run keys -- <command>`: the gateway's API keys (@sluice/tenancy's keys tool, docs/keys.md)
 * and, under `analyst`, the SQL analysts of a ClickHouse server (@sluice/clickhouse,
 * docs/analysts.md). Run with --help for every command.
 *
 * Exit codes: 0 done, 1 the command failed (one line on stderr), 2 a usage error.
 */
import { analystsCommandLine } from '@sluice/clickhouse';
import { createKeysCommandLine, runCommandLine } from '@sluice/tenancy';

process.exitCode = runCommandLine('keys', createKeysCommandLine({ analyst: analystsCommandLine }), process.argv.slice(2), process.env, process);
