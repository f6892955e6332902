"""Running the source model in the installed Keras, in a subprocess, as a reference.

Only files that Keras can load without running code from them are attempted: Keras 3 loads
``.keras`` archives and legacy HDF5 full models with ``safe_mode=True`` (Lambda layers are
refused by Keras itself), and never Keras 1 files, which it cannot read.  The subprocess keeps
Keras's memory and global state out of the caller and bounds the time it may take.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from kconvert.ir.graph import Model

_SCRIPT = r"""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import keras

spec = json.loads(sys.argv[1])
model = keras.saving.load_model(spec["model"], compile=False, safe_mode=True)
with np.load(spec["inputs"], allow_pickle=False) as data:
    xs = [data[f"x{i}"] for i in range(len(data.files))]
names = []
outputs = list(model.outputs)
for name in spec["layers"]:
    try:
        layer = model.get_layer(name)
        if len(layer._inbound_nodes) == 1 and len(layer._inbound_nodes[0].output_tensors) == 1:
            outputs.append(layer.output)
            names.append(name)
    except Exception:
        pass
probe = keras.Model(model.inputs, outputs)
ys = probe.predict(xs if len(xs) > 1 else xs[0], verbose=0)
ys = ys if isinstance(ys, (list, tuple)) else [ys]
n_out = len(model.outputs)
np.savez(spec["result"], **{f"y{i}": np.asarray(y) for i, y in enumerate(ys[:n_out])},
         **{f"a_{n}": np.asarray(y) for n, y in zip(names, ys[n_out:])})
print(json.dumps({"keras_version": keras.__version__}))
"""


@dataclass
class KerasRun:
    """What the installed Keras computed, or why it was not asked."""

    outputs: list[np.ndarray] = field(default_factory=list)
    activations: dict[str, np.ndarray] = field(default_factory=dict)
    keras_version: str | None = None
    skipped: str | None = None  # the reason Keras was not (or could not be) used
    error: str | None = None


def can_run_in_keras(model: Model, path: str | None) -> str | None:
    """None when the installed Keras can load ``path`` safely; otherwise the reason it cannot."""
    prov = model.provenance
    if path is None or prov is None or prov.source is None:
        return "the source is not a file"
    if prov.weights_source is not None:
        return "the source is a configuration plus a separate weights file"
    if prov.source_format not in ("keras-h5", "keras-v3"):
        return f"Keras cannot load a {prov.source_format} file with its weights"
    if prov.keras_major == 1:
        return "the installed Keras cannot read Keras 1 files"
    if any(layer.source_class in ("Lambda", "Merge") for layer in model.iter_layers(recursive=True)):
        return "the model has Lambda or Merge layers, which Keras would have to run as code"
    try:
        installed = version("keras")
    except PackageNotFoundError:
        return "Keras is not installed"
    if tuple(int(p) for p in installed.split(".")[:2] if p.isdigit()) < (3, 12):
        return f"Keras {installed} predates the safe_mode fixes for HDF5 files (CVE-2025-9905); not used"
    return None


def run_in_keras(model: Model, path: str, inputs: list[np.ndarray], timeout: float = 600.0) -> KerasRun:
    reason = can_run_in_keras(model, path)
    if reason:
        return KerasRun(skipped=reason)
    layers = [layer.name for layer in model.layers if layer.kind != "InputLayer"]
    with tempfile.TemporaryDirectory(prefix="kconvert-keras-") as tmp:
        np.savez(os.path.join(tmp, "inputs.npz"), **{f"x{i}": x for i, x in enumerate(inputs)})
        result = os.path.join(tmp, "result.npz")
        spec = {"model": str(Path(path).resolve()), "inputs": os.path.join(tmp, "inputs.npz"),
                "result": result, "layers": layers}
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")}
        try:
            done = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(spec)], capture_output=True,
                                  text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return KerasRun(error=f"Keras did not finish within {timeout:.0f} s")
        if done.returncode != 0:
            last = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["(no message)"]
            return KerasRun(skipped=f"the installed Keras could not load or run the file: {last[0][:300]}")
        with np.load(result, allow_pickle=False) as data:
            outputs = [data[f"y{i}"] for i in range(len(model.outputs))]
            activations = {k[2:]: data[k] for k in data.files if k.startswith("a_")}
    version = json.loads(done.stdout.strip().splitlines()[-1]).get("keras_version")
    return KerasRun(outputs, activations, version)
