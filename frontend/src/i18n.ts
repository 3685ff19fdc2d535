// UI strings and locale-aware formatting (Intl) for English and French.

export type Lang = "en" | "fr";
export const LANGS: readonly Lang[] = ["en", "fr"];
export type TimeZoneMode = "utc" | "local";

const en = {
  tagline: "Bitcoin news & price analytics",
  language: "Language",
  venue: "Venue",
  range: "Time range",
  range_1h: "1h",
  range_24h: "24h",
  range_7d: "7d",
  range_all: "All",
  tz_utc: "UTC",
  tz_local: "Local",
  tz_toggle_title: "Switch the time axis between UTC and local time",
  replay_badge: "REPLAY · recorded history, not live",
  replay_badge_title: "This venue replays previously recorded market data. Prices shown are not live.",
  replay_tag: "REPLAY",
  ws_open: "Live updates connected",
  ws_closed: "Live updates disconnected, reconnecting…",
  price: "Price",
  loading: "Loading…",
  no_candles: "No candles for this range.",
  no_venues: "No venues available.",
  load_error: "Could not load data from the server.",
  news: "News",
  no_news: "No news yet.",
  sentiment_positive: "Positive sentiment",
  sentiment_negative: "Negative sentiment",
  sentiment_neutral: "Neutral sentiment",
  health: "Sources",
  health_ok: "All OK",
  health_degraded: "Degraded",
  health_unavailable: "Health status unavailable.",
  status_up: "up",
  status_down: "down",
  status_paused: "paused",
  status_starting: "starting",
  col_source: "Source",
  col_status: "Status",
  col_last_success: "Last success",
  col_last_error: "Last error",
  never: "never",
  items: "items",
  engine_lag: "Engine lag",
  errors_total: "Errors",
  venue_replay_suffix: "(replay)",
  venue_no_data: "(no data)",
  last: "Last",
};

export type MessageKey = keyof typeof en;

const fr: Record<MessageKey, string> = {
  tagline: "Actualités et analyses du cours du bitcoin",
  language: "Langue",
  venue: "Place de marché",
  range: "Période",
  range_1h: "1 h",
  range_24h: "24 h",
  range_7d: "7 j",
  range_all: "Tout",
  tz_utc: "UTC",
  tz_local: "Heure locale",
  tz_toggle_title: "Basculer l’axe du temps entre UTC et l’heure locale",
  replay_badge: "REPLAY · historique enregistré, pas en direct",
  replay_badge_title: "Cette place rejoue des données de marché enregistrées. Les cours affichés ne sont pas en direct.",
  replay_tag: "REPLAY",
  ws_open: "Mises à jour en direct connectées",
  ws_closed: "Mises à jour en direct déconnectées, reconnexion…",
  price: "Cours",
  loading: "Chargement…",
  no_candles: "Aucune bougie sur cette période.",
  no_venues: "Aucune place de marché disponible.",
  load_error: "Impossible de charger les données du serveur.",
  news: "Actualités",
  no_news: "Pas encore d’actualités.",
  sentiment_positive: "Sentiment positif",
  sentiment_negative: "Sentiment négatif",
  sentiment_neutral: "Sentiment neutre",
  health: "Sources",
  health_ok: "Tout va bien",
  health_degraded: "Dégradé",
  health_unavailable: "État des sources indisponible.",
  status_up: "actif",
  status_down: "en panne",
  status_paused: "en pause",
  status_starting: "démarrage",
  col_source: "Source",
  col_status: "État",
  col_last_success: "Dernier succès",
  col_last_error: "Dernière erreur",
  never: "jamais",
  items: "éléments",
  engine_lag: "Retard du moteur",
  errors_total: "Erreurs",
  venue_replay_suffix: "(replay)",
  venue_no_data: "(aucune donnée)",
  last: "Dernier",
};

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
