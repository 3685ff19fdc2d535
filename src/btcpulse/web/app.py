"""The FastAPI app factory. Nothing happens at import time: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import structlog
from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from btcpulse import __version__
from btcpulse.bus.embedded import EmbeddedLog
from btcpulse.config import Settings
from btcpulse.store.db import Store
from btcpulse.store.queries import last_seq
from btcpulse.web.api import router
from btcpulse.web.api_admin import router as admin_router
from btcpulse.web.api_derived import router as derived_router
from btcpulse.web.api_export import router as export_router
from btcpulse.web.live import Broadcaster, Hub
from btcpulse.web.metrics import WebMetrics
from btcpulse.web.security import install as install_hardening

STATIC = Path(__file__).with_name("static")
log = structlog.get_logger("web")


async def _keep_running(make: Callable[[], Awaitable[None]], name: str) -> None:
    while True:
        try:
            await make()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # restart the task after any failure
            log.error("task.failed", task=name, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(1.0)


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.from_settings(settings)
        app.state.store = store
        app.state.settings = settings
        hub = Hub()
        app.state.hub = hub
        app.state.metrics = WebMetrics(store, hub)
        broadcaster = Broadcaster(settings, store, hub)
        task = asyncio.create_task(_keep_running(broadcaster.run, "broadcaster"))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            store.dispose()

    app = FastAPI(
        title="btcpulse",
        version=__version__,
        description="Real-time Bitcoin news and price analytics. Reads are public.",
        lifespan=lifespan,
    )
    app.include_router(router)
    app.include_router(derived_router)
    app.include_router(admin_router)
    app.include_router(export_router)

    install_hardening(app, settings)  # security headers, CORS, rate limits, HEAD

    @app.get("/livez", include_in_schema=False)
    def livez() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            checks["store"] = "ok" if request.app.state.store.schema_is_current() else "old schema"
        except SQLAlchemyError as exc:
            checks["store"] = f"unreachable: {type(exc).__name__}"
        try:
            if settings.mode == "distributed":
                from btcpulse.bus.kafka import KafkaBus

                KafkaBus.from_settings(settings).ping(timeout=2.0)
            else:
                EmbeddedLog(settings.resolved_bus_path)
            checks["bus"] = "ok"
        except Exception as exc:
            checks["bus"] = f"unreachable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        data = generate_latest(request.app.state.metrics.registry)
        return Response(data, media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        app_ = websocket.app

        def read_seq() -> int:
            with app_.state.store.read() as conn:
                return last_seq(conn)

        async def hello() -> dict[str, object]:
            return {"type": "hello", "seq": await asyncio.to_thread(read_seq)}

        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await app_.state.hub.serve(websocket, hello)

    if (STATIC / "index.html").exists():
        app.mount(
            "/assets", StaticFiles(directory=STATIC / "assets", check_dir=False), name="assets"
        )

        @app.get("/", include_in_schema=False)
        def index() -> FileResponse:
            return FileResponse(STATIC / "index.html")
    else:

        @app.get("/", include_in_schema=False)
        def no_frontend() -> JSONResponse:
            return JSONResponse(
                {"error": "the dashboard is not built; run `make frontend`"}, status_code=503
            )

    return app
