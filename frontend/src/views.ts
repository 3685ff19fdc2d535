// Top-level navigation between the dashboard's views (?view=… in the URL).
import { VIEWS, type ViewKey } from "./types";
import { writeUrlState } from "./url";

export class ViewNav {
  private current: ViewKey;
  private readonly links = [...document.querySelectorAll<HTMLAnchorElement>("a[data-view]")];
  private readonly sections = [...document.querySelectorAll<HTMLElement>("main.view[data-view]")];

  /** Called after a view was shown (also for the first one). */
  onShow: (view: ViewKey) => void = () => {};

  constructor(initial: ViewKey) {
    this.current = initial;
    for (const a of this.links) {
      a.addEventListener("click", (ev) => {
        if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return; // new tab: let it be
        ev.preventDefault();
        const v = a.dataset.view as ViewKey;
        if ((VIEWS as readonly string[]).includes(v)) this.show(v);
      });
    }
  }

  get view(): ViewKey {
    return this.current;
  }

  show(view: ViewKey): void {
    this.current = view;
    writeUrlState({ view: view === "overview" ? null : view });
    this.render();
    window.scrollTo({ top: 0 });
    this.onShow(view);
  }

  /** Mark the current view (and keep each nav link's href carrying the whole page state). */
  render(): void {
    for (const s of this.sections) s.hidden = s.dataset.view !== this.current;
    const params = new URLSearchParams(window.location.search);
    for (const a of this.links) {
      const v = a.dataset.view ?? "overview";
      if (a.classList.contains("nav-link")) {
        if (v === this.current) a.setAttribute("aria-current", "page");
        else a.removeAttribute("aria-current");
      }
      const p = new URLSearchParams(params);
      if (v === "overview") p.delete("view");
      else p.set("view", v);
      a.href = `?${p.toString()}`;
    }
  }
}
