// btcpulse dashboard: wires the REST loads, the live feed and the controls.
import "./style.css";
import { alertFromUpdate, AlertsPanel } from "./alerts";
import { fetchAlerts, fetchBursts, fetchCandles, fetchIndex, fetchNews, fetchStories, fetchVenues } from "./api";
import { PriceChart, type ChartSeriesInfo } from "./chart";
import { byTestId, el, isFiniteNumber } from "./dom";
import { HealthPanel } from "./health";
import {
  browserLang,
  formatPrice,
  formatShortDateTime,
  getLang,
  getTimeZoneMode,
  isLang,
  setLang,
  setTimeZoneMode,
  t,
  translateStatic,
  type Lang,
  type MessageKey,
  type TimeZoneMode,
} from "./i18n";
import { IndexPanel } from "./indexpanel";
import { NewsList, topicLabel } from "./news";
import { BURST_MIN_Z, MIN_SOURCES, StoriesPanel } from "./stories";
import { RANGES, TOPICS, type Candle, type NewsItem, type RangeKey, type Topic, type Venue } from "./types";
import { readUrlState, writeUrlState } from "./url";
import { LiveFeed, type FeedState } from "./ws";

const LS_LANG = "btcpulse.lang";
const LS_TZ = "btcpulse.tz";
const DEFAULT_RANGE: RangeKey = "24h";
const NEWS_LIMIT = 50;
const STORIES_LIMIT = 20;
const ALERTS_LIMIT = 20;
const BURSTS_REFRESH_MS = 60_000;
type TabKey = "news" | "stories" | "alerts";
const RANGE_SECONDS: Record<RangeKey, number | null> = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, all: null };

function storageGet(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}
function storageSet(key: string, value: string): void {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // storage may be unavailable (private mode); the URL still carries the state
  }
}

// ---- state ----------------------------------------------------------------

const initial = readUrlState();
const storedLang = storageGet(LS_LANG);
setLang(initial.lang ?? (isLang(storedLang) ? storedLang : browserLang()));
setTimeZoneMode(storageGet(LS_TZ) === "local" ? "local" : "utc");

let range: RangeKey = initial.range ?? DEFAULT_RANGE;
let topic: Topic | null = initial.topic;
/** The world (replay or live) the index and bursts shown belong to (null: not loaded). */
let indexWorld: boolean | null = null;
let indexToken = 0;
let newsToken = 0;
/** Live news received while a (topic) reload is in flight, re-applied over its answer. */
let newsDuringLoad: NewsItem[] | null = null;
let burstsTimer: number | undefined;
let venues: Venue[] = [];
let selected: Venue | null = null;
let wsState: FeedState = "closed";
let chartMessage: MessageKey | null = "loading";
let loadToken = 0;
let loadAbort: AbortController | null = null;
/** The `seq` each REST snapshot shown was read at (null: none shown, or an older back end). */
const snapshotSeq: { candles: number | null; news: number | null } = { candles: null, news: null };
/** The latest candle load (a superseded load resolves with the one that replaced it). */
let candleLoad: Promise<boolean> = Promise.resolve(true);

// ---- elements -------------------------------------------------------------

const venueSelect = byTestId<HTMLSelectElement>("venue-select");
const langSelect = byTestId<HTMLSelectElement>("lang-select");
const tzToggle = byTestId<HTMLButtonElement>("tz-toggle");
const replayBadge = byTestId("replay-badge");
const wsStatus = byTestId("ws-status");
const chartTitle = byTestId("chart-title");
const lastPrice = byTestId("last-price");
const chartMessageEl = byTestId("chart-message");
const rangeButtons = RANGES.map((r) => byTestId<HTMLButtonElement>(`range-${r}`));
const topicSelect = byTestId<HTMLSelectElement>("topic-filter");
const tabButtons = [...document.querySelectorAll<HTMLButtonElement>("[role=tab][data-tab]")];
const storiesCount = byTestId("stories-count");
const alertsCount = byTestId("alerts-count");

const chart = new PriceChart(byTestId("price-chart"));
const news = new NewsList(byTestId<HTMLUListElement>("news-list"), byTestId("news-empty"));
news.setTopic(topic);
const health = new HealthPanel(byTestId("health-rows"), byTestId("health-summary"));
const indexPanel = new IndexPanel(byTestId("sentiment-index"));
const stories = new StoriesPanel(byTestId<HTMLUListElement>("story-list"), byTestId("stories-empty"), byTestId("bursts"));
const alerts = new AlertsPanel(byTestId<HTMLUListElement>("alert-list"), byTestId("alerts-empty"), byTestId("toasts"));
stories.onCount = (n) => (storiesCount.textContent = n ? String(n) : "");
alerts.onCount = (n) => (alertsCount.textContent = n ? String(n) : "");

/** Toast only alerts created in the last two minutes (not old ones replayed by a catch-up). */
function isFresh(iso: unknown): boolean {
  const ms = typeof iso === "string" ? Date.parse(iso) : NaN;
  return Number.isFinite(ms) && Date.now() - ms < 120_000;
}

/** The world the selected venue belongs to: replay venues are named "replay:…". */
const selectedReplay = (): boolean => selected?.venue.startsWith("replay:") ?? selected?.replay ?? false;

const feed = new LiveFeed({
  onUpdate(u) {
    switch (u.kind) {
      case "candle":
        if (u.data && !venues.some((v) => v.venue === u.data.venue && v.symbol === u.data.symbol)) {
          void adoptNewVenues();
        }
        chart.applyUpdate(u.data);
        break;
      case "news":
        newsDuringLoad?.push(u.data);
        news.upsert(u.data);
        break;
      case "story":
        stories.upsert(u.data);
        if (u.data && typeof u.data.story_id === "string") news.updateStory(u.data.story_id, u.data.source_count);
        break;
      case "index":
        if (u.data && Boolean(u.data.replay) === selectedReplay() && indexWorld === selectedReplay()) indexPanel.apply(u.data);
        break;
      case "alert":
        if (u.data) alerts.add(alertFromUpdate(u.data), isFresh(u.data.created_at));
        break;
      case "burst":
        scheduleBursts(5_000);
        break;
    }
  },
  onState(state) {
    wsState = state;
    renderWsStatus();
  },
  async onResync() {
    await refreshVenues();
    const [candlesOk, newsOk] = await Promise.all([loadCandles(), loadNews().then(async (ok) => (await loadDerived(), ok))]);
    if (!candlesOk || !newsOk) throw new Error("reload failed");
    return snapshotBaseline();
  },
});

// ---- venues ---------------------------------------------------------------

const venueKey = (v: Venue): string => `${v.venue}\u0000${v.symbol}`;
const lastTimeMs = (v: Venue): number => (v.last_time ? Date.parse(v.last_time) || 0 : 0);

/** Non-replay venue with the most recent data, else the most recent replay venue. */
function pickDefaultVenue(list: Venue[]): Venue | null {
  const newest = (vs: Venue[]): Venue | null =>
    vs.reduce<Venue | null>((best, v) => (best === null || lastTimeMs(v) > lastTimeMs(best) ? v : best), null);
  const live = list.filter((v) => !v.replay && v.last_time);
  if (live.length) return newest(live);
  const replay = list.filter((v) => v.replay);
  if (replay.length) return newest(replay);
  return list[0] ?? null;
}

function findVenue(list: Venue[], venue: string | null, symbol: string | null): Venue | null {
  if (!venue) return null;
  return list.find((v) => v.venue === venue && (!symbol || v.symbol === symbol)) ?? null;
}

function renderVenueOptions(): void {
  const options = venues.map((v) => {
    const suffix = v.replay ? ` ${t("venue_replay_suffix")}` : v.last_time ? "" : ` ${t("venue_no_data")}`;
    const label = `${v.venue} · ${v.symbol}${suffix}`;
    return el("option", { value: venueKey(v) }, label);
  });
  venueSelect.replaceChildren(...options);
  venueSelect.disabled = venues.length === 0;
  if (selected) venueSelect.value = venueKey(selected);
}

async function refreshVenues(): Promise<void> {
  try {
    venues = await fetchVenues();
  } catch {
    return; // keep the previous list
  }
  if (selected) selected = findVenue(venues, selected.venue, selected.symbol) ?? selected;
  renderVenueOptions();
}

let adopting: Promise<void> | null = null;

/** A venue appeared after the page loaded (e.g. the engine was still starting): list it and,
 *  when nothing is shown yet, show it. Polls while there are no venues at all. */
function adoptNewVenues(): Promise<void> {
  adopting ??= (async () => {
    try {
      await refreshVenues();
      if (!selected && venues.length) {
        selectVenue(pickDefaultVenue(venues));
        await Promise.all([loadCandles(), loadDerived()]);
      }
    } finally {
      adopting = null;
    }
    if (!venues.length) setTimeout(() => void adoptNewVenues(), VENUE_RETRY_MS);
  })();
  return adopting;
}

const VENUE_RETRY_MS = 3_000;

function selectVenue(v: Venue | null): void {
  selected = v;
  if (v) {
    const ambiguous = venues.filter((x) => x.venue === v.venue).length > 1;
    writeUrlState({ venue: v.venue, symbol: ambiguous ? v.symbol : null });
    venueSelect.value = venueKey(v);
  }
  renderReplay();
  renderChartHeader();
  if (indexWorld !== null && indexWorld !== selectedReplay()) void loadWorld();
}

// ---- rendering ------------------------------------------------------------

function renderReplay(): void {
  const replay = selected?.replay ?? chart.shown?.replay ?? false;
  replayBadge.hidden = !replay;
  replayBadge.title = t("replay_badge_title");
  document.body.classList.toggle("is-replay", replay);
}

function renderWsStatus(): void {
  wsStatus.dataset.state = wsState;
  const label = wsState === "open" ? t("ws_open") : t("ws_closed");
  wsStatus.title = label;
  wsStatus.querySelector(".ws-label")!.textContent = label;
}

function renderRange(): void {
  for (const btn of rangeButtons) btn.setAttribute("aria-pressed", String(btn.dataset.range === range));
}

function renderTzToggle(): void {
  const mode: TimeZoneMode = getTimeZoneMode();
  tzToggle.textContent = mode === "utc" ? t("tz_utc") : t("tz_local");
  tzToggle.setAttribute("aria-pressed", String(mode === "local"));
}

function renderChartMessage(): void {
  chartMessageEl.hidden = chartMessage === null;
  chartMessageEl.textContent = chartMessage ? t(chartMessage) : "";
}

function renderChartHeader(): void {
  const shown: ChartSeriesInfo | null = chart.shown;
  const last: Candle | null = chart.last;
  const matching = shown && selected && shown.venue === selected.venue && shown.symbol === selected.symbol;
  const parts: string[] = [];
  if (selected) parts.push(selected.symbol, selected.venue);
  if (matching && shown) parts.push(shown.resolution);
  const replay = selected?.replay || (matching && shown?.replay);
  const title: (Node | string)[] = [parts.length ? parts.join(" · ") : t("price")];
  if (replay) title.push(" · ", el("span", { class: "tag tag-replay" }, t("replay_tag")));
  chartTitle.replaceChildren(...title);
  const candle = matching ? last : null;
  if (candle) {
    const up = candle.close >= candle.open;
    const vwap = isFiniteNumber(candle.vwap)
      ? el("span", { class: "muted", "data-testid": "last-vwap" }, ` · ${t("vwap")} ${formatPrice(candle.vwap)}`)
      : "";
    lastPrice.replaceChildren(
      el("span", { class: "muted" }, `${t("last")} `),
      el("strong", { class: up ? "up" : "down" }, formatPrice(candle.close)),
      vwap,
      el("span", { class: "muted" }, ` · ${formatShortDateTime(new Date(candle.t * 1000))}`),
    );
  } else {
    lastPrice.replaceChildren();
  }
}

function renderTopicOptions(): void {
  const options = [
    el("option", { value: "" }, t("topic_all")),
    ...TOPICS.map((id) => el("option", { value: id }, topicLabel(id))),
  ];
  topicSelect.replaceChildren(...options);
  topicSelect.value = topic ?? "";
}

function selectTab(key: TabKey, focus = false): void {
  for (const btn of tabButtons) {
    const on = btn.dataset.tab === key;
    btn.setAttribute("aria-selected", String(on));
    btn.tabIndex = on ? 0 : -1;
    const panel = document.getElementById(btn.getAttribute("aria-controls") ?? "");
    if (panel) panel.hidden = !on;
    if (on && focus) btn.focus();
  }
}

function renderAllText(): void {
  document.documentElement.lang = getLang();
  langSelect.value = getLang();
  translateStatic();
  renderVenueOptions();
  renderReplay();
  renderWsStatus();
  renderRange();
  renderTzToggle();
  renderChartMessage();
  chart.applyLocale();
  renderChartHeader();
  renderTopicOptions();
  news.rerender();
  health.render();
  indexPanel.render();
  stories.render();
  alerts.render();
}

chart.onChange = () => renderChartHeader();

// ---- loading --------------------------------------------------------------

function toIso(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "+00:00");
}

/** Start of the chosen range, anchored at "now" (for a replay venue: its newest data). */
function rangeStart(v: Venue): string | undefined {
  const secs = RANGE_SECONDS[range];
  if (secs === null) return undefined;
  const anchor = v.replay && v.last_time ? lastTimeMs(v) || Date.now() : Date.now();
  return toIso(anchor - secs * 1000);
}

/** The smallest seq of the REST snapshots shown: the live feed replays every update after it. */
function snapshotBaseline(): number | null {
  const seqs = [snapshotSeq.candles, snapshotSeq.news].filter((s): s is number => s !== null);
  return seqs.length ? Math.min(...seqs) : null;
}

/** (Re)load the chart; resolves true once the newest requested load has been drawn. */
function loadCandles(): Promise<boolean> {
  candleLoad = loadCandlesNow();
  return candleLoad;
}

async function loadCandlesNow(): Promise<boolean> {
  const token = ++loadToken;
  loadAbort?.abort();
  const v = selected;
  if (!v) {
    chartMessage = "no_venues";
    snapshotSeq.candles = null;
    renderChartMessage();
    return true;
  }
  const abort = new AbortController();
  loadAbort = abort;
  chart.beginLoad();
  chartMessage = "loading";
  renderChartMessage();
  let ok = true;
  try {
    const resp = await fetchCandles({ venue: v.venue, symbol: v.symbol, from: rangeStart(v) }, abort.signal);
    if (token !== loadToken) return candleLoad;
    chart.setData(resp);
    snapshotSeq.candles = resp.seq;
    chartMessage = chart.shown && resp.candles.length === 0 ? "no_candles" : null;
  } catch {
    if (token !== loadToken) return candleLoad;
    chart.abortLoad();
    chartMessage = "load_error";
    ok = false;
  }
  renderChartMessage();
  renderReplay();
  return ok;
}

async function loadNews(): Promise<boolean> {
  const token = ++newsToken;
  const live: NewsItem[] = [];
  newsDuringLoad = live;
  try {
    const resp = await fetchNews(NEWS_LIMIT, topic);
    if (token !== newsToken) return true; // superseded by a newer load (topic change)
    news.setTopic(topic);
    news.setItems(resp.items);
    // A live headline may have been applied while this answer was on its way: keep it.
    for (const item of live) news.upsert(item);
    snapshotSeq.news = resp.seq;
    return true;
  } catch {
    if (token !== newsToken) return true;
    news.setItems([]);
    snapshotSeq.news = null;
    return false;
  } finally {
    if (token === newsToken) newsDuringLoad = null;
  }
}

/** Index window: the last 24 h, for a replay world anchored at its newest data. */
function indexRange(): { from?: string; to?: string } {
  const v = selected;
  if (!v || !selectedReplay() || !v.last_time) return {};
  const anchor = Math.max(lastTimeMs(v), Date.now());
  return { from: toIso(anchor - 86_400_000), to: toIso(anchor + 3_600_000) };
}

/** Index and bursts of the selected venue's world (replay or live). */
async function loadWorld(): Promise<void> {
  const token = ++indexToken;
  const replay = selectedReplay();
  if (indexWorld !== replay) indexPanel.clear();
  indexWorld = replay;
  const { from, to } = indexRange();
  const [idx] = await Promise.allSettled([fetchIndex(replay, from, to), loadBursts()]);
  if (token !== indexToken) return;
  if (idx.status === "fulfilled") indexPanel.set(idx.value);
  else indexPanel.set({ latest: null, series: [] });
}

async function loadBursts(): Promise<void> {
  const replay = selectedReplay();
  try {
    const resp = await fetchBursts(replay, BURST_MIN_Z);
    if (replay === selectedReplay()) stories.setBursts(resp.bursts);
  } catch {
    // keep what is shown
  }
}

function scheduleBursts(delayMs: number): void {
  window.clearTimeout(burstsTimer);
  burstsTimer = window.setTimeout(() => {
    void loadBursts().finally(() => scheduleBursts(BURSTS_REFRESH_MS));
  }, delayMs);
}

/**
 * Stories, alerts, index, bursts. These answers carry no `seq`: they are loaded after the news
 * snapshot was read, so the catch-up from its seq replays whatever they may have missed.
 */
async function loadDerived(): Promise<void> {
  await Promise.allSettled([
    fetchStories(STORIES_LIMIT, MIN_SOURCES).then((list) => stories.setStories(list)),
    fetchAlerts(ALERTS_LIMIT).then((list) => alerts.setAlerts(list)),
    loadWorld(),
  ]);
}

// ---- controls -------------------------------------------------------------

for (const btn of rangeButtons) {
  btn.addEventListener("click", () => {
    const next = btn.dataset.range as RangeKey;
    if (next === range) return;
    range = next;
    writeUrlState({ range });
    renderRange();
    void refreshVenues().then(loadCandles);
  });
}

venueSelect.addEventListener("change", () => {
  const v = venues.find((x) => venueKey(x) === venueSelect.value) ?? null;
  selectVenue(v);
  void loadCandles();
});

langSelect.addEventListener("change", () => {
  const next = langSelect.value;
  if (!isLang(next)) return;
  setLang(next as Lang);
  storageSet(LS_LANG, next);
  writeUrlState({ lang: next });
  renderAllText();
});

topicSelect.addEventListener("change", () => {
  const next = topicSelect.value;
  topic = (TOPICS as readonly string[]).includes(next) ? (next as Topic) : null;
  writeUrlState({ topic });
  news.setTopic(topic);
  void loadNews();
});

for (const btn of tabButtons) {
  btn.addEventListener("click", () => selectTab(btn.dataset.tab as TabKey));
  btn.addEventListener("keydown", (ev) => {
    if (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") return;
    const i = tabButtons.indexOf(btn);
    const next = tabButtons[(i + (ev.key === "ArrowRight" ? 1 : tabButtons.length - 1)) % tabButtons.length]!;
    selectTab(next.dataset.tab as TabKey, true);
    ev.preventDefault();
  });
}

tzToggle.addEventListener("click", () => {
  const next: TimeZoneMode = getTimeZoneMode() === "utc" ? "local" : "utc";
  setTimeZoneMode(next);
  storageSet(LS_TZ, next);
  renderTzToggle();
  chart.applyLocale();
  renderChartHeader();
  news.rerender();
  health.render();
  indexPanel.render();
  stories.render();
  alerts.render();
});

// ---- start ----------------------------------------------------------------

async function start(): Promise<void> {
  writeUrlState({ range, lang: getLang() });
  renderAllText();
  health.start();
  await refreshVenues();
  selectVenue(findVenue(venues, initial.venue, initial.symbol) ?? pickDefaultVenue(venues));
  await Promise.all([loadCandles(), loadNews().then(loadDerived)]);
  if (!venues.length) setTimeout(() => void adoptNewVenues(), VENUE_RETRY_MS);
  scheduleBursts(BURSTS_REFRESH_MS);
  // Catch up from the snapshots' seq: nothing committed since they were read is missed.
  feed.start(snapshotBaseline());
}

void start();
