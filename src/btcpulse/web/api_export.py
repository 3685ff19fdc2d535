"""``GET /api/v1/export/{candles,news,analytics}``: a range as CSV or Parquet, streamed."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from btcpulse.analytics.candles import RESOLUTION_NAMES
from btcpulse.analytics.sentiment import model_version
from btcpulse.store.export import ExportQuery, Format, Kind, stream
from btcpulse.timeutil import utcnow
from btcpulse.web.api import ERRORS, Time, require_aware, store_of

router = APIRouter(prefix="/api/v1", responses=ERRORS)
MEDIA = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
BY_NAME = {name: res for res, name in RESOLUTION_NAMES.items()}
# A header is Latin-1 and a quoted filename must not hold quotes: a venue such as "ā" made the
# Content-Disposition header fail (a 500, found by fuzzing). Anything else becomes "_".
_NOT_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def resolution_seconds(value: str) -> int:
    """``1m`` or ``60`` → 60; a clear error for anything not stored."""
    res = BY_NAME.get(value) or (int(value) if value.isdigit() else 0)
    if res not in RESOLUTION_NAMES:
        raise ValueError(f"resolution {value!r} is not stored; use one of {', '.join(BY_NAME)}")
    return res


@router.get(
    "/export/{kind}",
    summary="Export a range of candles, news or the sentiment index as CSV or Parquet",
    description=(
        "Streamed: memory stays flat whatever the range. ``from``/``to`` default to the last "
        "24 hours. Candles need ``venue``; ``resolution`` is one of 1s, 5s, 1m, 5m, 15m, 1h, "
        "4h, 1d (default 1m). ``analytics`` is the sentiment index and its components, one row "
        "per minute."
    ),
    response_class=StreamingResponse,
    responses={200: {"content": {MEDIA["csv"]: {}, MEDIA["parquet"]: {}}}},
)
def export(
    request: Request,
    kind: Kind,
    from_: Annotated[Time, Query(alias="from")] = None,
    to: Time = None,
    format: Format = "csv",
    venue: Annotated[str | None, Query(max_length=64)] = None,
    symbol: Annotated[str, Query(max_length=32)] = "BTC-USD",
    resolution: str = "1m",
    replay: bool = False,
) -> StreamingResponse:
    hi_t = require_aware("to", to) or utcnow()
    lo_t = require_aware("from", from_) or hi_t - timedelta(days=1)
    if hi_t <= lo_t:
        raise HTTPException(422, "'from' must be before 'to'")
    if kind == "candles" and not venue:
        raise HTTPException(422, "candles need a venue (see /api/v1/venues)")
    try:
        res = resolution_seconds(resolution)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    q = ExportQuery(
        kind=kind,
        lo=int(lo_t.timestamp()),
        hi=int(hi_t.timestamp()) + 1,
        venue=venue,
        symbol=symbol,
        resolution_s=res,
        replay=replay,
        model_version=model_version(request.app.state.settings.sentiment_model),
    )
    return StreamingResponse(
        stream(store_of(request), q, format),
        media_type=MEDIA[format],
        headers={
            "Content-Disposition": "attachment; filename="
            f'"{_NOT_IN_FILENAME.sub("_", q.filename(format))}"'
        },
    )
