// The news markers' tooltip (hover) and details panel (click) on the Overview.
import { el, isFiniteNumber, safeHttpUrl } from "./dom";
import { formatDateTime, formatInt, parseIso, t, tf } from "./i18n";
import { sentimentLabel, sentimentOf, sentimentTitle } from "./markers";
import type { NewsItem } from "./types";

const TOOLTIP_ITEMS = 3;
const TOOLTIP_W = 300;

function when(item: NewsItem): string {
  const d = parseIso(item.published_at);
  return d ? formatDateTime(d) : "";
}

function headline(item: NewsItem): string {
  return typeof item.title === "string" && item.title.trim() ? item.title : item.url || item.id;
}

export class MarkerUi {
  private selected: NewsItem[] = [];

  /** "Show in News" on an item of the details panel. */
  onShowInNews: (item: NewsItem) => void = () => {};

  constructor(
    private readonly tooltip: HTMLElement,
    private readonly body: HTMLElement,
  ) {}

  hover(items: NewsItem[] | null, x: number, y: number): void {
    if (!items || !items.length) {
      this.tooltip.hidden = true;
      return;
    }
    const rows = items.slice(0, TOOLTIP_ITEMS).map((i) =>
      el(
        "div",
        { class: "tip-item", "data-testid": "tooltip-item", "data-id": i.id },
        el("span", { class: `sentiment-dot sentiment-${sentimentOf(i)}`, "aria-hidden": "true" }),
        el(
          "div",
          {},
          el("div", { class: "tip-title" }, headline(i)),
          el(
            "div",
            { class: "muted small" },
            `${String(i.source ?? "")} · ${when(i)}`,
            sentimentOf(i) === "not_scored" ? el("span", { class: "tip-not-scored", "data-testid": "not-scored" }, ` · ${sentimentLabel(i)}`) : null,
          ),
        ),
      ),
    );
    const more = items.length > TOOLTIP_ITEMS ? el("div", { class: "muted small" }, tf("marker_more", { n: items.length - TOOLTIP_ITEMS })) : null;
    this.tooltip.replaceChildren(...rows, more ?? "");
    this.tooltip.hidden = false;
    const width = this.tooltip.parentElement?.clientWidth ?? 800;
    // Right of the pointer, or left of it near the right edge (never over the pointer).
    const left = x + 14 + TOOLTIP_W <= width - 4 ? x + 14 : Math.max(4, x - 14 - TOOLTIP_W);
    // CSSOM styles (not inline style attributes): allowed by the CSP.
    this.tooltip.style.left = `${left}px`;
    this.tooltip.style.top = `${Math.max(4, y - 10)}px`;
  }

  pick(items: NewsItem[]): void {
    this.selected = items;
    this.render();
    this.body.closest<HTMLElement>("[data-testid=marker-details]")?.scrollIntoView({ block: "nearest" });
  }

  render(): void {
    if (!this.selected.length) {
      this.body.replaceChildren(el("p", { class: "muted" }, t("marker_none")));
      return;
    }
    this.body.replaceChildren(...this.selected.slice(0, 5).map((i) => this.card(i)));
  }

  private card(item: NewsItem): HTMLElement {
    const s = sentimentOf(item);
    const href = safeHttpUrl(item.url);
    const score = s !== "not_scored" && isFiniteNumber(item.sentiment) ? ` (${item.sentiment.toFixed(2)})` : "";
    const show = el("button", { type: "button", class: "link-button", "data-testid": "marker-show-in-news" }, t("show_in_news"));
    show.addEventListener("click", () => this.onShowInNews(item));
    return el(
      "article",
      { class: "marker-card", "data-testid": "marker-card", "data-id": item.id, "data-sentiment": s },
      el("h3", { class: "marker-title" }, headline(item)),
      el(
        "div",
        { class: "news-meta" },
        el("span", { class: "news-source" }, String(item.source ?? "")),
        el("span", {}, when(item)),
        el(
          "span",
          { class: `sentiment-text sentiment-text-${s}`, "data-testid": s === "not_scored" ? "not-scored" : undefined, title: sentimentTitle(item) },
          sentimentLabel(item) + score,
        ),
        isFiniteNumber(item.story_sources) && item.story_sources > 1
          ? el("span", { class: "story-badge" }, tf("n_sources", { n: formatInt(item.story_sources) }))
          : null,
      ),
      el(
        "div",
        { class: "marker-actions" },
        href
          ? el("a", { href, target: "_blank", rel: "noopener noreferrer", "data-testid": "marker-link" }, t("open_original"))
          : null,
        show,
      ),
    );
  }
}
