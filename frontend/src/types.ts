// Shapes of the btcpulse HTTP / WebSocket API (all times UTC).

export type RangeKey = "15m" | "1h" | "6h" | "24h" | "7d" | "30d" | "1y" | "all";
export const RANGES: readonly RangeKey[] = ["15m", "1h", "6h", "24h", "7d", "30d", "1y", "all"];
/** Length of each preset in seconds (null: everything). */
export const RANGE_SECONDS: Record<RangeKey, number | null> = {
  "15m": 900,
  "1h": 3600,
  "6h": 6 * 3600,
  "24h": 86400,
  "7d": 7 * 86400,
  "30d": 30 * 86400,
  "1y": 365 * 86400,
  all: null,
};

export type ViewKey = "overview" | "news" | "trends" | "impact" | "health" | "alerts";
export const VIEWS: readonly ViewKey[] = ["overview", "news", "trends", "impact", "health", "alerts"];

export interface Venue {
  venue: string;
  symbol: string;
  replay: boolean;
  /** ISO 8601 time of the newest candle, or null when the venue has none. */
  last_time: string | null;
}

export interface Candle {
  /** Window start, epoch seconds. */
  t: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  /** Volume-weighted average price (null when the window had no volume; absent from older back ends). */
  vwap?: number | null;
  trades: number;
}

export interface CandlesResponse {
  venue: string;
  symbol: string;
  resolution: string;
  resolution_s: number;
  replay: boolean;
  /** The store's update sequence when the answer was read (null from an older back end). */
  seq: number | null;
  candles: Candle[];
}

export type SentimentLabel = "positive" | "negative" | "neutral";

export interface NewsItem {
  id: string;
  source: string;
  url: string;
  title: string;
  summary: string | null;
  published_at: string;
  lang: string | null;
  replay: boolean;
  sentiment: number | null;
  sentiment_label: SentimentLabel | string | null;
  /** "not_scored": a language the model does not know (see `lang`); absent from older back ends
   *  (then "scored" when `sentiment` is a number). */
  sentiment_status?: "scored" | "not_scored" | string | null;
  /** Topic ids (see TOPICS); absent from older back ends. */
  topics?: string[] | null;
  entities?: Entity[] | null;
  story_id?: string | null;
  /** How many outlets carry the story (null: not clustered yet). */
  story_sources?: number | null;
}

export const TOPICS = [
  "regulation",
  "etf_institutional",
  "adoption_payments",
  "security_hacks",
  "mining_energy",
  "macro_monetary",
  "technology",
  "market_price",
  "exchanges",
  "legal",
] as const;
export type Topic = (typeof TOPICS)[number];

export interface Entity {
  name: string;
  type: "exchange" | "company" | "person" | "country" | "coin" | string;
}

export interface Story {
  story_id: string;
  title: string;
  size: number;
  source_count: number;
  first_source: string;
  first_published_at: string;
  last_published_at: string;
  replay: boolean;
}

export interface IndexComponents {
  sentiment: number;
  volume: number;
  momentum: number;
  volatility: number;
}

export interface IndexDriver {
  id: string;
  title: string;
  /** Signed share of the index, in index points. */
  contribution: number;
}

export interface IndexLatest {
  /** Epoch seconds. */
  t: number;
  value: number;
  components: IndexComponents;
  n_news: number;
  drivers: IndexDriver[];
}

export interface IndexPoint extends IndexComponents {
  t: number;
  value: number;
  n_news: number;
}

export interface IndexResponse {
  latest: IndexLatest | null;
  series: IndexPoint[];
}

/** WS `kind:"index"` data (note: `series` here names the price series, not points). */
export interface IndexUpdateData {
  replay: boolean;
  time: number;
  value: number;
  sentiment_c: number;
  volume_c: number;
  momentum_c: number;
  volatility_c: number;
  n_news: number;
  drivers: IndexDriver[];
  series?: unknown;
}

export interface Alert {
  alert_id: string;
  kind: string;
  rule: string;
  /** Epoch seconds of what triggered it. */
  t: number;
  value: number;
  message: string;
  /** The figures of `message`, by kind, for a localised rendering (`{}` on older alerts). */
  params?: Record<string, unknown> | null;
  replay: boolean;
  created_at: string;
}

/** WS `kind:"alert"` data (`time` instead of `t`). */
export interface AlertUpdateData extends Omit<Alert, "t"> {
  time: number;
}

export interface Burst {
  key: string;
  /** Window start, epoch seconds. */
  t: number;
  count: number;
  mean: number;
  std: number;
  z: number;
}

export interface BurstsResponse {
  resolution_s: number;
  bursts: Burst[];
}

export interface NewsResponse {
  items: NewsItem[];
  /** The store's update sequence when the answer was read (null from an older back end). */
  seq: number | null;
}

export type SourceStatus = "up" | "down" | "paused" | "starting";

export interface HealthSource {
  name: string;
  kind: string;
  status: SourceStatus | string;
  last_success: string | null;
  last_error: string | null;
  last_error_reason: string | null;
  items_total: number;
  detail: string | null;
}

export interface Health {
  status: "ok" | "degraded" | string;
  sources: HealthSource[];
  engine: { lag: number | null; last_batch_at: string | null; status?: string; batches?: number | null; messages?: number | null } | null;
  errors_total: number;
}

/** A dead letter: an input the pipeline rejected, with the reason. */
export interface DeadLetter {
  id: string | number;
  time: string;
  stage: string;
  source: string | null;
  reason: string;
  payload: string;
}

export interface NewsSource {
  source: string;
  count: number;
  replay: boolean;
}

export interface AlertRules {
  rules: string[];
  origin: "settings" | "store" | string;
  updated_at: string | null;
  writable: boolean;
}

/** One /api/v1/impact row: `topic` or `source`, `n`, and per horizon n_/mean_/median_ret_<h>s. */
export type ImpactRow = Record<string, string | number | null>;
export const IMPACT_HORIZONS = [60, 300, 3600] as const;

export interface NewsFilters {
  source: string | null;
  topic: Topic | null;
  sentiment: SentimentLabel | null;
  q: string | null;
}

export interface CandleUpdateData extends Candle {
  venue: string;
  symbol: string;
  resolution: string;
  resolution_s: number;
}

export type Update =
  | { type: "update"; seq: number; key: string; kind: "candle"; data: CandleUpdateData }
  | { type: "update"; seq: number; key: string; kind: "news"; data: NewsItem }
  | { type: "update"; seq: number; key: string; kind: "story"; data: Story }
  | { type: "update"; seq: number; key: string; kind: "index"; data: IndexUpdateData }
  | { type: "update"; seq: number; key: string; kind: "alert"; data: AlertUpdateData }
  | { type: "update"; seq: number; key: string; kind: "burst"; data: Record<string, unknown> };

export const UPDATE_KINDS: readonly Update["kind"][] = ["candle", "news", "story", "index", "alert", "burst"];

export interface UpdatesResponse {
  updates: Update[];
  /** The oldest update still kept; `since < first_seq - 1` means some were pruned (reload). */
  first_seq: number | null;
  last_seq: number | null;
}
