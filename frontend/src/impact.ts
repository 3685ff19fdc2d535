// Impact view: the average price move 1 min / 5 min / 1 h after news, per topic or per source
// (GET /api/v1/impact), as a table with bars and counts.
import { fetchImpact } from "./api";
import { byTestId, el, isFiniteNumber } from "./dom";
import { formatInt, formatPct, t, tf } from "./i18n";
import { topicLabel } from "./news";
import { IMPACT_HORIZONS, type ImpactRow } from "./types";

type By = "topic" | "source";

const num = (v: unknown): number | null => (isFiniteNumber(v) ? v : null);

export class ImpactView {
  private by: By = "topic";
  private rows: ImpactRow[] = [];
  private loaded = false;
  private token = 0;
  private readonly body = byTestId("impact-rows");
  private readonly empty = byTestId("impact-empty");
  private readonly caption = byTestId("impact-caption");
  private readonly keyHead = byTestId("impact-key-head");
  private readonly buttons = [byTestId<HTMLButtonElement>("impact-by-topic"), byTestId<HTMLButtonElement>("impact-by-source")];

  constructor(private readonly replay: () => boolean) {
    for (const btn of this.buttons) {
      btn.addEventListener("click", () => {
        const by = btn.dataset.by === "source" ? "source" : "topic";
        if (by === this.by) return;
        this.by = by;
        void this.load();
      });
    }
  }

  async load(): Promise<void> {
    const token = ++this.token;
    const by = this.by;
    try {
      const rows = await fetchImpact(this.replay(), by);
      if (token !== this.token) return;
      this.rows = rows;
    } catch {
      if (token !== this.token) return;
      this.rows = [];
    }
    this.loaded = true;
    this.render();
  }

  render(): void {
    const by = this.by;
    for (const btn of this.buttons) btn.setAttribute("aria-pressed", String(btn.dataset.by === by));
    this.keyHead.textContent = by === "topic" ? t("col_topic") : t("col_source");
    this.caption.textContent = tf("impact_caption", { by: t(by === "topic" ? "impact_by_topic" : "impact_by_source") });
    const rows = this.rows
      .filter((r) => typeof r[by] === "string")
      .sort((a, b) => (num(b.n) ?? 0) - (num(a.n) ?? 0));
    // One scale for every bar: the largest absolute mean move shown.
    const scale = Math.max(
      1e-9,
      ...rows.flatMap((r) => IMPACT_HORIZONS.map((h) => Math.abs(num(r[`mean_ret_${h}s`]) ?? 0))),
    );
    this.body.replaceChildren(...rows.map((r) => this.row(r, by, scale)));
    this.body.closest("table")?.setAttribute("data-by", by);
    this.empty.hidden = !this.loaded || rows.length > 0;
  }

  private row(r: ImpactRow, by: By, scale: number): HTMLElement {
    const key = String(r[by]);
    return el(
      "tr",
      { "data-testid": "impact-row", "data-key": key, "data-n": String(num(r.n) ?? 0) },
      el("td", {}, by === "topic" ? topicLabel(key) : key),
      el("td", { class: "num" }, formatInt(num(r.n) ?? 0)),
      ...IMPACT_HORIZONS.map((h) => this.cell(r, h, scale)),
    );
  }

  private cell(r: ImpactRow, h: number, scale: number): HTMLElement {
    const mean = num(r[`mean_ret_${h}s`]);
    const median = num(r[`median_ret_${h}s`]);
    const n = num(r[`n_ret_${h}s`]) ?? 0;
    if (mean === null) return el("td", { class: "impact-cell muted", "data-horizon": String(h) }, "—");
    const bar = el("span", { class: `impact-bar ${mean >= 0 ? "impact-up" : "impact-down"}` });
    // CSSOM width (not a style attribute): allowed by the CSP.
    bar.style.width = `${Math.max(2, Math.round((Math.abs(mean) / scale) * 100))}%`;
    return el(
      "td",
      {
        class: "impact-cell",
        "data-horizon": String(h),
        "data-mean": String(mean),
        title: tf("impact_cell_title", { mean: formatPct(mean, 3), median: median === null ? "—" : formatPct(median, 3), n: formatInt(n) }),
      },
      el("span", { class: "impact-track" }, bar),
      el("span", { class: `impact-value ${mean >= 0 ? "up" : "down"}` }, formatPct(mean, 3)),
      el("span", { class: "muted small" }, ` n=${formatInt(n)}`),
    );
  }
}
