// Shapes of the btcpulse HTTP / WebSocket API (all times UTC).

export type RangeKey = "1h" | "24h" | "7d" | "all";
export const RANGES: readonly RangeKey[] = ["1h", "24h", "7d", "all"];

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
  engine: { lag: number; last_batch_at: string | null } | null;
  errors_total: number;
}

export interface CandleUpdateData extends Candle {
  venue: string;
  symbol: string;
  resolution: string;
  resolution_s: number;
}

export type Update =
  | { type: "update"; seq: number; key: string; kind: "candle"; data: CandleUpdateData }
  | { type: "update"; seq: number; key: string; kind: "news"; data: NewsItem };

export interface UpdatesResponse {
  updates: Update[];
  /** The oldest update still kept; `since < first_seq - 1` means some were pruned (reload). */
  first_seq: number | null;
  last_seq: number | null;
}
