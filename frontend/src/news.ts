// Live news list: newest first, deduplicated by id, capped at MAX_ITEMS.
import { el, isFiniteNumber, safeHttpUrl } from "./dom";
import { formatDateTime, formatInt, formatShortDateTime, parseIso, t, tMaybe, tf } from "./i18n";
import { langCode, sentimentLabel, sentimentOf, sentimentTitle } from "./markers";
import type { NewsFilters, NewsItem } from "./types";

export const MAX_ITEMS = 200;
const MAX_ENTITIES = 3;

/** Translated label of a topic id (unknown ids are shown as they are). */
export function topicLabel(id: string): string {
  return tMaybe(`topic_${id}`, id);
}

function topicsOf(item: NewsItem): string[] {
  return Array.isArray(item.topics) ? item.topics.filter((x): x is string => typeof x === "string" && x.length > 0) : [];
}

function publishedMs(item: NewsItem): number {
  return parseIso(item.published_at)?.getTime() ?? 0;
}

function isNewsItem(v: unknown): v is NewsItem {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.id === "string" && r.id.length > 0;
}

export class NewsList {
  /** Items in display order (newest first). */
  private items: NewsItem[] = [];
  private readonly nodes = new Map<string, HTMLLIElement>();
  /** Only items matching these are kept (the server applies the same filters). */
  private filters: NewsFilters = { source: null, topic: null, sentiment: null, q: null };

  constructor(
    private readonly list: HTMLUListElement,
    private readonly empty: HTMLElement,
  ) {}

  /** Keep only matching items from now on (the caller reloads the list). */
  setFilters(filters: NewsFilters): void {
    this.filters = { ...filters };
  }

  private get filtered(): boolean {
    const f = this.filters;
    return Boolean(f.source || f.topic || f.sentiment || f.q);
  }

  /** The server's filters, for live items: same source, topic, sentiment, text in title or summary. */
  private matches(item: NewsItem): boolean {
    const f = this.filters;
    if (f.source && item.source !== f.source) return false;
    if (f.topic && !topicsOf(item).includes(f.topic)) return false;
    if (f.sentiment && sentimentOf(item) !== f.sentiment) return false;
    if (f.q) {
      const needle = f.q.toLowerCase();
      const hay = `${String(item.title ?? "")}\n${String(item.summary ?? "")}`.toLowerCase();
      if (!hay.includes(needle)) return false;
    }
    return true;
  }

  get size(): number {
    return this.items.length;
  }

  /** Scroll to one item and flash it; false when it is not in the list. */
  highlight(id: string): boolean {
    const node = this.nodes.get(id);
    if (!node) return false;
    for (const n of this.list.querySelectorAll(".is-highlighted")) n.classList.remove("is-highlighted");
    node.classList.add("is-highlighted");
    node.scrollIntoView({ block: "center" });
    return true;
  }

  /** A story gained outlets: refresh the "N sources" badge of its items already shown. */
  updateStory(storyId: string, sources: number): void {
    if (!storyId || !isFiniteNumber(sources)) return;
    for (let i = 0; i < this.items.length; i++) {
      const item = this.items[i]!;
      if (item.story_id !== storyId || item.story_sources === sources) continue;
      const next = { ...item, story_sources: sources };
      this.items[i] = next;
      const node = this.render(next);
      this.nodes.get(item.id)?.replaceWith(node);
      this.nodes.set(item.id, node);
    }
  }

  /** Replace the whole list (initial load / resync). */
  setItems(items: NewsItem[]): void {
    this.items = [];
    this.nodes.clear();
    this.list.replaceChildren();
    // Insert oldest first so each insertion is a prepend.
    const sorted = items.filter(isNewsItem).sort((a, b) => publishedMs(a) - publishedMs(b));
    for (const item of sorted) this.upsert(item);
    this.updateEmpty();
  }

  /** Add or replace one item (live update). */
  upsert(item: NewsItem): void {
    if (!isNewsItem(item)) return;
    const existing = this.nodes.get(item.id);
    if (!this.matches(item)) {
      if (existing) this.remove(item.id);
      return;
    }
    if (existing) {
      const idx = this.items.findIndex((i) => i.id === item.id);
      if (idx >= 0) this.items[idx] = item;
      const node = this.render(item);
      existing.replaceWith(node);
      this.nodes.set(item.id, node);
      return;
    }
    // Newest first: insert before the first item that is older than this one.
    const ms = publishedMs(item);
    let idx = this.items.findIndex((i) => publishedMs(i) <= ms);
    if (idx < 0) idx = this.items.length;
    const node = this.render(item);
    const before = this.items[idx];
    this.list.insertBefore(node, before ? (this.nodes.get(before.id) ?? null) : null);
    this.items.splice(idx, 0, item);
    this.nodes.set(item.id, node);
    while (this.items.length > MAX_ITEMS) {
      const dropped = this.items.pop()!;
      this.nodes.get(dropped.id)?.remove();
      this.nodes.delete(dropped.id);
    }
    this.updateEmpty();
  }

  private remove(id: string): void {
    this.nodes.get(id)?.remove();
    this.nodes.delete(id);
    this.items = this.items.filter((i) => i.id !== id);
    this.updateEmpty();
  }

  /** Re-render every item (after a language or time-zone change). */
  rerender(): void {
    for (const item of this.items) {
      const old = this.nodes.get(item.id);
      const node = this.render(item);
      old?.replaceWith(node);
      this.nodes.set(item.id, node);
    }
    this.updateEmpty();
  }

  private updateEmpty(): void {
    this.empty.hidden = this.items.length > 0;
    this.empty.textContent = this.filtered ? t("no_news_filtered") : t("no_news");
  }

  private render(item: NewsItem): HTMLLIElement {
    const sentiment = sentimentOf(item);
    const title = typeof item.title === "string" && item.title.trim() ? item.title : item.url || item.id;
    const href = safeHttpUrl(item.url);
    const headline = href
      ? el("a", { class: "news-title", href, target: "_blank", rel: "noopener noreferrer nofollow" }, title)
      : el("span", { class: "news-title" }, title);

    const marker = el("span", {
      class: `sentiment-dot sentiment-${sentiment}`,
      title: sentimentTitle(item),
      role: "img",
      "aria-label": sentiment === "not_scored" ? sentimentLabel(item) : t(`sentiment_${sentiment}`),
    });

    const date = parseIso(item.published_at);
    const meta = el(
      "div",
      { class: "news-meta" },
      el("span", { class: "news-source" }, String(item.source ?? "")),
      date ? el("time", { datetime: date.toISOString(), title: formatDateTime(date) }, formatShortDateTime(date)) : null,
      item.replay ? el("span", { class: "tag tag-replay" }, t("replay_tag")) : null,
      sentiment === "not_scored"
        ? el(
            "span",
            { class: "sentiment-text sentiment-text-not_scored", "data-testid": "not-scored", "data-lang": langCode(item), title: sentimentTitle(item) },
            sentimentLabel(item),
          )
        : null,
      isFiniteNumber(item.story_sources) && item.story_sources > 1
        ? el(
            "span",
            {
              class: "story-badge",
              "data-testid": "story-sources",
              "data-sources": String(item.story_sources),
              title: tf("n_sources_title", { n: formatInt(item.story_sources) }),
            },
            tf("n_sources", { n: formatInt(item.story_sources) }),
          )
        : null,
    );

    const topics = topicsOf(item);
    const entities = (Array.isArray(item.entities) ? item.entities : [])
      .filter((e) => e && typeof e.name === "string" && e.name.trim())
      .slice(0, MAX_ENTITIES);
    const chips =
      topics.length || entities.length
        ? el(
            "div",
            { class: "chips" },
            ...topics.map((id) =>
              el("span", { class: "chip", "data-testid": "topic-chip", "data-topic": id }, topicLabel(id)),
            ),
            ...entities.map((e) =>
              el("span", { class: "chip chip-entity", "data-testid": "entity-chip", title: String(e.type ?? "") }, e.name),
            ),
          )
        : null;

    const summary =
      typeof item.summary === "string" && item.summary.trim() ? el("p", { class: "news-summary" }, item.summary) : null;

    return el(
      "li",
      { class: "news-item", "data-testid": "news-item", "data-id": item.id, "data-sentiment": sentiment },
      marker,
      el("div", { class: "news-body" }, headline, meta, chips, summary),
    );
  }
}
