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
  vwap: "VWAP",
  tabs_label: "News, stories and alerts",
  stories: "Stories",
  alerts: "Alerts",
  topic_filter: "Topic",
  topic_all: "All topics",
  topic_regulation: "Regulation",
  topic_etf_institutional: "ETFs & institutions",
  topic_adoption_payments: "Adoption & payments",
  topic_security_hacks: "Security & hacks",
  topic_mining_energy: "Mining & energy",
  topic_macro_monetary: "Macro & monetary",
  topic_technology: "Technology",
  topic_market_price: "Market & price",
  topic_exchanges: "Exchanges",
  topic_legal: "Legal",
  no_news_topic: "No news on this topic yet.",
  n_sources: "{n} sources",
  n_sources_title: "{n} outlets carry this story",
  stories_caption: "Stories carried by several outlets",
  no_stories: "No multi-source story yet.",
  first_reported: "first: {source}",
  stories_sources_short: "sources",
  first_reported_title: "First reported by {source} at {time}",
  n_articles: "{n} articles",
  bursting: "Bursting topics",
  bursting_title: "Topics with unusually many articles in the last hour (z ≥ {z})",
  no_bursts: "No topic is bursting.",
  burst_z_title: "{count} articles vs {mean} usual (z = {z})",
  alerts_caption: "Index crossings, news bursts and price moves",
  no_alerts: "No alerts yet.",
  alert_new: "New alert",
  alert_kind_index_cross: "Index",
  alert_kind_index: "Index",
  alert_kind_burst: "Burst",
  alert_kind_price_move: "Price move",
  alert_kind_price: "Price move",
  dismiss: "Dismiss",
  index_title: "Sentiment index",
  index_caption: "0 = extreme fear · 100 = extreme greed",
  index_none: "No index value yet.",
  index_band_extreme_fear: "Extreme fear",
  index_band_fear: "Fear",
  index_band_neutral: "Neutral",
  index_band_greed: "Greed",
  index_band_extreme_greed: "Extreme greed",
  comp_sentiment: "News sentiment",
  comp_volume: "News volume",
  comp_momentum: "Price momentum",
  comp_volatility: "Low volatility",
  index_components: "Components",
  index_drivers: "What moved it",
  index_no_drivers: "No scored headline in the last hour.",
  index_points_title: "Contribution to the index, in points",
  index_as_of: "as of {time} · {n} articles in the last hour",
  index_series_label: "Index over the last 24 hours",
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
  vwap: "VWAP",
  tabs_label: "Actualités, sujets et alertes",
  stories: "Sujets",
  alerts: "Alertes",
  topic_filter: "Thème",
  topic_all: "Tous les thèmes",
  topic_regulation: "Réglementation",
  topic_etf_institutional: "ETF et institutionnels",
  topic_adoption_payments: "Adoption et paiements",
  topic_security_hacks: "Sécurité et piratages",
  topic_mining_energy: "Minage et énergie",
  topic_macro_monetary: "Macro et politique monétaire",
  topic_technology: "Technologie",
  topic_market_price: "Marché et cours",
  topic_exchanges: "Plateformes d’échange",
  topic_legal: "Justice",
  no_news_topic: "Pas encore d’actualités sur ce thème.",
  n_sources: "{n} sources",
  n_sources_title: "{n} médias relaient ce sujet",
  stories_caption: "Sujets relayés par plusieurs médias",
  no_stories: "Aucun sujet multi-sources pour l’instant.",
  first_reported: "en premier : {source}",
  stories_sources_short: "sources",
  first_reported_title: "Publié en premier par {source} le {time}",
  n_articles: "{n} articles",
  bursting: "Thèmes en pic",
  bursting_title: "Thèmes avec un nombre inhabituel d’articles sur la dernière heure (z ≥ {z})",
  no_bursts: "Aucun thème en pic.",
  burst_z_title: "{count} articles contre {mean} d’habitude (z = {z})",
  alerts_caption: "Franchissements de l’indice, pics d’actualités et mouvements de cours",
  no_alerts: "Pas encore d’alertes.",
  alert_new: "Nouvelle alerte",
  alert_kind_index_cross: "Indice",
  alert_kind_index: "Indice",
  alert_kind_burst: "Pic",
  alert_kind_price_move: "Mouvement de cours",
  alert_kind_price: "Mouvement de cours",
  dismiss: "Fermer",
  index_title: "Indice de sentiment",
  index_caption: "0 = peur extrême · 100 = euphorie extrême",
  index_none: "Pas encore de valeur d’indice.",
  index_band_extreme_fear: "Peur extrême",
  index_band_fear: "Peur",
  index_band_neutral: "Neutre",
  index_band_greed: "Euphorie",
  index_band_extreme_greed: "Euphorie extrême",
  comp_sentiment: "Sentiment des actualités",
  comp_volume: "Volume d’actualités",
  comp_momentum: "Dynamique du cours",
  comp_volatility: "Faible volatilité",
  index_components: "Composantes",
  index_drivers: "Ce qui l’a fait bouger",
  index_no_drivers: "Aucun titre noté sur la dernière heure.",
  index_points_title: "Contribution à l’indice, en points",
  index_as_of: "au {time} · {n} articles sur la dernière heure",
  index_series_label: "Indice sur les dernières 24 heures",
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
