// UI strings and locale-aware formatting (Intl) for English and French.
import { en, fr, type MessageKey } from "./messages";

export type { MessageKey };
export type Lang = "en" | "fr";
export const LANGS: readonly Lang[] = ["en", "fr"];
export type TimeZoneMode = "utc" | "local";

const DICTS: Record<Lang, Record<MessageKey, string>> = { en, fr };
const LOCALES: Record<Lang, string> = { en: "en-GB", fr: "fr-FR" };

let lang: Lang = "en";
let tzMode: TimeZoneMode = "utc";

export function isLang(v: unknown): v is Lang {
  return typeof v === "string" && (LANGS as readonly string[]).includes(v);
}

/** Language from the browser, falling back to English. */
export function browserLang(): Lang {
  const prefs = navigator.languages?.length ? navigator.languages : [navigator.language];
  for (const p of prefs) {
    const base = (p ?? "").toLowerCase().split("-")[0];
    if (isLang(base)) return base;
  }
  return "en";
}

export function setLang(next: Lang): void {
  lang = next;
}
export function getLang(): Lang {
  return lang;
}
export function locale(): string {
  return LOCALES[lang];
}
export function setTimeZoneMode(mode: TimeZoneMode): void {
  tzMode = mode;
}
export function getTimeZoneMode(): TimeZoneMode {
  return tzMode;
}

export function t(key: MessageKey): string {
  return DICTS[lang][key];
}

/** `t` with `{name}` placeholders filled in (values are plain text). */
export function tf(key: MessageKey, vars: Record<string, string | number>): string {
  return t(key).replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/** Translate a key built at run time (e.g. "status_" + status); unknown keys fall back to `fallback`. */
export function tMaybe(key: string, fallback: string): string {
  const dict = DICTS[lang] as Record<string, string>;
  return dict[key] ?? fallback;
}

/** Replace the text of every element carrying data-i18n / data-i18n-title. */
export function translateStatic(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>("[data-i18n]").forEach((node) => {
    node.textContent = tMaybe(node.dataset.i18n ?? "", node.textContent ?? "");
  });
  root.querySelectorAll<HTMLElement>("[data-i18n-title]").forEach((node) => {
    node.title = tMaybe(node.dataset.i18nTitle ?? "", node.title);
  });
  root.querySelectorAll<HTMLInputElement>("[data-i18n-placeholder]").forEach((node) => {
    node.placeholder = tMaybe(node.dataset.i18nPlaceholder ?? "", node.placeholder);
  });
  root.querySelectorAll<HTMLElement>("[data-i18n-label]").forEach((node) => {
    node.setAttribute("aria-label", tMaybe(node.dataset.i18nLabel ?? "", ""));
  });
}

// ---- formatting -----------------------------------------------------------

function timeZone(): string | undefined {
  return tzMode === "utc" ? "UTC" : undefined;
}

export function formatPrice(v: number): string {
  return new Intl.NumberFormat(locale(), { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(v);
}

export function formatCompact(v: number): string {
  return new Intl.NumberFormat(locale(), { notation: "compact", maximumFractionDigits: 2 }).format(v);
}

export function formatInt(v: number): string {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: 0 }).format(v);
}

export function formatNumber(v: number, digits = 1): string {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(v);
}

/** Signed, e.g. "+1.2" / "−0.4". */
export function formatSigned(v: number, digits = 1): string {
  return new Intl.NumberFormat(locale(), {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
    signDisplay: "exceptZero",
  }).format(v);
}

export function formatPercent(v: number): string {
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 2, signDisplay: "exceptZero" }).format(v);
}

/** Full date and time, with the zone name when showing UTC. */
export function formatDateTime(d: Date): string {
  return new Intl.DateTimeFormat(locale(), {
    timeZone: timeZone(),
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: tzMode === "utc" ? "short" : undefined,
  }).format(d);
}

/** Short date and time for lists (no year). */
export function formatShortDateTime(d: Date): string {
  return new Intl.DateTimeFormat(locale(), {
    timeZone: timeZone(),
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(d);
}

export function formatRelative(d: Date, now: Date = new Date()): string {
  const secs = Math.round((d.getTime() - now.getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(locale(), { numeric: "auto", style: "short" });
  const abs = Math.abs(secs);
  if (abs < 60) return rtf.format(secs, "second");
  if (abs < 3600) return rtf.format(Math.round(secs / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(secs / 3600), "hour");
  return rtf.format(Math.round(secs / 86400), "day");
}

/** Labels for the chart's time axis; `kind` follows lightweight-charts' TickMarkType. */
export function formatTick(epochSeconds: number, kind: "year" | "month" | "day" | "time" | "seconds"): string {
  const d = new Date(epochSeconds * 1000);
  const tz = timeZone();
  const opts: Intl.DateTimeFormatOptions =
    kind === "year"
      ? { year: "numeric" }
      : kind === "month"
        ? { month: "short" }
        : kind === "day"
          ? { day: "numeric", month: "short" }
          : kind === "time"
            ? { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }
            : { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
  return new Intl.DateTimeFormat(locale(), { ...opts, timeZone: tz }).format(d);
}

export function parseIso(s: string | null | undefined): Date | null {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Signed percentage of a fraction with a fixed number of decimals, e.g. 0.0012 → "+0.12 %". */
export function formatPct(v: number, digits = 2): string {
  return new Intl.NumberFormat(locale(), {
    style: "percent",
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
    signDisplay: "exceptZero",
  }).format(v);
}

/** A whole duration in its largest exact unit, e.g. 3600 → "1 hour" / "1 heure", 900 → "15 minutes". */
export function formatDuration(seconds: number): string {
  const units = [
    [86400, "day"],
    [3600, "hour"],
    [60, "minute"],
    [1, "second"],
  ] as const;
  const [size, unit] = units.find(([u]) => seconds % u === 0) ?? units[3];
  return new Intl.NumberFormat(locale(), { style: "unit", unit, unitDisplay: "long", maximumFractionDigits: 0 }).format(
    seconds / size,
  );
}

/** The plural category of `n` in the current language, reduced to one / other. */
export function pluralOf(n: number): "one" | "other" {
  return new Intl.PluralRules(locale()).select(n) === "one" ? "one" : "other";
}
