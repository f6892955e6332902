"""Where the TF.js harness lives, and installing it where a pip install can.

The harness (``tfjs_harness/``: ``package.json``, a lockfile pinning ``@tensorflow/tfjs``, and
``predict.js``) ships inside the package, but its Node packages do not: a development checkout
installs them beside it (``./dev.sh``); elsewhere ``npm ci`` installs them into the per-user cache
(see :mod:`kconvert.verification.harness`), in a directory named by the lockfile's hash.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from kconvert.errors import KConvertError
from kconvert.verification import harness as base

#: the harness as packaged (with its node_modules in a development checkout)
PACKAGED = Path(__file__).parent / "tfjs_harness"
FILES = ("package.json", "package-lock.json", "predict.js")
TFJS = Path("node_modules") / "@tensorflow" / "tfjs" / "package.json"


class TfjsUnavailable(KConvertError):
    """Node.js or the harness's packages are missing."""


def cached_harness() -> Path:
    return base.cached("tfjs-harness", hashlib.sha256((PACKAGED / "package-lock.json").read_bytes()).hexdigest())


def installed(directory: Path) -> bool:
    return (directory / TFJS).is_file()


def harness() -> Path | None:
    """The installed harness to run models with: the packaged one where its packages are installed
    (a development checkout), else the per-user one; None when neither is."""
    for directory in (PACKAGED, cached_harness()):
        if installed(directory):
            if directory != PACKAGED:
                _refresh(directory)
            return directory
    return None


def _refresh(directory: Path) -> None:
    """Keep the cached predict.js that of this kconvert (the lockfile, hence packages, is the same)."""
    script = (PACKAGED / "predict.js").read_bytes()
    if (directory / "predict.js").read_bytes() != script:
        staged = directory / ".predict.js.partial"
        staged.write_bytes(script)
        staged.replace(directory / "predict.js")


def missing() -> str | None:
    """None when TF.js models can be run; otherwise what is missing and how to get it."""
    return base.missing("node", "Node.js is not installed (TF.js targets are run with node)", "npm",
                        "the TF.js harness is not installed and npm is not found to install it: install npm, then run "
                        "'kconvert setup'", harness)


def install(announce: bool = True) -> Path:
    """Install the harness into the per-user cache (once; ``npm ci`` from the pinned lockfile) and
    return its directory.  Raises :class:`TfjsUnavailable` when npm is missing or fails."""
    target = cached_harness()
    if installed(target):
        _refresh(target)
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise TfjsUnavailable("npm is not found: install Node.js with npm to run TF.js models")

    def npm_ci(staging: Path) -> None:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error", "--prefer-offline"],
                              cwd=staging, capture_output=True, text=True, timeout=900)
        if done.returncode or not installed(staging):
            last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise TfjsUnavailable(f"installing the TF.js harness with npm failed: {last}", file=str(target))

    return base.install(target, PACKAGED, [PACKAGED / name for name in FILES], npm_ci, installed,
                        f"kconvert: installing the TF.js harness (@tensorflow/tfjs, pinned) into {target} (once)"
                        if announce else None)
