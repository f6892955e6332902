"""Build, weight, save and run Keras models from their descriptions, in the real Keras 3 or
tf_keras: ``python -m tests.differential.keras_build jobs.json`` (a subprocess, so TensorFlow's
memory and state stay out of the caller and one start serves many models).

Each job is a directory holding ``spec.json`` and ``inputs.npz``; the builder writes the saved
model there (``model.keras`` / ``model.h5`` / ``model.json`` or ``model.yaml`` with
``model.weights.h5``), the framework's own outputs (``outputs.npz``), and ``build_error.txt`` (not
built) or ``reference_error.txt`` (built and saved, but the framework could not run it here).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from tests.differential.spec import ModelSpec, Node

#: seconds one model may take to build, save and run
PER_MODEL_SECONDS = 60
MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot", "Attention")
WRAPPERS = ("Bidirectional", "TimeDistributed")


def _layer(keras: Any, cls: str, config: dict[str, Any], name: str | None = None) -> Any:
    config = dict(config)
    if cls in WRAPPERS:
        inner_cls, inner = config.pop("layer")
        config["layer"] = _layer(keras, inner_cls, inner)
    return getattr(keras.layers, cls)(**config, **({"name": name} if name else {}))


def _call(keras: Any, node: Node, layer: Any, args: list[Any]) -> list[Any]:
    if node.cls in MERGES:
        out = layer(args)
    elif node.cls == "MultiHeadAttention":
        out = layer(args[0], args[1])
    else:
        out = layer(args[0])
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _ops(keras: Any, node: Node, args: list[Any]) -> Any:
    if node.cls == "getitem":
        c = node.config
        return args[0][(slice(None),) * c["axis"] + (slice(c["start"], c["stop"]),)]
    return getattr(keras.ops, node.cls)(*args, **node.config)


def build(keras: Any, spec: ModelSpec) -> Any:
    if spec.sequential:
        layers = [keras.Input(shape=spec.inputs[0].shape, dtype=spec.inputs[0].dtype)]
        layers += [_layer(keras, n.cls, n.config, f"n{i}") for i, n in enumerate(spec.nodes)]
        return keras.Sequential(layers, name="fuzzed")
    tensors = [keras.Input(shape=i.shape, dtype=i.dtype, name=f"in{k}") for k, i in enumerate(spec.inputs)]
    inputs, layers = list(tensors), {}
    for i, node in enumerate(spec.nodes):
        args = [tensors[t] for t in node.inputs]
        if node.op == "ops":
            tensors.append(_ops(keras, node, args))
            continue
        if node.op == "nested":
            inner = [keras.Input(shape=tuple(node.config["input_shape"]))]
            inner += [_layer(keras, c, conf, f"n{i}_{j}") for j, (c, conf) in enumerate(node.config["layers"])]
            layers[i] = keras.Sequential(inner, name=f"nested{i}")
        else:
            layers[i] = layers[node.share] if node.share is not None else _layer(keras, node.cls, node.config, f"n{i}")
        tensors += _call(keras, node, layers[i], args)
    outputs = [tensors[t] for t in spec.outputs]
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name="fuzzed")


def set_weights(model: Any, seed: int) -> None:
    """Random but meaningful values: kernels scaled by their fan-in, biases and BatchNorm's shift
    around zero, scales and variances around one, means spread."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name = getattr(variable, "path", None) or variable.name
        shape = tuple(variable.shape)
        if "moving_variance" in name or "gamma" in name or name.endswith("scale"):
            value = rng.uniform(0.5, 1.5, shape)
        elif "moving_mean" in name:
            value = rng.normal(0, 0.5, shape)
        elif len(shape) <= 1:
            value = rng.normal(0, 0.3, shape)
        else:
            value = rng.normal(0, 1.0 / np.sqrt(max(1, int(np.prod(shape[:-1])))), shape)
        variable.assign(value.astype(variable.dtype if isinstance(variable.dtype, str) else "float32"))


def save(keras: Any, model: Any, spec: ModelSpec, directory: Path) -> None:
    if spec.save_as == "keras":
        model.save(directory / "model.keras")
    elif spec.save_as == "h5":
        model.save(directory / "model.h5", **({"save_format": "h5"} if spec.framework == "tf_keras" else {}))
    else:
        config = model.to_json()
        if spec.save_as == "yaml":  # tf_keras removed to_yaml: the same document, written as YAML
            import yaml

            (directory / "model.yaml").write_text(yaml.safe_dump(json.loads(config)))
        else:
            (directory / "model.json").write_text(config)
        model.save_weights(directory / "model.weights.h5")


def _keras(framework: str) -> Any:
    if framework == "tf_keras":
        import tf_keras

        return tf_keras
    import keras

    return keras


def _timed_out(signum: int, frame: Any) -> None:
    raise TimeoutError(f"building the model took over {PER_MODEL_SECONDS} s")


def run_job(directory: Path) -> None:
    spec = ModelSpec.from_dict(json.loads((directory / "spec.json").read_text()))
    keras = _keras(spec.framework)
    keras.backend.clear_session()
    try:
        model = build(keras, spec)
        set_weights(model, spec.seed)
        save(keras, model, spec, directory)
    except BaseException as exc:  # the description drew something this Keras does not build
        (directory / "build_error.txt").write_text(_one_line(exc))
        return
    with np.load(directory / "inputs.npz") as data:
        xs = [data[f"x{i}"] for i in range(len(data.files))]
    try:
        ys = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    except BaseException as exc:
        (directory / "reference_error.txt").write_text(_one_line(exc))
        return
    ys = ys if isinstance(ys, (list, tuple)) else [ys]
    np.savez(directory / "outputs.npz", **{f"y{i}": np.asarray(y) for i, y in enumerate(ys)})


def _one_line(exc: BaseException) -> str:
    return " ".join((traceback.format_exception_only(type(exc), exc)[-1] or repr(exc)).split())[:500]


def main(job_file: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    signal.signal(signal.SIGALRM, _timed_out)
    for directory in json.loads(Path(job_file).read_text()):
        directory = Path(directory)
        if (directory / "built").exists():
            continue
        signal.alarm(PER_MODEL_SECONDS)
        try:
            run_job(directory)
        except BaseException as exc:
            (directory / "build_error.txt").write_text(_one_line(exc))
        finally:
            signal.alarm(0)
        (directory / "built").touch()


if __name__ == "__main__":
    main(sys.argv[1])
