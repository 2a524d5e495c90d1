import type { Envelope, Geo } from '../envelope';
import type { NeuralensEvent } from '../generated/schema-types';
import { createValidator, type Validator } from '../validation';
import { envelopeOf, type RequestContext } from './common';

/**
 * A Neuralens event body (POST /analytics/event) as schemas/dialects/neuralens-event.json accepts
 * it, generated from the schema. items holds one product, or several when event is PURCHASE (the
 * schema's if/else, which the type does not carry). Undeclared properties are ignored.
 */
export type { NeuralensEvent } from '../generated/schema-types';

export type NeuralensEventName = NeuralensEvent['event'];
export type NeuralensPage = NeuralensEvent['page'];

/** The schema's event and page enums as values, in the schema's order (a unit test compares them). */
export const neuralensEventNames = [
  'VIEW_PRODUCT',
  'CLICK_PRODUCT',
  'VIEW_SUGGESTION',
  'CLICK_SUGGESTION',
  'LAND_PRODUCT_PAGE',
  'FAVORITE',
  'SHARE',
  'ADD_TO_CART',
  'PURCHASE',
] as const satisfies readonly NeuralensEventName[];

export const neuralensPages = ['SEARCH_RESULT_PAGE', 'AUTOCOMPLETE', 'CATEGORY_PAGE', 'PRODUCT_PAGE'] as const satisfies readonly NeuralensPage[];

export const neuralensEventSchemaFile = 'dialects/neuralens-event.json';

let validator: Validator<NeuralensEvent> | undefined;
export function validateNeuralensEvent(value: unknown): ReturnType<Validator<NeuralensEvent>> {
  validator ??= createValidator<NeuralensEvent>(neuralensEventSchemaFile);
  return validator(value);
}

/** The mapping from Neuralens' event to the envelope's event_type, kept as data; event_name keeps the original. */
export const neuralensEventTypes = {
  VIEW_PRODUCT: 'view',
  CLICK_PRODUCT: 'click',
  VIEW_SUGGESTION: 'view',
  CLICK_SUGGESTION: 'click',
  LAND_PRODUCT_PAGE: 'land_product_page',
  FAVORITE: 'favorite',
  SHARE: 'share',
  ADD_TO_CART: 'add_to_cart',
  PURCHASE: 'purchase',
} as const satisfies Record<NeuralensEventName, string>;

/** The application (X-Neuralens-Application-ID) is context.datasetId; timestamp is Unix seconds. */
export function normaliseNeuralensEvent(event: NeuralensEvent, context: RequestContext): Envelope {
  return envelopeOf(
    'neuralens',
    context,
    {
      event_type: neuralensEventTypes[event.event],
      event_name: event.event,
      occurred_at: event.timestamp * 1000,
      user_id: event.uid ?? null,
      position: event.index ?? null,
      query: event.query ?? null,
      page: event.page,
      items: event.items.map((item) => item.id),
      geo: event.geo === undefined ? null : geoOf(event.geo),
    },
    event,
  );
}

/** Only the fields the envelope's geo declares (it allows no others); undeclared ones stay in raw. */
function geoOf(geo: NonNullable<NeuralensEvent['geo']>): Geo {
  return {
    ...(geo.lat === undefined ? {} : { lat: geo.lat }),
    ...(geo.long === undefined ? {} : { long: geo.long }),
    ...(geo.region === undefined ? {} : { region: geo.region }),
  };
}
