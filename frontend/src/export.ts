// Export links: the chart's current range (and venue / symbol / resolution) as files from
// GET /api/v1/export/{candles|news|analytics}. Plain <a download> links built with
// URLSearchParams: the server streams the file with its own attachment filename.
import { byTestId, el } from "./dom";
import { formatDateTime, t, tf } from "./i18n";
import type { Venue } from "./types";
import { isoParam } from "./url";

/** The resolutions the export serves (api_export.py: analytics.candles.RESOLUTION_NAMES). */
export const EXPORT_RESOLUTIONS: readonly string[] = ["1s", "5s", "1m", "5m", "15m", "1h", "4h", "1d"];

export type ExportKind = "candles" | "news" | "analytics";
export type ExportFormat = "csv" | "parquet";

export interface ExportContext {
  /** Epoch seconds; `to` null: up to now. */
  span: { from: number; to: number | null } | null;
  venue: Venue | null;
  /** The resolution the chart shows ("1m"), null before the first load. */
  resolution: string | null;
}

/** The export URL of `kind` for the context (null when it cannot be built, e.g. no venue for candles). */
export function exportUrl(kind: ExportKind, format: ExportFormat, ctx: ExportContext): string | null {
  const span = ctx.span;
  if (!span) return null;
  const q = new URLSearchParams();
  if (kind === "candles") {
    if (!ctx.venue || !ctx.resolution || !EXPORT_RESOLUTIONS.includes(ctx.resolution)) return null;
    q.set("venue", ctx.venue.venue);
    q.set("symbol", ctx.venue.symbol);
    q.set("resolution", ctx.resolution);
  }
  q.set("from", isoParam(span.from));
  if (span.to !== null) q.set("to", isoParam(span.to));
  if (kind === "analytics") q.set("replay", String(Boolean(ctx.venue?.replay)));
  q.set("format", format);
  return `/api/v1/export/${kind}?${q.toString()}`;
}

function spanText(span: { from: number; to: number | null }): string {
  const to = span.to === null ? t("export_now") : formatDateTime(new Date(span.to * 1000));
  return `${formatDateTime(new Date(span.from * 1000))} → ${to}`;
}

const LINKS: readonly { id: string; kind: ExportKind; format: ExportFormat; label: Parameters<typeof t>[0] }[] = [
  { id: "export-candles-csv", kind: "candles", format: "csv", label: "export_candles_csv" },
  { id: "export-candles-parquet", kind: "candles", format: "parquet", label: "export_candles_parquet" },
  { id: "export-news-csv", kind: "news", format: "csv", label: "export_news_csv" },
  { id: "export-index-csv", kind: "analytics", format: "csv", label: "export_index_csv" },
];

function link(id: string, href: string, label: string): HTMLAnchorElement {
  return el("a", { href, download: "", "data-testid": id, rel: "nofollow" }, label);
}

export class ExportLinks {
  private readonly list = byTestId<HTMLUListElement>("export-links");
  private readonly range = byTestId("export-range");
  private readonly news = byTestId("news-export");

  constructor(private readonly context: () => ExportContext) {}

  render(): void {
    const ctx = this.context();
    const items: HTMLLIElement[] = [];
    for (const l of LINKS) {
      const href = exportUrl(l.kind, l.format, ctx);
      if (href) items.push(el("li", {}, link(l.id, href, t(l.label))));
    }
    this.list.replaceChildren(...items);
    this.range.textContent = ctx.span ? tf("export_range", { span: spanText(ctx.span) }) : "";
    const newsHref = exportUrl("news", "csv", ctx);
    this.news.replaceChildren(
      ...(newsHref && ctx.span
        ? [
            el("span", {}, t("export_label")),
            link("news-export-csv", newsHref, t("export_news_csv")),
            el("span", {}, tf("export_range", { span: spanText(ctx.span) })),
          ]
        : []),
    );
  }
}
