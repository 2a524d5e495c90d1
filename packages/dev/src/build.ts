import { execFileSync } from 'node:child_process';
import { repositoryRoot } from './local-broker';

/** `npm run build`: every package's dist/, compiled by tsc -b (incremental, so a current build takes a second or two). */
export function buildDist(): void {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'tsconfig.build.json'], { cwd: repositoryRoot, stdio: 'inherit' });
}
