/**
 * Three analysts for the tests of per-dataset access (packages/clickhouse/src/analyst-users.ts):
 * one dataset, two datasets one of which has an awkward id, and every dataset. The hashes are of
 * known passwords, so the rendered file is the same on every run.
 */
import { createHash } from 'node:crypto';
import type { AnalystsFile } from '@sluice/clickhouse';

/** A quote, a backslash, XML's specials, a newline and a non-ASCII letter: each must reach the row filter intact. */
export const awkwardDatasetId = "it's \\ <odd> & \n é";

/** The datasets the tests seed; each analyst of the fixture reads some of them. */
export const fixtureDatasets = ['shop-a', 'shop-b', awkwardDatasetId] as const;

const sha256 = (password: string): string => createHash('sha256').update(password, 'utf8').digest('hex');

export const analystsFixture: AnalystsFile = {
  version: 1,
  analysts: [
    { name: 'alice', password_sha256: sha256('alice-password'), datasets: ['shop-a'], created_at: '2025-01-31T12:00:00.000Z' },
    { name: 'jane-doe', password_sha256: sha256('jane-password'), datasets: [awkwardDatasetId, 'shop-b'], created_at: '2025-02-01T08:30:00.000Z' },
    { name: 'carol', password_sha256: sha256('carol-password'), datasets: ['*'], created_at: '2025-02-02T09:00:00.000Z' },
  ],
};

/** What each analyst of the fixture may read, by name. */
export const fixtureGrants: Record<string, readonly string[]> = {
  alice: ['shop-a'],
  'jane-doe': [awkwardDatasetId, 'shop-b'],
  carol: fixtureDatasets,
};
