// Candlestick + volume chart (TradingView lightweight-charts).
import {
  CandlestickSeries,
  ColorType,
  CrosshairMode,
  HistogramSeries,
  TickMarkType,
  createChart,
  type CandlestickData,
  type HistogramData,
  type IChartApi,
  type ISeriesApi,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import { isFiniteNumber } from "./dom";
import { formatCompact, formatDateTime, formatPrice, formatTick, locale } from "./i18n";
import { NewsMarkers } from "./markers";
import type { Candle, CandleUpdateData, CandlesResponse, NewsItem } from "./types";

/** How close (px) the pointer must be to a news marker's bar to show its headlines. */
const HIT_PX = 7;
/** Range changes this long after a wheel / drag / key on the chart are the user's. */
const USER_MS = 1_500;
export const RANGE_DEBOUNCE_MS = 300;

/** The visible span in epoch seconds; `atEnd` when the newest bar is in view. */
export interface VisibleRange {
  from: number;
  to: number;
  atEnd: boolean;
}

const UP = "#26a69a";
const DOWN = "#ef5350";
const UP_VOL = "rgba(38, 166, 154, 0.45)";
const DOWN_VOL = "rgba(239, 83, 80, 0.45)";

/** What the chart currently shows; live updates must match it to be applied. */
export interface ChartSeriesInfo {
  venue: string;
  symbol: string;
  resolution: string;
  resolutionS: number;
  replay: boolean;
}

function isCandle(c: unknown): c is Candle {
  if (typeof c !== "object" || c === null) return false;
  const r = c as Record<string, unknown>;
  return (
    isFiniteNumber(r.t) && isFiniteNumber(r.open) && isFiniteNumber(r.high) && isFiniteNumber(r.low) && isFiniteNumber(r.close)
  );
}

function toBar(c: Candle): CandlestickData<Time> {
  return { time: c.t as UTCTimestamp, open: c.open, high: c.high, low: c.low, close: c.close };
}

function toVolume(c: Candle): HistogramData<Time> {
  return {
    time: c.t as UTCTimestamp,
    value: isFiniteNumber(c.volume) ? c.volume : 0,
    color: c.close >= c.open ? UP_VOL : DOWN_VOL,
  };
}

function timeToSeconds(time: Time): number {
  return typeof time === "number" ? time : Math.floor(new Date(String(time)).getTime() / 1000);
}

export class PriceChart {
  private readonly chart: IChartApi;
  private readonly candles: ISeriesApi<"Candlestick">;
  private readonly volume: ISeriesApi<"Histogram">;
  private info: ChartSeriesInfo | null = null;
  private count = 0;
  private lastT: number | null = null;
  private lastCandle: Candle | null = null;
  /** Live updates applied so far (every one, including in-place updates of the last bar). */
  private updates = 0;
  private loading = false;
  private pending: CandleUpdateData[] = [];
  private times: number[] = [];
  /** Bar time → low (where the "not scored" rings hang). */
  private lows = new Map<number, number>();
  private readonly markers: NewsMarkers;
  private userAt = Number.NEGATIVE_INFINITY;
  private rangeTimer: number | undefined;
  /** False while showing a past window (a fixed `to`): live bars are not appended. */
  follow = true;

  /** Called after every load and every applied update. */
  onChange: () => void = () => {};
  /** The user zoomed or panned (debounced). */
  onUserRange: (r: VisibleRange) => void = () => {};
  /** Pointer over a bar with news (null: none), with the pointer's position in the chart. */
  onHover: (items: NewsItem[] | null, x: number, y: number) => void = () => {};
  /** Click on a bar with news. */
  onPick: (items: NewsItem[]) => void = () => {};

  constructor(private readonly container: HTMLElement) {
    this.chart = createChart(container, {
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: "transparent" },
        textColor: "#aab4c3",
        fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        attributionLogo: true,
      },
      grid: {
        vertLines: { color: "rgba(255,255,255,0.04)" },
        horzLines: { color: "rgba(255,255,255,0.06)" },
      },
      crosshair: { mode: CrosshairMode.Normal },
      rightPriceScale: { borderColor: "rgba(255,255,255,0.12)", scaleMargins: { top: 0.08, bottom: 0.28 } },
      timeScale: {
        borderColor: "rgba(255,255,255,0.12)",
        timeVisible: true,
        secondsVisible: false,
        shiftVisibleRangeOnNewBar: true,
        rightOffset: 3,
      },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: UP,
      downColor: DOWN,
      borderVisible: false,
      wickUpColor: UP,
      wickDownColor: DOWN,
      priceFormat: { type: "custom", minMove: 0.01, formatter: (p: number) => formatPrice(p) },
    });
    this.volume = this.chart.addSeries(HistogramSeries, {
      priceScaleId: "",
      lastValueVisible: false,
      priceLineVisible: false,
      priceFormat: { type: "custom", minMove: 0.00000001, formatter: (v: number) => formatCompact(v) },
    });
    this.volume.priceScale().applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
    this.markers = new NewsMarkers(this.candles, (t) => this.lows.get(t) ?? null);
    this.applyLocale();
    this.writeAttributes();
    this.wireInteraction();
  }

  private wireInteraction(): void {
    const mark = (): void => {
      this.userAt = performance.now();
    };
    for (const ev of ["wheel", "pointerdown", "touchstart", "keydown"] as const) {
      this.container.addEventListener(ev, mark, { capture: true, passive: true });
    }
    this.chart.timeScale().subscribeVisibleLogicalRangeChange(() => {
      if (performance.now() - this.userAt > USER_MS) return; // our own setData / fitContent
      window.clearTimeout(this.rangeTimer);
      this.rangeTimer = window.setTimeout(() => {
        const r = this.visibleRange();
        if (r) this.onUserRange(r);
      }, RANGE_DEBOUNCE_MS);
    });
    this.chart.subscribeCrosshairMove((p) => {
      if (!p.point) return this.onHover(null, 0, 0);
      const items = this.newsNear(p.point.x, p.hoveredObjectId);
      this.onHover(items.length ? items : null, p.point.x, p.point.y);
    });
    this.chart.subscribeClick((p) => {
      if (!p.point) return;
      const items = this.newsNear(p.point.x, p.hoveredObjectId);
      if (items.length) this.onPick(items);
    });
  }

  /** Headlines of the marker under the pointer, else of the nearest bar with news within HIT_PX. */
  private newsNear(x: number, hovered: unknown): NewsItem[] {
    if (typeof hovered === "string") {
      const item = this.markers.item(hovered);
      if (item) {
        const bar = this.markers.barTimes().find((b) => this.markers.at(b).some((i) => i.id === hovered));
        if (bar !== undefined) return this.markers.at(bar);
      }
    }
    let best: number | null = null;
    let bestDx = HIT_PX + 1;
    const ts = this.chart.timeScale();
    for (const bar of this.markers.barTimes()) {
      const cx = ts.timeToCoordinate(bar as UTCTimestamp);
      if (cx === null) continue;
      const dx = Math.abs(cx - x);
      if (dx < bestDx) {
        bestDx = dx;
        best = bar;
      }
    }
    return best === null ? [] : this.markers.at(best);
  }

  /** The visible time span, extrapolated past the first / last bar with the resolution. */
  visibleRange(): VisibleRange | null {
    const lr = this.chart.timeScale().getVisibleLogicalRange();
    const n = this.times.length;
    if (!lr || !n || !this.info) return null;
    const res = this.info.resolutionS;
    const at = (i: number): number => {
      if (i < 0) return this.times[0]! + Math.floor(i * res);
      if (i > n - 1) return this.times[n - 1]! + Math.ceil((i - (n - 1)) * res);
      return this.times[Math.floor(i)]!;
    };
    return { from: at(lr.from), to: at(lr.to) + res, atEnd: lr.to >= n - 1.5 };
  }

  /** Headlines to mark on the chart (replacing those shown). */
  setNews(items: NewsItem[]): void {
    this.markers.set(items);
    this.redrawMarkers();
  }

  /** One live headline. */
  addNews(item: NewsItem): void {
    if (this.markers.upsert(item)) this.redrawMarkers();
  }

  private redrawMarkers(): void {
    this.markers.draw(this.times, this.info?.resolutionS ?? 60);
    this.writeAttributes();
  }

  /** Re-apply locale / time-zone dependent formatters (after a language or zone switch). */
  applyLocale(): void {
    this.chart.applyOptions({
      localization: {
        locale: locale(),
        timeFormatter: (time: Time) => formatDateTime(new Date(timeToSeconds(time) * 1000)),
      },
      timeScale: {
        tickMarkFormatter: (time: Time, type: TickMarkType) => {
          const secs = timeToSeconds(time);
          switch (type) {
            case TickMarkType.Year:
              return formatTick(secs, "year");
            case TickMarkType.Month:
              return formatTick(secs, "month");
            case TickMarkType.DayOfMonth:
              return formatTick(secs, "day");
            case TickMarkType.Time:
              return formatTick(secs, "time");
            default:
              return formatTick(secs, "seconds");
          }
        },
      },
    });
  }

  get shown(): ChartSeriesInfo | null {
    return this.info;
  }

  /** Start of the first bar shown (epoch s), null when none. */
  get firstTime(): number | null {
    return this.times.length ? this.times[0]! : null;
  }

  get last(): Candle | null {
    return this.lastCandle;
  }

  /** Start a (re)load: live updates are queued until `setData` is called. */
  beginLoad(): void {
    this.loading = true;
    this.pending = [];
  }

  /** Loading failed: keep what is drawn and resume applying live updates. */
  abortLoad(): void {
    this.loading = false;
    const queued = this.pending;
    this.pending = [];
    for (const u of queued) this.applyUpdate(u);
  }

  setData(resp: CandlesResponse): void {
    this.userAt = Number.NEGATIVE_INFINITY; // the fit below is ours, not a user zoom
    const rows = resp.candles.filter(isCandle).sort((a, b) => a.t - b.t);
    // Drop duplicate times (keep the later row): lightweight-charts requires strictly ascending times.
    const unique: Candle[] = [];
    for (const c of rows) {
      if (unique.length && unique[unique.length - 1]!.t === c.t) unique[unique.length - 1] = c;
      else unique.push(c);
    }
    this.info = {
      venue: resp.venue,
      symbol: resp.symbol,
      resolution: resp.resolution,
      resolutionS: resp.resolution_s,
      replay: resp.replay,
    };
    this.candles.setData(unique.map(toBar));
    this.volume.setData(unique.map(toVolume));
    this.times = unique.map((c) => c.t);
    this.lows = new Map(unique.map((c) => [c.t, c.low]));
    this.count = unique.length;
    this.lastCandle = unique.length ? unique[unique.length - 1]! : null;
    this.lastT = this.lastCandle ? this.lastCandle.t : null;
    this.chart.applyOptions({ timeScale: { secondsVisible: resp.resolution_s < 60 } });
    this.chart.timeScale().fitContent();

    this.loading = false;
    const queued = this.pending;
    this.pending = [];
    for (const u of queued) this.applyUpdate(u, false);
    this.markers.draw(this.times, resp.resolution_s);
    this.writeAttributes();
    this.onChange();
  }

  /** Apply one live candle; ignored unless it matches the shown venue/symbol/resolution. */
  applyUpdate(u: CandleUpdateData, notify = true): void {
    if (this.loading) {
      this.pending.push(u);
      return;
    }
    const info = this.info;
    if (!info || !isCandle(u) || !this.follow) return;
    if (u.venue !== info.venue || u.symbol !== info.symbol || u.resolution !== info.resolution) return;
    if (this.lastT !== null && u.t < this.lastT) return; // older than the last bar
    const appended = this.lastT === null || u.t > this.lastT;
    this.candles.update(toBar(u));
    this.volume.update(toVolume(u));
    if (appended) {
      this.count += 1;
      this.times.push(u.t);
    }
    this.updates += 1;
    this.lastT = u.t;
    this.lastCandle = u;
    this.lows.set(u.t, u.low);
    if (notify) {
      this.writeAttributes();
      this.onChange();
    }
  }

  private writeAttributes(): void {
    const ds = this.container.dataset;
    ds.candles = String(this.count);
    ds.lastTime = this.lastT === null ? "" : String(this.lastT);
    ds.resolution = this.info ? String(this.info.resolutionS) : "";
    ds.resolutionName = this.info?.resolution ?? "";
    ds.firstTime = this.times.length ? String(this.times[0]) : "";
    ds.updates = String(this.updates);
    ds.markers = String(this.markers.count);
    ds.unscoredMarkers = String(this.markers.unscored);
  }
}
