"""REST API v1 for the derived analytics (read-only, public)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, HTTPException, Query, Request

from btcpulse.analytics.bursts import DEFAULT_RESOLUTIONS
from btcpulse.analytics.market import returns_and_volatility
from btcpulse.analytics.sentiment import model_version
from btcpulse.store import derived_queries as q
from btcpulse.store import queries as candle_queries
from btcpulse.timeutil import utcnow
from btcpulse.web.api import ERRORS, Time, require_aware, store_of

router = APIRouter(prefix="/api/v1", responses=ERRORS)
Replay = Annotated[bool, Query(description="Replayed data instead of live data")]


def _range(lo: datetime | None, hi: datetime | None, default: timedelta) -> tuple[int, int]:
    end = require_aware("to", hi) or utcnow()
    start = require_aware("from", lo) or end - default
    return int(start.timestamp()), int(end.timestamp()) + 1


@router.get("/bursts", summary="Topic volumes against their trailing baseline (z-scores)")
def get_bursts(
    request: Request,
    replay: Replay = False,
    resolution_s: Annotated[int, Query(description="Window length: 900 or 3600 seconds")] = 3600,
    min_z: float = -1e9,
    from_: Annotated[Time, Query(alias="from")] = None,
    to: Time = None,
) -> dict[str, Any]:
    if resolution_s not in DEFAULT_RESOLUTIONS:
        raise HTTPException(422, f"resolution_s must be one of {list(DEFAULT_RESOLUTIONS)}")
    lo, hi = _range(from_, to, timedelta(days=2))
    with store_of(request).read() as conn:
        rows = q.bursts(conn, replay=replay, resolution_s=resolution_s, lo=lo, hi=hi, min_z=min_z)
    return {"resolution_s": resolution_s, "bursts": rows}


@router.get("/index", summary="The 0-100 sentiment index, its components and what moved it")
def get_index(
    request: Request,
    replay: Replay = False,
    from_: Annotated[Time, Query(alias="from")] = None,
    to: Time = None,
) -> dict[str, Any]:
    lo, hi = _range(from_, to, timedelta(days=1))
    version = model_version(request.app.state.settings.sentiment_model)
    with store_of(request).read() as conn:
        series = q.index_series(conn, replay=replay, lo=lo, hi=hi, model_version=version)
        latest = q.index_latest(conn, replay=replay, model_version=version)
    step = max(1, len(series) // 2000 + (len(series) % 2000 > 0))
    return {"latest": latest, "series": series[::step]}


@router.get("/impact", summary="Average price move 1 m / 5 m / 1 h after news, by topic or source")
def get_impact(
    request: Request,
    replay: Replay = False,
    by: Annotated[Literal["topic", "source"], Query()] = "topic",
) -> dict[str, Any]:
    with store_of(request).read() as conn:
        return {"by": by, "rows": q.impact(conn, replay=replay, by=by)}


@router.get("/alerts", summary="Alerts fired by the rules (index crossings, bursts, price moves)")
def get_alerts(
    request: Request,
    replay: Annotated[bool | None, Query(description="Only replay (true) or live (false)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    with store_of(request).read() as conn:
        return {"alerts": q.alerts(conn, replay=replay, limit=limit)}


@router.get(
    "/volatility",
    summary="Log returns and realised volatility of a venue's candles (composite: venue=composite)",
)
def get_volatility(
    request: Request,
    venue: str,
    symbol: str = "BTC-USD",
    window: Annotated[int, Query(ge=2, le=1440, description="Candles per volatility window")] = 60,
    from_: Annotated[Time, Query(alias="from")] = None,
    to: Time = None,
) -> dict[str, Any]:
    lo, hi = _range(from_, to, timedelta(days=1))
    with store_of(request).read() as conn:
        # read `window` extra candles before the range so its first points have a full window
        res, df = candle_queries.candles(conn, venue, symbol, lo, hi)
        if not df.is_empty():
            _, df = candle_queries.candles(conn, venue, symbol, lo - window * res, hi)
    out = returns_and_volatility(df.filter(pl.col("resolution_s") == res), window=window)
    out = out.filter(pl.col("start") >= lo)
    return {
        "venue": venue,
        "symbol": symbol,
        "resolution_s": res,
        "window": window,
        "points": [
            {
                "t": r["start"],
                "ret": r["ret"],
                "realised_vol": r["realised_vol"],
                "realised_vol_annualised": r["realised_vol_annualised"],
            }
            for r in out.iter_rows(named=True)
        ],
    }
