// Trends view: article volume per topic over time (uPlot: one line per topic, bursts ringed)
// and the list of current bursts (z ≥ 3). Data: GET /api/v1/bursts (every window, all z).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { byTestId, el, isFiniteNumber } from "./dom";
import { formatDateTime, formatInt, formatNumber, formatShortDateTime, formatTick, t, tf } from "./i18n";
import { topicLabel } from "./news";
import { burstLabel } from "./stories";
import { TOPICS, type Burst } from "./types";

export const BURST_Z = 3;
const MAX_LIST = 20;
const HEIGHT = 340;
const COLORS = ["#f7931a", "#4fc3f7", "#ab47bc", "#ef5350", "#66bb6a", "#ffd54f", "#26a69a", "#8d6e63", "#ec407a", "#90a4ae"];

const validBurst = (b: Burst): boolean =>
  Boolean(b) && typeof b.key === "string" && isFiniteNumber(b.t) && isFiniteNumber(b.count) && isFiniteNumber(b.z);

export class TrendsView {
  private rows: Burst[] = [];
  private resolutionS = 3600;
  private plot: uPlot | null = null;
  private readonly box = byTestId("trends-chart");
  private readonly listBody = byTestId("burst-list");
  private readonly listEmpty = byTestId("burst-list-empty");
  private readonly empty = byTestId("trends-empty");
  private readonly caption = byTestId("trends-caption");
  private readonly select = byTestId<HTMLSelectElement>("trends-resolution");
  private visible = false;

  /** The window length changed: reload. */
  onResolution: (s: number) => void = () => {};

  constructor() {
    this.select.addEventListener("change", () => {
      this.resolutionS = Number(this.select.value) === 900 ? 900 : 3600;
      this.onResolution(this.resolutionS);
    });
    window.addEventListener("resize", () => this.resize());
  }

  get resolution(): number {
    return this.resolutionS;
  }

  set(rows: Burst[], resolutionS: number): void {
    this.rows = rows.filter(validBurst);
    this.resolutionS = resolutionS;
    this.select.value = String(resolutionS);
    this.render();
  }

  /** The view was shown or hidden (uPlot needs a laid-out box to size itself). */
  setVisible(on: boolean): void {
    this.visible = on;
    if (on) this.render();
  }

  private resize(): void {
    if (this.plot && this.visible && this.box.clientWidth > 0) this.plot.setSize({ width: this.box.clientWidth, height: HEIGHT });
  }

  render(): void {
    this.caption.textContent = tf("trends_caption", { z: BURST_Z });
    this.renderList();
    if (this.visible) this.renderChart();
  }

  private renderList(): void {
    const bursts = this.rows
      .filter((b) => b.z >= BURST_Z)
      .sort((a, b) => b.t - a.t || b.z - a.z)
      .slice(0, MAX_LIST);
    this.listBody.replaceChildren(
      ...bursts.map((b) => {
        const d = new Date(b.t * 1000);
        return el(
          "tr",
          { "data-testid": "burst-item", "data-key": b.key, "data-z": String(b.z) },
          el("td", {}, burstLabel(b.key)),
          el("td", {}, el("time", { datetime: d.toISOString(), title: formatDateTime(d) }, formatShortDateTime(d))),
          el("td", { class: "num" }, formatInt(b.count)),
          el("td", { class: "num" }, formatNumber(isFiniteNumber(b.mean) ? b.mean : 0)),
          el("td", { class: "num strong" }, formatNumber(b.z)),
        );
      }),
    );
    this.listEmpty.hidden = bursts.length > 0;
  }

  private renderChart(): void {
    const topics = TOPICS.filter((id) => this.rows.some((r) => r.key === id));
    const times = [...new Set(this.rows.filter((r) => !r.key.startsWith("term:")).map((r) => r.t))].sort((a, b) => a - b);
    const index = new Map(times.map((x, i) => [x, i]));
    const series: (number | null)[][] = topics.map(() => times.map(() => 0));
    const bursts: { s: number; i: number }[] = [];
    for (const r of this.rows) {
      const s = topics.indexOf(r.key as (typeof TOPICS)[number]);
      const i = index.get(r.t);
      if (s < 0 || i === undefined) continue;
      series[s]![i] = r.count;
      if (r.z >= BURST_Z) bursts.push({ s, i });
    }
    this.box.dataset.series = String(topics.length);
    this.box.dataset.points = String(times.length);
    this.box.dataset.bursts = String(bursts.length);
    this.empty.hidden = times.length > 0;
    this.plot?.destroy();
    this.plot = null;
    this.box.replaceChildren();
    if (!times.length || this.box.clientWidth === 0) return;
    const ringBursts = (u: uPlot): void => {
      const ctx = u.ctx;
      ctx.save();
      ctx.lineWidth = 2 * devicePixelRatio;
      for (const { s, i } of bursts) {
        if (!u.series[s + 1]?.show) continue;
        const x = u.valToPos(times[i]!, "x", true);
        const y = u.valToPos(series[s]![i] ?? 0, "y", true);
        ctx.strokeStyle = COLORS[s % COLORS.length]!;
        ctx.beginPath();
        ctx.arc(x, y, 6 * devicePixelRatio, 0, 2 * Math.PI);
        ctx.stroke();
      }
      ctx.restore();
    };
    const axis = { stroke: "#aab4c3", grid: { stroke: "rgba(255,255,255,0.06)" }, ticks: { stroke: "rgba(255,255,255,0.12)" } };
    const opts: uPlot.Options = {
      width: this.box.clientWidth,
      height: HEIGHT,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(2, Math.ceil(max * 1.1))] } },
      axes: [
        {
          ...axis,
          values: (_u, splits) =>
            splits.map((v) => {
              const d = new Date(v * 1000);
              return d.getUTCHours() === 0 && d.getUTCMinutes() === 0 ? formatTick(v, "day") : formatTick(v, "time");
            }),
        },
        { ...axis, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], values: (_u, splits) => splits.map((v) => formatInt(v)) },
      ],
      series: [
        { value: (_u, v) => (v === null ? "—" : formatShortDateTime(new Date(v * 1000))) },
        ...topics.map((id, s) => ({
          label: topicLabel(id),
          stroke: COLORS[s % COLORS.length]!,
          width: 1.5,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null ? "—" : formatInt(v)),
        })),
      ],
      hooks: { draw: [ringBursts] },
      legend: { live: true },
    };
    this.plot = new uPlot(opts, [times, ...series] as uPlot.AlignedData, this.box);
    this.box.dataset.ready = "true";
  }

  /** The header's label of the window setting, for the caption. */
  static windowLabel(s: number): string {
    return t(s === 900 ? "window_900" : "window_3600");
  }
}
