"""Store: migrations, idempotent upserts, aware timestamps, update sequence numbers — on
SQLite (embedded mode) and on a real PostgreSQL cluster (distributed mode)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from btcpulse.config import Settings
from btcpulse.events import AnalyticsUpdate
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.store.queries import first_seq
from btcpulse.store.upsert import upsert
from btcpulse.store.writes import prune_updates, put_updates

NOW = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Store]:
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").new_database()
    else:
        url = settings.resolved_store_url
    s = Store(url)
    s.migrate()
    yield s
    s.dispose()


def _news(**kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "a1",
        "source": "coindesk",
        "url": "https://x/a",
        "title": "Bitcoin",
        "summary": "",
        "published_at": NOW,
        "fetched_at": NOW,
        "lang": "en",
        "replay": False,
    }
    row.update(kw)
    return row


def test_migrate_is_idempotent_and_current(store: Store) -> None:
    store.migrate()
    assert store.schema_is_current()


def test_migrations_match_the_declared_schema(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), t.metadata) == []


def test_news_upsert_overwrites_by_natural_key(store: Store) -> None:
    with store.begin() as conn:
        upsert(conn, t.news, [_news()])
        upsert(conn, t.news, [_news(title="Bitcoin (updated)")])
    with store.read() as conn:
        rows = conn.execute(select(t.news)).all()
    assert len(rows) == 1 and rows[0].title == "Bitcoin (updated)"
    assert rows[0].published_at == NOW  # microseconds and UTC survive the round trip


def test_trade_insert_keeps_the_first_copy(store: Store) -> None:
    trade = {
        "exchange": "coinbase",
        "symbol": "BTC-USD",
        "trade_id": "1",
        "price": 1.0,
        "size": 2.0,
        "side": "buy",
        "time": NOW,
        "replay": False,
    }
    with store.begin() as conn:
        upsert(conn, t.trades, [trade], do_nothing=True)
        upsert(conn, t.trades, [{**trade, "price": 9.0}], do_nothing=True)
    with store.read() as conn:
        assert conn.execute(select(t.trades.c.price)).scalars().all() == [1.0]


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(StatementError, match="naive datetime"), store.begin() as conn:
        upsert(conn, t.news, [_news(published_at=datetime(2026, 1, 1))])


def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.begin() as conn:
        upsert(conn, t.news, [_news()])
        raise RuntimeError("crash before commit")
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(t.news)).scalar_one() == 0


def test_updates_get_increasing_seq_and_the_last_per_key_wins(store: Store) -> None:
    def up(key: str, v: int) -> AnalyticsUpdate:
        return AnalyticsUpdate(key=key, kind="candle", data={"v": v}, time=NOW)

    with store.begin() as conn:
        first = put_updates(conn, [up("a", 1), up("b", 1), up("a", 2)])
    assert [(u.key, u.seq, u.data["v"]) for u in first] == [("b", 1, 1), ("a", 2, 2)]
    with store.begin() as conn:
        second = put_updates(conn, [up("b", 3)])
    assert second[0].seq == 3
    with store.read() as conn:
        rows = conn.execute(select(t.updates.c.key, t.updates.c.seq).order_by("seq")).all()
    assert [tuple(r) for r in rows] == [("a", 2), ("b", 3)]

    with store.begin() as conn:  # pruning everything keeps the newest: seq never restarts
        prune_updates(conn, NOW + timedelta(days=1))
        assert put_updates(conn, [up("c", 1)])[0].seq == 4
        assert first_seq(conn) == 3  # "a" (seq 2) was forgotten: a client at seq < 2 reloads


def test_read_queries_and_saved_rules_on_both_stores(store: Store) -> None:
    """The dashboard's read queries are portable SQL (booleans, LIKE escapes, lower())."""
    from btcpulse.store.alert_rules import active_rules, save_rules, stored_rules
    from btcpulse.store.queries import news, news_sources, venues

    with store.begin() as conn:
        upsert(
            conn,
            t.news,
            [
                _news(id="a1", title="Bitcoin ETF 100% approved", replay=True),
                _news(id="a2", source="decrypt", title="Miners_sell BITCOIN"),
                _news(id="a3", source="decrypt", title="Ether", published_at=NOW - timedelta(1)),
            ],
        )
        upsert(
            conn,
            t.candles,
            [
                {
                    "venue": "coinbase",
                    "symbol": "BTC-USD",
                    "resolution_s": 60,
                    "start": 1_700_000_000 - 1_700_000_000 % 60,
                    **dict.fromkeys(("open", "high", "low", "close"), 1.0),
                    "volume": 1.0,
                    "quote_volume": 1.0,
                    "trades": 1,
                    "replay": False,
                }
            ],
        )
        assert stored_rules(conn) is None
        save_rules(conn, ["index>80"])
    with store.read() as conn:
        assert news_sources(conn) == [
            {"source": "coindesk", "count": 1, "replay": True},
            {"source": "decrypt", "count": 2, "replay": False},
        ]
        assert [v["replay"] for v in venues(conn)] == [False]

        def ids(**kw: object) -> list[str]:
            return [r["id"] for r in news(conn, model_version="m", limit=10, **kw)]  # type: ignore[arg-type]

        assert ids(text="bitcoin") == ["a1", "a2"]
        assert ids(text="100%") == ["a1"] and ids(text="s_l") == []
        assert ids(text="miners_sell") == ["a2"]
        assert ids(source="decrypt", text="ether") == ["a3"]
        found = stored_rules(conn)
        assert found is not None and found[0] == ["index>80"] and found[1].tzinfo is not None
        assert len(active_rules(conn, ())) == 1


def test_table_sizes_count_rows_and_bytes(store: Store) -> None:
    from btcpulse.store.sizes import table_sizes

    with store.begin() as conn:
        upsert(conn, t.news, [_news(id=f"n{i}", title="x" * 500) for i in range(200)])
    sizes = {s.name: s for s in table_sizes(store)}
    assert set(sizes) == {tb.name for tb in t.metadata.sorted_tables}
    assert sizes["news"].rows == 200 and sizes["trades"].rows == 0
    assert sizes["news"].bytes is not None and sizes["news"].bytes > 200 * 500
