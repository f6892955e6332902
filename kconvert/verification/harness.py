"""What the Node (TF.js) and Maven (Deeplearning4j) harnesses share: where they are cached and how
they are installed.

A harness ships inside the package as sources; a pip-installed kconvert may live in a read-only
site-packages, so it is installed on first use (or by ``kconvert setup``) into a per-user cache
directory named by the hash of what pins it, so that a kconvert pinning other packages or sources
gets its own.  It is installed into a staging directory beside that one first and renamed into
place, so a failed or interrupted install never leaves a half-installed harness behind.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path


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
