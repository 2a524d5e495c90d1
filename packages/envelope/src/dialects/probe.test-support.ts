import { validateEnvelope, type Envelope } from '../envelope';
import { formatIssues, type ValidationResult } from '../validation';

/** The assertions every dialect's table-driven tests make, bound to that dialect's validator. */
export function validationProbe<T>(validate: (value: unknown) => ValidationResult<T>) {
  function accepted(body: unknown): T {
    const result = validate(body);
    if (!result.ok) throw new Error(`expected the body to be accepted, got: ${formatIssues(result.issues)}`);
    return result.value;
  }

  function rejected(body: unknown): { paths: string[]; message: string } {
    const result = validate(body);
    if (result.ok) throw new Error(`expected the body to be rejected: ${JSON.stringify(body)}`);
    return { paths: result.issues.map((i) => i.path), message: formatIssues(result.issues) };
  }

  function expectRejectedAt(body: unknown, path: string, messagePart?: string): void {
    const { paths, message } = rejected(body);
    expect(paths).toContain(path);
    expect(message).toContain(`Invalid field "${path}"`);
    if (messagePart !== undefined) expect(message).toContain(`Invalid field "${path}": ${messagePart}`);
  }

  return { accepted, rejected, expectRejectedAt };
}

/** A normalised envelope must pass the envelope schema, or the worker would dead-letter it. */
export function expectValidEnvelope(envelope: Envelope): void {
  const result = validateEnvelope(structuredClone(envelope));
  expect(result.ok ? [] : formatIssues(result.issues)).toEqual([]);
}
