/**
 * A small, realistic day-and-a-half of events for one dataset, as rows of the events table, for
 * tests of the analyst views (docs/analysts.md). Inserting them into `events` fills the aggregate
 * tables through the materialized views, as the worker's inserts do. All times are May 2024, UTC.
 *
 * What it holds (request ids req-1 .. req-6):
 * - Trieve searches and one rag request, with clicks from Trieve events and Trieve CTR at positions;
 *   req-1 also gets an add_to_cart and a purchase with revenue, req-3 gets no click, and req-6's
 *   click arrives just after midnight (it still counts on the request's day).
 * - req-5, a search sampled at 0.5 together with its click (events sharing a request_id are sampled together).
 * - Neuralens product and suggestion views and clicks at positions on their pages, an ADD_TO_CART and a PURCHASE.
 * - Greenflash outcomes for two organizations (and one without), with numeric, currency and text
 *   values and quality scores, one of them backdated (occurred 2024-05-02, received 2024-05-16).
 */
import type { Envelope } from '@sluice/envelope';
import { toEventRow, type EventRow } from '@sluice/worker';

/** What a seed says of its event; the rest is the envelope's defaults, turned into a row as the worker does. */
type Seed = Pick<Envelope, 'source' | 'event_type' | 'event_name' | 'occurred_at'> & Partial<Envelope>;

const at = (day: number, hour: number, minute: number, second = 0): number => Date.UTC(2024, 4, day, hour, minute, second);

export function analyticsSeedRows(datasetId = 'demo'): EventRow[] {
  const seeds: Seed[] = [
    // 2024-05-14: three searches and a rag request (Trieve).
    search('req-1', 'red shoes', 'u1', at(14, 10, 0)),
    ctrClick('req-1', 'search', 0, 'sku-1', 'u1', at(14, 10, 1)),
    ctrClick('req-1', 'search', 2, 'sku-3', 'u1', at(14, 10, 2)),
    {
      source: 'trieve',
      event_type: 'add_to_cart',
      event_name: 'added_to_cart',
      occurred_at: at(14, 10, 3),
      user_id: 'u1',
      request_id: 'req-1',
      request_type: 'search',
      items: ['sku-1'],
      is_conversion: true,
      page: '/search',
    },
    {
      source: 'trieve',
      event_type: 'purchase',
      event_name: 'purchased',
      occurred_at: at(14, 10, 5),
      user_id: 'u1',
      request_id: 'req-1',
      request_type: 'search',
      items: ['sku-1'],
      revenue: 59.9,
      is_conversion: true,
      page: '/checkout',
    },
    search('req-2', 'red shoes', 'u2', at(14, 11, 0)),
    {
      source: 'trieve',
      event_type: 'click',
      event_name: 'result_clicked',
      occurred_at: at(14, 11, 1),
      user_id: 'u2',
      request_id: 'req-2',
      request_type: 'search',
      position: 1,
      items: ['chunk-sku-2'],
      page: '/search',
    },
    search('req-3', 'blue socks', 'u3', at(14, 12, 0)),
    {
      source: 'trieve',
      event_type: 'rag',
      event_name: 'rag',
      occurred_at: at(14, 13, 0),
      user_id: 'u1',
      request_id: 'req-4',
      request_type: 'rag',
      query: 'how do I return an item',
      properties: { request_id: 'req-4' },
    },
    ctrClick('req-4', 'rag', 0, 'doc-returns', 'u1', at(14, 13, 1)),

    // 2024-05-15: a sampled search with its click, and a late-evening search clicked after midnight.
    { ...search('req-5', 'red shoes', 'u4', at(15, 9, 0)), sample_rate: 0.5 },
    { ...ctrClick('req-5', 'search', 0, 'sku-1', 'u4', at(15, 9, 1)), sample_rate: 0.5 },
    search('req-6', 'sandals', 'u5', at(15, 23, 59)),
    ctrClick('req-6', 'search', 1, 'sku-7', 'u5', at(16, 0, 1)),

    // Neuralens: product results and autocomplete suggestions by position, then a cart and a purchase.
    neuralens('VIEW_PRODUCT', 'view', 'SEARCH_RESULT_PAGE', 0, 'sku-1', 'n1', at(14, 15, 0)),
    neuralens('VIEW_PRODUCT', 'view', 'SEARCH_RESULT_PAGE', 1, 'sku-2', 'n1', at(14, 15, 0)),
    neuralens('VIEW_PRODUCT', 'view', 'SEARCH_RESULT_PAGE', 2, 'sku-3', 'n1', at(14, 15, 0)),
    neuralens('CLICK_PRODUCT', 'click', 'SEARCH_RESULT_PAGE', 1, 'sku-2', 'n1', at(14, 15, 1)),
    neuralens('VIEW_SUGGESTION', 'view', 'AUTOCOMPLETE', 0, 'sugg-red-shoes', 'n2', at(14, 16, 0)),
    neuralens('CLICK_SUGGESTION', 'click', 'AUTOCOMPLETE', 0, 'sugg-red-shoes', 'n2', at(14, 16, 0, 5)),
    neuralens('ADD_TO_CART', 'add_to_cart', 'PRODUCT_PAGE', null, 'sku-2', 'n1', at(14, 15, 3)),
    neuralens('VIEW_PRODUCT', 'view', 'SEARCH_RESULT_PAGE', 0, 'sku-9', 'n3', at(15, 8, 0)),
    neuralens('VIEW_PRODUCT', 'view', 'SEARCH_RESULT_PAGE', 1, 'sku-1', 'n3', at(15, 8, 0)),
    neuralens('CLICK_PRODUCT', 'click', 'SEARCH_RESULT_PAGE', 0, 'sku-9', 'n3', at(15, 8, 1)),
    neuralens('PURCHASE', 'purchase', 'PRODUCT_PAGE', null, 'sku-9', 'n3', at(15, 8, 10)),

    // Greenflash outcomes (event_name = eventType, dataset_id = productId).
    outcome('conversation_resolved', '1', 'numeric', 'acme', 'g1', at(14, 17, 0), { quality_score: 0.8, influence: 'positive' }),
    outcome('subscription_upgraded', '49.00', 'currency', 'acme', 'g1', at(14, 17, 30), { revenue: 49 }),
    outcome('conversation_resolved', '3', 'numeric', 'globex', 'g2', at(15, 10, 0), { quality_score: -0.5, influence: 'negative' }),
    outcome('feedback', 'great', 'text', null, 'g3', at(15, 11, 0), { quality_score: 1, influence: 'positive' }),
    // Backdated: eventAt two weeks before it was sent.
    { ...outcome('subscription_upgraded', '99.00', 'currency', 'globex', 'g2', at(2, 9, 0), { revenue: 99 }), received_at: at(16, 9, 0) },
  ];
  return seeds.map((seed, index) => toRow(seed, index, datasetId));
}

function search(requestId: string, query: string, userId: string, occurredAt: number): Seed {
  return {
    source: 'trieve',
    event_type: 'search',
    event_name: 'search',
    occurred_at: occurredAt,
    user_id: userId,
    request_id: requestId,
    request_type: 'search',
    query,
    properties: { request_id: requestId },
  };
}

function ctrClick(requestId: string, requestType: string, position: number, item: string, userId: string, occurredAt: number): Seed {
  return {
    source: 'trieve_ctr',
    event_type: 'click',
    event_name: 'ctr_click',
    occurred_at: occurredAt,
    user_id: userId,
    request_id: requestId,
    request_type: requestType,
    position,
    items: [item],
    properties: { user_id: userId },
  };
}

function neuralens(event: string, eventType: string, page: string, position: number | null, item: string, userId: string, occurredAt: number): Seed {
  return {
    source: 'neuralens',
    event_type: eventType,
    event_name: event,
    occurred_at: occurredAt,
    received_at: occurredAt + 2_000,
    user_id: userId,
    page,
    position,
    items: [item],
    query: page === 'SEARCH_RESULT_PAGE' ? 'red shoes' : null,
  };
}

function outcome(
  eventType: string,
  value: string,
  valueType: NonNullable<Envelope['value_type']>,
  organizationId: string | null,
  userId: string,
  occurredAt: number,
  extra: Partial<Envelope> = {},
): Seed {
  return {
    source: 'greenflash',
    event_type: 'outcome',
    event_name: eventType,
    occurred_at: occurredAt,
    received_at: occurredAt + 1_000,
    user_id: userId,
    organization_id: organizationId,
    value,
    value_type: valueType,
    ...extra,
  };
}

function toRow(seed: Seed, index: number, datasetId: string): EventRow {
  const envelope: Envelope = {
    schema_version: 1,
    event_id: `00000000-0000-4000-8000-${String(index + 1).padStart(12, '0')}`,
    insert_id: `seed-${index + 1}`,
    dataset_id: datasetId,
    received_at: seed.occurred_at,
    ...seed,
  };
  const row = toEventRow(envelope, { topic: 'events', partition: 0, offset: String(index) });
  return { ...row, raw: JSON.stringify({ event_type: row.event_type, event_name: row.event_name, items: row.items }) };
}
