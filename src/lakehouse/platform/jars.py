"""The Delta Lake jars: resolved once at set-up from Maven Central, read from a cache afterwards.

The `delta-spark` wheel carries no jars, so `lakehouse setup` asks Ivy (through `spark-submit
--packages`) for `io.delta:delta-spark_4.2_2.13` and its closure, keeps only the jars that pyspark
does not already ship (the closure also drags in older Hadoop, Parquet and Jackson jars that would
shadow pyspark's own), and copies them into a versioned cache folder with a manifest. The server
reads that manifest and passes the jars with `--jars`; nothing is downloaded at run or test time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lakehouse.platform.config import DELTA_PACKAGE, DELTA_VERSION, Settings

MANIFEST = "jars.txt"


class JarsMissing(RuntimeError):
    """The Delta jars have not been resolved into the cache yet."""


def spark_home() -> Path:
    """The Spark distribution inside the pyspark wheel (jars, bin/spark-submit)."""
    import pyspark

    return Path(pyspark.__file__).parent


def spark_env() -> dict[str, str]:
    """The environment for `spark-submit`: this wheel's Spark and this interpreter, never another
    install found on PATH."""
    env = dict(os.environ)
    env["SPARK_HOME"] = str(spark_home())
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    return env


def delta_dir(settings: Settings) -> Path:
    return settings.jar_cache_dir / f"delta-{DELTA_VERSION}"


# Resolved artifacts that pyspark covers under another name: jcl-over-slf4j replaces
# commons-logging, and RoaringBitmap 1.x folded in the old `shims` module.
COVERED_BY_PYSPARK = {"commons-logging", "shims"}


def _strip_version(name: str) -> str:
    return re.sub(r"-\d[\w.\-]*\.jar$", "", name)


def ivy_artifact(jar: str) -> str:
    """`org.apache.hadoop_hadoop-client-api-3.4.2.jar` -> `hadoop-client-api` (Ivy names
    retrieved jars `<organisation>_<artifact>-<revision>.jar`)."""
    return _strip_version(jar.partition("_")[2])


def shipped_artifact(jar: str) -> str:
    """`json4s-ast_2.13-4.0.7.jar` -> `json4s-ast_2.13` (pyspark ships `<artifact>-<ver>.jar`)."""
    return _strip_version(jar)


def select_new_jars(resolved: list[str], shipped: list[str]) -> list[str]:
    """The Ivy-resolved jars whose artifact pyspark does not already ship, sorted."""
    have = {shipped_artifact(j) for j in shipped} | COVERED_BY_PYSPARK
    return sorted(j for j in resolved if ivy_artifact(j) not in have)


def cached_jars(settings: Settings) -> list[Path]:
    """The cached Delta jars; raises `JarsMissing` with the fix when set-up has not run."""
    manifest = delta_dir(settings) / MANIFEST
    if not manifest.is_file():
        raise JarsMissing(
            f"Delta jars not found in {delta_dir(settings)}. Run `make setup` "
            "(or `lakehouse setup`) once to resolve them from Maven Central."
        )
    names = [line.strip() for line in manifest.read_text().splitlines() if line.strip()]
    jars = [delta_dir(settings) / name for name in names]
    missing = [str(j) for j in jars if not j.is_file()]
    if missing:
        raise JarsMissing(f"Delta jar cache is incomplete, missing: {missing}. Run `make setup`.")
    return jars


def resolve(settings: Settings, force: bool = False) -> list[Path]:
    """Resolve the Delta closure with Ivy into the cache (no-op when already cached)."""
    target = delta_dir(settings)
    if not force:
        try:
            return cached_jars(settings)
        except JarsMissing:
            pass
    print(f"Resolving {DELTA_PACKAGE} from Maven Central into {target} ...", flush=True)
    ivy = settings.jar_cache_dir / "ivy"
    with tempfile.TemporaryDirectory() as tmp:
        noop = Path(tmp) / "noop.py"
        noop.write_text("print('resolved')\n")
        cmd = [
            str(spark_home() / "bin" / "spark-submit"),
            "--conf", f"spark.jars.ivy={ivy}",
            "--packages", DELTA_PACKAGE,
            str(noop),
        ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=spark_env())
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"Resolving {DELTA_PACKAGE} failed:\n{tail}")
    resolved = sorted(p.name for p in (ivy / "jars").glob("*.jar"))
    shipped = sorted(p.name for p in (spark_home() / "jars").glob("*.jar"))
    keep = select_new_jars(resolved, shipped)
    if not any(j.startswith("io.delta_delta-spark") for j in keep):
        raise RuntimeError(f"Ivy resolved no delta-spark jar: {resolved}")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for jar in keep:
        shutil.copy2(ivy / "jars" / jar, target / jar)
    # The manifest is written last: its presence means the cache is complete.
    (target / MANIFEST).write_text("\n".join(keep) + "\n")
    print(f"Cached {len(keep)} jars (skipped {len(resolved) - len(keep)} that pyspark ships).")
    return [target / j for j in keep]
