import { latestEventTime } from '../column-domains';
import type { Envelope, Influence } from '../envelope';
import type { GreenflashEvent } from '../generated/schema-types';
import { createValidator, type ValidationIssue, type ValidationResult, type Validator } from '../validation';
import { envelopeOf, type RequestContext } from './common';

/**
 * A Greenflash create-event body (POST /api/v1/events) as schemas/dialects/greenflash-event.json
 * accepts it, in the SDK's camelCase, generated from the schema. Undeclared properties are ignored.
 */
export type { GreenflashEvent } from '../generated/schema-types';

export const greenflashEventSchemaFile = 'dialects/greenflash-event.json';


let validator: Validator<GreenflashEvent> | undefined;

/**
 * The schema, then one check JSON Schema cannot express: eventAt must be a time the envelope can
 * hold (1970 to 2149, UTC) and one that Date.parse reads the way the schema's date-time does
 * (it reads neither a leap second nor an offset of hours only, such as "+01").
 */
export function validateGreenflashEvent(value: unknown): ValidationResult<GreenflashEvent> {
  validator ??= createValidator<GreenflashEvent>(greenflashEventSchemaFile);
  const result = validator(value);
  const eventAtIssue = checkEventAt(value);
  if (eventAtIssue === undefined) return result;
  if (result.ok) return { ok: false, issues: [eventAtIssue] };
  return result.issues.some((i) => i.path === eventAtIssue.path) ? result : { ok: false, issues: [...result.issues, eventAtIssue] };
}

function checkEventAt(value: unknown): ValidationIssue | undefined {
  if (typeof value !== 'object' || value === null || !('eventAt' in value) || typeof value.eventAt !== 'string') return undefined;
  const ms = Date.parse(value.eventAt);
  if (Number.isNaN(ms)) return { path: '/eventAt', message: 'must be an ISO 8601 date-time with a time zone, such as "2024-05-14T10:00:00Z"' };
  if (ms < 0 || ms > latestEventTime) return { path: '/eventAt', message: `must be between 1970-01-01T00:00:00Z and ${new Date(latestEventTime).toISOString()}` };
  return undefined;
}

/** The quality score an influence stands for when qualityImpactScore is not given, kept as data. */
export const influenceQualityScore = { positive: 1, neutral: 0, negative: -1 } as const satisfies Record<Influence, number>;

/**
 * Every Greenflash event is a business outcome: event_type is 'outcome' and event_name the
 * producer's eventType. The dataset (the productId) comes in as context.datasetId.
 */
export function normaliseGreenflashEvent(event: GreenflashEvent, context: RequestContext): Envelope {
  return envelopeOf(
    'greenflash',
    context,
    {
      insert_id: event.insertId ?? context.idempotencyKey ?? context.eventId,
      event_type: 'outcome',
      event_name: event.eventType,
      occurred_at: event.eventAt === undefined ? context.receivedAt : Date.parse(event.eventAt),
      user_id: event.userId ?? event.externalUserId ?? null,
      organization_id: event.organizationId ?? event.externalOrganizationId ?? null,
      revenue: event.valueType === 'currency' ? amountOf(event.value) : null,
      value: event.value,
      value_type: event.valueType ?? null,
      influence: event.influence ?? null,
      quality_score: event.qualityImpactScore ?? (event.influence === undefined ? null : influenceQualityScore[event.influence]),
      sample_rate: event.sampleRate ?? 1,
      force_sample: event.forceSample ?? false,
      properties: event.properties ?? null,
    },
    event,
  );
}

/** A currency value as a number; a blank value (which Number() would read as 0) or a non-number is no revenue. */
function amountOf(value: string): number | null {
  if (value.trim() === '') return null;
  const amount = Number(value);
  return Number.isFinite(amount) ? amount : null;
}
