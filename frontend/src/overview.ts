// Overview: the price chart's time scale (presets, free zoom / pan with a refetch at the
// resolution the zoom needs), its news markers, and the candle loads.
import { fetchCandles, fetchNews } from "./api";
import type { PriceChart, VisibleRange } from "./chart";
import { byTestId } from "./dom";
import { formatDateTime, t, tMaybe } from "./i18n";
import { RANGE_SECONDS, RANGES, type RangeKey, type Venue } from "./types";
import { isoParam, writeUrlState } from "./url";
import { isReplayVenue } from "./venues";

/** The server's stored resolutions and its ≤ ~2,000-point rule (store/queries.py). */
const RESOLUTIONS = [1, 5, 60, 300, 900, 3600, 14400, 86400] as const;
const MAX_POINTS = 2000;
const MARKER_NEWS_LIMIT = 500;

export function chooseResolution(spanS: number): number {
  for (const r of RESOLUTIONS) if (spanS / r <= MAX_POINTS) return r;
  return 86400;
}

export type ChartMessage = "loading" | "no_venues" | "no_candles" | "load_error" | null;

/** Either a preset anchored at "now" or a free window (`to` null: up to now, live). */
export type TimeWindow = { range: RangeKey } | { from: number; to: number | null };

const toIso = (s: number): string => new Date(Math.floor(s) * 1000).toISOString().replace(".000Z", "+00:00");
const lastTimeS = (v: Venue): number => (v.last_time ? Date.parse(v.last_time) / 1000 || 0 : 0);

export class ChartController {
  window: TimeWindow;
  /** The `seq` the candles shown were read at. */
  seq: number | null = null;
  private token = 0;
  private abort: AbortController | null = null;
  /** The `from` of the last request (epoch s; null: from the first candle). */
  private requestedFrom: number | null = null;
  private loadPromise: Promise<boolean> = Promise.resolve(true);
  /** The finest resolution the server has for the venue shown (it may store no 1 s / 5 s bars). */
  private finest: { key: string; res: number } | null = null;
  private readonly buttons = RANGES.map((r) => byTestId<HTMLButtonElement>(`range-${r}`));
  private readonly resolutionEl = byTestId("chart-resolution");
  private readonly followBtn = byTestId<HTMLButtonElement>("follow-live");

  /** Called with the message to show over the chart (null: none). */
  onMessage: (m: ChartMessage) => void = () => {};
  /** After each load (drawn or failed). */
  onLoaded: () => void = () => {};
  /** After every render of the time scale (the window or the resolution shown changed). */
  onRender: () => void = () => {};

  constructor(
    private readonly chart: PriceChart,
    private readonly venue: () => Venue | null,
    initial: TimeWindow,
  ) {
    this.window = initial;
    chart.follow = !("to" in initial) || initial.to === null;
    chart.onUserRange = (r) => this.userRange(r);
    for (const btn of this.buttons) {
      btn.addEventListener("click", () => this.setRange(btn.dataset.range as RangeKey));
    }
    this.followBtn.addEventListener("click", () => {
      const w = this.window;
      if ("from" in w) this.setWindow({ from: w.from + Math.max(0, Date.now() / 1000 - (w.to ?? 0)), to: null });
    });
  }

  setRange(range: RangeKey, force = false): void {
    if (!force && "range" in this.window && this.window.range === range) return;
    this.setWindow({ range });
  }

  private setWindow(w: TimeWindow): void {
    this.window = w;
    this.chart.follow = !("to" in w) || w.to === null;
    this.writeUrl();
    this.render();
    void this.load();
  }

  writeUrl(): void {
    const w = this.window;
    if ("range" in w) writeUrlState({ range: w.range, from: null, to: null });
    else writeUrlState({ range: null, from: isoParam(w.from), to: w.to === null ? null : isoParam(w.to) });
  }

  /** The user zoomed or panned: keep the window in the URL; refetch when the zoom needs another
   *  resolution or the view reaches past the data loaded. */
  private userRange(r: VisibleRange): void {
    const info = this.chart.shown;
    if (!info) return;
    const res = info.resolutionS;
    const floor = this.finest?.key === `${info.venue}\u0000${info.symbol}` ? this.finest.res : 0;
    const want = Math.max(floor, chooseResolution(r.to - r.from));
    const before = this.requestedFrom !== null && r.from < this.requestedFrom - res;
    const w: TimeWindow = { from: Math.floor(r.from), to: r.atEnd ? null : Math.ceil(r.to) };
    const wasFixed = "to" in this.window && this.window.to !== null;
    this.window = w;
    this.chart.follow = w.to === null;
    this.writeUrl();
    this.render();
    if (want !== res || before || (wasFixed && w.to === null)) void this.load();
  }

  /**
   * The chart's current time span in epoch seconds (`to` null: up to now, live): the free window,
   * else the preset's start as last requested (a replay venue's is anchored at its newest data),
   * else ("all") the first candle shown. Null before anything is shown.
   */
  span(): { from: number; to: number | null } | null {
    const w = this.window;
    if ("from" in w) return { from: w.from, to: w.to };
    if (RANGE_SECONDS[w.range] !== null && this.requestedFrom !== null) return { from: this.requestedFrom, to: null };
    const first = this.chart.firstTime;
    return first === null ? null : { from: first, to: null };
  }

  /** [from, to] (ISO) of the request for the current window and venue. */
  private bounds(v: Venue): { from?: string; to?: string; fromS: number | null } {
    const w = this.window;
    if ("from" in w) return { from: toIso(w.from), to: w.to === null ? undefined : toIso(w.to), fromS: w.from };
    const secs = RANGE_SECONDS[w.range];
    if (secs === null) return { fromS: null };
    // A replay venue's "now" is its newest data.
    const anchor = v.replay && v.last_time ? lastTimeS(v) || Date.now() / 1000 : Date.now() / 1000;
    return { from: toIso(anchor - secs), fromS: Math.floor(anchor - secs) };
  }

  /** (Re)load the chart and its news markers; resolves true once the newest load was drawn. */
  load(): Promise<boolean> {
    this.loadPromise = this.loadNow();
    return this.loadPromise;
  }

  private async loadNow(): Promise<boolean> {
    const token = ++this.token;
    this.abort?.abort();
    const v = this.venue();
    if (!v) {
      this.seq = null;
      this.onMessage("no_venues");
      return true;
    }
    const abort = new AbortController();
    this.abort = abort;
    const { from, to, fromS } = this.bounds(v);
    this.chart.beginLoad();
    this.onMessage("loading");
    // Markers come only from the venue's world: replayed headlines on a replay chart, live ones
    // on a live chart.
    const replay = isReplayVenue(v);
    const news = fetchNews({ limit: MARKER_NEWS_LIMIT, from, to, replay }, abort.signal).catch(() => null);
    let ok = true;
    try {
      const resp = await fetchCandles({ venue: v.venue, symbol: v.symbol, from, to }, abort.signal);
      const newsResp = await news;
      if (token !== this.token) return this.loadPromise;
      this.requestedFrom = fromS;
      const asked = chooseResolution((to ? Date.parse(to) / 1000 : Date.now() / 1000) - (fromS ?? 0));
      if (fromS !== null && resp.candles.length && resp.resolution_s > asked) {
        this.finest = { key: `${v.venue}\u0000${v.symbol}`, res: resp.resolution_s };
      }
      this.chart.setData(resp);
      if (newsResp) this.chart.setNews(newsResp.items);
      this.seq = resp.seq;
      this.onMessage(this.chart.shown && resp.candles.length === 0 ? "no_candles" : null);
    } catch {
      if (token !== this.token) return this.loadPromise;
      this.chart.abortLoad();
      this.onMessage("load_error");
      ok = false;
    }
    this.render();
    this.onLoaded();
    return ok;
  }

  render(): void {
    const w = this.window;
    for (const btn of this.buttons) btn.setAttribute("aria-pressed", String("range" in w && btn.dataset.range === w.range));
    const info = this.chart.shown;
    const parts: string[] = [];
    if (info) parts.push(`${t("resolution")} ${tMaybe(`res_${info.resolution}`, info.resolution)}`);
    if ("from" in w) {
      const span = `${formatDateTime(new Date(w.from * 1000))} → ${w.to === null ? "…" : formatDateTime(new Date(w.to * 1000))}`;
      parts.push(`${t("custom_range")}: ${span}`);
    }
    this.resolutionEl.textContent = parts.join(" · ");
    this.resolutionEl.dataset.resolution = info ? String(info.resolutionS) : "";
    this.followBtn.hidden = !("from" in w) || w.to === null;
    this.onRender();
  }
}
