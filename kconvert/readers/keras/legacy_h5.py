"""Keras's legacy HDF5 layout, written by ``model.save('x.h5')`` and ``save_weights('x.h5')``
from Keras 1.0 to Keras 3.

Root attributes ``model_config``, ``training_config``, ``keras_version`` and ``backend`` (absent in
Keras 1); weights under ``model_weights/`` (full model) or the root (weights only), one group per
layer listed in ``layer_names``, each listing its datasets in ``weight_names``.  Both name lists
may be split into ``layer_names0``, ``layer_names1``... chunks.  Weight names are paths relative to
the layer group (``dense_1/kernel:0``, ``sequential/dense/kernel``, ``lstm_1_W_i``,
``global/shared/dense_1/xxx/yyy_W:0``); nested groups follow from the path.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py

from kconvert.readers.h5 import H5File
from kconvert.readers.keras.layer import SourceWeight


@dataclass
class WeightGroup:
    """The saved weights of one top-level layer, in file order."""

    layer: str
    weights: list[SourceWeight]


@dataclass
class LegacyH5:
    model_config: str | None
    training_config: str | None
    keras_version: str | None
    backend: str | None
    groups: list[WeightGroup]
    ignored: list[str]  # weight groups that belong to no layer (top_level_model_weights)


def is_legacy_layout(f: H5File) -> bool:
    root = f.file
    return (f.has_attr(root, "model_config") or f.has_attr(root, "layer_names") or f.has_attr(root, "layer_names0")
            or f.has_attr(root, "nb_layers"))


def read_legacy(f: H5File) -> LegacyH5:
    root = f.file
    model_config = f.text_attr(root, "model_config")
    training_config = f.text_attr(root, "training_config")
    weights_root: h5py.Group = root
    if f.has(root, "model_weights") and not f.has_attr(root, "layer_names"):
        weights_root = f.get(root, "model_weights")  # type: ignore[assignment]
    version = f.text_attr(root, "keras_version") or f.text_attr(weights_root, "keras_version")
    backend = f.text_attr(root, "backend") or f.text_attr(weights_root, "backend")
    if f.has_attr(weights_root, "nb_layers"):
        return LegacyH5(model_config, training_config, version, backend, _read_keras0(f, weights_root), [])
    layer_names = f.names_attr(weights_root, "layer_names")
    if layer_names is None:
        if model_config is not None and not f.has(root, "model_weights"):
            layer_names = []  # a model saved without weights
        else:
            raise f.error("no 'layer_names' attribute: not a Keras weights file", "layer_names")
    groups = [WeightGroup(name, _layer_weights(f, weights_root, name)) for name in layer_names]
    ignored = []
    if "top_level_model_weights" not in layer_names and f.has(weights_root, "top_level_model_weights"):
        top = f.get(weights_root, "top_level_model_weights")
        if f.names_attr(top, "weight_names"):
            ignored.append("top_level_model_weights")
    return LegacyH5(model_config, training_config, version, backend, groups, ignored)


def _layer_weights(f: H5File, root: h5py.Group, layer: str) -> list[SourceWeight]:
    group = f.get(root, layer)
    names = f.names_attr(group, "weight_names")
    if names is None:
        raise f.error(f"layer group '{group.name}' has no 'weight_names' attribute", "weight_names")
    return [SourceWeight(name, f.weight(group, name)) for name in names]


def _read_keras0(f: H5File, root: h5py.Group) -> list[WeightGroup]:
    """Keras 0.x: groups ``layer_{k}`` holding ``param_{p}``, counted by attributes."""
    groups = []
    count = f.attr(root, "nb_layers")
    for k in range(int(count or 0)):
        group = f.get(root, f"layer_{k}")
        n = int(f.attr(group, "nb_params") or 0)
        groups.append(WeightGroup(f"layer_{k}", [SourceWeight(f"param_{p}", f.weight(group, f"param_{p}"))
                                                 for p in range(n)]))
    return groups
