"""Encryption in transit: the settings' TLS and SASL knobs, turned into what the drivers take.

* PostgreSQL (libpq, through psycopg): :func:`store_connect_args` gives ``sslmode``,
  ``sslrootcert``, ``sslcert``, ``sslkey`` and ``sslpassword`` to SQLAlchemy's
  ``connect_args`` (they win over the same keys in the URL's query string). Every store the
  product opens from settings goes through ``Store.from_settings``, which uses it.
* Kafka (librdkafka, through confluent-kafka): :func:`kafka_client_config` gives
  ``security.protocol``, ``ssl.*`` and ``sasl.*``, merged into every producer, consumer and
  admin client (``KafkaBus.from_settings``, and the Spark source through
  :func:`spark_source_options`).

:func:`check_settings` is the cross-field validation ``Settings`` runs when it is built, so a
half-configured TLS setup fails at start-up with the setting to fix, rather than silently
falling back to plaintext. The values returned here hold passwords in clear (the drivers need
them): never log them; :func:`redacted` is for showing one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from btcpulse.config import Settings

SSL_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})
# libpq modes that may talk plaintext, or TLS without checking the server's certificate
WEAK_SSLMODES = frozenset({"disable", "allow", "prefer"})
SPARK_OPTION_PREFIX = "kafka."
REDACTED = "***"
_SECRET_KEYS = ("password", "secret")


class TransportConfigError(ValueError):
    """A TLS/SASL setting that cannot work (a missing file, a half-set pair)."""


def check_settings(s: Settings) -> None:
    """Refuse combinations that cannot work or would silently not encrypt/verify."""
    problems: list[str] = []
    if (s.store_sslcert is None) != (s.store_sslkey is None):
        problems.append("store_sslcert and store_sslkey go together (client certificate)")
    store_files = {
        "store_sslrootcert": s.store_sslrootcert,
        "store_sslcert": s.store_sslcert,
        "store_sslkey": s.store_sslkey,
        "store_sslpassword": s.store_sslpassword,
    }
    set_files = [k for k, v in store_files.items() if v is not None]
    if set_files and (s.store_sslmode is None or s.store_sslmode in WEAK_SSLMODES):
        problems.append(
            f"{', '.join(set_files)} set but store_sslmode is {s.store_sslmode or 'unset'}: "
            "the connection could stay plaintext or unverified; use store_sslmode=verify-full"
        )
    if (s.kafka_ssl_certificate_location is None) != (s.kafka_ssl_key_location is None):
        problems.append(
            "kafka_ssl_certificate_location and kafka_ssl_key_location go together "
            "(client certificate)"
        )
    proto = s.kafka_security_protocol
    ssl_set = [
        k
        for k in (
            "kafka_ssl_ca_location",
            "kafka_ssl_certificate_location",
            "kafka_ssl_key_location",
            "kafka_ssl_key_password",
        )
        if getattr(s, k) is not None
    ]
    if ssl_set and proto not in SSL_PROTOCOLS:
        problems.append(
            f"{', '.join(ssl_set)} set but kafka_security_protocol is {proto}: use SSL or SASL_SSL"
        )
    sasl = {
        "kafka_sasl_mechanism": s.kafka_sasl_mechanism,
        "kafka_sasl_username": s.kafka_sasl_username,
        "kafka_sasl_password": s.kafka_sasl_password,
    }
    if proto in SASL_PROTOCOLS:
        missing = [k for k, v in sasl.items() if v is None]
        if missing:
            problems.append(f"kafka_security_protocol {proto} needs {', '.join(missing)}")
    elif any(v is not None for v in sasl.values()):
        problems.append(f"kafka_sasl_* set but kafka_security_protocol is {proto}: use SASL_SSL")
    if s.secret_keys is not None and s.secret_keys_file is not None:
        problems.append("set one of secret_keys (BTCPULSE_SECRET_KEYS) and secret_keys_file")
    if problems:
        raise ValueError("; ".join(problems))


def _readable(setting: str, path: Path) -> str:
    if not path.is_file():
        raise TransportConfigError(f"{setting}: {path} is not a readable file")
    return str(path)


def store_connect_args(s: Settings) -> dict[str, str]:
    """libpq TLS parameters for the store (none for SQLite, or when nothing is set)."""
    if make_url(s.resolved_store_url).get_backend_name() != "postgresql":
        return {}
    out: dict[str, str] = {}
    if s.store_sslmode is not None:
        out["sslmode"] = s.store_sslmode
    for key, setting in (
        ("sslrootcert", "store_sslrootcert"),
        ("sslcert", "store_sslcert"),
        ("sslkey", "store_sslkey"),
    ):
        path: Path | None = getattr(s, setting)
        if path is not None:
            out[key] = _readable(setting, path)
    if s.store_sslpassword is not None:
        out["sslpassword"] = s.store_sslpassword.get_secret_value()
    return out


def kafka_client_config(s: Settings) -> dict[str, str]:
    """librdkafka properties for encryption and authentication, for every client kind."""
    proto = s.kafka_security_protocol
    out = {"security.protocol": proto.lower()}
    if proto in SSL_PROTOCOLS:
        ca = s.kafka_ssl_ca_location
        if ca is not None:  # "probe": librdkafka looks for the system's CA bundle
            out["ssl.ca.location"] = (
                "probe" if str(ca) == "probe" else _readable("kafka_ssl_ca_location", ca)
            )
        if s.kafka_ssl_certificate_location is not None:
            out["ssl.certificate.location"] = _readable(
                "kafka_ssl_certificate_location", s.kafka_ssl_certificate_location
            )
        if s.kafka_ssl_key_location is not None:
            out["ssl.key.location"] = _readable("kafka_ssl_key_location", s.kafka_ssl_key_location)
        if s.kafka_ssl_key_password is not None:
            out["ssl.key.password"] = s.kafka_ssl_key_password.get_secret_value()
        out["enable.ssl.certificate.verification"] = "true"
        out["ssl.endpoint.identification.algorithm"] = (
            "https" if s.kafka_ssl_verify_hostname else "none"
        )
    if proto in SASL_PROTOCOLS:
        mech, user, pw = s.kafka_sasl_mechanism, s.kafka_sasl_username, s.kafka_sasl_password
        if mech is None or user is None or pw is None:
            raise TransportConfigError(f"kafka_security_protocol {proto} needs kafka_sasl_*")
        out["sasl.mechanism"] = mech
        out["sasl.username"] = user
        out["sasl.password"] = pw.get_secret_value()
    return out


def spark_source_options(s: Settings) -> dict[str, str]:
    """:func:`kafka_client_config` as options of the Spark source (``kafka.`` prefix, as the
    JVM connector names them), read back on the executors by :func:`from_spark_options`."""
    return {SPARK_OPTION_PREFIX + k: v for k, v in kafka_client_config(s).items()}


def from_spark_options(options: Mapping[str, str]) -> dict[str, str]:
    """The librdkafka properties carried by Spark source options (keys are case-insensitive
    there; librdkafka's are all lower case)."""
    n = len(SPARK_OPTION_PREFIX)
    return {
        k[n:].lower(): v for k, v in options.items() if k.lower().startswith(SPARK_OPTION_PREFIX)
    }


def redacted(conf: Mapping[str, Any]) -> dict[str, Any]:
    """A client config fit to show: passwords replaced by ``***``."""
    return {
        k: REDACTED if any(word in k.lower() for word in _SECRET_KEYS) else v
        for k, v in conf.items()
    }
