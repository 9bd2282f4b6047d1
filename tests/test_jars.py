"""The Delta jar cache: which resolved jars are kept, and the error when set-up has not run."""

from __future__ import annotations

import dataclasses

import pytest

from lakehouse.platform import jars
from lakehouse.platform.config import Settings


def test_keeps_delta_and_drops_what_pyspark_ships():
    resolved = [
        "io.delta_delta-spark_4.2_2.13-4.4.0.jar",
        "io.delta_delta-storage-4.4.0.jar",
        "org.apache.hadoop_hadoop-client-api-3.4.2.jar",
        "com.github.luben_zstd-jni-1.5.7-3.jar",
        "commons-logging_commons-logging-1.3.0.jar",
        "io.unitycatalog_unitycatalog-client-0.6.0.jar",
    ]
    shipped = ["hadoop-client-api-3.5.0.jar", "zstd-jni-1.5.7-7.jar", "json4s-ast_2.13-4.0.7.jar"]
    assert jars.select_new_jars(resolved, shipped) == [
        "io.delta_delta-spark_4.2_2.13-4.4.0.jar",
        "io.delta_delta-storage-4.4.0.jar",
        "io.unitycatalog_unitycatalog-client-0.6.0.jar",
    ]


def test_artifact_names():
    assert jars.ivy_artifact("io.delta_delta-spark_4.2_2.13-4.4.0.jar") == "delta-spark_4.2_2.13"
    assert jars.shipped_artifact("json4s-ast_2.13-4.0.7.jar") == "json4s-ast_2.13"


def test_cache_after_setup_holds_delta_and_no_duplicate_of_pyspark():
    cached = jars.cached_jars(Settings.from_env())
    names = [p.name for p in cached]
    assert any(n.startswith("io.delta_delta-spark_4.2_2.13-") for n in names), names
    shipped = {jars.shipped_artifact(p.name) for p in (jars.spark_home() / "jars").glob("*.jar")}
    assert not [n for n in names if jars.ivy_artifact(n) in shipped]


def test_missing_cache_says_how_to_fix(tmp_path):
    settings = dataclasses.replace(Settings.from_env(), jar_cache_dir=tmp_path)
    with pytest.raises(jars.JarsMissing, match="make setup"):
        jars.cached_jars(settings)
