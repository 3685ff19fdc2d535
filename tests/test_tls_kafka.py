"""TLS and SASL to Kafka: the settings → librdkafka mapping every client uses, checked against
librdkafka itself, and TLS end to end through the product's own clients.

The broker here (tansu) speaks no TLS and no SASL, so the TLS test puts a TLS-terminating
proxy (Python ``ssl``, a certificate made by the test) in front of it and has tansu advertise
the proxy's address: every connection the clients open (bootstrap, then the broker's
advertised listener) is TLS, verified against the test's CA. SASL cannot be tested end to end
here: its mapping is checked by librdkafka's own configuration parser only.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, Producer
from conftest import _service_or_skip, wait_for
from pydantic import ValidationError
from tls_certs import Authority

from btcpulse.bus.factory import open_bus
from btcpulse.bus.kafka import BusError, KafkaBus
from btcpulse.config import Settings
from btcpulse.security.transport import (
    TransportConfigError,
    from_spark_options,
    kafka_client_config,
    redacted,
    spark_source_options,
)
from btcpulse.testing.services import free_port, tansu_binary, wait_port

PASSWORD = "sasl-pw-" + uuid.uuid4().hex


def _s(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path, mode="distributed", _env_file=None, **kw)  # type: ignore[call-arg]


# -- the mapping ----------------------------------------------------------------------------
def test_plaintext_is_the_default_and_says_so(tmp_path: Path) -> None:
    assert kafka_client_config(_s(tmp_path)) == {"security.protocol": "plaintext"}


def test_ssl_and_sasl_settings_map_to_librdkafka_properties(tmp_path: Path) -> None:
    pki = Authority(tmp_path / "pki", "test CA")
    client = pki.issue("btcpulse", client=True, stem="client")
    s = _s(
        tmp_path,
        kafka_security_protocol="sasl_ssl",  # case-insensitive, as Kafka docs write it either way
        kafka_ssl_ca_location=pki.path,
        kafka_ssl_certificate_location=client.cert,
        kafka_ssl_key_location=client.key,
        kafka_sasl_mechanism="scram-sha-512",
        kafka_sasl_username="btcpulse",
        kafka_sasl_password=PASSWORD,
    )
    conf = kafka_client_config(s)
    assert conf == {
        "security.protocol": "sasl_ssl",
        "ssl.ca.location": str(pki.path),
        "ssl.certificate.location": str(client.cert),
        "ssl.key.location": str(client.key),
        "enable.ssl.certificate.verification": "true",
        "ssl.endpoint.identification.algorithm": "https",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "btcpulse",
        "sasl.password": PASSWORD,
    }
    # librdkafka accepts every property (it parses them and loads the CA, certificate and
    # key when a client is made; an unknown or malformed one raises here)
    Producer(conf).flush(0)
    # the Spark source carries the same properties to its executors
    assert from_spark_options(spark_source_options(s)) == conf
    # nothing that shows the settings or the bus shows the password
    assert PASSWORD not in repr(s) and PASSWORD not in str(s.model_dump())
    bus = KafkaBus.from_settings(s)
    assert PASSWORD not in repr(bus) and redacted(conf)["sasl.password"] == "***"
    assert bus.extra == conf


def test_sasl_plaintext_and_unverified_host_names(tmp_path: Path) -> None:
    conf = kafka_client_config(
        _s(
            tmp_path,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="PLAIN",
            kafka_sasl_username="u",
            kafka_sasl_password=PASSWORD,
        )
    )
    assert conf["security.protocol"] == "sasl_plaintext" and "ssl.ca.location" not in conf
    Producer(conf).flush(0)
    pki = Authority(tmp_path / "pki", "test CA")
    off = kafka_client_config(
        _s(
            tmp_path,
            kafka_security_protocol="SSL",
            kafka_ssl_ca_location=pki.path,
            kafka_ssl_verify_hostname=False,
        )
    )
    assert off["ssl.endpoint.identification.algorithm"] == "none"


def test_a_file_that_is_not_a_certificate_is_refused_by_librdkafka(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    conf = kafka_client_config(
        _s(tmp_path, kafka_security_protocol="SSL", kafka_ssl_ca_location=bad)
    )
    with pytest.raises(KafkaException, match=r"ssl\.ca\.location"):
        Producer(conf)


def test_inconsistent_settings_are_refused_at_start(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    with pytest.raises(ValidationError, match="use SSL or SASL_SSL"):
        _s(tmp_path, kafka_ssl_ca_location=ca)  # TLS file with PLAINTEXT
    with pytest.raises(ValidationError, match="needs kafka_sasl_mechanism, kafka_sasl_password"):
        _s(tmp_path, kafka_security_protocol="SASL_SSL", kafka_sasl_username="u")
    with pytest.raises(ValidationError, match="use SASL_SSL"):
        _s(tmp_path, kafka_sasl_username="u")  # credentials with PLAINTEXT
    with pytest.raises(ValidationError, match="go together"):
        _s(tmp_path, kafka_security_protocol="SSL", kafka_ssl_key_location=ca)
    with pytest.raises(ValidationError) as err:
        _s(tmp_path, kafka_sasl_username="u", kafka_sasl_password=PASSWORD)
    assert PASSWORD not in str(err.value)  # the error never echoes the password
    missing = _s(tmp_path, kafka_security_protocol="SSL", kafka_ssl_ca_location=ca)
    with pytest.raises(TransportConfigError, match="kafka_ssl_ca_location"):
        kafka_client_config(missing)


def test_the_spark_source_gives_its_consumers_the_security_properties(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    from btcpulse.engines.spark.source import _conf

    s = _s(
        tmp_path,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="u",
        kafka_sasl_password=PASSWORD,
    )
    options = {"bootstrap": "b:9092", **spark_source_options(s)}
    options = {k.lower(): v for k, v in options.items()}  # as the reader receives them
    conf = _conf(options, "g")
    assert conf["bootstrap.servers"] == "b:9092" and conf["group.id"] == "g"
    assert {k: conf[k] for k in kafka_client_config(s)} == kafka_client_config(s)


# -- end to end, through a TLS-terminating proxy ----------------------------------------------
class TlsProxy:
    """Accepts TLS on ``port`` (certificate of ``cert``/``key``), forwards plaintext to
    ``target``. Counts completed handshakes."""

    def __init__(self, port: int, target: int, cert: Path, key: Path) -> None:
        self.port, self.target = port, target
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(cert, key)
        self.handshakes = 0
        self.loop = asyncio.new_event_loop()
        self.errors: list[str] = []  # refused handshakes land here (expected in some tests)
        self.loop.set_exception_handler(lambda _loop, ctx: self.errors.append(str(ctx)))
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", port, ssl=self.ctx)
        )
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1  # called only once the TLS handshake succeeded
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        await asyncio.gather(self._pipe(reader, up_w), self._pipe(up_r, writer))

    def close(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            tasks = [x for x in asyncio.all_tasks() if x is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@dataclass
class TlsKafka:
    port: int  # the TLS port (the proxy); the broker's own port is never given to clients
    ca: Authority
    rogue: Authority
    proxy: TlsProxy


@pytest.fixture(scope="module")
def tls_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsKafka]:
    binary = tansu_binary()
    if binary is None:
        _service_or_skip("the Kafka-protocol broker (tansu)", RuntimeError("not installed"))
        raise AssertionError("unreachable")
    root = tmp_path_factory.mktemp("kafka-tls")
    ca = Authority(root / "ca", "btcpulse test CA")
    rogue = Authority(root / "rogue", "rogue CA")
    server = ca.issue("localhost", dns=("localhost",), stem="server")
    plain, tls = free_port(), free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{plain}",
            "--advertised-listener-url",
            f"tcp://localhost:{tls}",  # metadata sends the clients back through TLS
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proxy = None
    try:
        wait_port(plain, 20.0, proc)
        proxy = TlsProxy(tls, plain, server.cert, server.key)
        yield TlsKafka(tls, ca, rogue, proxy)
    finally:
        if proxy is not None:
            proxy.close()
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def _tls_settings(tmp_path: Path, k: TlsKafka, ca: Path, host: str = "localhost") -> Settings:
    return _s(
        tmp_path,
        kafka_bootstrap=f"{host}:{k.port}",
        kafka_security_protocol="SSL",
        kafka_ssl_ca_location=ca,
        kafka_session_timeout_ms=6000,
    )


def test_messages_flow_over_verified_tls(tls_kafka: TlsKafka, tmp_path: Path) -> None:
    s = _tls_settings(tmp_path, tls_kafka, tls_kafka.ca.path)
    before = tls_kafka.proxy.handshakes
    admin = KafkaBus.from_settings(s)
    assert admin.ping(timeout=10.0) == 1
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    admin.create_topics({topic: 1})
    bus = open_bus(s)  # the factory every command uses
    producer = bus.producer()
    producer.produce(topic, b"over tls", key=b"k")
    assert producer.flush(10.0) == 0
    consumer = bus.consumer("tls-test")
    try:
        consumer.subscribe([topic])
        got = wait_for(lambda: consumer.poll(0.5), 30, "the message back over TLS")
    finally:
        consumer.close()
    assert [(m.key, m.value) for m in got] == [(b"k", b"over tls")]
    assert tls_kafka.proxy.handshakes > before  # the clients' connections were TLS


def test_a_broker_certificate_from_another_ca_is_refused(
    tls_kafka: TlsKafka, tmp_path: Path
) -> None:
    s = _tls_settings(tmp_path, tls_kafka, tls_kafka.rogue.path)
    with pytest.raises(BusError, match="certificate verify failed"):
        KafkaBus.from_settings(s).ping(timeout=3.0)


def test_a_broker_certificate_for_another_name_is_refused(
    tls_kafka: TlsKafka, tmp_path: Path
) -> None:
    s = _tls_settings(tmp_path, tls_kafka, tls_kafka.ca.path, host="127.0.0.1")
    with pytest.raises(BusError, match="certificate verify failed"):
        KafkaBus.from_settings(s).ping(timeout=3.0)
