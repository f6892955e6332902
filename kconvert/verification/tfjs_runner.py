"""Running TF.js layers models in the real @tensorflow/tfjs, in Node, as a verification target.

The harness (``tfjs_harness/``: its own ``package.json`` and lockfile, installed with
``npm ci``) loads each model from disk with ``tf.loadLayersModel`` on the pure-JavaScript CPU
backend and predicts.  Several models share one Node process.  A model directory holding kconvert's companion
module (``kconvert-layers.js``) has the packaged module loaded first, as a user's page would load
the copy; any other file of that name is refused (``tfjs_companion``).  Every ``model.json`` is
checked against ``schemas/tfjs-layers-model.schema.json`` before it is run.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kconvert.formats.tfjs import COMPANION_FILE, MODEL_FILE
from kconvert.verification import tfjs_install
from kconvert.verification.tfjs_companion import vetted_companion
from kconvert.writers.tfjs.companion import ASK_HINT, PACKAGED
from kconvert.verification.harness import HarnessRun, run_jobs
from kconvert.verification.tfjs_install import TfjsUnavailable


@dataclass
class TfjsRun(HarnessRun):
    """``implementation``: "@tensorflow/tfjs 4.22.0"."""

    RUNTIME = "TF.js"

    @classmethod
    def read(cls, data: dict[str, Any]) -> TfjsRun:
        return cls([_decode(t) for t in data["outputs"]], {k: _decode(t) for k, t in data["activations"].items()},
                   f"@tensorflow/tfjs {data['tfjs']}", output_names=data.get("outputNames"))


def unavailable_reason() -> str | None:
    """None when models can be run (the harness installs itself on first use where npm is);
    otherwise what is missing and how to install it."""
    return tfjs_install.missing()


def check_model_json(path: Path) -> None:
    """Check a model.json against ``schemas/tfjs-layers-model.schema.json``."""
    from kconvert.readers.context import Limits
    from kconvert.readers.files import read_input
    from kconvert.readers.text import parse_json
    from kconvert.schemas import validate

    limits = Limits()
    document = parse_json(read_input(path, limits.max_config_bytes, "a model configuration"), str(path), limits)
    validate(document, "tfjs-layers-model", str(path))


def run_tfjs(path: str | os.PathLike[str], inputs: list[np.ndarray], layers: list[str] = (),
             timeout: float = 600.0) -> TfjsRun:
    return run_tfjs_many([(path, inputs, list(layers))], timeout)[0]


def run_tfjs_many(jobs: list[tuple[str | os.PathLike[str], list[np.ndarray], list[str]]],
                  timeout: float = 1800.0) -> list[TfjsRun]:
    """Predict with several TF.js models in one Node process; ``layers`` asks for activations.

    Raises :class:`ForeignCodeError` before Node starts when a model's directory holds a
    ``kconvert-layers.js`` that is not kconvert's."""
    companions = [vetted_companion(path) for path, _, _ in jobs]
    reason = unavailable_reason()
    if reason:
        raise TfjsUnavailable(reason)
    harness = tfjs_install.harness() or tfjs_install.install()
    with tempfile.TemporaryDirectory(prefix="kconvert-tfjs-") as tmp:
        specs = []
        for i, ((path, inputs, layers), companion) in enumerate(zip(jobs, companions)):
            specs.append({"model": str(Path(path).resolve()), "inputs": [_encode(x) for x in inputs],
                          "layers": list(layers), "result": os.path.join(tmp, f"result{i}.json"),
                          "companion": companion is not None})
        # the one module a job may ask for is the packaged one, named here and nowhere in a job
        crash = run_jobs(["node", str(harness / "predict.js"), str(PACKAGED)], specs, tmp, timeout, "Node", _crash)
        return [_explained(TfjsRun.collect(spec["result"], crash), companion)
                for spec, companion in zip(specs, companions)]


def _crash(done: subprocess.CompletedProcess[str]) -> str | None:
    """Node's last line of stderr when it failed (its status, killed without a word)."""
    if not done.returncode:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"Node ended with status {done.returncode}"


def _explained(run: TfjsRun, companion: Path | None) -> TfjsRun:
    """A model tfjs could not load for a class only kconvert's companion module registers, with no
    module beside it: say that, which tfjs's "Unknown layer" does not."""
    from kconvert.writers.tfjs.dialect import COMPANION_KINDS  # (their TF.js class names are the kinds')

    unknown = re.search(r"Unknown layer: (\w+)", run.error or "")
    if companion is None and unknown and unknown.group(1) in COMPANION_KINDS:
        run.error = (f"{run.error} -- stock TF.js has no {unknown.group(1)} and kconvert's {COMPANION_FILE} is not "
                     f"beside {MODEL_FILE}: {ASK_HINT}")
    return run


def _encode(x: np.ndarray) -> dict:
    x = np.asarray(x)
    dtype = "int32" if x.dtype.kind in "iub" else "float32"
    data = np.ascontiguousarray(x, dtype="<i4" if dtype == "int32" else "<f4")
    return {"shape": list(x.shape), "dtype": dtype, "data": base64.b64encode(data.tobytes()).decode("ascii")}


def _decode(t: dict) -> np.ndarray:
    dtype = "<i4" if t["dtype"] == "int32" else "<f4"
    return np.frombuffer(base64.b64decode(t["data"]), dtype=dtype).reshape(t["shape"])
