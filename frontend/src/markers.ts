// News markers on the price chart: one circle per headline, on the bar it was published in,
// coloured by sentiment (lightweight-charts v5 `createSeriesMarkers`).
// Headlines the model did not score (a language it does not know) are hollow grey rings below
// the bar instead: they are not neutral.
import {
  createSeriesMarkers,
  type IPrimitivePaneRenderer,
  type IPrimitivePaneView,
  type ISeriesApi,
  type ISeriesMarkersPluginApi,
  type ISeriesPrimitive,
  type SeriesAttachedParameter,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import { isFiniteNumber } from "./dom";
import { parseIso, t, tf } from "./i18n";
import type { NewsItem } from "./types";

export const MAX_MARKERS = 500;
const COLORS = { positive: "#26a69a", negative: "#ef5350", neutral: "#9aa5b8" } as const;
const RING_COLOR = "#9aa5b8";

export type Sentiment = keyof typeof COLORS | "not_scored";

const LABELS: readonly string[] = ["positive", "negative", "neutral"];

/** Not scored: the server says so, or (older back ends, no status) there is neither a score nor a label. */
export function isNotScored(item: NewsItem): boolean {
  const status = item.sentiment_status;
  if (status === "not_scored") return true;
  if (status === "scored") return false;
  return !isFiniteNumber(item.sentiment) && !LABELS.includes(String(item.sentiment_label));
}

/** The article's language code ("fr"), or "" when absent or not a plausible code. */
export function langCode(item: NewsItem): string {
  const lang = typeof item.lang === "string" ? item.lang.trim() : "";
  return /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$/.test(lang) ? lang.toLowerCase() : "";
}

/** Short label: "Positive", or "not scored (fr)". */
export function sentimentLabel(item: NewsItem): string {
  const s = sentimentOf(item);
  if (s !== "not_scored") return t(`sentiment_label_${s}`);
  const lang = langCode(item);
  return lang ? tf("not_scored_lang", { lang }) : t("not_scored");
}

/** Tooltip text of the sentiment dot. */
export function sentimentTitle(item: NewsItem): string {
  const s = sentimentOf(item);
  if (s === "not_scored") return tf("not_scored_title", { lang: langCode(item) || "?" });
  return t(`sentiment_${s}`) + (isFiniteNumber(item.sentiment) ? ` (${item.sentiment.toFixed(2)})` : "");
}

export function sentimentOf(item: NewsItem): Sentiment {
  if (isNotScored(item)) return "not_scored";
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

type DrawTarget = Parameters<IPrimitivePaneRenderer["draw"]>[0];

/** Hollow rings under the bars that carry unscored headlines (a series primitive). */
class UnscoredRings implements ISeriesPrimitive<Time> {
  private attachedTo: SeriesAttachedParameter<Time> | null = null;
  /** Bar time → how many unscored headlines it carries. */
  bars = new Map<number, number>();

  constructor(private readonly lowAt: (t: number) => number | null) {}

  attached(param: SeriesAttachedParameter<Time>): void {
    this.attachedTo = param;
  }

  detached(): void {
    this.attachedTo = null;
  }

  set(bars: Map<number, number>): void {
    this.bars = bars;
    this.attachedTo?.requestUpdate();
  }

  paneViews(): readonly IPrimitivePaneView[] {
    const view: IPrimitivePaneView = { zOrder: () => "top", renderer: () => ({ draw: (target) => this.draw(target) }) };
    return [view];
  }

  private draw(target: DrawTarget): void {
    const p = this.attachedTo;
    if (!p || !this.bars.size) return;
    const ts = p.chart.timeScale();
    target.useMediaCoordinateSpace(({ context: ctx }) => {
      ctx.save();
      ctx.strokeStyle = RING_COLOR;
      ctx.lineWidth = 1.5;
      for (const [bar, n] of this.bars) {
        const low = this.lowAt(bar);
        const x = ts.timeToCoordinate(bar as UTCTimestamp);
        const y = low === null ? null : p.series.priceToCoordinate(low);
        if (x === null || y === null) continue;
        const r = n > 1 ? 5 : 4;
        ctx.beginPath();
        ctx.arc(x, y + 8 + r, r, 0, 2 * Math.PI);
        ctx.stroke();
      }
      ctx.restore();
    });
  }
}

export class NewsMarkers {
  private readonly plugin: ISeriesMarkersPluginApi<Time>;
  private readonly items = new Map<string, NewsItem>();
  /** Bar time → the headlines drawn on it (newest first). */
  private byBar = new Map<number, NewsItem[]>();
  private shown = 0;
  private readonly rings: UnscoredRings;

  constructor(series: ISeriesApi<"Candlestick">, lowAt: (t: number) => number | null) {
    this.plugin = createSeriesMarkers(series, [], { autoScale: true });
    this.rings = new UnscoredRings(lowAt);
    series.attachPrimitive(this.rings);
  }

  get count(): number {
    return this.shown;
  }

  /** Headlines drawn as "not scored" rings. */
  get unscored(): number {
    return [...this.rings.bars.values()].reduce((a, b) => a + b, 0);
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
      const rings = new Map<number, number>();
      for (const [bar, list] of this.byBar) {
        const unscored = list.filter((i) => sentimentOf(i) === "not_scored").length;
        if (unscored) rings.set(bar, unscored);
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
      this.rings.set(rings);
    } else {
      this.rings.set(new Map());
    }
    this.shown = [...this.byBar.values()].reduce((n, l) => n + l.length, 0);
    this.plugin.setMarkers(markers);
  }

  item(id: string): NewsItem | undefined {
    return this.items.get(id);
  }
}
