"""TLS to PostgreSQL: a real cluster with a certificate made by the test, reached through the
store's own engine (``Store.from_settings``) and the CLI; verified when it should be, refused
when the certificate does not match or comes from another CA, never silently plaintext."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import _service_or_skip, child_env, wait_for
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from tls_certs import Authority, Issued

from btcpulse.config import Settings
from btcpulse.security.transport import TransportConfigError, store_connect_args
from btcpulse.store.db import Store
from btcpulse.testing.services import Postgres, start_postgres


@dataclass
class TlsPostgres:
    pg: Postgres
    ca: Authority
    rogue: Authority  # another CA, which signed nothing the server uses
    client: Issued  # client certificate for the user btcpulse, from ``ca``
    db: str  # a database reached with password-less trust, over TLS only
    certdb: str  # a database that asks for a client certificate

    def url(self, db: str, host: str = "localhost") -> str:
        return f"postgresql+psycopg://btcpulse@{host}:{self.pg.port}/{db}"


def _enable_tls(pg: Postgres, server: Issued, ca: Authority, certdb: str) -> None:
    """Certificates into the data folder, ``ssl=on``, TLS-only client authentication, reload."""
    data = pg.datadir
    for src, name in ((server.cert, "server.crt"), (server.key, "server.key"), (ca.path, "ca.crt")):
        shutil.copyfile(src, data / name)
        (data / name).chmod(0o600)
        if pg.run_as:  # the cluster runs as the postgres system user
            shutil.chown(data / name, "postgres", "postgres")
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
            "ssl_ca_file = 'ca.crt'\n"
        )
    (data / "pg_hba.conf").write_text(
        "local all all trust\n"
        "hostnossl all all 0.0.0.0/0 reject\n"
        f"hostssl {certdb} all 127.0.0.1/32 cert\n"
        "hostssl all all 127.0.0.1/32 trust\n"
    )
    subprocess.run(
        [*pg.run_as, str(pg.bindir / "pg_ctl"), "-D", str(data), "reload"],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def tls_pg() -> Iterator[TlsPostgres]:
    root = Path(tempfile.mkdtemp(prefix="btcpulse-pgtls-"))  # given to the postgres user
    pki = Path(tempfile.mkdtemp(prefix="btcpulse-pki-"))  # the client's side
    try:
        pg = start_postgres(root)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        _service_or_skip("PostgreSQL", exc)
        raise
    try:
        ca = Authority(pki / "ca", "btcpulse test CA")
        rogue = Authority(pki / "rogue", "rogue CA")
        server = ca.issue("localhost", dns=("localhost",), stem="server")  # not 127.0.0.1
        client = ca.issue("btcpulse", client=True, stem="client")
        db, certdb = pg.new_database("tls"), pg.new_database("cert")
        db, certdb = db.rpartition("/")[2], certdb.rpartition("/")[2]
        _enable_tls(pg, server, ca, certdb)
        env = TlsPostgres(pg, ca, rogue, client, db, certdb)

        def tls_answers() -> bool:
            import psycopg

            with psycopg.connect(
                f"host=localhost port={pg.port} user=btcpulse dbname={db} "
                f"sslmode=verify-full sslrootcert={ca.path}"
            ) as conn:
                return bool(conn.info.pgconn.ssl_in_use)

        wait_for(tls_answers, 30, "PostgreSQL to serve TLS after the reload")
        yield env
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(pki, ignore_errors=True)


def _settings(tmp_path: Path, url: str, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "var", store_url=url, _env_file=None, **kw)  # type: ignore[call-arg]


def _ssl_of_session(store: Store) -> tuple[bool, str | None, str | None]:
    with store.read() as conn:
        row = conn.execute(
            text("SELECT ssl, version, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        ).one()
    return bool(row.ssl), row.version, row.client_dn


def test_the_store_connects_with_verify_full_and_really_is_tls(
    tls_pg: TlsPostgres, tmp_path: Path
) -> None:
    s = _settings(
        tmp_path,
        tls_pg.url(tls_pg.db),
        store_sslmode="verify-full",
        store_sslrootcert=tls_pg.ca.path,
    )
    store = Store.from_settings(s)
    try:
        store.migrate()  # Alembic runs on the store's (TLS) connection
        assert store.schema_is_current()
        ssl, version, _ = _ssl_of_session(store)
        assert ssl is True and version is not None and version.startswith("TLS")
    finally:
        store.dispose()


def test_this_server_refuses_plaintext(tls_pg: TlsPostgres, tmp_path: Path) -> None:
    """So that the TLS above is not an accident of libpq's default (sslmode=prefer)."""
    store = Store.from_settings(_settings(tmp_path, tls_pg.url(tls_pg.db), store_sslmode="disable"))
    try:
        with pytest.raises(OperationalError, match="no encryption"):
            _ssl_of_session(store)
    finally:
        store.dispose()


def test_a_certificate_for_another_host_name_is_refused(
    tls_pg: TlsPostgres, tmp_path: Path
) -> None:
    s = _settings(
        tmp_path,
        tls_pg.url(tls_pg.db, host="127.0.0.1"),  # the certificate names only "localhost"
        store_sslmode="verify-full",
        store_sslrootcert=tls_pg.ca.path,
    )
    store = Store.from_settings(s)
    try:
        with pytest.raises(OperationalError, match=r'does not match host name "127\.0\.0\.1"'):
            store.migrate()
    finally:
        store.dispose()


def test_a_server_certificate_from_another_ca_is_refused(
    tls_pg: TlsPostgres, tmp_path: Path
) -> None:
    for mode in ("verify-ca", "verify-full"):
        s = _settings(
            tmp_path,
            tls_pg.url(tls_pg.db),
            store_sslmode=mode,
            store_sslrootcert=tls_pg.rogue.path,
        )
        store = Store.from_settings(s)
        try:
            with pytest.raises(OperationalError, match="certificate verify failed"):
                _ssl_of_session(store)
        finally:
            store.dispose()


def test_a_client_certificate_is_presented_when_configured(
    tls_pg: TlsPostgres, tmp_path: Path
) -> None:
    url = tls_pg.url(tls_pg.certdb)
    without = Store.from_settings(
        _settings(tmp_path, url, store_sslmode="verify-full", store_sslrootcert=tls_pg.ca.path)
    )
    with_cert = Store.from_settings(
        _settings(
            tmp_path,
            url,
            store_sslmode="verify-full",
            store_sslrootcert=tls_pg.ca.path,
            store_sslcert=tls_pg.client.cert,
            store_sslkey=tls_pg.client.key,
        )
    )
    try:
        with pytest.raises(OperationalError, match="requires a valid client certificate"):
            _ssl_of_session(without)
        ssl, _, client_dn = _ssl_of_session(with_cert)
        assert ssl and client_dn == "/CN=btcpulse"
    finally:
        without.dispose()
        with_cert.dispose()


def _cli(
    tmp_path: Path, tls_pg: TlsPostgres, ca: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    s = _settings(tmp_path, tls_pg.url(tls_pg.db))
    env = child_env(
        s,
        BTCPULSE_STORE_URL=tls_pg.url(tls_pg.db),
        BTCPULSE_STORE_SSLMODE="verify-full",
        BTCPULSE_STORE_SSLROOTCERT=str(ca),
    )
    return subprocess.run(
        [sys.executable, "-m", "btcpulse", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_line_applies_the_tls_settings(tls_pg: TlsPostgres, tmp_path: Path) -> None:
    ok = _cli(tmp_path, tls_pg, tls_pg.ca.path, "migrate")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    refused = _cli(tmp_path, tls_pg, tls_pg.rogue.path, "migrate")
    assert refused.returncode != 0
    assert "certificate verify failed" in refused.stderr


def test_half_set_or_unverified_tls_settings_are_refused_at_start(tmp_path: Path) -> None:
    url = "postgresql+psycopg://u@db.example/x"
    with pytest.raises(ValidationError, match="store_sslcert and store_sslkey go together"):
        _settings(tmp_path, url, store_sslmode="verify-full", store_sslcert=tmp_path / "c.crt")
    with pytest.raises(ValidationError, match="use store_sslmode=verify-full"):
        _settings(tmp_path, url, store_sslrootcert=tmp_path / "ca.crt")  # sslmode unset
    with pytest.raises(ValidationError, match="could stay plaintext"):
        _settings(tmp_path, url, store_sslmode="prefer", store_sslrootcert=tmp_path / "ca.crt")
    missing = _settings(
        tmp_path, url, store_sslmode="verify-full", store_sslrootcert=tmp_path / "none.crt"
    )
    with pytest.raises(TransportConfigError, match=r"store_sslrootcert: .*none\.crt"):
        store_connect_args(missing)
    # SQLite: nothing to pass
    assert store_connect_args(_settings(tmp_path, f"sqlite:///{tmp_path}/s.db")) == {}
