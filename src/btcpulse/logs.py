"""Logging setup (structlog), called by the CLI entry points — never at import time.

Every record goes to stderr (JSON with ``BTCPULSE_LOG_JSON=true``). Warnings and errors are
also kept in the store's ``logs`` table, as the client asked: a background thread writes them
in small batches, so a slow or unreachable database never blocks the process that logs (what
cannot be written is retried, and past a bound counted and dropped, never raised). Values
under secret-looking keys are redacted before anything is rendered or stored.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import structlog

from btcpulse.timeutil import utcnow

if TYPE_CHECKING:
    from btcpulse.config import Settings
    from btcpulse.store.db import Store

STORED_LEVELS = {"warning", "error", "critical"}
SECRET_KEY = re.compile(r"token|password|passwd|secret|authorization|api_?key|credential", re.I)
REDACTED = "[redacted]"
_BASE_KEYS = {"event", "level", "timestamp", "logger", "exc_info"}


class NamedPrintLogger(structlog.PrintLogger):
    """A PrintLogger that remembers the name it was asked for (``get_logger("engine")``)."""

    def __init__(self, name: str) -> None:
        super().__init__(sys.stderr)
        self.name = name


def _named_logger(*args: Any) -> NamedPrintLogger:
    return NamedPrintLogger(str(args[0]) if args else "")


def _add_logger_name(logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    name = getattr(logger, "name", "")
    if name:
        event.setdefault("logger", name)
    return event


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """Secret-looking keys never reach a log line or the logs table."""
    for key in list(event):
        if key != "event" and SECRET_KEY.search(key):
            event[key] = REDACTED
    return event


class StoreLogSink:
    """A structlog processor (and stdlib handler target) keeping warnings and errors in the
    store's ``logs`` table. ``open_store`` is called lazily, on the first record, in the
    writer thread: a process that never warns never connects."""

    def __init__(
        self,
        open_store: Callable[[], Store],
        component: str,
        *,
        max_pending: int = 10_000,
        flush_every_s: float = 0.5,
    ) -> None:
        self.open_store = open_store
        self.component = component[:100]
        self.max_pending = max_pending
        self.flush_every_s = flush_every_s
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._pending: list[dict[str, Any]] = []
        self._store: Store | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._idle = threading.Condition()
        self._complained = False

    # -- producing records -------------------------------------------------------------------
    def __call__(self, _logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        level = "error" if method in ("exception", "critical") else method
        if level in STORED_LEVELS and not self._in_writer():
            fields = {k: v for k, v in event.items() if k not in _BASE_KEYS}
            if event.get("exc_info"):
                fields["exception"] = traceback.format_exc(limit=20)
            self.put(level, str(event.get("logger", "")), str(event.get("event", "")), fields)
        return event

    def put(self, level: str, logger: str, event: str, fields: dict[str, Any]) -> None:
        record = {
            "id": uuid.uuid4().hex,
            "time": utcnow(),
            "level": level,
            "component": self.component,
            "logger": logger[:100],
            "event": event[:4000],
            "fields": json.dumps(fields, default=str, sort_keys=True)[:20_000],
        }
        self._queue.put(record)
        self._ensure_thread()

    def _in_writer(self) -> bool:
        return threading.current_thread() is self._thread

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="log-sink", daemon=True)
                self._thread.start()
                atexit.register(self.flush, 3.0)

    # -- writing them --------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                self._pending.append(self._queue.get(timeout=self.flush_every_s))
            except queue.Empty:
                pass
            while True:
                try:
                    self._pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if self._pending and not self._write():
                time.sleep(1.0)  # the store is down: keep the records, try again
            with self._idle:
                if not self._pending and self._queue.empty():
                    self._idle.notify_all()

    def _write(self) -> bool:
        from btcpulse.store import schema as t

        if len(self._pending) > self.max_pending:
            excess = len(self._pending) - self.max_pending
            del self._pending[:excess]
            self.dropped += excess
        try:
            if self._store is None:
                self._store = self.open_store()
            with self._store.begin() as conn:
                conn.execute(t.logs.insert(), self._pending)
        except Exception as exc:  # never raised into the process that logs
            if not self._complained:
                self._complained = True
                print(f"btcpulse: cannot keep logs in the store ({exc})", file=sys.stderr)
            return False
        self.written += len(self._pending)
        self._pending = []
        self._complained = False
        return True

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every record so far is written (or ``timeout``); True when it is."""
        if self._thread is None:
            return True
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending or not self._queue.empty():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.2))
        return True


class _StdlibHandler(logging.Handler):
    """Library warnings (uvicorn, SQLAlchemy, Scrapy...) also reach the logs table."""

    def __init__(self, sink: StoreLogSink) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if self.sink._in_writer():
            return
        fields: dict[str, Any] = {}
        if record.exc_info:
            fields["exception"] = "".join(traceback.format_exception(*record.exc_info))
        try:
            message = record.getMessage()
        except Exception:  # a malformed library log call
            message = str(record.msg)
        self.sink.put(record.levelname.lower(), record.name, message, fields)


def configure(
    level: str = "INFO", json_logs: bool = False, sink: StoreLogSink | None = None
) -> None:
    lvl = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=lvl, format="%(message)s")
    for noisy in ("alembic", "httpx", "httpcore", "websockets"):
        logging.getLogger(noisy).setLevel(max(lvl, logging.WARNING))
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    if sink is not None:
        processors.append(sink)
        root = logging.getLogger()
        root.handlers = [h for h in root.handlers if not isinstance(h, _StdlibHandler)]
        root.addHandler(_StdlibHandler(sink))
    if json_logs:
        processors.append(structlog.processors.format_exc_info)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=_named_logger,
        cache_logger_on_first_use=True,
    )


def component_name() -> str:
    """The running command, e.g. ``collect news`` or ``spark job`` (``btcpulse`` outside one)."""
    from typer._click.globals import get_current_context  # typer vendors click

    ctx = get_current_context(silent=True)
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(reversed(names)) or "btcpulse"


def store_sink(settings: Settings) -> StoreLogSink:
    """The sink of a CLI process: its own connection to the store, opened on first use."""

    def open_store() -> Store:
        from btcpulse.store.db import Store

        return Store.from_settings(settings)

    return StoreLogSink(open_store, component_name())
