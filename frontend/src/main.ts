// btcpulse dashboard: wires the views, the REST loads, the live feed and the controls.
import "./style.css";
import "./views.css";
import { alertFromUpdate, AlertsPanel } from "./alerts";
import { fetchAlerts, fetchBursts, fetchIndex, fetchStories } from "./api";
import { PriceChart } from "./chart";
import { byTestId, el } from "./dom";
import { ExportLinks } from "./export";
import { HealthPanel } from "./health";
import { browserLang, getLang, getTimeZoneMode, isLang, setLang, setTimeZoneMode, t, translateStatic, type Lang, type TimeZoneMode } from "./i18n";
import { IndexPanel } from "./indexpanel";
import { ImpactView } from "./impact";
import { MarkerUi } from "./markerui";
import { NewsView } from "./newsview";
import { ChartController, type ChartMessage, type TimeWindow } from "./overview";
import { RulesForm } from "./rules";
import { MIN_SOURCES, StoriesPanel } from "./stories";
import { BURST_Z, TrendsView } from "./trends";
import { readUrlState, writeUrlState } from "./url";
import { Venues } from "./venues";
import { ViewNav } from "./views";
import { LiveFeed, type FeedState } from "./ws";

const LS_LANG = "btcpulse.lang";
const LS_TZ = "btcpulse.tz";
const STORIES_LIMIT = 20;
const ALERTS_LIMIT = 50;
const RECENT_ALERTS = 4;
const BURSTS_REFRESH_MS = 60_000;

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
setTimeZoneMode(initial.tz ?? (storageGet(LS_TZ) === "local" ? "local" : "utc"));

/** The world (replay or live) the index, bursts and impact shown belong to (null: not loaded). */
let world: boolean | null = null;
let worldToken = 0;
let burstsTimer: number | undefined;
let wsState: FeedState = "closed";
let chartMessage: ChartMessage = "loading";

// ---- elements and components ------------------------------------------------

const langSelect = byTestId<HTMLSelectElement>("lang-select");
const tzToggle = byTestId<HTMLButtonElement>("tz-toggle");
const wsStatus = byTestId("ws-status");
const chartMessageEl = byTestId("chart-message");

const nav = new ViewNav(initial.view ?? "overview");
const chart = new PriceChart(byTestId("price-chart"));
const venues = new Venues(byTestId<HTMLSelectElement>("venue-select"), chart);
const startWindow: TimeWindow = initial.from !== null ? { from: initial.from, to: initial.to } : { range: initial.range ?? "24h" };
const chartCtl = new ChartController(chart, () => venues.selected, startWindow);
const exportLinks = new ExportLinks(() => ({ span: chartCtl.span(), venue: venues.selected, resolution: chart.shown?.resolution ?? null }));
const markerUi = new MarkerUi(byTestId("chart-tooltip"), byTestId("marker-body"));
const newsView = new NewsView({ source: initial.source, topic: initial.topic, sentiment: initial.sentiment, q: initial.q });
const health = new HealthPanel(
  byTestId("health-rows"),
  byTestId("health-summary"),
  byTestId("engine-status"),
  byTestId("dead-letters"),
  byTestId("dead-letters-empty"),
);
const indexPanel = new IndexPanel(byTestId("sentiment-index"));
const stories = new StoriesPanel(byTestId<HTMLUListElement>("story-list"), byTestId("stories-empty"), byTestId("bursts"));
const alerts = new AlertsPanel(byTestId<HTMLUListElement>("alert-list"), byTestId("alerts-empty"), byTestId("toasts"));
const recentAlerts = new AlertsPanel(byTestId<HTMLUListElement>("recent-alerts"), byTestId("recent-alerts-empty"), el("div"), RECENT_ALERTS);
const trends = new TrendsView();
const impact = new ImpactView(() => venues.replay);
const rules = new RulesForm();
stories.onCount = (n) => (byTestId("stories-count").textContent = n ? String(n) : "");
alerts.onCount = (n) => (byTestId("alerts-count").textContent = n ? String(n) : "");
health.onProblems = (n) => (byTestId("health-count").textContent = n ? String(n) : "");

chart.onChange = () => venues.renderHeader();
chart.onHover = (items, x, y) => markerUi.hover(items, x, y);
chart.onPick = (items) => markerUi.pick(items);
chartCtl.onMessage = (m) => {
  chartMessage = m;
  renderChartMessage();
};
chartCtl.onLoaded = () => venues.renderReplay();
chartCtl.onRender = () => exportLinks.render();
markerUi.onShowInNews = (item) => {
  nav.show("news");
  const flash = (): boolean => newsView.list.highlight(item.id);
  if (!flash()) void newsView.clear().then(flash);
};
trends.onResolution = () => void loadBursts();
venues.onUserChange = () => void chartCtl.load();
venues.onSelect = () => {
  if (world !== null && world !== venues.replay) void loadWorld();
};

/** Toast only alerts created in the last two minutes (not old ones replayed by a catch-up). */
function isFresh(iso: unknown): boolean {
  const ms = typeof iso === "string" ? Date.parse(iso) : NaN;
  return Number.isFinite(ms) && Date.now() - ms < 120_000;
}

const feed = new LiveFeed({
  onUpdate(u) {
    switch (u.kind) {
      case "candle":
        if (u.data && !venues.has(u.data.venue, u.data.symbol)) void venues.adoptNew(loadAll);
        chart.applyUpdate(u.data);
        break;
      case "news":
        newsView.upsert(u.data);
        // The News list shows every item; the chart only those of the selected venue's world.
        if (u.data && Boolean(u.data.replay) === venues.replay) chart.addNews(u.data);
        break;
      case "story":
        stories.upsert(u.data);
        if (u.data && typeof u.data.story_id === "string") newsView.list.updateStory(u.data.story_id, u.data.source_count);
        break;
      case "index":
        if (u.data && Boolean(u.data.replay) === venues.replay && world === venues.replay) indexPanel.apply(u.data);
        break;
      case "alert":
        if (u.data) {
          const a = alertFromUpdate(u.data);
          alerts.add(a, isFresh(u.data.created_at));
          recentAlerts.add(a, false);
        }
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
    await venues.refresh();
    const [candlesOk, newsOk] = await Promise.all([chartCtl.load(), newsView.load().then(async (ok) => (await loadDerived(), ok))]);
    if (!candlesOk || !newsOk) throw new Error("reload failed");
    return snapshotBaseline();
  },
});

// ---- rendering ------------------------------------------------------------

function renderWsStatus(): void {
  wsStatus.dataset.state = wsState;
  const label = wsState === "open" ? t("ws_open") : t("ws_closed");
  wsStatus.title = label;
  wsStatus.querySelector(".ws-label")!.textContent = label;
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

/** Everything that depends on the time zone. */
function renderTimes(): void {
  chart.applyLocale();
  venues.renderHeader();
  chartCtl.render();
  newsView.list.rerender();
  health.render();
  indexPanel.render();
  stories.render();
  alerts.render();
  recentAlerts.render();
  markerUi.render();
  trends.render();
  rules.render();
}

function renderAllText(): void {
  document.documentElement.lang = getLang();
  langSelect.value = getLang();
  translateStatic();
  venues.render();
  renderWsStatus();
  renderTzToggle();
  renderChartMessage();
  newsView.renderControls();
  impact.render();
  renderTimes();
}

// ---- loading --------------------------------------------------------------

const toIso = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "+00:00");

/** The smallest seq of the REST snapshots shown: the live feed replays every update after it. */
function snapshotBaseline(): number | null {
  const seqs = [chartCtl.seq, newsView.seq].filter((s): s is number => s !== null);
  return seqs.length ? Math.min(...seqs) : null;
}

/** Index window: the last 24 h, for a replay world anchored at its newest data. */
function indexRange(): { from?: string; to?: string } {
  const anchor = venues.replayAnchorMs();
  if (anchor === null) return {};
  return { from: toIso(anchor - 86_400_000), to: toIso(anchor + 3_600_000) };
}

/** Index, bursts and impact of the selected venue's world (replay or live). */
async function loadWorld(): Promise<void> {
  const token = ++worldToken;
  const replay = venues.replay;
  if (world !== replay) indexPanel.clear();
  world = replay;
  const { from, to } = indexRange();
  const [idx] = await Promise.allSettled([fetchIndex(replay, from, to), loadBursts(), impact.load()]);
  if (token !== worldToken) return;
  if (idx.status === "fulfilled") indexPanel.set(idx.value);
  else indexPanel.set({ latest: null, series: [] });
}

/** Every window of every topic (the Trends chart); the bursting ones also feed the News view. */
async function loadBursts(): Promise<void> {
  const replay = venues.replay;
  const res = trends.resolution;
  try {
    const resp = await fetchBursts(replay, -1e9, res);
    if (replay !== venues.replay || res !== trends.resolution) return;
    trends.set(resp.bursts, resp.resolution_s);
    stories.setBursts(resp.bursts.filter((b) => b && b.z >= BURST_Z));
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
 * Stories, alerts, index, bursts, impact. These answers carry no `seq`: they are loaded after
 * the news snapshot was read, so the catch-up from its seq replays whatever they may have missed.
 */
async function loadDerived(): Promise<void> {
  await Promise.allSettled([
    fetchStories(STORIES_LIMIT, MIN_SOURCES).then((list) => stories.setStories(list)),
    fetchAlerts(ALERTS_LIMIT).then((list) => {
      alerts.setAlerts(list);
      recentAlerts.setAlerts(list);
    }),
    loadWorld(),
    newsView.loadSources(),
  ]);
}

async function loadAll(): Promise<void> {
  await Promise.all([chartCtl.load(), loadDerived()]);
}

// ---- controls -------------------------------------------------------------

langSelect.addEventListener("change", () => {
  const next = langSelect.value;
  if (!isLang(next)) return;
  setLang(next as Lang);
  storageSet(LS_LANG, next);
  writeUrlState({ lang: next });
  renderAllText();
});

tzToggle.addEventListener("click", () => {
  const next: TimeZoneMode = getTimeZoneMode() === "utc" ? "local" : "utc";
  setTimeZoneMode(next);
  storageSet(LS_TZ, next);
  writeUrlState({ tz: next });
  renderTzToggle();
  renderTimes();
});

nav.onShow = (view) => {
  trends.setVisible(view === "trends");
  if (view === "alerts") void rules.load();
  if (view === "health") void health.refresh();
  if (view === "impact") void impact.load();
};

// ---- start ----------------------------------------------------------------

async function start(): Promise<void> {
  chartCtl.writeUrl();
  writeUrlState({ lang: getLang(), tz: getTimeZoneMode(), ...newsView.filters });
  nav.render();
  renderAllText();
  nav.onShow(nav.view);
  health.start();
  await venues.refresh();
  venues.select(venues.find(initial.venue, initial.symbol) ?? venues.pickDefault());
  await Promise.all([chartCtl.load(), newsView.load().then(loadDerived)]);
  if (!venues.count) venues.retryLater(loadAll);
  scheduleBursts(BURSTS_REFRESH_MS);
  // Catch up from the snapshots' seq: nothing committed since they were read is missed.
  feed.start(snapshotBaseline());
}

void start();
