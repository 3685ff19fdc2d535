// Source health panel, refreshed periodically from /api/v1/health.
import { fetchErrors, fetchHealth } from "./api";
import { el, isFiniteNumber } from "./dom";
import { formatDateTime, formatInt, formatRelative, formatShortDateTime, locale, parseIso, t, tMaybe } from "./i18n";
import type { DeadLetter, Health, HealthSource } from "./types";

const KNOWN_STATUS = ["up", "down", "paused", "starting", "stale"];
const PAYLOAD_CHARS = 160;

/** "12 s" / "3 min" / "2 h": how long ago a source last succeeded. */
function lagText(iso: string | null): string {
  const d = parseIso(iso);
  if (!d) return "—";
  const s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
  const unit = (v: number, u: "second" | "minute" | "hour" | "day"): string =>
    new Intl.NumberFormat(locale(), { style: "unit", unit: u, unitDisplay: "short", maximumFractionDigits: 0 }).format(v);
  if (s < 120) return unit(s, "second");
  if (s < 7200) return unit(s / 60, "minute");
  if (s < 172800) return unit(s / 3600, "hour");
  return unit(s / 86400, "day");
}

export const HEALTH_REFRESH_MS = 10_000;

function timeCell(iso: string | null): HTMLElement {
  const d = parseIso(iso);
  if (!d) return el("span", { class: "muted" }, t("never"));
  return el("time", { datetime: d.toISOString(), title: formatDateTime(d) }, formatRelative(d));
}

export class HealthPanel {
  private health: Health | null = null;
  private failed = false;
  private timer: number | undefined;
  private errors: DeadLetter[] | null = null;

  /** Called with the number of sources not up (for the nav badge). */
  onProblems: (n: number) => void = () => {};

  constructor(
    private readonly body: HTMLElement,
    private readonly summary: HTMLElement,
    private readonly engine: HTMLElement,
    private readonly deadBody: HTMLElement,
    private readonly deadEmpty: HTMLElement,
  ) {}

  start(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), HEALTH_REFRESH_MS);
  }

  stop(): void {
    window.clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    const [h, e] = await Promise.allSettled([fetchHealth(), fetchErrors(50)]);
    if (h.status === "fulfilled") {
      this.health = h.value;
      this.failed = false;
    } else {
      this.failed = true;
    }
    if (e.status === "fulfilled") this.errors = e.value;
    this.render();
  }

  private renderEngine(): void {
    const eng = this.health?.engine;
    if (!eng) {
      this.engine.replaceChildren();
      return;
    }
    const last = parseIso(eng.last_batch_at);
    const item = (label: string, value: Node | string, testid?: string): HTMLElement =>
      el("div", { class: "engine-item", "data-testid": testid }, el("span", { class: "muted small" }, label), el("strong", {}, value));
    this.engine.replaceChildren(
      el("span", { class: "engine-name" }, t("engine_title")),
      item(t("engine_lag"), isFiniteNumber(eng.lag) ? formatInt(eng.lag) : "—", "engine-lag"),
      item(t("engine_last_batch"), last ? el("time", { datetime: last.toISOString(), title: formatDateTime(last) }, formatRelative(last)) : t("never"), "engine-last-batch"),
      ...(isFiniteNumber(eng.batches) ? [item(t("engine_batches"), formatInt(eng.batches))] : []),
      ...(isFiniteNumber(eng.messages) ? [item(t("engine_messages"), formatInt(eng.messages))] : []),
    );
  }

  private renderDead(): void {
    const rows = this.errors ?? [];
    this.deadBody.replaceChildren(
      ...rows.map((r) => {
        const d = parseIso(r.time);
        const payload = String(r.payload ?? "");
        return el(
          "tr",
          { "data-testid": "dead-letter", "data-stage": String(r.stage ?? "") },
          el("td", { class: "nowrap" }, d ? el("time", { datetime: d.toISOString(), title: formatDateTime(d) }, formatShortDateTime(d)) : "—"),
          el("td", {}, el("span", { class: "tag" }, String(r.stage ?? ""))),
          el("td", {}, String(r.source ?? "—")),
          el("td", { class: "health-error" }, String(r.reason ?? "")),
          el("td", { class: "payload", title: payload }, payload.length > PAYLOAD_CHARS ? `${payload.slice(0, PAYLOAD_CHARS)}…` : payload),
        );
      }),
    );
    this.deadEmpty.hidden = this.errors === null || rows.length > 0;
  }

  render(): void {
    this.renderEngine();
    this.renderDead();
    const h = this.health;
    if (this.failed || !h) {
      this.summary.replaceChildren(el("span", { class: "status-pill status-down" }, t("health_unavailable")));
      if (!h) this.body.replaceChildren();
      if (!h) return;
    } else {
      const ok = h.status === "ok";
      const parts: (Node | string)[] = [
        el("span", { class: `status-pill ${ok ? "status-up" : "status-degraded"}` }, ok ? t("health_ok") : t("health_degraded")),
      ];
      if (isFiniteNumber(h.errors_total)) {
        parts.push(el("span", { class: "muted" }, `${t("errors_total")}: ${formatInt(h.errors_total)}`));
      }
      this.summary.replaceChildren(...parts);
    }
    const sources = Array.isArray(h.sources) ? h.sources : [];
    this.body.replaceChildren(...sources.map((s) => this.row(s)));
    this.onProblems(sources.filter((s) => s.status === "down" || s.status === "stale").length);
  }

  private row(s: HealthSource): HTMLElement {
    const status = String(s.status ?? "");
    const known = KNOWN_STATUS.includes(status) ? status : "unknown";
    const reason = s.last_error_reason ? String(s.last_error_reason) : "";
    const errDate = parseIso(s.last_error);
    const errorCell = reason
      ? el("span", { class: "health-error", title: errDate ? formatDateTime(errDate) : reason }, reason)
      : errDate
        ? timeCell(s.last_error)
        : el("span", { class: "muted" }, "—");
    const name = el(
      "div",
      { class: "health-name" },
      el("span", { class: `status-dot status-${known}`, "aria-hidden": "true" }),
      el("span", {}, String(s.name ?? "")),
      el("span", { class: "tag" }, String(s.kind ?? "")),
    );
    const items = isFiniteNumber(s.items_total) ? `${formatInt(s.items_total)} ${t("items")}` : "";
    return el(
      "tr",
      { class: "health-row", "data-testid": "health-row", "data-source": String(s.name ?? ""), "data-status": status },
      el("td", {}, name, s.detail ? el("div", { class: "muted small" }, String(s.detail)) : null),
      el("td", {}, el("span", { class: `status-text status-${known}` }, tMaybe(`status_${status}`, status)), el("div", { class: "muted small" }, items)),
      el("td", {}, timeCell(s.last_success)),
      el("td", { class: "nowrap", "data-testid": "health-lag" }, lagText(s.last_success)),
      el("td", {}, errorCell),
    );
  }
}
