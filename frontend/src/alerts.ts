// Alerts panel (newest first) and a transient toast for alerts that arrive live.
import { el, isFiniteNumber } from "./dom";
import { formatDateTime, formatNumber, formatPercent, formatShortDateTime, t, tMaybe } from "./i18n";
import type { Alert, AlertUpdateData } from "./types";

const MAX_ALERTS = 50;
const MAX_TOASTS = 3;
export const TOAST_MS = 8_000;

function isAlert(v: unknown): v is Alert {
  if (typeof v !== "object" || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.alert_id === "string" && r.alert_id.length > 0;
}

/** The WS shape (`time`) → the REST shape (`t`). */
export function alertFromUpdate(u: AlertUpdateData): Alert {
  const { time, ...rest } = u;
  return { ...rest, t: isFiniteNumber(time) ? time : NaN };
}

function alertDate(a: Alert): Date | null {
  if (isFiniteNumber(a.t)) return new Date(a.t * 1000);
  const d = new Date(a.created_at);
  return Number.isNaN(d.getTime()) ? null : d;
}

const sortKey = (a: Alert): number => alertDate(a)?.getTime() ?? 0;

/** The alert's value in its kind's unit: index points, a z-score, or a price move in %. */
function alertValue(kind: string, v: number): string {
  if (kind === "price_move") return formatPercent(v / 100);
  if (kind === "burst") return `z ${formatNumber(v, 1)}`;
  return formatNumber(v, 1);
}

function kindLabel(kind: string): string {
  return tMaybe(`alert_kind_${kind}`, kind);
}

export class AlertsPanel {
  private alerts = new Map<string, Alert>();

  onCount: (n: number) => void = () => {};

  constructor(
    private readonly list: HTMLUListElement,
    private readonly empty: HTMLElement,
    private readonly toasts: HTMLElement,
    private readonly max: number = MAX_ALERTS,
  ) {}

  setAlerts(items: Alert[]): void {
    this.alerts.clear();
    for (const a of items) if (isAlert(a)) this.alerts.set(a.alert_id, a);
    this.render();
  }

  /** Live alert: add it and, when it is new, pop a toast. */
  add(a: Alert, toast = true): void {
    if (!isAlert(a)) return;
    const isNew = !this.alerts.has(a.alert_id);
    this.alerts.set(a.alert_id, a);
    this.render();
    if (isNew && toast) this.toast(a);
  }

  render(): void {
    const sorted = [...this.alerts.values()]
      .sort((a, b) => sortKey(b) - sortKey(a) || a.alert_id.localeCompare(b.alert_id))
      .slice(0, this.max);
    this.list.replaceChildren(...sorted.map((a) => this.row(a)));
    this.empty.hidden = sorted.length > 0;
    this.onCount(sorted.length);
  }

  private body(a: Alert): HTMLElement[] {
    const d = alertDate(a);
    const kind = String(a.kind ?? "");
    return [
      el(
        "div",
        { class: "news-meta" },
        el("span", { class: `alert-kind alert-kind-${kind.replace(/[^a-z0-9_-]/gi, "")}` }, kindLabel(kind)),
        d ? el("time", { datetime: d.toISOString(), title: formatDateTime(d) }, formatShortDateTime(d)) : null,
        isFiniteNumber(a.value) ? el("span", { class: "alert-value" }, alertValue(kind, a.value)) : null,
        a.replay ? el("span", { class: "tag tag-replay" }, t("replay_tag")) : null,
      ),
      el("div", { class: "alert-message", title: String(a.rule ?? "") }, String(a.message || a.rule || "")),
    ];
  }

  private row(a: Alert): HTMLLIElement {
    return el(
      "li",
      { class: "alert-item", "data-testid": "alert-item", "data-id": a.alert_id, "data-kind": String(a.kind ?? "") },
      el("span", { class: "alert-icon", "aria-hidden": "true" }, "!"),
      el("div", { class: "alert-body" }, ...this.body(a)),
    );
  }

  private toast(a: Alert): void {
    const close = el("button", { type: "button", class: "toast-close", "aria-label": t("dismiss"), title: t("dismiss") }, "×");
    const node = el(
      "div",
      { class: "toast", "data-testid": "alert-toast", "data-id": a.alert_id, role: "status" },
      el("div", { class: "toast-head" }, el("strong", {}, t("alert_new")), close),
      ...this.body(a),
    );
    const remove = (): void => node.remove();
    close.addEventListener("click", remove);
    window.setTimeout(remove, TOAST_MS);
    this.toasts.append(node);
    while (this.toasts.children.length > MAX_TOASTS) this.toasts.firstElementChild?.remove();
  }
}
