// Source health panel, refreshed periodically from /api/v1/health.
import { fetchHealth } from "./api";
import { el, isFiniteNumber } from "./dom";
import { formatDateTime, formatInt, formatRelative, parseIso, t, tMaybe } from "./i18n";
import type { Health, HealthSource } from "./types";

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

  constructor(
    private readonly body: HTMLElement,
    private readonly summary: HTMLElement,
  ) {}

  start(): void {
    void this.refresh();
    this.timer = window.setInterval(() => void this.refresh(), HEALTH_REFRESH_MS);
  }

  stop(): void {
    window.clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    try {
      this.health = await fetchHealth();
      this.failed = false;
    } catch {
      this.failed = true;
    }
    this.render();
  }

  render(): void {
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
      if (h.engine && isFiniteNumber(h.engine.lag)) {
        parts.push(el("span", { class: "muted" }, `${t("engine_lag")}: ${formatInt(h.engine.lag)}`));
      }
      if (isFiniteNumber(h.errors_total)) {
        parts.push(el("span", { class: "muted" }, `${t("errors_total")}: ${formatInt(h.errors_total)}`));
      }
      this.summary.replaceChildren(...parts);
    }
    const sources = Array.isArray(h.sources) ? h.sources : [];
    this.body.replaceChildren(...sources.map((s) => this.row(s)));
  }

  private row(s: HealthSource): HTMLElement {
    const status = String(s.status ?? "");
    const known = ["up", "down", "paused", "starting"].includes(status) ? status : "unknown";
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
      el("td", {}, errorCell),
    );
  }
}
