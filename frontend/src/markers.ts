// News markers on the price chart: one circle per headline, on the bar it was published in,
// coloured by sentiment (lightweight-charts v5 `createSeriesMarkers`).
import { createSeriesMarkers, type ISeriesApi, type ISeriesMarkersPluginApi, type SeriesMarker, type Time, type UTCTimestamp } from "lightweight-charts";
import { isFiniteNumber } from "./dom";
import { parseIso } from "./i18n";
import type { NewsItem } from "./types";

export const MAX_MARKERS = 500;
const COLORS = { positive: "#26a69a", negative: "#ef5350", neutral: "#9aa5b8" } as const;

export type Sentiment = keyof typeof COLORS;

export function sentimentOf(item: NewsItem): Sentiment {
  const label = item.sentiment_label;
  if (label === "positive" || label === "negative" || label === "neutral") return label;
  if (isFiniteNumber(item.sentiment)) {
    if (item.sentiment > 0.05) return "positive";
    if (item.sentiment < -0.05) return "negative";
  }
  return "neutral";
}

/** Index of the last bar starting at or before `t` (-1 when `t` is before every bar). */
export function barIndexAt(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! <= t) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

export class NewsMarkers {
  private readonly plugin: ISeriesMarkersPluginApi<Time>;
  private readonly items = new Map<string, NewsItem>();
  /** Bar time → the headlines drawn on it (newest first). */
  private byBar = new Map<number, NewsItem[]>();
  private shown = 0;

  constructor(series: ISeriesApi<"Candlestick">) {
    this.plugin = createSeriesMarkers(series, [], { autoScale: true });
  }

  get count(): number {
    return this.shown;
  }

  /** Replace every headline (a reload of the chart's range). */
  set(items: NewsItem[]): void {
    this.items.clear();
    for (const i of items) if (i && typeof i.id === "string") this.items.set(i.id, i);
  }

  /** Add or replace one headline (live); false when it is not a news item. */
  upsert(item: NewsItem): boolean {
    if (!item || typeof item.id !== "string") return false;
    this.items.set(item.id, item);
    return true;
  }

  /** Headlines on the bar starting at `t`. */
  at(t: number): NewsItem[] {
    return this.byBar.get(t) ?? [];
  }

  /** Every bar time carrying news. */
  barTimes(): number[] {
    return [...this.byBar.keys()];
  }

  /** Re-place the markers on the bars drawn (`times` ascending, `resolutionS` their width). */
  draw(times: readonly number[], resolutionS: number): void {
    this.byBar = new Map();
    const markers: SeriesMarker<Time>[] = [];
    if (times.length) {
      const first = times[0]!;
      const end = times[times.length - 1]! + Math.max(resolutionS, 300);
      const sorted = [...this.items.values()]
        .map((item) => ({ item, t: (parseIso(item.published_at)?.getTime() ?? NaN) / 1000 }))
        .filter((x) => Number.isFinite(x.t) && x.t >= first && x.t < end)
        .sort((a, b) => b.t - a.t)
        .slice(0, MAX_MARKERS);
      for (const { item, t } of sorted) {
        const bar = times[barIndexAt(times, t)]!;
        const list = this.byBar.get(bar);
        if (list) list.push(item);
        else this.byBar.set(bar, [item]);
      }
      for (const [bar, list] of this.byBar) {
        // One marker per bar and sentiment (several headlines of a bar share it).
        for (const s of ["negative", "neutral", "positive"] as const) {
          const ofS = list.filter((i) => sentimentOf(i) === s);
          if (!ofS.length) continue;
          markers.push({
            time: bar as UTCTimestamp,
            position: "aboveBar",
            shape: "circle",
            color: COLORS[s],
            size: ofS.length > 1 ? 1.2 : 0.9,
            id: ofS[0]!.id,
          });
        }
      }
      markers.sort((a, b) => (a.time as number) - (b.time as number));
    }
    this.shown = [...this.byBar.values()].reduce((n, l) => n + l.length, 0);
    this.plugin.setMarkers(markers);
  }

  item(id: string): NewsItem | undefined {
    return this.items.get(id);
  }
}
