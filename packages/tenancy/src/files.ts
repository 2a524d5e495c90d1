import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SluiceError } from '@sluice/core';

/**
 * Replaces a file in one step: writes a temporary file beside it with exactly `mode` (whatever the
 * umask), flushes it, then renames it over the old one, so that a reader sees the old file or the
 * new, never half of one. Creates the directory when missing, with directoryMode (default 0700).
 * `what` names the file in the error, such as "the key file".
 */
export function writeFileAtomically(path: string, contents: string, options: { mode: number; what: string; directoryMode?: number }): void {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const directoryMode = options.directoryMode ?? 0o700;
    // The umask narrows mkdir's mode; the directories made here get exactly directoryMode.
    const firstCreated = mkdirSync(directory, { recursive: true, mode: directoryMode });
    if (firstCreated !== undefined) for (let made = directory; made.length >= firstCreated.length; made = dirname(made)) chmodSync(made, directoryMode);
    const fd = openSync(temporary, 'wx', options.mode);
    try {
      fchmodSync(fd, options.mode);
      writeSync(fd, contents);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    try {
      rmSync(temporary, { force: true });
    } catch {
      // Nothing to clean up where the directory itself could not be made.
    }
    throw new SluiceError('INVALID_CONFIG', `${path}: cannot write ${options.what} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, { cause: error });
  }
}
