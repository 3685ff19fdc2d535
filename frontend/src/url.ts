// Page state kept in the query string: ?range=24h&venue=...&lang=fr&topic=regulation
import { isLang, type Lang } from "./i18n";
import { RANGES, TOPICS, type RangeKey, type Topic } from "./types";

export interface UrlState {
  range: RangeKey | null;
  venue: string | null;
  symbol: string | null;
  lang: Lang | null;
  topic: Topic | null;
}

export function readUrlState(search: string = window.location.search): UrlState {
  const q = new URLSearchParams(search);
  const range = q.get("range");
  const lang = q.get("lang");
  const topic = q.get("topic");
  return {
    range: range && (RANGES as readonly string[]).includes(range) ? (range as RangeKey) : null,
    venue: q.get("venue") || null,
    symbol: q.get("symbol") || null,
    lang: isLang(lang) ? lang : null,
    topic: topic && (TOPICS as readonly string[]).includes(topic) ? (topic as Topic) : null,
  };
}

/** Update the query string in place (no new history entry); other parameters are kept. */
export function writeUrlState(state: Partial<UrlState>): void {
  const url = new URL(window.location.href);
  for (const [key, value] of Object.entries(state)) {
    if (value === null || value === undefined || value === "") url.searchParams.delete(key);
    else url.searchParams.set(key, String(value));
  }
  if (url.href !== window.location.href) window.history.replaceState(null, "", url);
}
