// Alerts panel (newest first) and a transient toast for alerts that arrive live.
import { el, isFiniteNumber } from "./dom";
import {
  formatDateTime,
  formatDuration,
  formatInt,
  formatNumber,
  formatPercent,
  formatPrice,
  formatShortDateTime,
  locale,
  pluralOf,
  t,
  tf,
  tMaybe,
} from "./i18n";
import { topicLabel } from "./news";
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

/** An index level as the rule wrote it: "75", "72,5" (no forced decimals). */
function formatLevel(v: number): string {
  return formatNumber(v, Number.isInteger(v) ? 0 : 1);
}

/** The alert's value in its kind's unit: index points, a z-score, or a price move in %. */
function alertValue(kind: string, v: number): string {
  if (kind === "price_move") return formatPercent(v / 100);
  if (kind === "burst") return `z ${formatNumber(v, 1)}`;
  return formatNumber(v, 1);
}

/** The burst's key: a topic id (its label) or "term:<word>" (the word, quoted). */
function burstSubject(key: string): string {
  if (key.startsWith("term:")) return tf("alert_term", { term: key.slice(5) });
  return topicLabel(key);
}

/**
 * The alert's text in the reader's language, from its `params` (numbers and dates through Intl,
 * the UTC / local choice); null when the params are missing or not of the expected shape (the
 * caller then shows the server's English `message`).
 */
export function alertText(a: Alert): string | null {
  const p = a.params;
  if (typeof p !== "object" || p === null || Array.isArray(p) || !isFiniteNumber(a.t)) return null;
  const time = formatDateTime(new Date(a.t * 1000));
  const num = (k: string): number | null => (isFiniteNumber(p[k]) ? p[k] : null);
  switch (a.kind) {
    case "index_cross": {
      const [level, now, was] = [num("level"), num("now"), num("was")];
      if ((p.direction !== "up" && p.direction !== "down") || level === null || now === null || was === null) return null;
      return tf(p.direction === "up" ? "alert_index_cross_up" : "alert_index_cross_down", {
        level: formatLevel(level),
        time,
        now: formatNumber(now, 1),
        was: formatNumber(was, 1),
      });
    }
    case "burst": {
      const [count, res, z] = [num("count"), num("resolution_s"), num("z")];
      if (typeof p.key !== "string" || !p.key || count === null || res === null || res <= 0 || z === null) return null;
      return tf("alert_burst", {
        topic: burstSubject(p.key),
        articles: tf(pluralOf(count) === "one" ? "articles_one" : "articles_other", { n: formatInt(count) }),
        window: formatDuration(res),
        time,
        z: formatNumber(z, 1),
      });
    }
    case "price_move": {
      const [minutes, from, to, change] = [num("minutes"), num("from"), num("to"), num("change_pct")];
      if (minutes === null || from === null || to === null || change === null) return null;
      return tf(change > 0 ? "alert_price_move_up" : "alert_price_move_down", {
        pct: new Intl.NumberFormat(locale(), { style: "percent", minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(
          Math.abs(change) / 100,
        ),
        minutes: formatInt(minutes),
        from: formatPrice(from),
        to: formatPrice(to),
        time,
      });
    }
    default:
      return null;
  }
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
      this.message(a),
    ];
  }

  /** The localised text (from params), else the server's message; always a text node. */
  private message(a: Alert): HTMLElement {
    const local = alertText(a);
    return el(
      "div",
      { class: "alert-message", "data-testid": "alert-message", "data-from": local === null ? "message" : "params", title: String(a.rule ?? "") },
      local ?? String(a.message || a.rule || ""),
    );
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
