// Sentiment index panel: the 0-100 number on a fear ↔ greed scale, its four components, the
// headlines that moved it most, and a sparkline of the series.
import { el, isFiniteNumber } from "./dom";
import { formatDateTime, formatInt, formatSigned, t, tf, type MessageKey } from "./i18n";
import type { IndexComponents, IndexDriver, IndexLatest, IndexPoint, IndexResponse, IndexUpdateData } from "./types";

const SVG = "http://www.w3.org/2000/svg";
const MAX_POINTS = 3000;
const SPARK_W = 220;
const SPARK_H = 44;
const COMPONENTS: readonly { key: keyof IndexComponents; label: MessageKey }[] = [
  { key: "sentiment", label: "comp_sentiment" },
  { key: "momentum", label: "comp_momentum" },
  { key: "volatility", label: "comp_volatility" },
  { key: "volume", label: "comp_volume" },
];

const clamp = (v: number): number => Math.max(0, Math.min(100, v));

/** Fear (red, 0) → neutral (amber, 50) → greed (green, 100). */
export function indexColor(v: number): string {
  const hue = Math.round(clamp(v) * 1.25); // 0 red … 62 amber … 125 green
  return `hsl(${hue} 70% 52%)`;
}

export function indexBand(v: number): MessageKey {
  if (v < 25) return "index_band_extreme_fear";
  if (v < 45) return "index_band_fear";
  if (v <= 55) return "index_band_neutral";
  if (v <= 75) return "index_band_greed";
  return "index_band_extreme_greed";
}

/** Inline styles through the CSSOM (allowed even under a strict style-src CSP). */
function styled<T extends HTMLElement>(node: T, props: Record<string, string>): T {
  for (const [k, v] of Object.entries(props)) node.style.setProperty(k, v);
  return node;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

export function latestFromUpdate(u: IndexUpdateData): IndexLatest {
  return {
    t: u.time,
    value: u.value,
    components: { sentiment: u.sentiment_c, volume: u.volume_c, momentum: u.momentum_c, volatility: u.volatility_c },
    n_news: u.n_news,
    drivers: Array.isArray(u.drivers) ? u.drivers : [],
  };
}

export class IndexPanel {
  private latest: IndexLatest | null = null;
  private series: IndexPoint[] = [];
  private loaded = false;

  constructor(private readonly root: HTMLElement) {}

  set(resp: IndexResponse): void {
    this.latest = resp.latest && isFiniteNumber(resp.latest.value) ? resp.latest : null;
    this.series = resp.series.filter((p) => p && isFiniteNumber(p.t) && isFiniteNumber(p.value)).sort((a, b) => a.t - b.t);
    this.loaded = true;
    this.render();
  }

  clear(): void {
    this.latest = null;
    this.series = [];
    this.loaded = false;
    this.render();
  }

  /** Live update: becomes the latest value (unless older) and extends the series. */
  apply(u: IndexUpdateData): void {
    if (!isFiniteNumber(u.time) || !isFiniteNumber(u.value)) return;
    const next = latestFromUpdate(u);
    if (!this.latest || next.t >= this.latest.t) this.latest = next;
    const point: IndexPoint = { t: next.t, value: next.value, n_news: next.n_news, ...next.components };
    const idx = this.series.findIndex((p) => p.t >= point.t);
    if (idx < 0) this.series.push(point);
    else if (this.series[idx]!.t === point.t) this.series[idx] = point;
    else this.series.splice(idx, 0, point);
    if (this.series.length > MAX_POINTS) this.series.splice(0, this.series.length - MAX_POINTS);
    this.loaded = true;
    this.render();
  }

  render(): void {
    const root = this.root;
    const l = this.latest;
    root.dataset.value = l ? l.value.toFixed(1) : "";
    root.dataset.time = l ? String(l.t) : "";
    if (!l) {
      root.replaceChildren(
        this.head(null),
        el("p", { class: "muted empty", "data-testid": "index-empty" }, this.loaded ? t("index_none") : t("loading")),
      );
      return;
    }
    const v = clamp(l.value);
    const color = indexColor(v);
    const big = el(
      "div",
      { class: "index-main" },
      styled(el("div", { class: "index-number", "data-testid": "index-value" }, formatInt(Math.round(v))), { color }),
      styled(el("div", { class: "index-band" }, t(indexBand(v))), { color }),
      this.scale(v),
      this.sparkline(),
    );
    root.replaceChildren(
      this.head(l),
      el("div", { class: "index-grid" }, big, this.components(l.components), this.drivers(l.drivers)),
    );
  }

  private head(l: IndexLatest | null): HTMLElement {
    const d = l && isFiniteNumber(l.t) ? new Date(l.t * 1000) : null;
    return el(
      "div",
      { class: "panel-head" },
      el("h2", {}, t("index_title")),
      el(
        "span",
        { class: "muted small" },
        d ? tf("index_as_of", { time: formatDateTime(d), n: formatInt(isFiniteNumber(l!.n_news) ? l!.n_news : 0) }) : t("index_caption"),
      ),
    );
  }

  private scale(v: number): HTMLElement {
    return el(
      "div",
      { class: "index-scale", title: t("index_caption") },
      styled(el("span", { class: "index-scale-marker" }), { left: `${v.toFixed(1)}%` }),
    );
  }

  private components(c: IndexComponents | null | undefined): HTMLElement {
    const rows = COMPONENTS.map(({ key, label }) => {
      const raw = c ? c[key] : NaN;
      const val = isFiniteNumber(raw) ? clamp(raw) : null;
      return el(
        "li",
        { class: "component", "data-testid": "index-component", "data-component": key, "data-value": val === null ? "" : val.toFixed(1) },
        el("span", { class: "component-label" }, t(label)),
        el(
          "span",
          { class: "component-bar" },
          styled(el("span", { class: "component-fill" }), {
            width: `${(val ?? 0).toFixed(1)}%`,
            background: indexColor(val ?? 50),
          }),
          el("span", { class: "component-mid", "aria-hidden": "true" }),
        ),
        el("span", { class: "component-value" }, val === null ? "—" : formatInt(Math.round(val))),
      );
    });
    return el(
      "div",
      { class: "index-components" },
      el("h3", {}, t("index_components")),
      el("ul", { class: "component-list" }, ...rows),
    );
  }

  private drivers(list: IndexDriver[] | null | undefined): HTMLElement {
    const rows = (Array.isArray(list) ? list : [])
      .filter((d) => d && isFiniteNumber(d.contribution))
      .sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution))
      .map((d) => {
        const up = d.contribution >= 0;
        return el(
          "li",
          { class: "driver", "data-testid": "index-driver", "data-id": String(d.id ?? ""), "data-contribution": d.contribution.toFixed(3) },
          el("span", { class: `driver-value ${up ? "up" : "down"}`, title: t("index_points_title") }, formatSigned(d.contribution, 2)),
          el("span", { class: "driver-title", title: String(d.title ?? "") }, String(d.title ?? "")),
        );
      });
    return el(
      "div",
      { class: "index-drivers" },
      el("h3", {}, t("index_drivers")),
      rows.length
        ? el("ol", { class: "driver-list", "data-testid": "index-drivers" }, ...rows)
        : el("p", { class: "muted small" }, t("index_no_drivers")),
    );
  }

  private sparkline(): Element | null {
    const pts = this.series;
    if (pts.length < 2) return null;
    const t0 = pts[0]!.t;
    const span = Math.max(1, pts[pts.length - 1]!.t - t0);
    const x = (p: IndexPoint): number => ((p.t - t0) / span) * SPARK_W;
    const y = (p: IndexPoint): number => SPARK_H - (clamp(p.value) / 100) * SPARK_H;
    const box = svg("svg", {
      class: "index-spark",
      viewBox: `0 0 ${SPARK_W} ${SPARK_H}`,
      preserveAspectRatio: "none",
      role: "img",
      "aria-label": t("index_series_label"),
      "data-testid": "index-series",
      "data-points": String(pts.length),
    });
    const title = svg("title", {});
    title.textContent = t("index_series_label");
    box.append(
      title,
      svg("line", { x1: "0", x2: String(SPARK_W), y1: String(SPARK_H / 2), y2: String(SPARK_H / 2), class: "spark-mid" }),
      svg("polyline", {
        points: pts.map((p) => `${x(p).toFixed(1)},${y(p).toFixed(1)}`).join(" "),
        class: "spark-line",
        stroke: indexColor(pts[pts.length - 1]!.value),
      }),
    );
    return box;
  }
}

