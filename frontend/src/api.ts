// REST client for the btcpulse back end (same origin).
import { isFiniteNumber } from "./dom";
import type {
  Alert,
  BurstsResponse,
  CandlesResponse,
  Health,
  IndexResponse,
  NewsItem,
  NewsResponse,
  Story,
  UpdatesResponse,
  Venue,
} from "./types";

export class ApiError extends Error {
  constructor(
    readonly path: string,
    readonly status: number,
  ) {
    super(`GET ${path} failed (${status})`);
  }
}

async function getJson<T>(path: string, params: Record<string, string | number | undefined> = {}, signal?: AbortSignal): Promise<T> {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined) query.set(k, String(v));
  }
  const qs = query.toString();
  const url = qs ? `${path}?${qs}` : path;
  const res = await fetch(url, { headers: { Accept: "application/json" }, signal: signal ?? null });
  if (!res.ok) throw new ApiError(path, res.status);
  return (await res.json()) as T;
}

export async function fetchVenues(): Promise<Venue[]> {
  const body = await getJson<{ venues?: Venue[] }>("/api/v1/venues");
  return Array.isArray(body.venues) ? body.venues : [];
}

export interface CandleQuery {
  venue: string;
  symbol: string;
  /** ISO 8601; omitted means "all". */
  from?: string | undefined;
}

export async function fetchCandles(q: CandleQuery, signal?: AbortSignal): Promise<CandlesResponse> {
  const body = await getJson<CandlesResponse>("/api/v1/candles", { venue: q.venue, symbol: q.symbol, from: q.from }, signal);
  return { ...body, seq: seqOrNull(body.seq), candles: Array.isArray(body.candles) ? body.candles : [] };
}

export async function fetchNews(limit: number, topic?: string | null): Promise<NewsResponse> {
  const body = await getJson<{ items?: NewsItem[]; seq?: unknown }>("/api/v1/news", { limit, topic: topic || undefined });
  return { items: Array.isArray(body.items) ? body.items : [], seq: seqOrNull(body.seq) };
}

export async function fetchStories(limit = 20, minSources = 2): Promise<Story[]> {
  const body = await getJson<{ stories?: Story[] }>("/api/v1/stories", { limit, min_sources: minSources });
  return Array.isArray(body.stories) ? body.stories : [];
}

export async function fetchIndex(replay: boolean, from?: string, to?: string): Promise<IndexResponse> {
  const body = await getJson<Partial<IndexResponse>>("/api/v1/index", { replay: String(replay), from, to });
  return {
    latest: body.latest && typeof body.latest === "object" ? body.latest : null,
    series: Array.isArray(body.series) ? body.series : [],
  };
}

export async function fetchAlerts(limit = 20): Promise<Alert[]> {
  const body = await getJson<{ alerts?: Alert[] }>("/api/v1/alerts", { limit });
  return Array.isArray(body.alerts) ? body.alerts : [];
}

export async function fetchBursts(replay: boolean, minZ = 3, resolutionS = 3600): Promise<BurstsResponse> {
  // The server's default resolution is 3600: it is left out because the back end (a Literal[900,
  // 3600] query parameter) currently rejects any explicit `resolution_s` with a 422.
  const body = await getJson<Partial<BurstsResponse>>("/api/v1/bursts", {
    replay: String(replay),
    resolution_s: resolutionS === 3600 ? undefined : resolutionS,
    min_z: minZ,
  });
  return { resolution_s: isFiniteNumber(body.resolution_s) ? body.resolution_s : resolutionS, bursts: Array.isArray(body.bursts) ? body.bursts : [] };
}

export function fetchHealth(): Promise<Health> {
  return getJson<Health>("/api/v1/health");
}

export async function fetchUpdates(since: number, limit: number, timeoutMs = 15_000): Promise<UpdatesResponse> {
  const body = await getJson<UpdatesResponse>("/api/v1/updates", { since, limit }, AbortSignal.timeout(timeoutMs));
  return {
    updates: Array.isArray(body.updates) ? body.updates : [],
    first_seq: seqOrNull(body.first_seq),
    last_seq: seqOrNull(body.last_seq),
  };
}

/** A store update sequence number, or null when absent / malformed. */
function seqOrNull(v: unknown): number | null {
  return isFiniteNumber(v) && v >= 0 ? v : null;
}
