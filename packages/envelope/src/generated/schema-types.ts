// Generated from schemas/ by scripts/generate-types.ts; do not edit.
// Run `npm run generate:types` after changing a schema.

// schemas/envelope.v1.json

/**
 * Sluice canonical event envelope, version 1: schemas/envelope.v1.json.
 *
 * What the gateway publishes to Kafka and what Kafka-native producers write directly. Field names are the ClickHouse column names. Times are UTC milliseconds since the Unix epoch. Loaded by Sluice, each field also gets the limits of its ClickHouse column (packages/envelope/src/column-domains.ts; GET /openapi.json shows them), every string must be well-formed Unicode, and values nest at most 32 levels below a field. Free-text fields have no length limit of their own: a whole message is at most 1 MiB.
 */
export interface Envelope {
  /**
   * Envelope version; a breaking change gets a new version and a new schema file.
   */
  schema_version: 1;
  /**
   * Unique id of this event, assigned by the gateway (or by the native producer).
   */
  event_id: string;
  /**
   * Idempotency key: the producer's insertId or Idempotency-Key header, else the event_id. Events with the same dataset_id and insert_id are stored once.
   */
  insert_id: string;
  /**
   * The tenant's dataset: a Trieve dataset id or tracking_id, a Neuralens application id or a Greenflash product id.
   */
  dataset_id: string;
  /**
   * The dialect the event arrived in.
   */
  source: 'trieve' | 'trieve_ctr' | 'neuralens' | 'greenflash' | 'native';
  /**
   * Normalised event type, lower snake_case (view, click, add_to_cart, purchase, search, ...).
   */
  event_type: string;
  /**
   * The producer's own name for the event; the event_type when the dialect has none.
   */
  event_name: string;
  /**
   * When the event happened, UTC epoch milliseconds.
   */
  occurred_at: number;
  /**
   * When the gateway (or native producer) received it, UTC epoch milliseconds.
   */
  received_at: number;
  user_id?: string | null;
  organization_id?: string | null;
  /**
   * Ties a click, view or purchase to the search / rag / recommendation request it came from.
   */
  request_id?: string | null;
  /**
   * search, rag or recommendation when known.
   */
  request_type?: string | null;
  /**
   * Position of the clicked or viewed item in the result list.
   */
  position?: number | null;
  query?: string | null;
  page?: string | null;
  items?: string[];
  /**
   * The producer's own conversion flag, null when it said nothing.
   */
  is_conversion?: boolean | null;
  /**
   * Purchase revenue: the sum of Trieve purchase item revenues, or a Greenflash currency value.
   */
  revenue?: number | null;
  value?: string | null;
  value_type?: 'currency' | 'numeric' | 'text' | 'boolean' | null;
  influence?: 'positive' | 'negative' | 'neutral' | null;
  quality_score?: number | null;
  geo?: {
    lat?: number | null;
    long?: number | null;
    region?: string | null;
  } | null;
  /**
   * Share of such events that is kept; rows record it so counts can be re-weighted.
   */
  sample_rate?: number;
  /**
   * Always keep this event, whatever the sample rate.
   */
  force_sample?: boolean;
  /**
   * Free-form producer metadata (Trieve metadata, Greenflash properties).
   */
  properties?: {
    [k: string]: unknown;
  } | null;
  /**
   * The original request body, unchanged.
   */
  raw?: unknown;
}

// schemas/batch-item.v1.json

/**
 * One event in a POST /v1/batch request: schemas/batch-item.v1.json.
 *
 * Each line (NDJSON) or array element is either a canonical envelope (it has schema_version; see envelope.v1.json) or a dialect event wrapped with the dataset it belongs to. The wrapped event is validated against its dialect's schema.
 */
export type BatchItem = BatchItemCanonicalEnvelope | BatchItemDialectEvent;

export interface BatchItemCanonicalEnvelope {
  schema_version: 1;
}

export interface BatchItemDialectEvent {
  /**
   * The dialect of `event`.
   */
  source: 'trieve' | 'trieve_ctr' | 'neuralens' | 'greenflash';
  /**
   * Required for trieve and trieve_ctr (what TR-Dataset would hold) and neuralens (the application id); greenflash takes its productId from the event.
   */
  dataset_id?: string;
  /**
   * Idempotency key; Greenflash's own insertId wins when both are given.
   */
  insert_id?: string;
  /**
   * The body the dialect's own endpoint would take.
   */
  event: {
    [k: string]: unknown;
  };
}

// schemas/beacon.v1.json

/**
 * The body of a POST /v1/beacon request: schemas/beacon.v1.json.
 *
 * What navigator.sendBeacon or fetch(url, {keepalive: true}) sends, as text/plain (or application/json): one event, or a batch under `events`. The publishable key and the default dataset may be given here or in the query string (?key=pk_...&dataset_id=...); when both give one, they must be equal. Each event is a batch item (batch-item.v1.json), checked one by one: a bad event gets its own result, as in POST /v1/batch.
 */
export type BeaconBody = BeaconABatch | BeaconOneEvent;

/**
 * A publishable key (pk_...) that allows the page's origin. A secret key (sk_...) is refused: URLs and bodies get logged.
 */
export type BeaconKey = string;

export interface BeaconABatch {
  key?: BeaconKey;
  /**
   * The dataset of every trieve, trieve_ctr and neuralens event that names none (greenflash events take their productId).
   */
  dataset_id?: string;
  /**
   * Batch items (batch-item.v1.json): dialect events wrapped with their source, or canonical envelopes.
   *
   * @minItems 1
   */
  events: {
    [k: string]: unknown;
  }[];
}

/**
 * One batch item (batch-item.v1.json) with, optionally, the key beside its fields. A dialect event's dataset_id is its own; without one, the query string's dataset_id applies.
 */
export interface BeaconOneEvent {
  key?: BeaconKey;
}

// schemas/dialects/trieve-event.json

/**
 * Trieve EventTypes (PUT /api/analytics/events): schemas/dialects/trieve-event.json.
 *
 * Faithful to Trieve API 0.13.0 components/schemas/EventTypes, discriminated by event_type. Unknown properties are ignored, as Trieve's server does.
 */
export type TrieveEvent = TrieveView | TrieveAddToCart | TrieveClick | TrievePurchase | TrieveFilterClicked | TrieveSearch | TrieveRAG | TrieveRecommendation;

export type TrieveCTRType = 'search' | 'rag' | 'recommendation';

export interface TrieveView {
  event_type: 'view';
  event_name: string;
  /**
   * The items that were viewed
   */
  items: string[];
  /**
   * Any other metadata associated with the event
   */
  metadata?: unknown;
  /**
   * The location of the event
   */
  location?: string | null;
  request?: TrieveRequestInfo | null;
  user_id?: string | null;
}

export interface TrieveRequestInfo {
  request_id: string;
  request_type: TrieveCTRType;
}

export interface TrieveAddToCart {
  event_type: 'add_to_cart';
  event_name: string;
  is_conversion?: boolean | null;
  /**
   * The items that were added to the cart
   */
  items: string[];
  /**
   * Any other metadata associated with the event
   */
  metadata?: unknown;
  /**
   * The location of the event
   */
  location?: string | null;
  request?: TrieveRequestInfo | null;
  user_id?: string | null;
}

export interface TrieveClick {
  event_type: 'click';
  clicked_items?: TrieveChunkWithPosition | null;
  event_name: string;
  is_conversion?: boolean | null;
  /**
   * Any other metadata associated with the event
   */
  metadata?: unknown;
  /**
   * The location of the event
   */
  location?: string | null;
  request?: TrieveRequestInfo | null;
  user_id?: string | null;
}

export interface TrieveChunkWithPosition {
  chunk_id: string;
  position: number;
}

export interface TrievePurchase {
  event_type: 'purchase';
  event_name: string;
  is_conversion?: boolean | null;
  /**
   * The items that were purchased
   */
  items: TrievePurchaseItem[];
  /**
   * Any other metadata associated with the event
   */
  metadata?: unknown;
  /**
   * The location of the event
   */
  location?: string | null;
  request?: TrieveRequestInfo | null;
  user_id?: string | null;
}

export interface TrievePurchaseItem {
  revenue: number;
  tracking_id: string;
}

export interface TrieveFilterClicked {
  event_type: 'filter_clicked';
  event_name: string;
  is_conversion?: boolean | null;
  /**
   * The filter items that were clicked, {filter_name: filter_value} where filter_name is filter_type::field_name
   */
  items: {
    [k: string]: string;
  };
  /**
   * The location of the event
   */
  location?: string | null;
  request?: TrieveRequestInfo | null;
  user_id?: string | null;
}

export interface TrieveSearch {
  event_type: 'search';
  latency?: number | null;
  /**
   * Any other metadata associated with the event
   */
  metadata?: unknown;
  query: string;
  query_rating?: TrieveSearchQueryRating | null;
  /**
   * The request params of the search
   */
  request_params?: unknown;
  results?: unknown[] | null;
  search_type?: 'search' | 'search_over_groups' | 'autocomplete' | 'rag' | null;
  tokens: number;
  top_score?: number | null;
  user_id?: string | null;
}

export interface TrieveSearchQueryRating {
  metadata?: unknown;
  note?: string | null;
  rating: number;
}

export interface TrieveRAG {
  event_type: 'rag';
  detected_hallucinations?: string[] | null;
  hallucination_score?: number | null;
  llm_response?: string | null;
  /**
   * Any other metadata associated with the event
   */
  metadata?: unknown;
  query_rating?: TrieveSearchQueryRating | null;
  rag_type?: 'chosen_chunks' | 'all_chunks' | null;
  results?: unknown[] | null;
  search_id?: string | null;
  tokens: number;
  topic_id?: string | null;
  user_id?: string | null;
  user_message: string;
}

export interface TrieveRecommendation {
  event_type: 'recommendation';
  /**
   * Any other metadata associated with the event
   */
  metadata?: unknown;
  negative_ids?: string[] | null;
  negative_tracking_ids?: string[] | null;
  positive_ids?: string[] | null;
  positive_tracking_ids?: string[] | null;
  recommendation_type?: 'Chunk' | 'Group' | null;
  /**
   * The request params of the recommendation
   */
  request_params?: unknown;
  results?: unknown[] | null;
  top_score?: number | null;
  user_id?: string | null;
}

// schemas/dialects/trieve-ctr.json

/**
 * Trieve CTRDataRequestBody (PUT /api/analytics/ctr, deprecated): schemas/dialects/trieve-ctr.json.
 *
 * Faithful to Trieve API 0.13.0 components/schemas/CTRDataRequestBody. OpenAPI's nullable: true is written as a union with null. Unknown properties are ignored, as Trieve's server does.
 */
export interface TrieveCtrBody {
  /**
   * The ID of chunk that was clicked
   */
  clicked_chunk_id?: string | null;
  /**
   * The tracking ID of the chunk that was clicked
   */
  clicked_chunk_tracking_id?: string | null;
  ctr_type: TrieveCTRType;
  /**
   * Any metadata you want to include with the event i.e. action, user_id, etc. Any JSON value, or null.
   */
  metadata?: unknown;
  /**
   * The position of the clicked chunk (int32)
   */
  position: number;
  /**
   * The request id for the CTR data
   */
  request_id: string;
}

// schemas/dialects/neuralens-event.json

/**
 * Neuralens event (POST /analytics/event): schemas/dialects/neuralens-event.json.
 *
 * The request body of Neuralens' Event Tracking API. The application is named by the X-Neuralens-Application-ID header, not the body. Unknown properties are ignored. Bounds the page leaves out: index is an int32 (it becomes the envelope's position) and timestamp is at most 5662310399 (2149-06-06T23:59:59Z, the last day the views can hold), which also refuses a timestamp sent in milliseconds by mistake.
 */
export interface NeuralensEvent {
  /**
   * User id. For anonymous users, an anonymous uuid if available, or null.
   */
  uid?: string | null;
  /**
   * The products the event is about: one, except for PURCHASE, which may list several.
   *
   * @minItems 1
   */
  items: {
    /**
     * A product id.
     */
    id: string;
  }[];
  /**
   * The search query text the event followed from.
   */
  query?: string;
  /**
   * Where the event took place: search results, search autocomplete, a merchandising page, a product details page.
   */
  page: 'SEARCH_RESULT_PAGE' | 'AUTOCOMPLETE' | 'CATEGORY_PAGE' | 'PRODUCT_PAGE';
  event: 'VIEW_PRODUCT' | 'CLICK_PRODUCT' | 'VIEW_SUGGESTION' | 'CLICK_SUGGESTION' | 'LAND_PRODUCT_PAGE' | 'FAVORITE' | 'SHARE' | 'ADD_TO_CART' | 'PURCHASE';
  /**
   * The index of the product or suggestion viewed, clicked, favorited or added to cart; starts at 0.
   */
  index?: number;
  /**
   * The user's location at the time of the event.
   */
  geo?: {
    lat?: number;
    long?: number;
    /**
     * A locality, city, state or any region name the producer uses.
     */
    region?: string;
  };
  /**
   * When the event happened, Unix seconds.
   */
  timestamp: number;
}

// schemas/dialects/greenflash-event.json

/**
 * Greenflash create event (POST /api/v1/events): schemas/dialects/greenflash-event.json.
 *
 * The request payload for creating a Greenflash event, in the camelCase the Greenflash SDK sends. Unknown properties are ignored. productId names the dataset and insertId is the idempotency key, so both are bounded like the gateway's key headers (1 to 256 characters). eventAt must also fall between 1970-01-01T00:00:00Z and 2149-06-06T23:59:59.999Z (the last day the views can hold), a check validateGreenflashEvent adds in code.
 */
export interface GreenflashEvent {
  /**
   * The name or category of the event (e.g. "trial_started", "signup", "feature_usage").
   */
  eventType: string;
  /**
   * The Greenflash product the event belongs to.
   */
  productId: string;
  /**
   * The value associated with the event (e.g. "99.00", "5", "premium_plan"); valueType says how to read it.
   */
  value: string;
  /**
   * The format of value.
   */
  valueType?: 'currency' | 'numeric' | 'text' | 'boolean';
  /**
   * ISO 8601 (RFC 3339) time the event occurred, with a time zone; defaults to the time it is received.
   */
  eventAt?: string;
  /**
   * Idempotency key: a retry with the same insertId does not create a second event.
   */
  insertId?: string;
  /**
   * Share of such events to ingest, 0.0 to 1.0; defaults to 1.0.
   */
  sampleRate?: number;
  /**
   * Always ingest this event, whatever sampleRate says.
   */
  forceSample?: boolean;
  /**
   * How the event changed things, broadly.
   */
  influence?: 'positive' | 'negative' | 'neutral';
  /**
   * Precise quality impact, -1.0 to 1.0; derived from influence when omitted.
   */
  qualityImpactScore?: number;
  /**
   * Additional unstructured context (e.g. { "source": "web_app", "campaign_id": "123" }).
   */
  properties?: {
    [k: string]: unknown;
  };
  /**
   * The Greenflash user id.
   */
  userId?: string;
  /**
   * Your system's user id.
   */
  externalUserId?: string;
  /**
   * The Greenflash organization id.
   */
  organizationId?: string;
  /**
   * Your system's organization id.
   */
  externalOrganizationId?: string;
  /**
   * The Greenflash conversation id.
   */
  conversationId?: string;
  /**
   * Your system's conversation or thread id.
   */
  externalConversationId?: string;
}

// schemas/analysts.v1.json

/**
 * A dataset id as the key file has it (docs/keys.md): not empty, no whitespace at either end. "*", every dataset, comes alone.
 */
export type AnalystsDatasetId = string;

/**
 * The analysts file: schemas/analysts.v1.json.
 *
 * The SQL analysts of a ClickHouse server and the datasets each may read (docs/analysts.md, Per-dataset access). `npm run keys -- analyst ...` edits it; `npm run keys -- analyst render` turns it into a users.d file for the server, which enforces it with its own users, grants and row policies.
 */
export interface AnalystsFile {
  version: 1;
  /**
   * Names are unique (checked beside the schema: JSON Schema cannot say it).
   */
  analysts: AnalystsAnalyst[];
}

export interface AnalystsAnalyst {
  /**
   * The ClickHouse user name: a lowercase letter, then up to 62 lowercase letters, digits, _ or -. Not default or analyst, the users the server already has.
   */
  name: string;
  /**
   * SHA-256 of the password, lowercase hex: ClickHouse's password_sha256_hex. The password itself is stored nowhere.
   */
  password_sha256: string;
  /**
   * The dataset ids the analyst may read, or ["*"] for every dataset.
   *
   * @minItems 1
   */
  datasets: AnalystsDatasetId[];
  created_at: string;
}
