"""Loading a replay bundle: every ``*.xml`` feed and ``*.csv`` 1-minute bar file in a folder.

The bundle becomes one timeline ordered by the moment each record became known (a headline
when published, a bar when it closed).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from btcpulse.collectors.news.feeds import parse_feed
from btcpulse.events import Bar, NewsItem
from btcpulse.timeutil import to_utc

BAR_INTERVAL_S = 60


@dataclass(frozen=True)
class Record:
    known_at: datetime
    event: NewsItem | Bar


@dataclass(frozen=True)
class Bundle:
    records: list[Record]
    start: datetime
    end: datetime
    digest: str

    @property
    def span(self) -> timedelta:
        """Length of one loop (the last record plus one bar, so loops never overlap)."""
        return self.end - self.start + timedelta(seconds=BAR_INTERVAL_S)


def _bars(path: Path, venue: str) -> list[Record]:
    out = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            opened = to_utc(datetime.fromisoformat(row["open_time"]))
            bar = Bar(
                venue=venue,
                symbol="BTC-USD",
                interval_s=BAR_INTERVAL_S,
                open_time=opened,
                open=row["open"],
                high=row["high"],
                low=row["low"],
                close=row["close"],
                volume=row["volume"],
            )
            out.append(Record(opened + timedelta(seconds=BAR_INTERVAL_S), bar))
    return out


def load_bundle(folder: Path) -> Bundle:
    """Read the bundle; a file's stem names its source (``coindesk_...`` → ``replay:coindesk``)."""
    files = sorted(p for p in folder.iterdir() if p.suffix in (".xml", ".csv"))
    if not files:
        raise FileNotFoundError(f"no replay files (*.xml, *.csv) in {folder}")
    digest = hashlib.sha256()
    records: list[Record] = []
    for path in files:
        body = path.read_bytes()
        digest.update(path.name.encode() + body)
        source = "replay:" + path.stem.split("_")[0]
        if path.suffix == ".xml":
            items, _bad = parse_feed(body, source=source, fetched_at=_epoch())
            records.extend(Record(i.published_at, i) for i in items)
        else:
            records.extend(_bars(path, source))
    records.sort(key=lambda r: r.known_at)
    return Bundle(records, records[0].known_at, records[-1].known_at, digest.hexdigest()[:16])


def _epoch() -> datetime:
    return to_utc(datetime.fromisoformat("1970-01-01T00:00:00+00:00"))
