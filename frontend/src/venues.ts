// Venues: the selector, the default choice, the chart header (title, last price) and the
// REPLAY badge of the selected venue.
import { fetchVenues } from "./api";
import type { ChartSeriesInfo, PriceChart } from "./chart";
import { byTestId, el, isFiniteNumber } from "./dom";
import { formatPrice, formatShortDateTime, t } from "./i18n";
import type { Candle, Venue } from "./types";
import { writeUrlState } from "./url";

const VENUE_RETRY_MS = 3_000;

const venueKey = (v: Venue): string => `${v.venue}\u0000${v.symbol}`;
const lastTimeMs = (v: Venue): number => (v.last_time ? Date.parse(v.last_time) || 0 : 0);

/** The world a venue belongs to: replay venues are named "replay:…". */
export const isReplayVenue = (v: Venue): boolean => v.venue.startsWith("replay:");

export class Venues {
  private list: Venue[] = [];
  selected: Venue | null = null;
  private adopting: Promise<void> | null = null;
  private readonly title = byTestId("chart-title");
  private readonly lastPrice = byTestId("last-price");
  private readonly badge = byTestId("replay-badge");

  /** After any selection (also the first). */
  onSelect: () => void = () => {};
  /** The user picked another venue. */
  onUserChange: () => void = () => {};

  constructor(
    private readonly selectEl: HTMLSelectElement,
    private readonly chart: PriceChart,
  ) {
    selectEl.addEventListener("change", () => {
      this.select(this.list.find((x) => venueKey(x) === selectEl.value) ?? null);
      this.onUserChange();
    });
  }

  get count(): number {
    return this.list.length;
  }

  /** The world the selected venue belongs to: replay venues are named "replay:…". */
  get replay(): boolean {
    return this.selected ? isReplayVenue(this.selected) : false;
  }

  /** A replay venue's newest data (its "now"), else null. */
  replayAnchorMs(): number | null {
    const v = this.selected;
    if (!v || !this.replay || !v.last_time) return null;
    return Math.max(lastTimeMs(v), Date.now());
  }

  has(venue: string, symbol: string): boolean {
    return this.list.some((v) => v.venue === venue && v.symbol === symbol);
  }

  find(venue: string | null, symbol: string | null): Venue | null {
    if (!venue) return null;
    return this.list.find((v) => v.venue === venue && (!symbol || v.symbol === symbol)) ?? null;
  }

  /** Non-replay venue with the most recent data, else the most recent replay venue. */
  pickDefault(): Venue | null {
    const newest = (vs: Venue[]): Venue | null =>
      vs.reduce<Venue | null>((best, v) => (best === null || lastTimeMs(v) > lastTimeMs(best) ? v : best), null);
    const live = this.list.filter((v) => !v.replay && v.last_time);
    if (live.length) return newest(live);
    const replay = this.list.filter((v) => v.replay);
    if (replay.length) return newest(replay);
    return this.list[0] ?? null;
  }

  async refresh(): Promise<void> {
    try {
      this.list = await fetchVenues();
    } catch {
      return; // keep the previous list
    }
    if (this.selected) this.selected = this.find(this.selected.venue, this.selected.symbol) ?? this.selected;
    this.render();
  }

  select(v: Venue | null): void {
    this.selected = v;
    if (v) {
      const ambiguous = this.list.filter((x) => x.venue === v.venue).length > 1;
      writeUrlState({ venue: v.venue, symbol: ambiguous ? v.symbol : null });
      this.selectEl.value = venueKey(v);
    }
    this.renderReplay();
    this.renderHeader();
    this.onSelect();
  }

  /** A venue appeared after the page loaded (the engine was still starting): list it and, when
   *  nothing is shown yet, show it. Polls while there are no venues at all. */
  adoptNew(load: () => Promise<void>): Promise<void> {
    this.adopting ??= (async () => {
      try {
        await this.refresh();
        if (!this.selected && this.list.length) {
          this.select(this.pickDefault());
          await load();
        }
      } finally {
        this.adopting = null;
      }
      if (!this.list.length) this.retryLater(load);
    })();
    return this.adopting;
  }

  retryLater(load: () => Promise<void>): void {
    setTimeout(() => void this.adoptNew(load), VENUE_RETRY_MS);
  }

  render(): void {
    const options = this.list.map((v) => {
      const suffix = v.replay ? ` ${t("venue_replay_suffix")}` : v.last_time ? "" : ` ${t("venue_no_data")}`;
      return el("option", { value: venueKey(v) }, `${v.venue} · ${v.symbol}${suffix}`);
    });
    this.selectEl.replaceChildren(...options);
    this.selectEl.disabled = this.list.length === 0;
    if (this.selected) this.selectEl.value = venueKey(this.selected);
    this.renderReplay();
    this.renderHeader();
  }

  renderReplay(): void {
    const replay = this.selected?.replay ?? this.chart.shown?.replay ?? false;
    this.badge.hidden = !replay;
    this.badge.title = t("replay_badge_title");
    document.body.classList.toggle("is-replay", replay);
  }

  renderHeader(): void {
    const shown: ChartSeriesInfo | null = this.chart.shown;
    const last: Candle | null = this.chart.last;
    const sel = this.selected;
    const matching = shown && sel && shown.venue === sel.venue && shown.symbol === sel.symbol;
    const parts: string[] = [];
    if (sel) parts.push(sel.symbol, sel.venue);
    if (matching && shown) parts.push(shown.resolution);
    const replay = sel?.replay || (matching && shown?.replay);
    const title: (Node | string)[] = [parts.length ? parts.join(" · ") : t("price")];
    if (replay) title.push(" · ", el("span", { class: "tag tag-replay" }, t("replay_tag")));
    this.title.replaceChildren(...title);
    const candle = matching ? last : null;
    if (!candle) {
      this.lastPrice.replaceChildren();
      return;
    }
    const up = candle.close >= candle.open;
    const vwap = isFiniteNumber(candle.vwap)
      ? el("span", { class: "muted", "data-testid": "last-vwap" }, ` · ${t("vwap")} ${formatPrice(candle.vwap)}`)
      : "";
    this.lastPrice.replaceChildren(
      el("span", { class: "muted" }, `${t("last")} `),
      el("strong", { class: up ? "up" : "down" }, formatPrice(candle.close)),
      vwap,
      el("span", { class: "muted" }, ` · ${formatShortDateTime(new Date(candle.t * 1000))}`),
    );
  }
}
