"""Weights in Keras's two HDF5 layouts, written in bounded chunks of one tensor at a time.

* Legacy (``model.save('x.h5')``, tf.keras and Keras 3's legacy loader): ``model_weights/<layer>``
  groups listed in ``layer_names``, each listing its datasets in ``weight_names``.  Keras loads
  them by position: per layer its trainable weights, then its non-trainable ones -- for a nested
  model, all of its layers' trainable weights before any non-trainable one.
* Keras 3 (``model.weights.h5`` in a ``.keras`` archive, ``.weights.h5``): the object tree
  ``layers/<key>/vars/<i>`` (see :mod:`kconvert.formats.keras3`), each object's own variables
  in creation order, recurrent weights in the layer's ``cell``.
"""

from __future__ import annotations

import h5py
import numpy as np

from kconvert.formats.keras3 import container_keys
from kconvert.ir.graph import Layer, Model
from kconvert.ir.layers.core import InputLayer
from kconvert.ir.layers.model import NestedModel
from kconvert.ir.weights import Weight
from kconvert.writers.keras.graph import is_chain, keras_layers

#: attributes above this many bytes are split into name0, name1... chunks, as Keras does
HDF5_OBJECT_HEADER_LIMIT = 64512
#: weights Keras creates non-trainable
NON_TRAINABLE = frozenset({"moving_mean", "moving_variance"})
#: MultiHeadAttention's projections: canonical weight prefix -> the EinsumDense's name in Keras
_MHA_PROJECTIONS = {"query": "query", "key": "key", "value": "value", "output": "attention_output"}
#: the cell class (and so the weight scope) Keras names for each recurrent kind it has
_CELLS = {"SimpleRNN": "simple_rnn_cell", "GRU": "gru_cell", "LSTM": "lstm_cell", "ConvLSTM2D": "conv_lstm_cell"}


# -- legacy layout ------------------------------------------------------------------------------------

def write_legacy_weights(group: h5py.Group, model: Model, keras_version: str) -> None:
    layers = keras_layers(model)
    save_names_attribute(group, "layer_names", [layer.name for layer in layers])
    group.attrs["backend"] = "tensorflow"
    group.attrs["keras_version"] = keras_version
    for layer in layers:
        sub = group.create_group(layer.name)
        entries = _legacy_weights(layer)
        save_names_attribute(sub, "weight_names", [name for name, _ in entries])
        for name, weight in entries:
            _dataset(sub, name, weight)


def _legacy_weights(layer: Layer) -> list[tuple[str, Weight]]:
    """A layer's weights as ``(tf.keras name, weight)`` in the order Keras loads them."""
    trainable, frozen = _split(layer, f"{layer.name}/")
    return trainable + frozen


def _split(layer: Layer, scope: str) -> tuple[list[tuple[str, Weight]], list[tuple[str, Weight]]]:
    """(trainable, non-trainable) weights of a layer, named as tf.keras 2 names them."""
    trainable: list[tuple[str, Weight]] = []
    frozen: list[tuple[str, Weight]] = []
    nested = getattr(layer.config, "model", None)
    if isinstance(nested, Model):
        for inner in keras_layers(nested):
            t, f = _split(inner, f"{inner.name}/")
            trainable += t
            frozen += f
    elif layer.kind == "Bidirectional":
        for sub in (layer.config.forward, layer.config.backward):
            t, f = _split(sub, f"{scope}{sub.name}/")
            trainable += t
            frozen += f
    elif layer.kind == "TimeDistributed":
        trainable, frozen = _split(layer.config.layer, scope)
    else:
        cell = f"{_CELLS[layer.kind]}/" if layer.kind in _CELLS else ""
        for name, weight in layer.weights.items():
            if layer.kind == "MultiHeadAttention":  # query_kernel -> query/kernel, as tf.keras names it
                prefix, _, rest = name.rpartition("_")
                name = f"{_MHA_PROJECTIONS[prefix]}/{rest}"
            entry = (f"{scope}{cell}{name}:0", weight)
            (trainable if layer.trainable and name not in NON_TRAINABLE else frozen).append(entry)
    if not layer.trainable:
        return [], trainable + frozen
    return trainable, frozen


def save_names_attribute(group: h5py.Group, name: str, values: list[str]) -> None:
    """A list of names as an HDF5 attribute, chunked when it would not fit an object header."""
    data = np.array([v.encode("utf-8") for v in values]) if values else np.array([], dtype="S1")
    chunks = max(1, -(-data.nbytes // HDF5_OBJECT_HEADER_LIMIT))
    if chunks == 1:
        group.attrs[name] = data
        return
    for i, part in enumerate(np.array_split(data, chunks)):
        group.attrs[f"{name}{i}"] = part


# -- Keras 3 layout ------------------------------------------------------------------------------------

def write_v3_weights(root: h5py.Group, model: Model) -> None:
    """The weights of ``model`` in the Keras 3 object-tree layout, under ``root``."""
    _vars(root, model.name, [])
    _container(root, model)


def _container(group: h5py.Group, model: Model) -> None:
    layers = keras_layers(model)
    if is_chain(model):
        layers = layers[1:]  # Sequential.layers leaves its input layer out
    holder = group.create_group("layers")
    for layer, key in zip(layers, container_keys(keras_class(layer) for layer in layers)):
        _object(holder.create_group(key), layer)


def _object(group: h5py.Group, layer: Layer) -> None:
    nested = getattr(layer.config, "model", None)
    if isinstance(nested, Model):
        _vars(group, layer.name, [])
        _container(group, nested)
    elif layer.kind == "Bidirectional":
        _vars(group, layer.name, [])
        _object(group.create_group("forward_layer"), layer.config.forward)
        _object(group.create_group("backward_layer"), layer.config.backward)
    elif layer.kind == "TimeDistributed":
        _vars(group, layer.name, [])
        _object(group.create_group("layer"), layer.config.layer)
    elif layer.kind == "MultiHeadAttention":  # its EinsumDense projections hold the weights
        _vars(group, layer.name, [])
        for key, name in _MHA_PROJECTIONS.items():
            _vars(group.create_group(f"{key}_dense"), name, [w for n, w in layer.weights.items()
                                                             if n.startswith(f"{key}_")])
        for key in ("_softmax", "_dropout_layer"):
            _vars(group.create_group(key), key.strip("_"), [])
    elif layer.kind in _CELLS:
        _vars(group, layer.name, [])
        _vars(group.create_group("cell"), _CELLS[layer.kind], list(layer.weights.values()))
    else:
        _vars(group, layer.name, list(layer.weights.values()))


def _vars(group: h5py.Group, name: str, weights: list[Weight]) -> None:
    holder = group.create_group("vars")
    holder.attrs["name"] = name
    for i, weight in enumerate(weights):
        _dataset(holder, str(i), weight)


def keras_class(layer: Layer) -> str:
    """The Keras 3 class a layer is written as (which names its group in the Keras 3 layout)."""
    if isinstance(layer.config, InputLayer):
        return "InputLayer"
    if isinstance(layer.config, NestedModel):
        return "Sequential" if is_chain(layer.config.model) else "Functional"
    return layer.kind


def _dataset(group: h5py.Group, name: str, weight: Weight) -> None:
    """A dataset holding ``weight``, written hyperslab by hyperslab (a chunk of one tensor in
    memory at a time)."""
    dataset = group.create_dataset(name, shape=weight.shape, dtype=weight.dtype)
    for index, block in weight.iter_blocks():
        dataset[index] = block
