// REST client for the btcpulse back end (same origin).
import { isFiniteNumber } from "./dom";
import type {
  Alert,
  AlertRules,
  DeadLetter,
  ImpactRow,
  NewsFilters,
  NewsSource,
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
    /** The server's own explanation (FastAPI's `detail`), when it gave one. */
    readonly detail: string | null = null,
  ) {
    super(`${path} failed (${status})`);
  }
}

/** FastAPI errors: {"detail": "..."} or {"detail": [{"msg": "..."}, ...]}. */
async function errorDetail(res: Response): Promise<string | null> {
  try {
    const body = (await res.json()) as { detail?: unknown };
    const d = body.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) {
      return d.map((x) => (x && typeof x === "object" && "msg" in x ? String((x as { msg: unknown }).msg) : String(x))).join("; ");
    }
    return d === undefined ? null : JSON.stringify(d);
  } catch {
    return null;
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
  if (!res.ok) throw new ApiError(path, res.status, await errorDetail(res));
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
  /** ISO 8601; omitted means "now". */
  to?: string | undefined;
}

export async function fetchCandles(q: CandleQuery, signal?: AbortSignal): Promise<CandlesResponse> {
  const body = await getJson<CandlesResponse>("/api/v1/candles", { venue: q.venue, symbol: q.symbol, from: q.from, to: q.to }, signal);
  return { ...body, seq: seqOrNull(body.seq), candles: Array.isArray(body.candles) ? body.candles : [] };
}

export interface NewsQuery extends Partial<NewsFilters> {
  limit: number;
  from?: string | undefined;
  to?: string | undefined;
  /** true: only replayed articles; false: only live ones; omitted: both. */
  replay?: boolean | undefined;
}

export async function fetchNews(q: NewsQuery, signal?: AbortSignal): Promise<NewsResponse> {
  const body = await getJson<{ items?: NewsItem[]; seq?: unknown }>(
    "/api/v1/news",
    {
      limit: q.limit,
      from: q.from,
      to: q.to,
      source: q.source || undefined,
      topic: q.topic || undefined,
      sentiment: q.sentiment || undefined,
      q: q.q || undefined,
      replay: q.replay === undefined ? undefined : String(q.replay),
    },
    signal,
  );
  return { items: Array.isArray(body.items) ? body.items : [], seq: seqOrNull(body.seq) };
}

export async function fetchNewsSources(): Promise<NewsSource[]> {
  const body = await getJson<{ sources?: NewsSource[] }>("/api/v1/news/sources");
  return Array.isArray(body.sources) ? body.sources.filter((s) => s && typeof s.source === "string") : [];
}

export async function fetchErrors(limit = 50): Promise<DeadLetter[]> {
  const body = await getJson<{ errors?: DeadLetter[] }>("/api/v1/errors", { limit });
  return Array.isArray(body.errors) ? body.errors : [];
}

export async function fetchImpact(replay: boolean, by: "topic" | "source"): Promise<ImpactRow[]> {
  const body = await getJson<{ rows?: ImpactRow[] }>("/api/v1/impact", { replay: String(replay), by });
  return Array.isArray(body.rows) ? body.rows : [];
}

export function fetchRules(): Promise<AlertRules> {
  return getJson<AlertRules>("/api/v1/alerts/rules");
}

/** PUT the rules with the admin token; throws ApiError (with the server's detail) when refused. */
export async function saveRules(rules: string[], token: string): Promise<AlertRules> {
  const path = "/api/v1/alerts/rules";
  const res = await fetch(path, {
    method: "PUT",
    headers: { Accept: "application/json", "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ rules }),
  });
  if (!res.ok) throw new ApiError(path, res.status, await errorDetail(res));
  return (await res.json()) as AlertRules;
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

export async function fetchBursts(
  replay: boolean,
  minZ = 3,
  resolutionS = 3600,
  from?: string,
  to?: string,
): Promise<BurstsResponse> {
  const body = await getJson<Partial<BurstsResponse>>("/api/v1/bursts", {
    replay: String(replay),
    resolution_s: resolutionS,
    min_z: minZ,
    from,
    to,
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
