"""Small builders shared by the IR, text-loader and error-path tests.

IR graphs are built by hand from :mod:`kconvert.ir` objects; Keras files are written with json,
h5py and zipfile in the Keras 2 / Keras 3 layouts, so that every test controls its input byte by
byte instead of depending on an installed Keras.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import h5py
import numpy as np
import pytest

from kconvert.errors import KConvertError
from kconvert.ir import Call, Layer, LayerConfig, Model, Shape, TensorRef, Weight
from kconvert.ir.layers.core import InputLayer

# -- errors ------------------------------------------------------------------------------------------

def raises_exactly(exc_type: type[KConvertError], fn: Callable[[], Any], *fragments: str) -> KConvertError:
    """Run ``fn``; it must raise exactly ``exc_type`` (not a subclass, not a foreign exception) with a
    one-line message containing every fragment."""
    try:
        fn()
    except KConvertError as exc:
        assert type(exc) is exc_type, f"{type(exc).__name__} raised instead of {exc_type.__name__}: {exc}"
        message = str(exc)
        assert "\n" not in message and message == " ".join(message.split()), f"not one line: {message!r}"
        missing = [f for f in fragments if f not in message]
        assert not missing, f"{missing} not in {message!r}"
        return exc
    pytest.fail(f"{exc_type.__name__} was not raised")


# -- IR graphs -----------------------------------------------------------------------------------

Ref = TensorRef | str


def ref(value: Ref) -> TensorRef:
    """A tensor reference; a bare string means output 0 of call 0 of that layer."""
    return value if isinstance(value, TensorRef) else TensorRef(value)


def input_layer(name: str, shape: Shape) -> Layer:
    """An input layer already "called" once, as the readers build them."""
    return Layer(name, InputLayer(batch_shape=tuple(shape)), calls=[Call([])])


def layer(name: str, config: LayerConfig, *calls: Sequence[Ref],
          weights: Mapping[str, np.ndarray | Weight] | None = None) -> Layer:
    """A layer called once per entry of ``calls`` (each a list of input references)."""
    bound = {k: v if isinstance(v, Weight) else Weight.of(v) for k, v in (weights or {}).items()}
    return Layer(name, config, weights=bound, calls=[Call([ref(r) for r in c]) for c in calls])


def model(layers: list[Layer], inputs: Sequence[Ref], outputs: Sequence[Ref], name: str = "m") -> Model:
    return Model(name, layers, [ref(r) for r in inputs], [ref(r) for r in outputs])


def zeros_for(config: LayerConfig, inputs: list[Shape]) -> dict[str, np.ndarray]:
    """Zero weights of exactly the shapes a layer kind expects for these inputs."""
    return {k: np.zeros(s, dtype="float32") for k, s in config.weight_shapes(inputs).items()}


# -- Keras configs and files ---------------------------------------------------------------------

def keras_layer(class_name: str, name: str, **config: Any) -> dict[str, Any]:
    return {"class_name": class_name, "config": {"name": name, **config}}


def sequential_config(*layers: dict[str, Any], input_shape: Sequence[int | None] = (None, 4),
                      name: str = "seq") -> dict[str, Any]:
    """A Keras 2 Sequential config starting with an explicit InputLayer named ``input``."""
    first = keras_layer("InputLayer", "input", batch_input_shape=list(input_shape), dtype="float32")
    return {"class_name": "Sequential", "config": {"name": name, "layers": [first, *layers]}}


def functional_config(layers: list[tuple[dict[str, Any], list[str]]], inputs: list[str],
                      outputs: list[str], name: str = "func") -> dict[str, Any]:
    """A Keras 2 functional config; each layer comes with the names of the layers it is called on."""
    entries = []
    for entry, inbound in layers:
        nodes = [[[src, 0, 0, {}] for src in inbound]] if inbound else []
        entries.append({**entry, "name": entry["config"]["name"], "inbound_nodes": nodes})
    return {"class_name": "Functional", "config": {
        "name": name, "layers": entries,
        "input_layers": [[n, 0, 0] for n in inputs], "output_layers": [[n, 0, 0] for n in outputs]}}


def dense_model_config(units: Sequence[int] = (3,), input_dim: int = 4) -> dict[str, Any]:
    """Input(input_dim) followed by Dense layers ``dense_0``, ``dense_1``..."""
    return sequential_config(*(keras_layer("Dense", f"dense_{i}", units=u, activation="linear", use_bias=True)
                               for i, u in enumerate(units)), input_shape=(None, input_dim))


def dense_weights(units: Sequence[int] = (3,), input_dim: int = 4) -> dict[str, dict[str, np.ndarray]]:
    """Distinct, recognisable weights for :func:`dense_model_config`, as {layer: {weight: array}}."""
    out: dict[str, dict[str, np.ndarray]] = {}
    fan_in = input_dim
    for i, u in enumerate(units):
        out[f"dense_{i}"] = {"kernel:0": np.arange(fan_in * u, dtype="float32").reshape(fan_in, u) + i,
                             "bias:0": np.full(u, i, dtype="float32")}
        fan_in = u
    return out


def _names(values: Sequence[str]) -> np.ndarray:
    return np.array([v.encode() for v in values]) if values else np.array([], dtype="float64")


def write_keras2_h5(path: Path, config: dict[str, Any] | None,
                    weights: Mapping[str, Mapping[str, np.ndarray]], *, layer_names: Sequence[str] | None = None,
                    **dataset_options: Any) -> Path:
    """Write ``model.save`` (``config`` given) or ``save_weights`` (``config=None``) HDF5 in the Keras 2 layout.

    ``weights`` maps layer names to ``{"kernel:0": array, ...}``; each dataset lives at
    ``<layer>/<layer>/<weight>`` and is listed in the layer group's ``weight_names``.
    ``dataset_options`` go to every ``create_dataset`` call.
    """
    names = list(layer_names) if layer_names is not None else list(weights)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        if config is not None:
            f.attrs["model_config"] = json.dumps(config)
            root = f.create_group("model_weights")
        else:
            root = f
        root.attrs["layer_names"] = _names(names)
        root.attrs["backend"] = "tensorflow"
        root.attrs["keras_version"] = "2.15.0"
        for lname in names:
            group = root.create_group(lname)
            arrays = weights.get(lname, {})
            group.attrs["weight_names"] = _names([f"{lname}/{w}" for w in arrays])
            for wname, array in arrays.items():
                group.create_dataset(f"{lname}/{wname}", data=array, **dataset_options)
    return path


def write_small_h5(path: Path, **dataset_options: Any) -> Path:
    """A complete Keras 2 ``model.save`` file: Input(4) -> Dense(3) -> Dense(2)."""
    return write_keras2_h5(path, dense_model_config((3, 2)), dense_weights((3, 2)), **dataset_options)


def write_keras_zip(path: Path, members: Mapping[str, bytes | str]) -> Path:
    """A ``.keras`` archive with the given members (deflated)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


# -- Keras models ----------------------------------------------------------------------------------

def randomize_weights(model: Any, rng: np.random.Generator) -> None:
    """Random weights and batch-norm statistics, scaled so activations neither vanish nor explode."""
    values = []
    for w in model.weights:
        shape = tuple(w.shape)
        path = getattr(w, "path", None) or w.name  # Keras 3 / tf_keras
        if "moving_variance" in path:
            values.append(rng.uniform(0.5, 1.5, shape).astype("float32"))
        elif "moving_mean" in path or "beta" in path or "bias" in path:
            values.append(rng.normal(0, 0.1, shape).astype("float32"))
        elif "gamma" in path:
            values.append(rng.uniform(0.5, 1.0, shape).astype("float32"))
        else:
            fan_in = int(np.prod(shape[:-1])) or 1
            values.append((rng.normal(0, 1, shape) / np.sqrt(fan_in)).astype("float32"))
    model.set_weights(values)


def assert_tfjs_run_matches(run: Any, expected: Sequence[np.ndarray], atol: float, rtol: float,
                            min_range: float = 1e-4) -> None:
    """A run in the real tfjs gave ``expected`` (Keras's outputs), which must not be constant."""
    assert run.error is None, run.error
    assert run.implementation == "@tensorflow/tfjs 4.22.0"
    assert len(run.outputs) == len(expected)
    for got, want in zip(run.outputs, expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=atol, rtol=rtol)
        assert np.ptp(want) > min_range, "degenerate reference"


def stored_predictions(path: Path) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    """The inputs and Keras's predictions the real-world corpus stores beside ``*_model.h5`` files
    (``*_inputs_and_outputs.h5``), or None."""
    io = path.with_name(path.name.replace("_model.h5", "_inputs_and_outputs.h5"))
    if io == path or not io.exists():
        return None
    with h5py.File(io, "r") as f:
        if "predictions" not in f:
            return None
        return [f["inputs"][n][()] for n in f["inputs"]], [f["predictions"][n][()] for n in f["predictions"]]


def keras3_operation_config(class_name: str, args: list[Any], *, module: str = "keras.src.ops.numpy",
                            input_shape: Sequence[int | None] = (None, 6, 4), config: Mapping[str, Any] | None = None,
                            ) -> dict[str, Any]:
    """A Keras 3 functional config: Input ``x`` of ``input_shape`` -> one operation node
    ``class_name`` called on ``args``, where the string ``"x"`` stands for the input tensor (as
    ``Model.to_json`` writes ``x[:, 1:3]``: ``keras3_operation_config("GetItem", ["x", [slice_(), ...]])``)."""
    tensor = {"class_name": "__keras_tensor__",
              "config": {"shape": list(input_shape), "dtype": "float32", "keras_history": ["x", 0, 0]}}
    name = snake(class_name)
    return {"module": "keras.src.models.functional", "class_name": "Functional", "config": {
        "name": "ops", "trainable": True, "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": "x",
             "config": {"batch_shape": list(input_shape), "dtype": "float32", "sparse": False, "name": "x"},
             "inbound_nodes": []},
            {"module": module, "class_name": class_name, "registered_name": class_name, "name": name,
             "config": {"name": name, **(config or {})},
             "inbound_nodes": [{"args": [tensor if a == "x" else a for a in args], "kwargs": {}}]}],
        "input_layers": ["x", 0, 0], "output_layers": [name, 0, 0]}, "registered_name": "Functional"}


def slice_(start: int | None = None, stop: int | None = None, step: int | None = None) -> dict[str, Any]:
    """A slice as Keras 3 records it among an operation's arguments."""
    return {"class_name": "__slice__", "config": {"start": start, "stop": stop, "step": step}}


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))
