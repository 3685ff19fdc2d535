"""REST API v1 (read-only, public)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, BeforeValidator

from btcpulse.analytics.sentiment import model_version
from btcpulse.store import queries
from btcpulse.store.db import Store
from btcpulse.timeutil import utcnow


class Problem(BaseModel):
    """Why a request was refused: FastAPI's validation errors (a list) or a sentence."""

    detail: str | list[dict[str, Any]]


# Documented on every route, so that the schema says what the API answers (found by fuzzing).
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": Problem, "description": "Invalid parameters; the reason in `detail`"},
    429: {"model": Problem, "description": "Too many requests from this client (Retry-After)"},
}
router = APIRouter(prefix="/api/v1", responses=ERRORS)
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _iso_only(value: object) -> object:
    """A time is ISO 8601 text: a bare number (which pydantic would read as Unix seconds) is
    refused, as the schema (``format: date-time``) says."""
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        raise ValueError("an ISO 8601 time is expected, not a number")
    return value


Time = Annotated[
    datetime | None,
    Query(description="ISO 8601 time with a UTC offset, e.g. 2026-01-01T00:00Z"),
    BeforeValidator(_iso_only),
]


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


# Times the API answers for: a range's defaults (``to`` minus a day...) stay representable
# (year 1 or 9999 made them overflow: a 500, found by fuzzing).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def require_aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"{name!r} needs a UTC offset (e.g. 'Z' or '+00:00')")
    if value is not None and not EARLIEST <= value < LATEST:
        raise HTTPException(422, f"{name!r} must be between 1970-01-01 and 9999-01-01 (UTC)")
    return value


@router.get("/venues", summary="Venues with candles, replay ones flagged")
def get_venues(request: Request) -> dict[str, Any]:
    with store_of(request).read() as conn:
        return {"venues": queries.venues(conn)}


@router.get(
    "/candles",
    summary="OHLCV candles; the resolution keeps the answer ≤ ~2,000 points",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}}},
)
def get_candles(
    request: Request,
    venue: str,
    symbol: str = "BTC-USD",
    from_: Annotated[Time, Query(alias="from")] = None,
    to: Time = None,
) -> Response:
    hi_t = require_aware("to", to) or utcnow()
    lo_t = require_aware("from", from_)
    with store_of(request).read() as conn:
        seq = queries.last_seq(conn)
        if lo_t is None:
            first = queries.first_candle(conn, venue, symbol)
            lo = first if first is not None else int((hi_t - timedelta(days=1)).timestamp())
        else:
            lo = int(lo_t.timestamp())
        hi = int(hi_t.timestamp()) + 1
        if hi <= lo:
            raise HTTPException(422, "'from' must be before 'to'")
        res, df = queries.candles(conn, venue, symbol, lo, hi)
    head = {
        "venue": venue,
        "symbol": symbol,
        "resolution": queries.resolution_name(res),
        "resolution_s": res,
        "replay": venue.startswith("replay:"),
        "seq": seq,
    }
    # Up to 2,000 candles: written by polars in one go, not as 2,000 dicts for FastAPI to
    # validate and encode (≈ 9 of the ≈ 20 ms of CPU a 1,441-candle answer took with them).
    rows = df.select(
        pl.col("start").alias("t"),
        "open",
        "high",
        "low",
        "close",
        "volume",
        # = analytics.candles.vwap: None without volume
        pl.when(pl.col("volume") > 0).then(pl.col("quote_volume") / pl.col("volume")).alias("vwap"),
        "trades",
    ).write_json()
    body = json.dumps(head, separators=(",", ":"))[:-1] + ',"candles":' + rows + "}"
    return Response(body, media_type="application/json")


@router.get("/news", summary="Latest news with sentiment, newest first")
def get_news(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    from_: Annotated[Time, Query(alias="from")] = None,
    to: Time = None,
    source: str | None = None,
    topic: Annotated[str | None, Query(description="Only articles with this topic")] = None,
    relevant: Annotated[
        bool | None, Query(description="true: only articles about Bitcoin; false: only others")
    ] = None,
    sentiment: Annotated[
        Literal["positive", "negative", "neutral"] | None,
        Query(description="Only articles with this sentiment"),
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Words that must all appear in the title or summary"),
    ] = None,
    replay: Annotated[
        bool | None, Query(description="true: only replayed articles; false: only live ones")
    ] = None,
) -> dict[str, Any]:
    with store_of(request).read() as conn:
        seq = queries.last_seq(conn)
        items = queries.news(
            conn,
            model_version=model_version(request.app.state.settings.sentiment_model),
            limit=limit,
            lo=require_aware("from", from_),
            hi=require_aware("to", to),
            source=source,
            topic=topic,
            relevant=relevant,
            sentiment=sentiment,
            text=q,
            replay=replay,
        )
    return {"items": items, "seq": seq}


@router.get("/news/sources", summary="Sources with articles in the store, with their counts")
def get_news_sources(request: Request) -> dict[str, Any]:
    with store_of(request).read() as conn:
        return {"sources": queries.news_sources(conn)}


@router.get(
    "/news/{article_id}",
    summary="One article, with its full text (plain text) when the article page was fetched",
    description="``body`` is text extracted from a web page: untrusted, to be shown as text.",
    responses={404: {"model": Problem, "description": "No such article"}},
)
def get_article(request: Request, article_id: str) -> dict[str, Any]:
    with store_of(request).read() as conn:
        found = queries.news(
            conn,
            model_version=model_version(request.app.state.settings.sentiment_model),
            limit=1,
            article_id=article_id,
        )
        body = queries.news_body(conn, article_id) if found else None
    if not found:
        raise HTTPException(404, "no such article")
    return {**found[0], "body": body or ""}


@router.get("/stories", summary="Stories across outlets, latest first, with their source count")
def get_stories(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    min_sources: Annotated[int, Query(ge=1, le=100)] = 1,
) -> dict[str, Any]:
    with store_of(request).read() as conn:
        return {"stories": queries.stories(conn, limit=limit, min_sources=min_sources)}


@router.get("/health", summary="Every source, the engine and the error count")
def get_health(request: Request) -> dict[str, Any]:
    with store_of(request).read() as conn:
        return queries.health(conn)


@router.get("/errors", summary="Latest dead letters with their reasons")
def get_errors(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    with store_of(request).read() as conn:
        return {"errors": queries.errors(conn, limit)}


@router.get(
    "/updates",
    summary="Updates after a sequence number (catch-up after reconnect)",
    description="``last_seq`` is the newest update overall; page with the last ``seq`` received"
    " until a page is empty. If ``since < first_seq - 1`` older updates were pruned: reload.",
)
def get_updates(
    request: Request,
    since: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # beyond: no 64-bit seq (500 before)
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    with store_of(request).read() as conn:
        ups = queries.updates_since(conn, since, limit)
        top = queries.last_seq(conn)
        first = queries.first_seq(conn)  # read last: a prune in between is then seen
    # ``first_seq``: the oldest update still kept; a client behind it must reload instead.
    return {"updates": ups, "first_seq": first, "last_seq": top}
