"""Secrets encrypted at rest: unreadable in the database without the key, refused when moved
or altered, still usable after a key rotation with the old key gone, managed by
``btcpulse secrets`` end to end, used by a real consumer (the CryptoPanic poller) and found
nowhere in what the processes print, log or store."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, child_env
from cryptography.fernet import Fernet
from news_server import NewsServer, news_server
from sqlalchemy import select, text, update

from btcpulse.config import Settings
from btcpulse.security.secrets import (
    Keyring,
    NoKeysError,
    SecretsError,
    SecretStore,
    UndecryptableError,
    key_id,
    keyring_from_settings,
)
from btcpulse.store import schema as t
from btcpulse.store.db import Store
from btcpulse.testing.services import Postgres

PANIC = (FIXTURES / "cryptopanic_v1_posts_btc.json").read_bytes()


def _key() -> str:
    return Fernet.generate_key().decode()


def _secret() -> str:
    return "plain-" + uuid.uuid4().hex


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        pg: Postgres = request.getfixturevalue("postgres")
        url = pg.new_database("sec")
    store = Store(url)
    store.migrate()
    yield store
    store.dispose()


def _raw_rows(store: Store) -> list[tuple[object, ...]]:
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(select(t.secrets))]


def test_a_secret_is_unreadable_in_the_database_without_its_key(
    any_store: Store, tmp_path: Path
) -> None:
    k1 = _key()
    value = _secret()
    secrets = SecretStore(any_store, Keyring.from_keys([k1]))
    secrets.put("source:cryptopanic:auth_token", value)
    assert secrets.get("source:cryptopanic:auth_token").get_secret_value() == value  # type: ignore[union-attr]
    rows = _raw_rows(any_store)
    assert len(rows) == 1 and value not in repr(rows)
    if any_store.dialect == "sqlite":  # nor anywhere in the database's files
        any_store.dispose()
        for f in tmp_path.glob("store.db*"):
            assert value.encode() not in f.read_bytes(), f
    # another key cannot open it, and says so without the value
    other = SecretStore(any_store, Keyring.from_keys([_key()]))
    with pytest.raises(UndecryptableError, match="cannot be decrypted") as err:
        other.get("source:cryptopanic:auth_token")
    assert value not in str(err.value)
    # what is stored is a Fernet token (authenticated encryption) of name + value
    ciphertext = str(rows[0][1])
    assert Fernet(k1.encode()).decrypt(ciphertext.encode()).decode().count(value) == 1
    assert secrets.get("no-such") is None


def test_altered_or_moved_rows_are_refused(any_store: Store) -> None:
    secrets = SecretStore(any_store, Keyring.from_keys([_key()]))
    secrets.put("a", _secret())
    secrets.put("b", _secret())
    with any_store.begin() as conn:
        a = conn.execute(select(t.secrets.c.ciphertext).where(t.secrets.c.name == "a")).scalar()
        conn.execute(update(t.secrets).where(t.secrets.c.name == "b").values(ciphertext=a))
    with pytest.raises(UndecryptableError, match="another secret's value"):
        secrets.get("b")  # a's value copied under b's name
    flipped = str(a)[:-6] + ("A" if str(a)[-6] != "A" else "B") + str(a)[-5:]
    with any_store.begin() as conn:
        conn.execute(update(t.secrets).where(t.secrets.c.name == "a").values(ciphertext=flipped))
    with pytest.raises(UndecryptableError):
        secrets.get("a")


def test_rotation_reseals_under_the_new_key_and_the_old_one_can_go(any_store: Store) -> None:
    old, new = _key(), _key()
    values = {"source:cryptopanic:auth_token": _secret(), "other": _secret()}
    before = SecretStore(any_store, Keyring.from_keys([old]))
    for name, value in values.items():
        before.put(name, value)
    during = SecretStore(any_store, Keyring.from_keys([new, old]))
    assert {i.key_id for i in during.list_secrets()} == {key_id(old.encode())}
    done = during.rotate()
    assert (done.rows, done.moved) == (2, 2)
    after = SecretStore(any_store, Keyring.from_keys([new]))  # the old key removed
    for name, value in values.items():
        assert after.get(name).get_secret_value() == value  # type: ignore[union-attr]
    assert {i.key_id for i in after.list_secrets()} == {key_id(new.encode())}
    with pytest.raises(UndecryptableError):
        SecretStore(any_store, Keyring.from_keys([old])).get("other")
    assert after.rotate().moved == 0  # nothing left under another key


def test_a_rotation_that_cannot_open_every_row_changes_nothing(any_store: Store) -> None:
    k1, k2, stranger = _key(), _key(), _key()
    SecretStore(any_store, Keyring.from_keys([k1])).put("a", _secret())
    SecretStore(any_store, Keyring.from_keys([stranger])).put("z", _secret())
    before = _raw_rows(any_store)
    with pytest.raises(UndecryptableError, match="'z'"):
        SecretStore(any_store, Keyring.from_keys([k2, k1])).rotate()
    assert _raw_rows(any_store) == before  # one transaction: "a" was not re-sealed either


def test_names_values_and_keys_are_checked(any_store: Store, tmp_path: Path) -> None:
    secrets = SecretStore(any_store, Keyring.from_keys([_key()]))
    with pytest.raises(SecretsError, match="bad secret name"):
        secrets.put("bad name; drop table", "x")
    with pytest.raises(SecretsError, match="empty value"):
        secrets.put("a", "")
    secrets.put("a", "1")
    secrets.put("a", "2")  # replaced, not duplicated
    assert [i.name for i in secrets.list_secrets()] == ["a"]
    assert secrets.get("a").get_secret_value() == "2"  # type: ignore[union-attr]
    assert secrets.delete("a") and not secrets.delete("a") and secrets.list_secrets() == []
    not_a_key = "not-a-fernet-key-" + uuid.uuid4().hex
    with pytest.raises(SecretsError, match="key #2 of BTCPULSE_SECRET_KEYS") as err:
        Keyring.from_keys([_key(), not_a_key])
    assert not_a_key not in str(err.value)
    base = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(NoKeysError):
        keyring_from_settings(base)
    k1, k2 = _key(), _key()
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"{k1}\n{k2}\n")
    ring = keyring_from_settings(base.model_copy(update={"secret_keys_file": keys_file}))
    assert ring.ids == (key_id(k1.encode()), key_id(k2.encode()))
    assert k1 not in repr(ring) and k1 not in repr(SecretStore(any_store, ring))


# -- end to end: the CLI, a collector using a stored token, and a search for leaks ------------
def _btcpulse(
    settings: Settings, *args: str, stdin: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "btcpulse", *args],
        env=child_env(settings, BTCPULSE_LOG_LEVEL="DEBUG", BTCPULSE_LOG_JSON="true", **env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def server() -> Iterator[NewsServer]:
    with news_server() as srv:
        yield srv


def _sources_file(tmp_path: Path, server: NewsServer) -> Path:
    ok = server.add("/api/v1/posts/", body=PANIC, ctype="application/json")
    down = server.add("/down/", status=503, body=b"unavailable")
    path = tmp_path / "sources.yaml"
    path.write_text(
        "include_defaults: false\n"
        "sources:\n"
        f"  - {{name: cryptopanic, kind: cryptopanic, url: '{ok}?currencies=BTC',"
        " token_env: BTCPULSE_TEST_NO_SUCH_TOKEN}\n"
        f"  - {{name: panic-down, kind: cryptopanic, url: '{down}',"
        " token_env: BTCPULSE_TEST_NO_SUCH_TOKEN}\n"
    )
    return path


def test_cli_and_collector_use_stored_secrets_and_never_show_them(
    settings: Settings, server: NewsServer, tmp_path: Path
) -> None:
    k1, k2 = _key(), _key()
    token, down_token = _secret(), _secret()
    sources = str(_sources_file(tmp_path, server))
    out: list[str] = []

    def run(
        *args: str, stdin: str | None = None, keys: str = k1
    ) -> subprocess.CompletedProcess[str]:
        res = _btcpulse(
            settings,
            *args,
            stdin=stdin,
            BTCPULSE_SECRET_KEYS=keys,
            BTCPULSE_NEWS_SOURCES_FILE=sources,
        )
        out.extend([res.stdout, res.stderr])
        return res

    res = run("secrets", "set", "source:cryptopanic:auth_token", stdin=token + "\n")
    assert res.returncode == 0, res.stderr
    assert "stored" in res.stdout
    assert run("secrets", "set", "source:panic-down:auth_token", stdin=down_token).returncode == 0
    listed = run("secrets", "list")
    assert listed.returncode == 0 and "source:cryptopanic:auth_token" in listed.stdout
    assert "current" in listed.stdout

    # the collector takes the token from the secret store (its variable is not set)
    polled = run("collect", "news", "--once", "--no-articles")
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert "10 new" in polled.stdout and "FAILED: HTTP 503" in polled.stdout
    assert '"news.token_from_secret_store"' in polled.stderr  # JSON logs at DEBUG did run
    sent = [h.path for h in server.hits_of("/api/v1/posts/")]
    assert sent and sent[-1].endswith(f"auth_token={token}")  # exactly, newline stripped
    assert server.hits_of("/down/")[-1].path.endswith(f"auth_token={down_token}")

    # rotation: a new first key, then the old one removed: still decrypts, still polls
    rotated = run("secrets", "rotate", keys=f"{k2},{k1}")
    assert rotated.returncode == 0 and "2 secret(s) re-sealed" in rotated.stdout
    assert "OLD" not in run("secrets", "list", keys=k2).stdout
    again = run("collect", "news", "--once", "--no-articles", keys=k2)
    assert again.returncode == 0, again.stdout + again.stderr
    assert server.hits_of("/api/v1/posts/")[-1].path.endswith(f"auth_token={token}")

    # the old key alone opens nothing: a warning by name, the source stays off (no variable)
    stale = run("collect", "news", "--once", "--no-articles", keys=k1)
    assert stale.returncode == 1 and "no active news source" in stale.stderr
    assert '"news.stored_token_unusable"' in stale.stderr
    assert run("secrets", "rotate", keys=k1).returncode == 1  # refused, nothing changed

    assert run("doctor", keys=k2).returncode in (0, 1)
    assert run("secrets", "delete", "source:panic-down:auth_token", keys=k2).returncode == 0
    assert run("secrets", "delete", "source:panic-down:auth_token", keys=k2).returncode == 1

    # every table of the store (logs, errors, health, state...) and the files on disk
    store = Store(settings.resolved_store_url)
    try:
        with store.read() as conn:
            for table in t.metadata.sorted_tables:
                out.append(repr(conn.execute(text(f'SELECT * FROM "{table.name}"')).all()))
            logged = conn.execute(select(t.logs.c.event, t.logs.c.fields)).all()
    finally:
        store.dispose()
    assert any(e == "news.stored_token_unusable" for e, _ in logged)  # the table was written
    blobs = [f.read_bytes() for f in settings.data_dir.rglob("*") if f.is_file()]
    assert blobs
    for secret in (token, down_token):
        assert all(secret not in chunk for chunk in out), "a secret was printed or stored"
        assert all(secret.encode() not in b for b in blobs), "a secret is in a data file"
