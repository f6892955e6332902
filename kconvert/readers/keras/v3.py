"""Reading Keras 3's native format: ``.keras`` zip archives and the ``.weights.h5`` layout inside
them (see :mod:`kconvert.formats.keras3`).

An archive is read in memory, member by member, through :class:`SafeZip`; nothing is extracted
to disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import h5py

from kconvert.errors import InputReadError
from kconvert.formats.keras3 import ARCHIVE_CONFIG, ARCHIVE_METADATA, ARCHIVE_WEIGHTS, container_keys
from kconvert.ir.graph import Layer, Model
from kconvert.ir.layers.model import NestedModel
from kconvert.ir.layers.wrappers import Bidirectional, TimeDistributed
from kconvert.readers.archive import SafeZip
from kconvert.readers.context import Limits
from kconvert.readers.h5 import H5File
from kconvert.readers.keras.layer import SourceWeight
from kconvert.readers.keras.legacy_h5 import WeightGroup


@dataclass
class KerasArchive:
    config: str
    metadata: dict[str, Any]
    weights: H5File | None
    #: ``assets/.../vocabulary.txt`` members (string lookups' vocabularies), by member name
    assets: dict[str, bytes]


def read_archive(source: str | bytes, display: str, limits: Limits) -> KerasArchive:
    with SafeZip(source, display, limits, ".keras archive") as archive:
        config = archive.read(ARCHIVE_CONFIG)
        metadata_bytes = archive.read(ARCHIVE_METADATA)
        weights = archive.read(ARCHIVE_WEIGHTS)
        assets = {name: archive.read(name) or b"" for name in archive.members
                  if name.startswith("assets/") and name.endswith("/vocabulary.txt")}
        if weights is None and "model.weights.npz" in archive.members:
            raise archive.error("the archive stores its weights as .npz, which kconvert does not read yet")
    if config is None:
        raise InputReadError("the archive has no config.json", file=display)
    try:
        metadata = json.loads(metadata_bytes) if metadata_bytes else {}
    except ValueError:
        raise InputReadError("the archive's metadata.json is not valid JSON", file=display) from None
    h5 = H5File(weights, f"{display}:model.weights.h5", limits) if weights is not None else None
    return KerasArchive(config.decode("utf-8", "replace"), metadata if isinstance(metadata, dict) else {}, h5, assets)


def layer_assets(config: Any, assets: dict[str, bytes]) -> dict[str, bytes]:
    """Each top-level layer's ``vocabulary.txt``, by layer name: Keras saves a layer's assets under
    its path in the model (``assets/layers/<class key>/``, the keys weights are saved under)."""
    layers = config.get("config", {}).get("layers") if isinstance(config, dict) else None
    if not assets or not isinstance(layers, list):
        return {}
    entries = [e for e in layers if isinstance(e, dict) and isinstance(e.get("config"), dict)]
    if config.get("class_name") == "Sequential":
        entries = [e for e in entries if e.get("class_name") != "InputLayer"]  # Sequential.layers leaves it out
    keys = container_keys(str(e.get("class_name")) for e in entries)
    return {str(e["config"].get("name")): assets[f"assets/layers/{key}/vocabulary.txt"]
            for e, key in zip(entries, keys) if f"assets/layers/{key}/vocabulary.txt" in assets}


def is_v3_layout(f: H5File) -> bool:
    root = f.file
    return f.has(root, "layers") or (f.has(root, "vars") and not f.has_attr(root, "layer_names"))


def v3_groups(f: H5File, model: Model) -> list[WeightGroup]:
    """The saved weights of each top-level layer, in the order each layer's binder expects."""
    return [WeightGroup(layer.name, weights) for layer, weights in _container(f, f.file, model, "")]


def _container(f: H5File, group: h5py.Group, model: Model, prefix: str) -> list[tuple[Layer, list[SourceWeight]]]:
    layers = model.layers
    if model.structure == "sequential" and layers and layers[0].kind == "InputLayer":
        layers = layers[1:]  # Sequential.layers leaves its input layer out
    holder = f.get(group, "layers") if f.has(group, "layers") else None
    out = []
    for layer, key in zip(layers, container_keys(layer.source_class or layer.kind for layer in layers)):
        sub = _find(f, holder, key, layer.name) if holder is not None else None
        out.append((layer, _collect(f, sub, layer, f"{prefix}{layer.name}/") if sub is not None else []))
    return out


def _find(f: H5File, holder: h5py.Group, key: str, name: str) -> h5py.Group | None:
    """The group of a layer: by its structural key, checked (or found) by the recorded name."""
    def recorded(g: h5py.Group) -> str | None:
        return f.text_attr(f.get(g, "vars"), "name") if f.has(g, "vars") else None
    if f.has(holder, key):
        sub = f.get(holder, key)
        if recorded(sub) in (None, name):  # type: ignore[arg-type]
            return sub  # type: ignore[return-value]
    for child in f.children(holder):
        sub = f.get(holder, child)
        if isinstance(sub, h5py.Group) and recorded(sub) == name:
            return sub
    return None


def _own_vars(f: H5File, group: h5py.Group, prefix: str) -> list[SourceWeight]:
    if not f.has(group, "vars"):
        return []
    holder = f.get(group, "vars")
    keys = sorted((k for k in f.children(holder) if k.isdigit()), key=int)  # type: ignore[arg-type]
    return [SourceWeight(f"{prefix}{k}", f.weight(holder, k)) for k in keys]  # type: ignore[arg-type]


def _collect(f: H5File, group: h5py.Group, layer: Layer, prefix: str) -> list[SourceWeight]:
    out = _own_vars(f, group, prefix)
    config = layer.config
    if isinstance(config, NestedModel):
        for _, weights in _container(f, group, config.model, prefix):
            out += weights
    elif isinstance(config, Bidirectional):
        for key, inner in (("forward_layer", config.forward), ("backward_layer", config.backward)):
            if f.has(group, key):
                out += _collect(f, f.get(group, key), inner, prefix)  # type: ignore[arg-type]
    elif isinstance(config, TimeDistributed):
        if f.has(group, "layer"):
            out += _collect(f, f.get(group, "layer"), config.layer, prefix)  # type: ignore[arg-type]
    elif layer.kind == "MultiHeadAttention":  # its weights live in its EinsumDense projections
        for key in ("query_dense", "key_dense", "value_dense", "output_dense"):
            if f.has(group, key):
                out += _own_vars(f, f.get(group, key), prefix)  # type: ignore[arg-type]
    elif f.has(group, "cell"):  # recurrent layers keep their weights in their cell
        out += _own_vars(f, f.get(group, "cell"), prefix)  # type: ignore[arg-type]
    return out
