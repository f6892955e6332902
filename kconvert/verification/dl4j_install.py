"""Where the Deeplearning4j harness lives, and building it where a pip install can.

The harness (``dl4j_harness/``: a Maven ``pom.xml`` pinning Deeplearning4j 1.0.0-M2.1 and one
Java program) ships inside the package as sources.  A development checkout builds it beside them
(``./dev.sh``: ``target/harness.jar`` and ``target/classpath.txt``, the resolved jars in
``~/.m2``); elsewhere it is built into the per-user cache (see
:mod:`kconvert.verification.harness`), in a directory named by the sources' hash.  A build records
the sources' hash (``target/.kconvert-setup``), so a stale jar is never run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from kconvert.errors import KConvertError
from kconvert.verification import harness as base

#: the harness as packaged (built in place in a development checkout)
PACKAGED = Path(__file__).parent / "dl4j_harness"
#: the Deeplearning4j release the harness runs (the pom's ``dl4j.version``)
DL4J_VERSION = "1.0.0-M2.1"
IMPLEMENTATION = f"Deeplearning4j {DL4J_VERSION}"
JAR = Path("target") / "harness.jar"
CLASSPATH = Path("target") / "classpath.txt"
STAMP = Path("target") / ".kconvert-setup"
MAIN_CLASS = "kconvert.harness.Predict"
#: what Maven runs: the jar, then the dependencies' classpath (from the local repository)
GOALS = ["package", "dependency:build-classpath", f"-Dmdep.outputFile={CLASSPATH}"]


class Dl4jUnavailable(KConvertError):
    """Java, Maven or the harness's build are missing."""


def sources(directory: Path = PACKAGED) -> list[Path]:
    """The files the harness is built from, in a fixed order (``pom.xml``, then ``src/`` sorted bytewise, as
    ``find src -type f | LC_ALL=C sort`` lists them)."""
    files = (p for p in (directory / "src").rglob("*") if p.is_file())
    return [directory / "pom.xml", *sorted(files, key=lambda p: str(p.relative_to(directory)).encode())]


def source_hash(directory: Path = PACKAGED) -> str:
    """The SHA-256 of the sources concatenated (what ``./dev.sh`` computes with ``sha256sum``)."""
    digest = hashlib.sha256()
    for path in sources(directory):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_harness() -> Path:
    return base.cached("dl4j-harness", source_hash())


def built(directory: Path) -> bool:
    """The jar and classpath are there, built from the packaged sources."""
    stamp = directory / STAMP
    return (directory / JAR).is_file() and (directory / CLASSPATH).is_file() and stamp.is_file() \
        and stamp.read_text().strip() == source_hash()


def harness() -> Path | None:
    """The built harness to run models with: the packaged one (a development checkout), else the
    per-user one; None when neither is built from the current sources."""
    for directory in (PACKAGED, cached_harness()):
        if built(directory):
            return directory
    return None


def missing() -> str | None:
    """None when DL4J models can be run; otherwise what is missing and how to get it."""
    return base.missing("java", "Java is not installed (Deeplearning4j models are run with java)", "mvn",
                        "the Deeplearning4j harness is not built and Maven (mvn) is not found to build it: install "
                        "Maven, then run 'kconvert setup'", harness)


def classpath(directory: Path) -> str:
    return os.pathsep.join([str(directory / JAR), (directory / CLASSPATH).read_text().strip()])


def build(directory: Path) -> None:
    """Build the harness in ``directory`` with Maven: offline first (the jars are in ``~/.m2``
    once resolved), else online.  Raises :class:`Dl4jUnavailable` when Maven fails."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Dl4jUnavailable("Maven (mvn) is not found: install it to build the Deeplearning4j harness")
    done = None
    for offline in (["-o"], []):
        done = subprocess.run([mvn, "-q", "-B", *offline, *GOALS], cwd=directory, capture_output=True, text=True,
                              timeout=1800)
        if done.returncode == 0:
            (directory / STAMP).write_text(source_hash(directory) + "\n")
            return
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line] or ["no output"]
    raise Dl4jUnavailable(f"building the Deeplearning4j harness with Maven failed: {errors[0].strip()}",
                          file=str(directory))


def install(announce: bool = True) -> Path:
    """Build the harness into the per-user cache (once) and return its directory."""
    target = cached_harness()
    if built(target):
        return target
    return base.install(target, PACKAGED, sources(), build, built,
                        f"kconvert: building the Deeplearning4j harness ({IMPLEMENTATION}, Maven) into {target} (once)"
                        if announce else None)
