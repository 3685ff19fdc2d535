// Stories panel: multi-source stories (REST + WS `story` updates) and bursting topics.
import { el, isFiniteNumber } from "./dom";
import { formatDateTime, formatInt, formatNumber, formatShortDateTime, parseIso, t, tf } from "./i18n";
import { topicLabel } from "./news";
import type { Burst, Story } from "./types";

export const MIN_SOURCES = 2;
const MAX_STORIES = 50;
const MAX_BURSTS = 8;
export const BURST_MIN_Z = 3;

function isStory(v: unknown): v is Story {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.story_id === "string" && r.story_id.length > 0;
}

const lastMs = (s: Story): number => parseIso(s.last_published_at)?.getTime() ?? 0;

/** "term:halving" → “halving”; a topic id → its translated label. */
export function burstLabel(key: string): string {
  return key.startsWith("term:") ? `“${key.slice(5)}”` : topicLabel(key);
}

export class StoriesPanel {
  private stories = new Map<string, Story>();
  private bursts: Burst[] = [];
  private burstsLoaded = false;

  /** Called with the number of stories shown (for the tab label). */
  onCount: (n: number) => void = () => {};

  constructor(
    private readonly list: HTMLUListElement,
    private readonly empty: HTMLElement,
    private readonly burstBox: HTMLElement,
  ) {}

  setStories(items: Story[]): void {
    this.stories.clear();
    for (const s of items) if (isStory(s)) this.stories.set(s.story_id, s);
    this.render();
  }

  /** Live story update (a story appeared or gained articles). */
  upsert(s: Story): void {
    if (!isStory(s)) return;
    if (isFiniteNumber(s.source_count) && s.source_count >= MIN_SOURCES) this.stories.set(s.story_id, s);
    else this.stories.delete(s.story_id);
    this.render();
  }

  setBursts(rows: Burst[]): void {
    // Newest window of each key, strongest first.
    const latest = new Map<string, Burst>();
    for (const b of rows) {
      if (!b || typeof b.key !== "string" || !isFiniteNumber(b.t) || !isFiniteNumber(b.z)) continue;
      const prev = latest.get(b.key);
      if (!prev || b.t > prev.t) latest.set(b.key, b);
    }
    const newest = Math.max(0, ...[...latest.values()].map((b) => b.t));
    // Only keys that burst in the last few windows are "bursting now".
    this.bursts = [...latest.values()]
      .filter((b) => newest - b.t <= 3 * 3600)
      .sort((a, b) => b.z - a.z)
      .slice(0, MAX_BURSTS);
    this.burstsLoaded = true;
    this.renderBursts();
  }

  render(): void {
    const sorted = [...this.stories.values()].sort((a, b) => lastMs(b) - lastMs(a)).slice(0, MAX_STORIES);
    this.list.replaceChildren(...sorted.map((s) => this.row(s)));
    this.empty.hidden = sorted.length > 0;
    this.onCount(sorted.length);
    this.renderBursts();
  }

  private renderBursts(): void {
    const head = el("span", { class: "bursts-label", title: tf("bursting_title", { z: BURST_MIN_Z }) }, t("bursting"));
    if (!this.burstsLoaded) {
      this.burstBox.replaceChildren();
      return;
    }
    const chips = this.bursts.map((b) =>
      el(
        "span",
        {
          class: "chip chip-burst",
          "data-testid": "burst-chip",
          "data-key": b.key,
          title: tf("burst_z_title", {
            count: formatInt(b.count),
            mean: formatNumber(isFiniteNumber(b.mean) ? b.mean : 0),
            z: formatNumber(b.z),
          }),
        },
        burstLabel(b.key),
        el("span", { class: "chip-z" }, ` z ${formatNumber(b.z)}`),
      ),
    );
    this.burstBox.replaceChildren(
      head,
      ...(chips.length ? chips : [el("span", { class: "muted small" }, t("no_bursts"))]),
    );
  }

  private row(s: Story): HTMLLIElement {
    const first = parseIso(s.first_published_at);
    const last = parseIso(s.last_published_at);
    const source = String(s.first_source ?? "");
    const n = isFiniteNumber(s.source_count) ? s.source_count : 0;
    return el(
      "li",
      { class: "story-item", "data-testid": "story-item", "data-id": s.story_id, "data-sources": String(n) },
      el(
        "span",
        { class: "story-count", title: tf("n_sources_title", { n: formatInt(n) }) },
        el("strong", {}, formatInt(n)),
        el("span", { class: "small" }, t("stories_sources_short")),
      ),
      el(
        "div",
        { class: "story-body" },
        el("span", { class: "story-title" }, String(s.title ?? "")),
        el(
          "div",
          { class: "news-meta" },
          el(
            "span",
            {
              class: "story-first",
              title: first ? tf("first_reported_title", { source, time: formatDateTime(first) }) : source,
            },
            tf("first_reported", { source }),
          ),
          isFiniteNumber(s.size) && s.size > n ? el("span", {}, tf("n_articles", { n: formatInt(s.size) })) : null,
          last ? el("time", { datetime: last.toISOString(), title: formatDateTime(last) }, formatShortDateTime(last)) : null,
          s.replay ? el("span", { class: "tag tag-replay" }, t("replay_tag")) : null,
        ),
      ),
    );
  }
}
