"""Shared by the fuzz tests (``test_fuzz_parsers.py``): nasty values, structure-aware mutation
of recorded documents, generated events, what a valid result is, and the bugs already found."""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from btcpulse.events import AnalyticsUpdate, Bar, DeadLetter, NewsItem, Trade, encode, parse_event

EXAMPLES = int(os.environ.get("BTCPULSE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

# -- nasty values ---------------------------------------------------------------------------------
NASTY_TEXT = [
    "", " ", "0", "-1", "NaN", "Infinity", "1e999999", "1e400", "-0", "0x10", "١٢٣", "²",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2024-02-30T00:00:00Z",
    "2026-01-01T00:00:00", "Sat, 01 Jan 0001 00:00:00 +0100", "Fri, 31 Dec 9999 23:59:59 -1200",
    "/r/Bitcoin/comments/x", "http://", "https://", "https://e.x/" + "a" * 4100,
    "javascript:alert(1)", "<script>alert(1)</script>", "\x00", "\ud800", "a" * 3000, "b" * 300,
]  # fmt: skip
NASTY_JSON: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    10**30,
    -(10**30),
    1e308,
    -1e-308,
    1.5,
    [],
    {},
]
scalar = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.sampled_from(NASTY_JSON),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_value = st.recursive(
    scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner)
)


def _mutate_once(data: st.DataObject, node: Any, depth: int = 0) -> Any:
    """One mutation somewhere under ``node``: replace a value, drop or add a key or element."""
    if not (isinstance(node, dict | list) and node) or depth > 10:
        return data.draw(json_value)
    action = data.draw(st.sampled_from(["down", "down", "down", "replace", "drop", "add"]))
    if action == "replace":
        return data.draw(json_value)
    if isinstance(node, dict):
        key = data.draw(st.sampled_from(sorted(node)))
        if action == "drop":
            del node[key]
        elif action == "add":
            node[data.draw(st.text(max_size=8))] = data.draw(json_value)
        else:
            node[key] = _mutate_once(data, node[key], depth + 1)
    else:
        i = data.draw(st.integers(0, len(node) - 1))
        if action == "drop":
            node.pop(i)
        elif action == "add":
            node.insert(i, data.draw(json_value))
        else:
            node[i] = _mutate_once(data, node[i], depth + 1)
    return node


def mutated_text(data: st.DataObject, text: str) -> str:
    """``text`` (JSON) with 1-3 structural mutations, or cut, or spliced with junk."""
    how = data.draw(st.sampled_from(["json", "json", "json", "cut", "splice"]))
    if how == "json":
        doc = copy.deepcopy(json.loads(text))
        for _ in range(data.draw(st.integers(1, 3))):
            doc = _mutate_once(data, doc)
        return json.dumps(doc)
    at = data.draw(st.integers(0, len(text)))
    if how == "cut":
        return text[:at]
    return text[:at] + data.draw(st.text(max_size=20)) + text[at + data.draw(st.integers(0, 20)) :]


# -- what a valid result is -----------------------------------------------------------------------
def assert_valid_event(ev: Any) -> None:
    """A result event that validates again through the bus (encode → parse) unchanged."""
    assert isinstance(ev, NewsItem | Trade | Bar | AnalyticsUpdate)
    again = parse_event(encode(ev))
    assert again == ev, getattr(again, "reason", again)


def assert_rejection(letter: Any) -> None:
    assert isinstance(letter, DeadLetter) and letter.reason.strip() and letter.stage


def check(items: list[Any], letters: list[Any]) -> None:
    for item in items:
        assert_valid_event(item)
    for letter in letters:
        assert_rejection(letter)


# -- bugs the fuzz tests found in code they do not own --------------------------------------------
# A bug found in code the fuzz tests do not own goes here while it is open (a name, and how to
# recognise its exception): the properties then tolerate it (as a hypothesis event: a run says
# how often) and go on hunting for new ones, and a reproducer in ``test_fuzz_parsers.py`` pins it.
# The 14 found so far are fixed (tests/RELIABILITY.md, "Fuzzing"; their inputs are regression
# cases in ``test_inputs_the_fuzzer_broke_are_used_or_refused``): none is open.
KNOWN_BUGS: dict[str, Callable[[BaseException], bool]] = {}


@contextlib.contextmanager
def tolerating_known_bugs() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        name = next((n for n, matches in KNOWN_BUGS.items() if matches(exc)), None)
        if name is None:
            raise
        event(f"known bug: {name}")


def tolerant(test: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        with tolerating_known_bugs():
            test(*args, **kwargs)

    return run


# -- events ---------------------------------------------------------------------------------------
offset = st.builds(
    lambda m: timezone(timedelta(minutes=m)), st.integers(-23 * 60 - 59, 23 * 60 + 59)
)
decimal_text = st.decimals(min_value=0, allow_nan=False, allow_infinity=False).map(str)
short = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
safe = st.one_of(st.sampled_from(NASTY_JSON), st.text(st.characters(codec="utf-8"), max_size=9))


# a bar's interval divides a day (``events.Bar``): mostly the resolutions the engine stores
intervals = st.sampled_from([60, 300, 3600, 86400]) | st.sampled_from(
    [d for d in range(1, 86401) if 86400 % d == 0]
)


def _utc_ok(t: datetime) -> bool:
    """A time that exists in UTC (0001-01-01T00:00+01:00 does not; events refuse it, which the
    mutations and the regression cases test)."""
    try:
        t.astimezone(UTC)
    except OverflowError:
        return False
    return True


def events(times: st.SearchStrategy[datetime]) -> st.SearchStrategy[Any]:
    times = times.filter(_utc_ok)
    return st.one_of(
        st.builds(
            NewsItem, id=short, source=short, url=short, title=short, published_at=times,
            fetched_at=times, summary=st.text(max_size=30),
        ),
        st.builds(
            Trade, exchange=short, symbol=short, trade_id=short, price=decimal_text,
            size=decimal_text, time=times, side=st.sampled_from(["buy", "sell", "unknown"]),
        ),
        st.builds(
            Bar, venue=short, symbol=short, interval_s=intervals, open_time=times,
            open=decimal_text, high=decimal_text, low=decimal_text, close=decimal_text,
            volume=decimal_text,
        ),
        st.builds(AnalyticsUpdate, key=short, kind=short, data=st.dictionaries(short, safe)),
    )  # fmt: skip


# -- feeds ----------------------------------------------------------------------------------------
feed_text = st.sampled_from(NASTY_TEXT) | st.text(max_size=60)


@st.composite
def feed_document(draw: st.DrawFn) -> bytes:
    """An RSS 2.0 or Atom document whose entries have generated (often nasty) fields, escaped
    or not (unescaped ``<``/``&`` make it malformed XML, which feeds in the wild are)."""
    esc = draw(st.booleans())

    def field() -> str:
        v = draw(feed_text)
        return escape(v) if esc else v

    atom = draw(st.booleans())
    entries = []
    for _ in range(draw(st.integers(0, 3))):
        link = draw(st.sampled_from(["https://news.example/a", "http://x.example/?utm_source=1"]))
        link = draw(st.sampled_from([link, field()]))
        if atom:
            entries.append(
                f'<entry><title>{field()}</title><link href="{escape(link)}"/>'
                f"<updated>{field()}</updated><summary>{field()}</summary>"
                f"<author><name>{field()}</name></author></entry>"
            )
        else:
            entries.append(
                f"<item><title>{field()}</title><link>{escape(link) if esc else link}"
                f"</link><pubDate>{field()}</pubDate><description>{field()}</description>"
                f"<author>{field()}</author></item>"
            )
    if atom:
        doc = f'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{"".join(entries)}</feed>'
    else:
        doc = (
            f'<rss version="2.0"><channel><title>t</title><language>{field()}</language>'
            f"{''.join(entries)}</channel></rss>"
        )
    return ('<?xml version="1.0" encoding="utf-8"?>' + doc).encode("utf-8", "surrogatepass")
