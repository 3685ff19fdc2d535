// Page state kept in the query string, restored on load:
// ?view=news&range=24h (or &from=…&to=…)&venue=…&symbol=…&tz=local&lang=fr&source=…&topic=…&sentiment=…&q=…
import { isLang, type Lang, type TimeZoneMode } from "./i18n";
import { RANGES, TOPICS, VIEWS, type RangeKey, type SentimentLabel, type Topic, type ViewKey } from "./types";

export interface UrlState {
  view: ViewKey | null;
  range: RangeKey | null;
  /** A free (zoomed / panned) window, epoch seconds; `to` null: up to now (live). */
  from: number | null;
  to: number | null;
  venue: string | null;
  symbol: string | null;
  tz: TimeZoneMode | null;
  lang: Lang | null;
  source: string | null;
  topic: Topic | null;
  sentiment: SentimentLabel | null;
  q: string | null;
}

const SENTIMENTS: readonly string[] = ["positive", "negative", "neutral"];

function oneOf<T extends string>(v: string | null, allowed: readonly string[]): T | null {
  return v !== null && allowed.includes(v) ? (v as T) : null;
}

/** An ISO time or epoch seconds → epoch seconds. */
function timeParam(v: string | null): number | null {
  if (!v) return null;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v) / 1000;
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : null;
}

export function readUrlState(search: string = window.location.search): UrlState {
  const q = new URLSearchParams(search);
  const from = timeParam(q.get("from"));
  const to = timeParam(q.get("to"));
  return {
    view: oneOf<ViewKey>(q.get("view"), VIEWS),
    range: oneOf<RangeKey>(q.get("range"), RANGES),
    from,
    to: from !== null && to !== null && to <= from ? null : to,
    venue: q.get("venue") || null,
    symbol: q.get("symbol") || null,
    tz: oneOf<TimeZoneMode>(q.get("tz"), ["utc", "local"]),
    lang: isLang(q.get("lang")) ? (q.get("lang") as Lang) : null,
    source: q.get("source") || null,
    topic: oneOf<Topic>(q.get("topic"), TOPICS),
    sentiment: oneOf<SentimentLabel>(q.get("sentiment"), SENTIMENTS),
    q: q.get("q")?.trim() || null,
  };
}

/** Epoch seconds → a compact ISO time for the URL. */
export function isoParam(s: number): string {
  return new Date(s * 1000).toISOString().replace(".000Z", "Z");
}

/** Update the query string in place (no new history entry); other parameters are kept. */
export function writeUrlState(state: Partial<Record<keyof UrlState, string | number | null>>): void {
  const url = new URL(window.location.href);
  for (const [key, value] of Object.entries(state)) {
    if (value === null || value === undefined || value === "") url.searchParams.delete(key);
    else url.searchParams.set(key, String(value));
  }
  if (url.href !== window.location.href) window.history.replaceState(null, "", url);
}
