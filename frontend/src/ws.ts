// WebSocket live feed with reconnect (1 s → 10 s backoff) and REST catch-up.
//
// Sequence handling (every update carries the store's `seq`):
// - the page starts from its REST snapshots: `start(baseline)` gets the smallest `seq` they
//   were read at, so nothing committed between those reads and the socket is missed;
// - on every connection (the first one and each reconnect) live messages are held back from
//   the server's `hello` on, while /api/v1/updates?since=<last applied seq> is read page by
//   page and applied in seq order; then the held messages are applied and the feed is live;
// - anything with seq <= the last applied seq is dropped (duplicates are harmless anyway:
//   updates are idempotent keyed snapshots);
// - if the server pruned what we need (`since < first_seq - 1`), is too far ahead to replay,
//   or its sequence went backwards (store reset), every REST snapshot is reloaded instead
//   (`onResync`) and the catch-up goes on from the fresh snapshots' seq;
// - if catching up fails (network, server error, failed reload) the socket is closed and the
//   whole thing is retried after the backoff; the last applied seq is kept, so nothing is lost.
//
// Catch-up starts on `hello`, not on the socket's `open`: the server registers the client
// before it reads the hello seq, so every update after it is queued for us.
import { fetchUpdates } from "./api";
import { isFiniteNumber } from "./dom";
import { UPDATE_KINDS, type Update } from "./types";

export type FeedState = "open" | "closed";

export interface FeedHandlers {
  onUpdate(update: Update): void;
  onState(state: FeedState): void;
  /**
   * The feed cannot be replayed: reload every REST snapshot. Resolves with the smallest `seq`
   * of the fresh snapshots (null when the server gave none); rejects when a load failed.
   */
  onResync(): Promise<number | null>;
}

const MIN_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 10_000;
const PAGE_LIMIT = 1000;
const MAX_PAGES = 200;

function isUpdate(msg: unknown): msg is Update {
  if (typeof msg !== "object" || msg === null) return false;
  const m = msg as Record<string, unknown>;
  return (
    m.type === "update" &&
    isFiniteNumber(m.seq) &&
    (UPDATE_KINDS as readonly unknown[]).includes(m.kind) &&
    typeof m.data === "object" &&
    m.data !== null
  );
}

export function wsUrl(loc: Location = window.location): string {
  const proto = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${loc.host}/ws`;
}

class Superseded extends Error {}

export class LiveFeed {
  private ws: WebSocket | null = null;
  private connId = 0;
  private backoff = MIN_BACKOFF_MS;
  private reconnectTimer: number | undefined;
  /** Highest seq applied or covered by the REST snapshots (null: unknown). */
  private lastSeq: number | null = null;
  /** False while catching up: live messages are held in `held`. */
  private live = false;
  private held: Update[] = [];
  private catchUpChain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly handlers: FeedHandlers,
    private readonly url: string = wsUrl(),
  ) {}

  get lastAppliedSeq(): number | null {
    return this.lastSeq;
  }

  /**
   * Connect. `baseline` is the smallest `seq` of the REST snapshots the page shows (null when
   * unknown: the feed then starts from the server's hello, missing what came in between).
   */
  start(baseline: number | null = null): void {
    this.stopped = false;
    if (baseline !== null) this.lastSeq = baseline;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.reconnectTimer);
    this.ws?.close();
  }

  private current(id: number): boolean {
    return id === this.connId && !this.stopped;
  }

  private connect(): void {
    const id = ++this.connId;
    this.live = false;
    this.held = [];
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (id === this.connId) this.handlers.onState("open");
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (id !== this.connId || typeof ev.data !== "string") return;
      let msg: unknown;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.onMessage(id, msg);
    };
    ws.onclose = () => {
      if (id !== this.connId) return;
      this.ws = null;
      this.live = false;
      this.held = [];
      this.handlers.onState("closed");
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // A close event always follows; nothing to do here.
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    window.clearTimeout(this.reconnectTimer);
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.reconnectTimer = window.setTimeout(() => this.connect(), delay);
  }

  private onMessage(id: number, msg: unknown): void {
    if (typeof msg !== "object" || msg === null) return;
    const m = msg as Record<string, unknown>;
    if (m.type === "hello" && isFiniteNumber(m.seq)) {
      const target = m.seq;
      this.catchUpChain = this.catchUpChain.then(() => this.catchUp(id, target));
    } else if (isUpdate(msg)) {
      if (this.live) this.apply(msg);
      else this.held.push(msg);
    }
  }

  /** Bring the page up to the server's `target` seq (its hello), then go live. */
  private async catchUp(id: number, target: number): Promise<void> {
    if (!this.current(id)) return;
    try {
      let resynced = false;
      const resync = async (): Promise<void> => {
        if (resynced) throw new Error("still cannot catch up after a reload");
        resynced = true;
        const seq = await this.handlers.onResync();
        if (!this.current(id)) throw new Superseded();
        this.lastSeq = seq ?? target;
      };

      if (this.lastSeq === null) {
        // No snapshot seq (older back end): start from the hello, as nothing better is known.
        this.lastSeq = target;
      } else if (target < this.lastSeq) {
        // The server's sequence went backwards (store reset): our seq means nothing there now.
        await resync();
      }

      for (let page = 0; ; page++) {
        if (page >= MAX_PAGES) {
          await resync(); // too far behind to replay: reload instead
          page = 0;
        }
        const since: number = this.lastSeq ?? target;
        const res = await fetchUpdates(since, PAGE_LIMIT);
        if (!this.current(id)) return;
        if (res.first_seq !== null && since < res.first_seq - 1) {
          await resync(); // updates after `since` were pruned: reload, then go on from there
          continue;
        }
        const updates = res.updates.filter(isUpdate).sort((a, b) => a.seq - b.seq);
        for (const u of updates) this.apply(u);
        // A short (or empty) page means we have everything the server had.
        if (updates.length < PAGE_LIMIT) break;
      }
      if (this.lastSeq === null || this.lastSeq < target) this.lastSeq = target;
      this.goLive();
    } catch (err) {
      if (err instanceof Superseded || !this.current(id)) return;
      // Retry the whole catch-up on a new connection after the backoff; lastSeq is kept.
      this.ws?.close();
    }
  }

  private goLive(): void {
    const held = this.held.sort((a, b) => a.seq - b.seq);
    this.held = [];
    for (const u of held) this.apply(u);
    this.live = true;
    this.backoff = MIN_BACKOFF_MS;
  }

  private apply(u: Update): void {
    if (this.lastSeq !== null && u.seq <= this.lastSeq) return;
    this.lastSeq = u.seq;
    this.handlers.onUpdate(u);
  }
}
