// News view: the live stream with its filters (source, topic, sentiment, debounced text search).
import { fetchNews, fetchNewsSources } from "./api";
import { byTestId, el } from "./dom";
import { formatInt, t, tf } from "./i18n";
import { NewsList, topicLabel } from "./news";
import { TOPICS, type NewsFilters, type NewsItem, type NewsSource, type SentimentLabel, type Topic } from "./types";
import { writeUrlState } from "./url";

export const NEWS_LIMIT = 50;
export const SEARCH_DEBOUNCE_MS = 300;
const SENTIMENTS: readonly SentimentLabel[] = ["positive", "neutral", "negative"];

export class NewsView {
  readonly list: NewsList;
  filters: NewsFilters;
  /** The `seq` the list shown was read at (null: none). */
  seq: number | null = null;
  private sources: NewsSource[] = [];
  private token = 0;
  private abort: AbortController | null = null;
  /** Live news received while a reload is in flight, re-applied over its answer. */
  private duringLoad: NewsItem[] | null = null;
  private searchTimer: number | undefined;
  private readonly search = byTestId<HTMLInputElement>("news-search");
  private readonly sourceSel = byTestId<HTMLSelectElement>("source-filter");
  private readonly topicSel = byTestId<HTMLSelectElement>("topic-filter");
  private readonly sentimentSel = byTestId<HTMLSelectElement>("sentiment-filter");
  private readonly countEl = byTestId("news-count");

  constructor(initial: NewsFilters) {
    this.filters = { ...initial };
    this.list = new NewsList(byTestId<HTMLUListElement>("news-list"), byTestId("news-empty"));
    this.list.setFilters(this.filters);
    this.search.value = initial.q ?? "";
    this.search.addEventListener("input", () => {
      window.clearTimeout(this.searchTimer);
      this.searchTimer = window.setTimeout(() => this.update({ q: this.search.value.trim() || null }), SEARCH_DEBOUNCE_MS);
    });
    this.sourceSel.addEventListener("change", () => this.update({ source: this.sourceSel.value || null }));
    this.topicSel.addEventListener("change", () => {
      const v = this.topicSel.value;
      this.update({ topic: (TOPICS as readonly string[]).includes(v) ? (v as Topic) : null });
    });
    this.sentimentSel.addEventListener("change", () => {
      const v = this.sentimentSel.value;
      this.update({ sentiment: (SENTIMENTS as readonly string[]).includes(v) ? (v as SentimentLabel) : null });
    });
    byTestId("clear-filters").addEventListener("click", () => {
      this.search.value = "";
      this.update({ source: null, topic: null, sentiment: null, q: null });
    });
  }

  private update(patch: Partial<NewsFilters>): void {
    const next = { ...this.filters, ...patch };
    if (JSON.stringify(next) === JSON.stringify(this.filters)) return;
    this.filters = next;
    writeUrlState({ ...next });
    this.renderControls();
    void this.load();
  }

  /** Clear every filter (e.g. to show one headline picked on the chart). */
  async clear(): Promise<void> {
    this.search.value = "";
    this.filters = { source: null, topic: null, sentiment: null, q: null };
    writeUrlState({ ...this.filters });
    this.renderControls();
    await this.load();
  }

  upsert(item: NewsItem): void {
    this.duringLoad?.push(item);
    this.list.upsert(item);
    this.renderCount();
    if (item && typeof item.source === "string" && !this.sources.some((s) => s.source === item.source)) {
      this.sources.push({ source: item.source, count: 1, replay: Boolean(item.replay) });
      this.renderControls();
    }
  }

  async loadSources(): Promise<void> {
    try {
      this.sources = await fetchNewsSources();
    } catch {
      return; // keep the previous list (an older back end has no /news/sources)
    }
    this.renderControls();
  }

  /** (Re)load the list with the current filters; false when the load failed. */
  async load(): Promise<boolean> {
    const token = ++this.token;
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    const live: NewsItem[] = [];
    this.duringLoad = live;
    const filters = { ...this.filters };
    try {
      const resp = await fetchNews({ limit: NEWS_LIMIT, ...filters }, abort.signal);
      if (token !== this.token) return true; // superseded by a newer load
      this.list.setFilters(filters);
      this.list.setItems(resp.items);
      for (const item of live) this.list.upsert(item); // arrived while the answer was on its way
      this.seq = resp.seq;
      return true;
    } catch {
      if (token !== this.token) return true;
      this.list.setFilters(filters);
      this.list.setItems([]);
      this.seq = null;
      return false;
    } finally {
      if (token === this.token) this.duringLoad = null;
      this.renderCount();
    }
  }

  private renderCount(): void {
    this.countEl.textContent = tf("n_shown", { n: formatInt(this.list.size) });
  }

  renderControls(): void {
    const f = this.filters;
    const sources = [...this.sources].sort((a, b) => a.source.localeCompare(b.source));
    if (f.source && !sources.some((s) => s.source === f.source)) sources.push({ source: f.source, count: 0, replay: false });
    this.sourceSel.replaceChildren(
      el("option", { value: "" }, t("source_all")),
      ...sources.map((s) => el("option", { value: s.source }, s.count ? `${s.source} (${formatInt(s.count)})` : s.source)),
    );
    this.sourceSel.value = f.source ?? "";
    this.topicSel.replaceChildren(el("option", { value: "" }, t("topic_all")), ...TOPICS.map((id) => el("option", { value: id }, topicLabel(id))));
    this.topicSel.value = f.topic ?? "";
    this.sentimentSel.replaceChildren(
      el("option", { value: "" }, t("sentiment_all")),
      ...SENTIMENTS.map((s) => el("option", { value: s }, t(`sentiment_label_${s}`))),
    );
    this.sentimentSel.value = f.sentiment ?? "";
    this.search.placeholder = t("search_placeholder");
    this.renderCount();
  }

  rerender(): void {
    this.renderControls();
    this.list.rerender();
  }
}
