"""Running the source model in the installed Keras, in a subprocess, as a reference.

A file written by Keras 2 (or tf.keras) runs in ``tf_keras`` when it is installed, because Keras 3
silently changed what some layers compute (``hard_sigmoid``); otherwise in Keras 3.  Only files
kconvert has already read, containing only layer classes it knows and no Lambda or code-carrying
Merge, are handed over, and Keras 3 loads them with ``safe_mode=True``.  Keras 1 files are never
attempted: no installed Keras reads them.  The subprocess keeps Keras's memory and global state
out of the caller and bounds the time it may take.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from kconvert.ir.graph import Model

_SCRIPT = r"""
import json, os, sys, traceback
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np


def load(job):
    if job["implementation"] == "tf_keras":
        import tf_keras as keras
        return keras, keras.models.load_model(job["model"], compile=False)
    import keras
    if job.get("weights"):  # a to_json() configuration and its weights
        with open(job["model"]) as fh:
            model = keras.models.model_from_json(fh.read())
        model.load_weights(job["weights"])
        return keras, model
    return keras, keras.saving.load_model(job["model"], compile=False, safe_mode=True)


def run(job):
    keras, model = load(job)
    with np.load(job["inputs"], allow_pickle=False) as data:
        xs = [data[f"x{i}"] for i in range(len(data.files))]
    if any(x.dtype.kind == "U" for x in xs):  # Keras's predict takes strings only as tf.string tensors
        import tensorflow as tf
        xs = [tf.constant(x) if x.dtype.kind == "U" else x for x in xs]
    names, outputs = [], list(model.outputs)
    # a model kconvert cut (--inputs-from) starts at those layers' outputs
    inputs = [model.get_layer(name).output for name in job["inputs_from"]] or model.inputs
    for name in job["layers"]:  # single-call, single-output layers, to locate a divergence
        try:
            layer = model.get_layer(name)
            produced = layer._inbound_nodes[0].output_tensors if len(layer._inbound_nodes) == 1 else None
            # (Keras 3.15 refuses a model cut at intermediate tensors that lists one output twice)
            again = job["inputs_from"] and any(layer.output is o for o in outputs)
            if produced is not None and not again and (not isinstance(produced, (list, tuple)) or len(produced) == 1):
                outputs.append(layer.output)
                names.append(name)
        except Exception:
            pass
    preprocess = job["preprocess"]  # string preprocessing layers, whose outputs feed a numeric model
    outputs += [model.get_layer(name).output for name in preprocess]
    cut, given = keras.Model(inputs, outputs), xs if len(xs) > 1 else xs[0]
    # one batch of predict's size runs eagerly: tracing a large model costs more than running it once
    ys = cut(given, training=False) if len(xs[0]) <= 32 else cut.predict(given, verbose=0)
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    n, m = len(model.outputs), len(model.outputs) + len(names)
    np.savez(job["result"], **{f"y{i}": np.asarray(y) for i, y in enumerate(ys[:n])},
             **{f"a_{k}": np.asarray(y) for k, y in zip(names, ys[n:m])},
             **{f"p_{k}": np.asarray(y) for k, y in zip(preprocess, ys[m:])})


for job in json.load(open(sys.argv[1])):
    try:
        run(job)
    except BaseException as exc:  # one file's failure must not stop the others
        message = (traceback.format_exception_only(type(exc), exc)[-1] or repr(exc)).strip()
        with open(job["error"], "w") as fh:
            fh.write(message)
"""


@dataclass
class KerasRun:
    """What the installed Keras computed, or why it was not asked."""

    outputs: list[np.ndarray] = field(default_factory=list)
    activations: dict[str, np.ndarray] = field(default_factory=dict)
    #: what the string preprocessing layers asked for made of the inputs, by layer
    preprocessed: dict[str, np.ndarray] = field(default_factory=dict)
    implementation: str | None = None  # "Keras 3.15.1", "tf_keras 2.21.0"
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
    unknown = [n.message for n in model.report.notes if n.category == "unsupported" and n.message.startswith("unknown")]
    if unknown:  # a class kconvert does not know is one Keras would look up, perhaps import
        return f"the file names objects kconvert does not know ({unknown[0].split(';')[0]})"
    if prov.backend == "theano" and any(k in layer.kind for layer in model.iter_layers(recursive=True)
                                        for k in ("Conv", "Depthwise")):
        return ("trained with Theano: the installed Keras does not convert Theano convolution kernels "
                "(multi-backend Keras did), so it would compute a different function")
    if implementation(model) is None:
        return "no suitable Keras is installed (Keras >= 3.12 for its safe_mode fixes, or tf_keras)"
    return None


def installed_version(package: str) -> str | None:
    """The installed version of ``keras`` or ``tf_keras``; None when absent, or a Keras older than
    3.12 (whose safe_mode could be bypassed)."""
    try:
        found = version(package)
    except PackageNotFoundError:
        return None
    if package == "keras" and tuple(int(p) for p in found.split(".")[:2] if p.isdigit()) < (3, 12):
        return None
    return found


def implementation(model: Model) -> tuple[str, str] | None:
    """(package, version) of the Keras to run ``model`` in, or None."""
    writer = model.provenance.keras_major if model.provenance else None
    tf_keras = installed_version("tf_keras")
    if writer == 2 and tf_keras:
        return "tf_keras", tf_keras
    keras3 = installed_version("keras")
    return ("keras", keras3) if keras3 else None


def run_in_keras(model: Model, path: str | None, inputs: list[np.ndarray], timeout: float = 600.0,
                 preprocess: list[str] | None = None) -> KerasRun:
    """``preprocess``: string preprocessing layers whose outputs to record too (no layer is probed then)."""
    return run_many([(model, path, inputs)], timeout, preprocess)[0]


def run_many(jobs: list[tuple[Model, str | None, list[np.ndarray]]], timeout: float = 1800.0,
             preprocess: list[str] | None = None) -> list[KerasRun]:
    """Run several source models in one Keras subprocess (TensorFlow starts once)."""
    runs: list[KerasRun] = [KerasRun()] * len(jobs)
    files: list[KerasFile] = []
    for i, (model, path, inputs) in enumerate(jobs):
        reason = can_run_in_keras(model, path)
        if reason:
            runs[i] = KerasRun(skipped=reason)
        else:
            package, _ = implementation(model)  # type: ignore[misc]
            layers = [] if preprocess else [la.name for la in model.layers if la.kind != "InputLayer"]
            files.append(KerasFile(str(path), package, inputs, layers, index=i,
                                   inputs_from=list(model.provenance.inputs_from),  # type: ignore[union-attr]
                                   preprocess=list(preprocess or [])))
    for file, run in zip(files, run_files(files, timeout)):
        runs[file.index] = run
    return runs


@dataclass
class KerasFile:
    """A Keras model file to run: ``package`` is ``keras`` or ``tf_keras``; ``weights`` goes with
    a configuration-only ``path``; ``layers`` are those whose outputs to record as well."""

    path: str
    package: str
    inputs: list[np.ndarray]
    layers: list[str] = field(default_factory=list)
    weights: str | None = None
    index: int = 0
    inputs_from: list[str] = field(default_factory=list)  # the layers the model is cut at (kconvert/ir/cut.py)
    preprocess: list[str] = field(default_factory=list)  # string preprocessing layers whose outputs to record


def run_files(files: list[KerasFile], timeout: float = 1800.0) -> list[KerasRun]:
    """Run Keras model files in one Keras subprocess."""
    if not files:
        return []
    with tempfile.TemporaryDirectory(prefix="kconvert-keras-") as tmp:
        specs = []
        for i, file in enumerate(files):
            np.savez(os.path.join(tmp, f"inputs{i}.npz"), **{f"x{j}": x for j, x in enumerate(file.inputs)})
            specs.append({"model": str(Path(file.path).resolve()),
                          "weights": str(Path(file.weights).resolve()) if file.weights else None,
                          "inputs": os.path.join(tmp, f"inputs{i}.npz"), "result": os.path.join(tmp, f"result{i}.npz"),
                          "error": os.path.join(tmp, f"error{i}.txt"), "implementation": file.package,
                          "version": installed_version(file.package), "layers": file.layers,
                          "inputs_from": file.inputs_from, "preprocess": file.preprocess})
        with open(os.path.join(tmp, "jobs.json"), "w") as fh:
            json.dump(specs, fh)
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")}
        with contextlib.suppress(subprocess.TimeoutExpired):  # unfinished jobs are reported as such
            subprocess.run([sys.executable, "-c", _SCRIPT, os.path.join(tmp, "jobs.json")], capture_output=True,
                           text=True, timeout=timeout, env=env)
        return [_collect(spec, timeout) for spec in specs]


#: what TensorFlow's CPU kernels lack (a GPU runs both): its words, what of the model they are about, and why
CPU_LIMITS = {
    "only supports the NHWC tensor format on the CPU":
        ("channels_first convolutions", "TensorFlow runs them only with oneDNN or on a GPU; convert with "
         "--layout channels_last to run it everywhere"),
    "only supports equal length strides in the row and column dimensions":
        ("depthwise convolutions with unequal row and column strides", "TensorFlow runs them only on a GPU"),
}
#: how every message of :data:`CPU_LIMITS` begins
CANNOT_RUN_HERE = "the installed Keras cannot run this model's"
#: what TensorFlow puts in an error beside the failure: the graph node and the Python frames that defined
#: it, or the frames of the traced function (autograph's "in user code")
_GRAPH_TRACE = re.compile(r"Detected at node \S+ defined at \(most recent call last\):\n(?:[ \t]*(?:File .*)?\n)*"
                          r"|\n?\t? *\[\[\{\{node [^}]*\}\}\]\]"
                          r"|in user code:\n(?:.*\n)*?\s*(?=\w+(?:Error|Exception): )")


def tensorflow_message(message: str) -> str:
    """TensorFlow's error message without the graph node and the frames that defined it, which name
    the run, not the failure (and fill the line a report has room for)."""
    return _GRAPH_TRACE.sub("", message)


def keras_failure(message: str) -> str:
    """Why Keras could not load or run a file, on one line."""
    for said, (what, why) in CPU_LIMITS.items():
        if said in message:
            return f"{CANNOT_RUN_HERE} {what} on this CPU ({why})"
    return "the installed Keras could not load or run the file: " + " ".join(tensorflow_message(message).split())[:300]


def _collect(spec: dict, timeout: float) -> KerasRun:
    if os.path.exists(spec["error"]):
        with open(spec["error"]) as fh:
            return KerasRun(skipped=keras_failure(fh.read()))
    if not os.path.exists(spec["result"]):
        return KerasRun(error=f"Keras did not finish within {timeout:.0f} s")
    with np.load(spec["result"], allow_pickle=False) as data:
        outputs = [data[f"y{i}"] for i in range(sum(1 for k in data.files if k.startswith("y")))]
        activations = {k[2:]: data[k] for k in data.files if k.startswith("a_")}
        preprocessed = {k[2:]: data[k] for k in data.files if k.startswith("p_")}
    name = "tf_keras" if spec["implementation"] == "tf_keras" else "Keras"
    return KerasRun(outputs, activations, preprocessed, f"{name} {spec['version']}")
