/**
 * The exact-numbers fixture: a few thousand events across every dialect, described first as plain
 * facts (what happened), then rendered as the HTTP requests a producer would send. The expected
 * analytics are computed here from the facts alone, in plain TypeScript, without any code of the
 * pipeline, so the views are checked against an independent calculation.
 */
import { createHash } from 'node:crypto';
import { fetchRetrying } from './http';

export const datasets = { trieve: 'shop', neuralens: 'shop-app', greenflash: ['gf-product', 'gf-other'] } as const;

/** The worker's sampling rules for this fixture (docs/sampling.md). */
export const fixtureSampling = {
  datasets: {
    shop: { requestTypes: { search: 0.6 }, eventTypes: { view: 0.5 } },
    'shop-app': { eventTypes: { view: 0.5 } },
  },
};

type RequestType = 'search' | 'rag' | 'recommendation';

/** What happened, in the terms the analyst views speak of. Money is in cents, values in millionths. */
export type Fact = {
  dataset: string;
  /** The identity a duplicate shares: the Idempotency-Key or Greenflash insertId. */
  key: string;
  day: string;
  userId: string | null;
  /** The producer's own sampleRate (Greenflash only). */
  producerRate: number;
  force: boolean;
} & (
  | { kind: 'request'; requestId: string; requestType: RequestType; query: string | null }
  | { kind: 'click'; via: 'event' | 'ctr'; requestId: string; requestType: RequestType; position: number; isConversion: boolean }
  | { kind: 'add_to_cart'; requestId: string | null; requestType: RequestType }
  | { kind: 'purchase'; requestId: string | null; requestType: RequestType; itemCents: number[] }
  | { kind: 'view'; requestId: null }
  | { kind: 'item'; event: 'VIEW_PRODUCT' | 'VIEW_SUGGESTION' | 'CLICK_PRODUCT' | 'CLICK_SUGGESTION' | 'LAND_PRODUCT_PAGE'; page: string; position: number | null; seconds: number }
  | { kind: 'item_conversion'; event: 'ADD_TO_CART' | 'PURCHASE'; page: string; items: string[]; seconds: number }
  | {
      kind: 'outcome';
      eventType: string;
      organizationId: string | null;
      valueType: 'numeric' | 'currency' | 'text' | 'boolean';
      value: string;
      /** The value in millionths, for numeric and currency values. */
      valueMicros: number;
      quality: number | null;
      eventAt: string | null;
    }
);

export interface HttpRequest {
  method: 'PUT' | 'POST';
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A small seeded generator (mulberry32), so the fixture is the same on every run. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const dayMs = 86_400_000;
const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export function buildFacts(now: number): Fact[] {
  const next = random(20241123);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const uuid = (): string => {
    const hex = Array.from({ length: 32 }, () => Math.floor(next() * 16).toString(16)).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  };
  const today = dayOf(now);
  const users = Array.from({ length: 60 }, (_, i) => `user-${i}`);
  const user = (): string | null => (next() < 0.1 ? null : pick(users));
  const queries = Array.from({ length: 25 }, (_, i) => `query ${i}`);
  const facts: Fact[] = [];
  let serial = 0;
  const key = (prefix: string): string => `${prefix}-${++serial}`;
  const base = (dataset: string, prefix: string, day = today) => ({ dataset, key: key(prefix), day, userId: user(), producerRate: 1, force: false });

  // Trieve: requests, the clicks, add_to_carts and purchases naming them, and plain views.
  for (let i = 0; i < 500; i++) {
    const requestType: RequestType = i % 10 < 7 ? 'search' : i % 10 < 9 ? 'rag' : 'recommendation';
    const requestId = uuid();
    facts.push({ ...base(datasets.trieve, 'req'), kind: 'request', requestId, requestType, query: requestType === 'recommendation' ? null : pick(queries) });
    const clicks = Math.floor(next() * next() * 4);
    for (let c = 0; c < clicks; c++) {
      const position = Math.floor(next() * next() * 10);
      // Only Trieve's click event carries is_conversion; the CTR body has no such field.
      const via = next() < 0.5 ? 'event' : 'ctr';
      facts.push({ ...base(datasets.trieve, 'click'), kind: 'click', via, requestId, requestType, position, isConversion: via === 'event' && next() < 0.1 });
    }
    if (next() < 0.2) facts.push({ ...base(datasets.trieve, 'atc'), kind: 'add_to_cart', requestId, requestType });
    if (next() < 0.12) {
      const itemCents = Array.from({ length: 1 + Math.floor(next() * 4) }, () => 1 + Math.floor(next() * 9999));
      facts.push({ ...base(datasets.trieve, 'order'), kind: 'purchase', requestId, requestType, itemCents });
    }
  }
  // Clicks on requests that were never sent: not countable as CTR, still stored.
  for (let i = 0; i < 20; i++) {
    facts.push({ ...base(datasets.trieve, 'orphan'), kind: 'click', via: 'ctr', requestId: uuid(), requestType: 'search', position: i % 10, isConversion: false });
  }
  for (let i = 0; i < 200; i++) facts.push({ ...base(datasets.trieve, 'view'), kind: 'view', requestId: null });
  for (let i = 0; i < 30; i++) {
    facts.push({ ...base(datasets.trieve, 'order'), kind: 'purchase', requestId: null, requestType: 'search', itemCents: [100 * (i + 1), 5] });
  }

  // Neuralens: impressions and clicks by page and position, some of them late (backdated).
  const pages = ['SEARCH_RESULT_PAGE', 'AUTOCOMPLETE', 'CATEGORY_PAGE', 'PRODUCT_PAGE'];
  for (let i = 0; i < 1000; i++) {
    const ageDays = next() < 0.2 ? pick([3, 10, 40]) : 0;
    const seconds = Math.floor((now - ageDays * dayMs) / 1000) - Math.floor(next() * 3600);
    const day = dayOf(seconds * 1000);
    const roll = next();
    if (roll < 0.9) {
      const event = roll < 0.55 ? pick(['VIEW_PRODUCT', 'VIEW_SUGGESTION'] as const) : roll < 0.85 ? pick(['CLICK_PRODUCT', 'CLICK_SUGGESTION'] as const) : 'LAND_PRODUCT_PAGE';
      const position = event === 'LAND_PRODUCT_PAGE' || next() < 0.05 ? null : Math.floor(next() * next() * 8);
      facts.push({ ...base(datasets.neuralens, 'nl', day), kind: 'item', event, page: pick(pages), position, seconds });
    } else {
      const event = next() < 0.6 ? 'ADD_TO_CART' : 'PURCHASE';
      const items = event === 'PURCHASE' ? ['p-1', 'p-2', 'p-3'].slice(0, 2 + Math.floor(next() * 2)) : ['p-1'];
      facts.push({ ...base(datasets.neuralens, 'nl', day), kind: 'item_conversion', event, page: 'PRODUCT_PAGE', items, seconds });
    }
  }

  // Greenflash outcomes: sampled by the producer, some forced, some late.
  const organizations = ['org-a', 'org-b', 'org-c', null];
  for (let i = 0; i < 500; i++) {
    const dataset = i % 5 === 0 ? datasets.greenflash[1] : datasets.greenflash[0];
    const late = next() < 0.3;
    const at = now - (late ? Math.floor(next() * 60) * dayMs : 0) - Math.floor(next() * 3600_000);
    const valueType = pick(['numeric', 'currency', 'text', 'boolean'] as const);
    const micros = (10 + Math.floor(next() * 100_000)) * 10_000;
    const value = valueType === 'text' ? 'great answer' : valueType === 'boolean' ? 'true' : (micros / 1e6).toFixed(2);
    const sampled = next() < 0.3;
    facts.push({
      ...base(dataset, 'gf', dayOf(late ? at : now)),
      producerRate: sampled ? 0.3 : 1,
      force: sampled && next() < 0.3,
      kind: 'outcome',
      eventType: pick(['signup', 'trial_started', 'upgrade', 'churn']),
      organizationId: pick(organizations),
      valueType,
      value,
      valueMicros: valueType === 'numeric' || valueType === 'currency' ? micros : 0,
      quality: next() < 0.7 ? Math.round((next() * 2 - 1) * 20) / 20 : null,
      eventAt: late ? new Date(at).toISOString() : null,
    });
  }
  return facts;
}

/** The request a producer sends for a fact: its dialect's own endpoint, or the batch door when viaBatch. */
export function render(fact: Fact, apiKey: string): HttpRequest {
  const trieve = (path: string, body: unknown): HttpRequest => ({
    method: 'PUT',
    path,
    headers: { authorization: `Bearer ${apiKey}`, 'tr-dataset': fact.dataset, 'idempotency-key': fact.key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const request = (requestId: string | null, requestType: RequestType) => (requestId === null ? {} : { request: { request_id: requestId, request_type: requestType } });
  const user = fact.userId === null ? {} : { user_id: fact.userId };
  switch (fact.kind) {
    case 'request': {
      const metadata = { request_id: fact.requestId };
      if (fact.requestType === 'search') return trieve('/api/analytics/events', { event_type: 'search', query: fact.query, tokens: 7, metadata, ...user });
      if (fact.requestType === 'rag') return trieve('/api/analytics/events', { event_type: 'rag', user_message: fact.query, tokens: 30, metadata, ...user });
      return trieve('/api/analytics/events', { event_type: 'recommendation', positive_tracking_ids: ['sku-1'], metadata, ...user });
    }
    case 'click':
      if (fact.via === 'ctr') {
        return trieve('/api/analytics/ctr', {
          request_id: fact.requestId,
          ctr_type: fact.requestType,
          position: fact.position,
          clicked_chunk_tracking_id: `sku-${fact.position}`,
          ...(fact.userId === null ? {} : { metadata: { user_id: fact.userId } }),
        });
      }
      return trieve('/api/analytics/events', {
        event_type: 'click',
        event_name: 'Click',
        clicked_items: { chunk_id: '3c2b5a44-1f0e-4b8e-9a4e-2f6f5c1d9b10', position: fact.position },
        is_conversion: fact.isConversion,
        ...request(fact.requestId, fact.requestType),
        ...user,
      });
    case 'add_to_cart':
      return trieve('/api/analytics/events', { event_type: 'add_to_cart', event_name: 'atc', items: ['sku-1'], ...request(fact.requestId, fact.requestType), ...user });
    case 'purchase':
      return trieve('/api/analytics/events', {
        event_type: 'purchase',
        event_name: 'order',
        items: fact.itemCents.map((cents, i) => ({ tracking_id: `sku-${i}`, revenue: cents / 100 })),
        ...request(fact.requestId, fact.requestType),
        ...user,
      });
    case 'view':
      return trieve('/api/analytics/events', { event_type: 'view', event_name: 'pdp', items: ['sku-1'], ...user });
    case 'item':
    case 'item_conversion':
      return {
        method: 'POST',
        path: '/analytics/event',
        headers: { 'x-neuralens-api-key': `Bearer ${apiKey}`, 'x-neuralens-application-id': fact.dataset, 'idempotency-key': fact.key, 'content-type': 'application/json' },
        body: JSON.stringify({
          event: fact.event,
          page: fact.page,
          items: (fact.kind === 'item' ? ['p-1'] : fact.items).map((id) => ({ id })),
          timestamp: fact.seconds,
          uid: fact.userId,
          ...(fact.kind === 'item' && fact.position !== null ? { index: fact.position } : {}),
        }),
      };
    case 'outcome':
      return {
        method: 'POST',
        path: '/api/v1/events',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          eventType: fact.eventType,
          productId: fact.dataset,
          value: fact.value,
          valueType: fact.valueType,
          insertId: fact.key,
          ...(fact.userId === null ? {} : { userId: fact.userId }),
          ...(fact.organizationId === null ? {} : { organizationId: fact.organizationId }),
          ...(fact.quality === null ? {} : { qualityImpactScore: fact.quality }),
          ...(fact.eventAt === null ? {} : { eventAt: fact.eventAt }),
          ...(fact.producerRate < 1 ? { sampleRate: fact.producerRate } : {}),
          ...(fact.force ? { forceSample: true } : {}),
        }),
      };
  }
}

/** The same fact sent again through POST /v1/batch, wrapped with its dialect and key. */
export function renderThroughBatch(fact: Fact, apiKey: string): HttpRequest {
  const single = render(fact, apiKey);
  const source = fact.kind === 'outcome' ? 'greenflash' : fact.kind === 'item' || fact.kind === 'item_conversion' ? 'neuralens' : single.path === '/api/analytics/ctr' ? 'trieve_ctr' : 'trieve';
  const item = { source, ...(source === 'greenflash' ? {} : { dataset_id: fact.dataset, insert_id: fact.key }), event: JSON.parse(single.body) as unknown };
  return { method: 'POST', path: '/v1/batch', headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/x-ndjson' }, body: `${JSON.stringify(item)}\n` };
}

// ---- The expected numbers, from the facts alone ----

/** The documented sampling point: the first 52 bits of SHA-256("<dataset_id>\n<unit>") over 2^52. */
function samplingPoint(dataset: string, unit: string): number {
  return Number(createHash('sha256').update(`${dataset}\n${unit}`).digest().readBigUInt64BE(0) >> 12n) / 2 ** 52;
}

function requestIdOf(fact: Fact): string | null {
  return 'requestId' in fact ? fact.requestId : null;
}

/** The configured rate (docs/sampling.md): the request type's for events naming a request, else the event type's. */
function configuredRate(fact: Fact): number {
  const rules = (fixtureSampling.datasets as Record<string, { requestTypes?: Record<string, number>; eventTypes?: Record<string, number> }>)[fact.dataset];
  if (rules === undefined) return 1;
  if (requestIdOf(fact) !== null && 'requestType' in fact) return rules.requestTypes?.[fact.requestType] ?? 1;
  const eventType = fact.kind === 'item' && fact.event.startsWith('VIEW') ? 'view' : fact.kind;
  return rules.eventTypes?.[eventType] ?? 1;
}

export interface StoredFact {
  fact: Fact;
  /** The probability it had of being kept: what the row's sample_rate must say. */
  rate: number;
}

/** The facts that must be stored: each identity once, and only those the sample keeps. */
export function expectedStored(facts: readonly Fact[]): StoredFact[] {
  const unique = new Map<string, Fact>();
  for (const fact of facts) if (!unique.has(`${fact.dataset}/${fact.key}`)) unique.set(`${fact.dataset}/${fact.key}`, fact);
  const stored: StoredFact[] = [];
  for (const fact of unique.values()) {
    if (fact.force) {
      stored.push({ fact, rate: 1 });
      continue;
    }
    const rate = Math.min(fact.producerRate, configuredRate(fact));
    if (rate >= 1) stored.push({ fact, rate: 1 });
    else {
      const requestId = requestIdOf(fact);
      const unit = requestId === null ? `insert:${fact.key}` : `request:${requestId}`;
      if (samplingPoint(fact.dataset, unit) < rate) stored.push({ fact, rate });
    }
  }
  return stored;
}

function isConversion(fact: Fact): boolean {
  return (
    fact.kind === 'add_to_cart' ||
    fact.kind === 'purchase' ||
    fact.kind === 'item_conversion' ||
    (fact.kind === 'click' && fact.isConversion) ||
    (fact.kind === 'outcome' && fact.valueType === 'currency')
  );
}

function revenueCentsTimes10k(fact: Fact): number {
  if (fact.kind === 'purchase') return fact.itemCents.reduce((sum, cents) => sum + cents, 0) * 10_000;
  if (fact.kind === 'outcome' && fact.valueType === 'currency') return fact.valueMicros;
  return 0;
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}

const sum = (values: readonly number[]): number => values.reduce((total, v) => total + v, 0);

interface Request {
  dataset: string;
  day: string;
  requestType: string;
  query: string;
  rate: number;
  clickPositions: number[];
  conversions: number;
  addToCarts: number;
  purchases: number;
  revenueMicros: number;
}

/** Requests whose request event is stored, with what the stored events naming them did. */
function requests(stored: readonly StoredFact[]): Request[] {
  const byRequest = groupBy(
    stored.filter((s) => requestIdOf(s.fact) !== null),
    (s) => `${s.fact.dataset}/${requestIdOf(s.fact) ?? ''}`,
  );
  const result: Request[] = [];
  for (const group of byRequest.values()) {
    const head = group.find((s) => s.fact.kind === 'request');
    if (head === undefined || head.fact.kind !== 'request') continue;
    const linked = group.map((s) => s.fact);
    result.push({
      dataset: head.fact.dataset,
      day: head.fact.day,
      requestType: head.fact.requestType,
      query: head.fact.query ?? '',
      rate: head.rate,
      clickPositions: linked.flatMap((f) => (f.kind === 'click' ? [f.position] : [])),
      conversions: linked.filter(isConversion).length,
      addToCarts: linked.filter((f) => f.kind === 'add_to_cart').length,
      purchases: linked.filter((f) => f.kind === 'purchase').length,
      revenueMicros: sum(linked.filter(isConversion).map(revenueCentsTimes10k)),
    });
  }
  return result;
}

export type Row = Record<string, string | number | null>;

function searchTotals(group: readonly Request[]): Row {
  const withClick = group.filter((r) => r.clickPositions.length > 0);
  return {
    searches: group.length,
    searches_with_click: withClick.length,
    clicks: sum(group.map((r) => r.clickPositions.length)),
    ctr: withClick.length / group.length,
    estimated_searches: sum(group.map((r) => 1 / r.rate)),
    estimated_searches_with_click: sum(withClick.map((r) => 1 / r.rate)),
    estimated_clicks: sum(group.map((r) => r.clickPositions.length / r.rate)),
  };
}

export function expectedCtrDaily(stored: readonly StoredFact[]): Row[] {
  return [...groupBy(requests(stored), (r) => [r.dataset, r.day, r.requestType].join('|')).values()].map((group) => {
    const [first] = group as [Request];
    return { dataset_id: first.dataset, day: first.day, request_type: first.requestType, ...searchTotals(group) };
  });
}

export function expectedCtrByQuery(stored: readonly StoredFact[]): Row[] {
  return [...groupBy(requests(stored), (r) => [r.dataset, r.day, r.requestType, r.query].join('|')).values()].map((group) => {
    const [first] = group as [Request];
    return { dataset_id: first.dataset, day: first.day, request_type: first.requestType, query: first.query, ...searchTotals(group) };
  });
}

export function expectedCtrByPosition(stored: readonly StoredFact[]): Row[] {
  const rows: Row[] = [];
  for (const group of groupBy(requests(stored), (r) => [r.dataset, r.day, r.requestType].join('|')).values()) {
    const [first] = group as [Request];
    const positions = [...new Set(group.flatMap((r) => r.clickPositions))];
    for (const position of positions) {
      const clicks = sum(group.map((r) => r.clickPositions.filter((p) => p === position).length));
      const searchesClicked = group.filter((r) => r.clickPositions.includes(position)).length;
      rows.push({
        dataset_id: first.dataset,
        day: first.day,
        request_type: first.requestType,
        position,
        clicks,
        searches_clicked: searchesClicked,
        searches: group.length,
        ctr: searchesClicked / group.length,
        estimated_clicks: sum(group.map((r) => r.clickPositions.filter((p) => p === position).length / r.rate)),
        estimated_searches: sum(group.map((r) => 1 / r.rate)),
      });
    }
  }
  return rows;
}

export function expectedSearchConversionDaily(stored: readonly StoredFact[]): Row[] {
  return [...groupBy(requests(stored), (r) => [r.dataset, r.day, r.requestType].join('|')).values()].map((group) => {
    const [first] = group as [Request];
    const converted = group.filter((r) => r.conversions > 0);
    return {
      dataset_id: first.dataset,
      day: first.day,
      request_type: first.requestType,
      searches: group.length,
      searches_with_click: group.filter((r) => r.clickPositions.length > 0).length,
      searches_with_conversion: converted.length,
      searches_with_click_and_conversion: converted.filter((r) => r.clickPositions.length > 0).length,
      conversion_rate: converted.length / group.length,
      add_to_carts: sum(group.map((r) => r.addToCarts)),
      purchases: sum(group.map((r) => r.purchases)),
      revenue_micros: sum(group.map((r) => r.revenueMicros)),
      estimated_searches: sum(group.map((r) => 1 / r.rate)),
      estimated_searches_with_conversion: sum(converted.map((r) => 1 / r.rate)),
      estimated_revenue: sum(group.map((r) => r.revenueMicros / 1e6 / r.rate)),
    };
  });
}

export function expectedItemCtrByPosition(stored: readonly StoredFact[]): Row[] {
  const counted = stored.filter((s) => s.fact.kind === 'item' && s.fact.event !== 'LAND_PRODUCT_PAGE' && s.fact.position !== null);
  return [
    ...groupBy(counted, (s) => (s.fact.kind === 'item' ? [s.fact.dataset, s.fact.day, s.fact.page, s.fact.position].join('|') : '')).values(),
  ].map((group) => {
    const [first] = group as [StoredFact];
    const isView = (s: StoredFact): boolean => s.fact.kind === 'item' && s.fact.event.startsWith('VIEW');
    const impressions = group.filter(isView);
    const clicks = group.filter((s) => !isView(s));
    const fact = first.fact as Extract<Fact, { kind: 'item' }>;
    return {
      dataset_id: fact.dataset,
      day: fact.day,
      page: fact.page,
      position: fact.position,
      impressions: impressions.length,
      clicks: clicks.length,
      ctr: impressions.length === 0 ? null : clicks.length / impressions.length,
      estimated_impressions: sum(impressions.map((s) => 1 / s.rate)),
      estimated_clicks: sum(clicks.map((s) => 1 / s.rate)),
    };
  });
}

export function expectedConversionDaily(stored: readonly StoredFact[]): Row[] {
  const conversions = stored.filter((s) => isConversion(s.fact));
  return [...groupBy(conversions, (s) => [s.fact.dataset, s.fact.day].join('|')).values()].map((group) => {
    const [first] = group as [StoredFact];
    const kindIs = (...kinds: string[]) => group.filter((s) => kinds.includes(s.fact.kind === 'item_conversion' ? (s.fact.event === 'PURCHASE' ? 'purchase' : 'add_to_cart') : s.fact.kind));
    return {
      dataset_id: first.fact.dataset,
      day: first.fact.day,
      conversions: group.length,
      add_to_carts: kindIs('add_to_cart').length,
      purchases: kindIs('purchase').length,
      revenue_micros: sum(group.map((s) => revenueCentsTimes10k(s.fact))),
      converting_users: new Set(group.flatMap((s) => (s.fact.userId === null ? [] : [s.fact.userId]))).size,
      estimated_conversions: sum(group.map((s) => 1 / s.rate)),
      estimated_revenue: sum(group.map((s) => revenueCentsTimes10k(s.fact) / 1e6 / s.rate)),
    };
  });
}

export function expectedOutcomesDaily(stored: readonly StoredFact[]): Row[] {
  const outcomes = stored.flatMap((s) => (s.fact.kind === 'outcome' ? [{ fact: s.fact, rate: s.rate }] : []));
  return [...groupBy(outcomes, (s) => [s.fact.dataset, s.fact.day, s.fact.organizationId ?? '', s.fact.eventType].join('|')).values()].map((group) => {
    const [first] = group as [(typeof outcomes)[number]];
    const scored = group.flatMap((s) => (s.fact.quality === null ? [] : [s.fact.quality]));
    return {
      dataset_id: first.fact.dataset,
      day: first.fact.day,
      organization_id: first.fact.organizationId ?? '',
      event_type: first.fact.eventType,
      events: group.length,
      numeric_value_micros: sum(group.map((s) => (s.fact.valueType === 'numeric' ? s.fact.valueMicros : 0))),
      currency_value_micros: sum(group.map((s) => (s.fact.valueType === 'currency' ? s.fact.valueMicros : 0))),
      quality_scored: scored.length,
      avg_quality_score: scored.length === 0 ? null : sum(scored) / scored.length,
      estimated_events: sum(group.map((s) => 1 / s.rate)),
    };
  });
}

/** Decimals to integer millionths; other non-integers to 6 places, so float summation order does not matter. */
function normalised(row: Row): Row {
  const result: Row = {};
  for (const [name, value] of Object.entries(row)) {
    if (['revenue', 'numeric_value_sum', 'currency_value_sum'].includes(name)) result[`${name.replace(/_sum$/, '')}_micros`] = Math.round(Number(value) * 1e6);
    else if (typeof value === 'number' && !Number.isInteger(value)) result[name] = Number(value.toFixed(6));
    else result[name] = value;
  }
  return result;
}

/** Rows normalised and in one order, to compare a view's rows with the fixture's. */
export function sortedRows(rows: readonly Row[]): Row[] {
  return rows.map(normalised).sort((a, b) => JSON.stringify(Object.values(a)).localeCompare(JSON.stringify(Object.values(b))));
}

/** Every analyst view, with the rows the fixture computes for it. */
export const fixtureViews: { name: string; expected: (stored: readonly StoredFact[]) => Row[] }[] = [
  { name: 'ctr_daily', expected: expectedCtrDaily },
  { name: 'ctr_by_query', expected: expectedCtrByQuery },
  { name: 'ctr_by_position', expected: expectedCtrByPosition },
  { name: 'search_conversion_daily', expected: expectedSearchConversionDaily },
  { name: 'item_ctr_by_position', expected: expectedItemCtrByPosition },
  { name: 'conversion_daily', expected: expectedConversionDaily },
  { name: 'outcomes_daily', expected: expectedOutcomesDaily },
];

/** The query that reads a view's fixture rows, with the columns the expected rows hold. */
export function fixtureViewQuery(name: string, expected: readonly Row[]): string {
  const [first] = expected;
  if (first === undefined) throw new Error(`the fixture gives no rows for ${name}`);
  const columns = Object.keys(first).map((c) => (c.endsWith('_micros') ? c.replace(/_micros$/, c.startsWith('revenue') ? '' : '_sum') : c));
  return `SELECT ${columns.join(', ')} FROM ${name} WHERE dataset_id IN ('shop', 'shop-app', 'gf-product', 'gf-other')`;
}

/**
 * Sends the requests to the gateway, `concurrency` at a time, as clients do (a 503 or 429 is
 * retried after its Retry-After). Returns what was refused: a failed request, or a batch with
 * rejected events.
 */
export async function sendRequests(gatewayUrl: string, requests: readonly HttpRequest[], concurrency: number): Promise<string[]> {
  let next = 0;
  const failures: string[] = [];
  async function lane(): Promise<void> {
    while (next < requests.length) {
      const request = requests[next++];
      if (request === undefined) return;
      const response = await fetchRetrying(`${gatewayUrl}${request.path}`, { method: request.method, headers: request.headers, body: request.body });
      const text = await response.text();
      const refusedInBatch = request.path === '/v1/batch' && (JSON.parse(text) as { rejected: number }).rejected > 0;
      if (!response.ok || refusedInBatch) failures.push(`${request.method} ${request.path} -> ${response.status} ${text}`);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return failures;
}

/** Trieve events happen "now": keep a run from straddling midnight UTC, which would split their day. */
export async function awayFromMidnight(): Promise<void> {
  const untilMidnight = 86_400_000 - (Date.now() % 86_400_000);
  if (untilMidnight < 180_000) await new Promise((resolve) => setTimeout(resolve, untilMidnight + 1_000));
}
