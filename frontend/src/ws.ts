// WebSocket live feed with reconnect (1 s → 10 s backoff) and REST catch-up.
//
// Sequence handling:
// - first connection: the `hello` seq becomes the last seq seen (the REST
//   loads done just before are the baseline);
// - reconnection: live messages are held back while /api/v1/updates?since=
//   is read page by page, the pages are applied in seq order, then the held
//   messages; anything with seq <= the last applied seq is dropped.
import { fetchUpdates } from "./api";
import { isFiniteNumber } from "./dom";
import type { Update } from "./types";

export type FeedState = "open" | "closed";

export interface FeedHandlers {
  onUpdate(update: Update): void;
  onState(state: FeedState): void;
  /** The feed could not be replayed (server restarted or catch-up failed): reload everything. */
  onResync(): void;
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
    (m.kind === "candle" || m.kind === "news") &&
    typeof m.data === "object" &&
    m.data !== null
  );
}

export function wsUrl(loc: Location = window.location): string {
  const proto = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${loc.host}/ws`;
}

export class LiveFeed {
  private ws: WebSocket | null = null;
  private connId = 0;
  private backoff = MIN_BACKOFF_MS;
  private reconnectTimer: number | undefined;
  /** Highest seq applied (null until the first hello). */
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

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.reconnectTimer);
    this.ws?.close();
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
      this.backoff = MIN_BACKOFF_MS;
      this.onHello(id, m.seq);
    } else if (isUpdate(msg)) {
      if (this.live) this.apply(msg);
      else this.held.push(msg);
    }
  }

  private onHello(id: number, seq: number): void {
    if (this.lastSeq === null) {
      this.lastSeq = seq;
      this.goLive();
      return;
    }
    if (seq < this.lastSeq) {
      // The server's sequence went backwards (restart): our seq is meaningless now.
      this.lastSeq = seq;
      this.handlers.onResync();
      this.goLive();
      return;
    }
    this.catchUpChain = this.catchUpChain.then(() => this.catchUp(id, seq));
  }

  private async catchUp(id: number, target: number): Promise<void> {
    if (id !== this.connId) return; // superseded by a newer connection
    try {
      let complete = false;
      for (let page = 0; page < MAX_PAGES && !complete; page++) {
        const since = this.lastSeq ?? target;
        if (since >= target && page > 0) {
          complete = true;
          break;
        }
        const res = await fetchUpdates(since, PAGE_LIMIT);
        if (id !== this.connId) return;
        const updates = res.updates.filter(isUpdate).sort((a, b) => a.seq - b.seq);
        for (const u of updates) this.apply(u);
        // A short (or empty) page means we have everything the server had.
        if (updates.length < PAGE_LIMIT) complete = true;
      }
      if (this.lastSeq === null || this.lastSeq < target) this.lastSeq = target;
      if (!complete) this.handlers.onResync(); // too far behind to replay: reload instead
    } catch {
      if (id !== this.connId) return;
      this.lastSeq = Math.max(this.lastSeq ?? target, target);
      this.handlers.onResync();
    }
    this.goLive();
  }

  private goLive(): void {
    const held = this.held.sort((a, b) => a.seq - b.seq);
    this.held = [];
    for (const u of held) this.apply(u);
    this.live = true;
  }

  private apply(u: Update): void {
    if (this.lastSeq !== null && u.seq <= this.lastSeq) return;
    this.lastSeq = u.seq;
    this.handlers.onUpdate(u);
  }
}
