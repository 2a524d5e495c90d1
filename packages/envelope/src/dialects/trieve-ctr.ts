import type { Envelope } from '../envelope';
import type { TrieveCtrBody } from '../generated/schema-types';
import { createValidator, type Validator } from '../validation';
import { asProperties, envelopeOf, isPlainObject, type RequestContext } from './common';

/**
 * A Trieve CTRDataRequestBody (PUT /api/analytics/ctr) as schemas/dialects/trieve-ctr.json
 * accepts it, generated from the schema. Properties the schema does not declare are ignored.
 */
export type { TrieveCtrBody } from '../generated/schema-types';

type CtrType = TrieveCtrBody['ctr_type'];

export const trieveCtrSchemaFile = 'dialects/trieve-ctr.json';

let validator: Validator<TrieveCtrBody> | undefined;
export function validateTrieveCtr(value: unknown): ReturnType<Validator<TrieveCtrBody>> {
  validator ??= createValidator<TrieveCtrBody>(trieveCtrSchemaFile);
  return validator(value);
}

/**
 * The mapping, kept as data. Every CTR body is one click on a result of the request it names;
 * ctr_type says which kind of request that was.
 */
export const trieveCtrMapping = {
  event_type: 'click',
  event_name: 'ctr_click',
  request_type: { search: 'search', rag: 'rag', recommendation: 'recommendation' },
} as const satisfies { event_type: string; event_name: string; request_type: Record<CtrType, string> };

/**
 * Trieve sends no event time, so occurred_at is the receive time. The clicked item is its
 * tracking id when given (what the other Trieve events carry), else its chunk id.
 */
export function normaliseTrieveCtr(body: TrieveCtrBody, context: RequestContext): Envelope {
  const clicked = body.clicked_chunk_tracking_id ?? body.clicked_chunk_id ?? null;
  return envelopeOf(
    'trieve_ctr',
    context,
    {
      event_type: trieveCtrMapping.event_type,
      event_name: trieveCtrMapping.event_name,
      user_id: userIdOf(body.metadata),
      request_id: body.request_id,
      request_type: trieveCtrMapping.request_type[body.ctr_type],
      position: body.position,
      items: clicked === null ? [] : [clicked],
      properties: asProperties(body.metadata),
    },
    body,
  );
}

/** Trieve's page suggests metadata carry the user_id; it is used when it is a string. */
function userIdOf(metadata: unknown): string | null {
  return isPlainObject(metadata) && typeof metadata.user_id === 'string' ? metadata.user_id : null;
}
