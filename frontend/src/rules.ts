// Alert rules form: GET /api/v1/alerts/rules, edited one per line, saved with PUT and the admin
// token (Authorization: Bearer). The token is kept in sessionStorage only, never in the URL.
import { ApiError, fetchRules, saveRules } from "./api";
import { byTestId } from "./dom";
import { formatDateTime, parseIso, t, tf, type MessageKey } from "./i18n";
import type { AlertRules } from "./types";

const SS_TOKEN = "btcpulse.adminToken";

function sessionGet(): string {
  try {
    return window.sessionStorage.getItem(SS_TOKEN) ?? "";
  } catch {
    return "";
  }
}
function sessionSet(token: string | null): void {
  try {
    if (token) window.sessionStorage.setItem(SS_TOKEN, token);
    else window.sessionStorage.removeItem(SS_TOKEN);
  } catch {
    // no session storage: the token is typed again next time
  }
}

type Message = { kind: "ok" | "error" | "info"; key: MessageKey; vars?: Record<string, string | number> };

export class RulesForm {
  private rules: AlertRules | null = null;
  private message: Message | null = null;
  private loadFailed = false;
  private saving = false;
  private readonly form = byTestId<HTMLFormElement>("rules-form");
  private readonly text = byTestId<HTMLTextAreaElement>("rules-text");
  private readonly token = byTestId<HTMLInputElement>("admin-token");
  private readonly save = byTestId<HTMLButtonElement>("rules-save");
  private readonly meta = byTestId("rules-meta");
  private readonly msg = byTestId("rules-message");

  constructor() {
    this.token.value = sessionGet();
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.submit();
    });
    byTestId("forget-token").addEventListener("click", () => {
      this.token.value = "";
      sessionSet(null);
    });
  }

  async load(): Promise<void> {
    try {
      this.rules = await fetchRules();
      this.loadFailed = false;
      this.text.value = (Array.isArray(this.rules.rules) ? this.rules.rules : []).join("\n");
    } catch {
      this.loadFailed = true;
    }
    this.render();
  }

  private async submit(): Promise<void> {
    const token = this.token.value.trim();
    if (!token) {
      this.message = { kind: "error", key: "token_required" };
      this.render();
      this.token.focus();
      return;
    }
    const rules = this.text.value
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.length > 0);
    this.saving = true;
    this.message = { kind: "info", key: "rules_saving" };
    this.render();
    try {
      this.rules = await saveRules(rules, token);
      sessionSet(token);
      this.text.value = (Array.isArray(this.rules.rules) ? this.rules.rules : rules).join("\n");
      this.message = { kind: "ok", key: "rules_saved" };
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      const detail = err instanceof ApiError && err.detail ? err.detail : String(err instanceof Error ? err.message : err);
      if (status === 401 || status === 403) sessionSet(null); // a refused token is not kept
      this.message = { kind: "error", key: "rules_error", vars: { status: status || "—", detail } };
    } finally {
      this.saving = false;
      this.render();
    }
  }

  render(): void {
    const r = this.rules;
    if (this.loadFailed) {
      this.meta.textContent = t("rules_load_error");
    } else if (r) {
      const parts = [t(r.origin === "store" ? "rules_origin_store" : "rules_origin_settings")];
      const d = parseIso(r.updated_at);
      if (d) parts.push(tf("rules_updated", { time: formatDateTime(d) }));
      if (!r.writable) parts.push(t("rules_read_only"));
      this.meta.textContent = parts.join(" · ");
      this.meta.dataset.origin = String(r.origin);
      this.meta.dataset.writable = String(Boolean(r.writable));
    }
    this.save.disabled = this.saving;
    const m = this.message;
    this.msg.hidden = m === null;
    this.msg.dataset.kind = m?.kind ?? "";
    this.msg.textContent = m ? (m.vars ? tf(m.key, m.vars) : t(m.key)) : "";
  }
}
