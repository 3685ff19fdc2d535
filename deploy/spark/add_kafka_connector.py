"""Put Spark's JVM Kafka connector (spark-sql-kafka-0-10) into pyspark's jars folder.

Run at image build time (deploy/Dockerfile.spark, ``--build-arg SPARK_KAFKA_CONNECTOR=true``),
with Maven Central (or the mirror in ``MAVEN_REPOSITORY``) reachable. Spark's own Ivy resolver
fetches the connector that matches the installed pyspark (same Spark version and Scala binary
version) with its transitive dependencies (kafka-clients, the token provider, commons-pool2...);
only the artifacts Spark does not already ship are copied, so no library ends up twice on the
classpath in two versions.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

_VERSION_TOKEN = re.compile(r"\d+\.\d+")  # the first "-"-separated token that is a version


def artifact_name(jar: str) -> str:
    """``kafka-clients-3.9.1.jar`` and Ivy's ``org.apache.kafka_kafka-clients-3.9.1.jar`` are
    both ``kafka-clients``; ``spark-sql-kafka-0-10_2.13-4.3.0.jar`` is
    ``spark-sql-kafka-0-10_2.13``."""
    stem = jar.removesuffix(".jar")
    head, sep, rest = stem.partition("_")
    if sep and "." in head and "-" not in head:  # Ivy's "<organisation>_" prefix
        stem = rest
    tokens = stem.split("-")
    for i, token in enumerate(tokens[1:], start=1):
        if _VERSION_TOKEN.match(token):
            return "-".join(tokens[:i])
    return stem


def jars_to_add(shipped: Iterable[str], resolved: Iterable[str]) -> list[str]:
    """The resolved jars whose artifact Spark does not ship already, sorted."""
    have = {artifact_name(j) for j in shipped}
    return sorted(j for j in resolved if j.endswith(".jar") and artifact_name(j) not in have)


def scala_binary_version(jars_dir: Path) -> str:
    for jar in jars_dir.glob("spark-core_*.jar"):
        match = re.match(r"spark-core_(\d+\.\d+)-", jar.name)
        if match:
            return match.group(1)
    raise SystemExit(f"no spark-core jar in {jars_dir}: is pyspark installed?")


def main() -> int:
    import pyspark
    from pyspark.sql import SparkSession

    jars_dir = Path(pyspark.__file__).parent / "jars"
    coordinate = (
        f"org.apache.spark:spark-sql-kafka-0-10_{scala_binary_version(jars_dir)}:"
        f"{pyspark.__version__}"
    )
    with tempfile.TemporaryDirectory(prefix="ivy-") as ivy:
        builder = (
            SparkSession.builder.master("local[1]")
            .appName("fetch-kafka-connector")
            .config("spark.jars.packages", coordinate)
            .config("spark.jars.ivy", ivy)
            .config("spark.ui.enabled", "false")
        )
        if repository := os.environ.get("MAVEN_REPOSITORY"):
            builder = builder.config("spark.jars.repositories", repository)
        builder.getOrCreate().stop()
        resolved = Path(ivy) / "jars"
        added = jars_to_add(
            (p.name for p in jars_dir.glob("*.jar")), (p.name for p in resolved.glob("*.jar"))
        )
        if not any(artifact_name(j).startswith("spark-sql-kafka-0-10") for j in added):
            print(f"{coordinate} was not resolved", file=sys.stderr)
            return 1
        for jar in added:
            shutil.copy2(resolved / jar, jars_dir / jar)
            print(f"added {jar}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
