"""What the Node (TF.js) and Maven (Deeplearning4j) harnesses share: where they are cached, how
they are installed, how a process runs many models, and how its results come back.

A harness ships inside the package as sources; a pip-installed kconvert may live in a read-only
site-packages, so it is installed on first use (or by ``kconvert setup``) into a per-user cache
directory named by the hash of what pins it, so that a kconvert pinning other packages or sources
gets its own.  It is installed into a staging directory beside that one first and renamed into
place, so a failed or interrupted install never leaves a half-installed harness behind.  Starting
Node or a JVM costs seconds, so one process runs a list of jobs (``jobs.json``) and writes each
model's result to its own file, read back whatever became of the process; in batch mode that
process serves every model of its worker (:mod:`kconvert.verification.harness_server`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from kconvert.verification import harness_server
from kconvert.verification.harness_server import SCRATCH


def cache_root() -> Path:
    """``$KCONVERT_CACHE_DIR``, else ``$XDG_CACHE_HOME/kconvert``, else ``~/.cache/kconvert``."""
    if os.environ.get("KCONVERT_CACHE_DIR"):
        return Path(os.environ["KCONVERT_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kconvert"


def cached(name: str, digest: str) -> Path:
    """The per-user directory of the harness ``name`` pinned by the (hex) ``digest``."""
    return cache_root() / f"{name}-{digest[:12]}"


def missing(runtime: str, no_runtime: str, installer: str, no_installer: str,
            harness: Callable[[], Path | None]) -> str | None:
    """None when the ``runtime`` program is there and so is the ``harness`` or the ``installer``
    program to install it; otherwise the message saying which is not."""
    if shutil.which(runtime) is None:
        return no_runtime
    if harness() is None and shutil.which(installer) is None:
        return no_installer
    return None


def install(target: Path, packaged: Path, files: Iterable[Path], build: Callable[[Path], None],
            installed: Callable[[Path], bool], announce: str | None) -> Path:
    """Copy ``files`` (under ``packaged``) into a staging directory beside ``target``, ``build``
    there and rename it to ``target``; ``announce`` is printed first, as installing takes a while."""
    if announce:
        print(announce, file=sys.stderr, flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        for path in files:
            copy = staging / path.relative_to(packaged)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
        build(staging)
        try:
            os.rename(staging, target)
        except OSError:  # another process installed it meanwhile
            if not installed(target):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def run_jobs(command: list[str], specs: list[dict[str, Any]], directory: str, timeout: float, runtime: str,
             crash: Callable[[subprocess.CompletedProcess[str]], str | None],
             env: dict[str, str] | None = None) -> str | None:
    """Write ``specs`` to ``directory/jobs.json`` and run ``command`` on it (``env``: variables set
    for it; :data:`SCRATCH` in it, where the process may write files of its own): on the harness
    server of the batch this process is a model of, else in a process of its own.  None when the
    harness ran the list to its end (as ``crash`` judges its exit status and stderr), else why not."""
    job_file = os.path.join(directory, "jobs.json")
    with open(job_file, "w") as fh:
        json.dump(specs, fh)
    try:
        done = harness_server.run(command, job_file, timeout, env) or subprocess.run(
            [*(arg.replace(SCRATCH, directory) for arg in command), job_file], capture_output=True, text=True,
            timeout=timeout, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return f"{runtime} did not finish within {timeout:.0f} s"
    return crash(done)


Run = TypeVar("Run", bound="HarnessRun")


@dataclass
class HarnessRun(ABC):
    """What a harness made of one model: its outputs and the activations asked for, or an error."""

    #: the runtime's name in messages
    RUNTIME: ClassVar[str]

    outputs: list[np.ndarray] = field(default_factory=list)
    activations: dict[str, np.ndarray] = field(default_factory=dict)
    implementation: str | None = None
    error: str | None = None
    #: the runtime's names for ``outputs`` where it has them (verification matches them by name)
    output_names: list[str] | None = None

    @classmethod
    def collect(cls: type[Run], result: str, crash: str | None) -> Run:
        """The run recorded in the ``result`` file; without one, the process's ``crash``."""
        if not os.path.exists(result):
            return cls(error=crash or f"{cls.RUNTIME} produced no result")
        with open(result) as fh:
            data = json.load(fh)
        if "error" in data:
            return cls(error=f"{cls.RUNTIME} could not load or run the model: {data['error']}")
        return cls.read(data)

    @classmethod
    @abstractmethod
    def read(cls: type[Run], data: dict[str, Any]) -> Run:
        """The run from a result file that reports no error."""
