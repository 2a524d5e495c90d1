import { SluiceError } from '@sluice/core';
import { formatIssues, maxNestingDepth, valueIssues } from '@sluice/envelope';

/** The largest single-event body by default (MAX_BODY_BYTES); larger ones get 413. */
export const defaultMaxBodyBytes = 1024 * 1024;

/**
 * Every value of a body lands in a column (the body is kept whole as raw), so its strings must be
 * well-formed Unicode and it may nest at most maxNestingDepth deep; refused naming the field.
 */
export function assertStorableValues(body: unknown): void {
  const issues = valueIssues(body, maxNestingDepth);
  if (issues.length > 0) throw new SluiceError('INVALID_EVENT', formatIssues(issues), { field: issues[0]?.path });
}
