"""Reading a Keras model from any of its saved forms into the IR.

Forms: ``to_json``/``to_yaml`` text, ``model.save`` HDF5, ``save_weights`` HDF5 paired with a
config, Keras 3 ``.keras`` archives and ``.weights.h5`` files; from Keras 1.0 to Keras 3.
"""

from __future__ import annotations

import os
import re
from typing import Any

from kconvert.errors import InputReadError, KConvertError
from kconvert.formats.detect import Detected
from kconvert.formats.keras3 import ARCHIVE_WEIGHTS, HUB_TASK_WEIGHTS
from kconvert.ir.graph import Model
from kconvert.ir.report import Provenance
from kconvert.readers.context import LoadOptions, ReadContext
from kconvert.readers.h5 import H5File
from kconvert.readers.keras import layers as _layers  # noqa: F401  (registers the converters)
from kconvert.readers.keras.hub import is_hub, read_hub
from kconvert.readers.keras.layer import SourceWeight
from kconvert.readers.keras.legacy_h5 import WeightGroup, is_legacy_layout, read_legacy
from kconvert.readers.keras.model import BuiltModel, build_model
from kconvert.readers.keras.training import read_training_config
from kconvert.readers.keras.v3 import is_v3_layout, layer_assets, read_archive, v3_groups
from kconvert.readers.text import parse_json
from kconvert.readers.tfjs import read_tfjs, weight_groups


class _Parts:
    """What the model input provided: config, training config, version facts, weights."""

    def __init__(self) -> None:
        self.config: Any = None
        self.training: Any = None
        self.keras_version: str | None = None
        self.backend: str | None = None
        self.groups: list[WeightGroup] | None = None
        self.tfjs_scopes: dict[str, list[SourceWeight]] | None = None
        self.v3_weights: H5File | None = None
        self.weights_path: str | None = None
        self.format = ""
        self.resources: list[Any] = []


def read_keras(model_input: Detected, weights_input: Detected | None, options: LoadOptions) -> Model:
    ctx = ReadContext(model_input.display, options)
    parts = _Parts()
    try:
        _read_model_input(model_input, parts, ctx)
        weights_source = None
        by = "name"
        if weights_input is not None:
            ctx.source = weights_input.display
            _read_weights_input(weights_input, parts, ctx)
            ctx.source = model_input.display
            weights_source = weights_input.display
            by = options.weights_by
        model = _build(parts, ctx, by, weights_source)
        model.resources.extend(parts.resources)
        return model
    except KConvertError as exc:
        for res in parts.resources:
            res.close()
        raise ctx.located(exc) from None


def _read_model_input(inp: Detected, parts: _Parts, ctx: ReadContext) -> None:
    limits = ctx.limits
    if inp.kind == "hdf5":
        f = H5File(inp.content(), inp.display, limits)
        parts.resources.append(f)
        if is_legacy_layout(f):
            legacy = read_legacy(f)
            if legacy.model_config is None:
                raise InputReadError("this HDF5 file holds weights only (save_weights); load it together with "
                                     "the model configuration: kconvert.load(config, weights=...)", file=inp.display)
            parts.config = parse_json(legacy.model_config, inp.display, limits)
            if legacy.training_config:
                parts.training = parse_json(legacy.training_config, inp.display, limits)
            parts.keras_version, parts.backend = legacy.keras_version, legacy.backend
            parts.groups = legacy.groups
            parts.format = "keras-h5"
            for name in legacy.ignored:
                ctx.note("ignored-key", f"weight group '{name}' belongs to no layer and is ignored",
                         severity="warning")
        elif is_v3_layout(f):
            raise InputReadError("this Keras 3 weights file holds no model configuration; load it together "
                                 "with the configuration: kconvert.load('config.json', weights=...)", file=inp.display)
        else:
            raise InputReadError("an HDF5 file, but not a Keras model (no model_config, layer_names or layers)",
                                 file=inp.display)
    elif inp.kind == "zip":
        archive = read_archive(inp.content(), inp.display, limits)
        parts.config = parse_json(archive.config, f"{inp.display}:config.json", limits)
        parts.keras_version = str(archive.metadata.get("keras_version") or "") or None
        parts.v3_weights = archive.weights
        ctx.assets = layer_assets(parts.config, archive.assets)
        if archive.weights is not None:
            parts.resources.append(archive.weights)
        parts.format = "keras-v3"
    else:
        parts.config = inp.config()
        parts.format = f"keras-{inp.kind}"
        if inp.format == "tfjs":
            tfjs = read_tfjs(parts.config, inp.path, inp.display)
            parts.config, parts.training, parts.tfjs_scopes = tfjs.config, tfjs.training, tfjs.scopes
            parts.keras_version, parts.backend = tfjs.keras_version, tfjs.backend
            parts.format = "tfjs-layers"
            if tfjs.quantized:
                kinds = ", ".join(sorted(set(tfjs.quantized.values())))
                ctx.note("approximated", f"{len(tfjs.quantized)} weight(s) are stored quantized ({kinds}) and read "
                         "back dequantized, as TF.js does: they approximate the original values", severity="warning")
    _unwrap(parts, inp.display)


def _unwrap(parts: _Parts, display: str) -> None:
    """Accept ``to_json`` output, a bare config, or a ``{"model_config", "training_config"}`` dump."""
    config = parts.config
    if isinstance(config, str) and config.lstrip().startswith(("{", "[")):
        raise InputReadError("the top-level JSON value is a string: the configuration looks encoded twice "
                             "(json.dump of model.to_json()); decode it once before loading", file=display)
    if isinstance(config, dict) and "model_config" in config and "class_name" not in config:
        parts.training = parts.training or config.get("training_config")
        parts.keras_version = parts.keras_version or config.get("keras_version")
        parts.backend = parts.backend or config.get("backend")
        config = config["model_config"]
    if isinstance(config, dict):
        parts.keras_version = parts.keras_version or _str(config.get("keras_version"))
        parts.backend = parts.backend or _str(config.get("backend"))
        if parts.training is None and isinstance(config.get("compile_config"), dict):
            parts.training = config["compile_config"]  # Keras 3
    if not isinstance(config, (dict, list)):
        what = {str: "a plain string", type(None): "an empty document"}.get(type(config), f"a {type(config).__name__}")
        raise InputReadError(f"not a Keras model configuration: the text parses as {what}, not a JSON or YAML "
                             "mapping", file=display)
    parts.config = config


def _read_weights_input(inp: Detected, parts: _Parts, ctx: ReadContext) -> None:
    if inp.kind != "hdf5":
        raise InputReadError("weights must be an HDF5 file written by save_weights or model.save", file=inp.display)
    f = H5File(inp.content(), inp.display, ctx.limits)
    parts.resources.append(f)
    if is_legacy_layout(f):
        legacy = read_legacy(f)
        parts.groups = legacy.groups
        parts.backend = legacy.backend or parts.backend
        parts.keras_version = parts.keras_version or legacy.keras_version
        parts.v3_weights = None
    elif is_v3_layout(f):
        parts.v3_weights, parts.groups, parts.weights_path = f, None, inp.path
    else:
        raise InputReadError("an HDF5 file, but not Keras weights (no layer_names or layers group)", file=inp.display)


def _build(parts: _Parts, ctx: ReadContext, by: str, weights_source: str | None) -> Model:
    ctx.keras_version = parts.keras_version
    ctx.generation = detect_generation(parts.config, parts.keras_version)
    _decide_backend(parts, ctx)
    if is_hub(parts.config):
        model = read_hub(parts.config, parts.v3_weights, ctx, _task_backbone_weights(parts, ctx))
    else:
        model = _build_graph(parts, ctx, by, weights_source)
    model.validate()
    if parts.training is not None:
        model.training = read_training_config(parts.training, model, ctx)
    top = parts.config.get("class_name") if isinstance(parts.config, dict) else "Sequential"
    model.provenance = Provenance(ctx.source, parts.format, parts.keras_version, ctx.backend, top, weights_source,
                                  backend_assumed=ctx.backend_assumed)
    return model


def _task_backbone_weights(parts: _Parts, ctx: ReadContext) -> H5File | None:
    """A KerasHub task preset's backbone weights: ``model.weights.h5`` beside the
    ``task.weights.h5`` given (which holds only the head's), or the ``model.weights.h5`` given
    itself (a task whose head has no weights of its own saves no ``task.weights.h5``)."""
    if parts.weights_path is None:
        return None
    name = os.path.basename(parts.weights_path)
    if name == ARCHIVE_WEIGHTS:
        return parts.v3_weights
    beside = os.path.join(os.path.dirname(parts.weights_path), ARCHIVE_WEIGHTS)
    if name != HUB_TASK_WEIGHTS or not os.path.lexists(beside):
        return None
    f = H5File(beside, beside, ctx.limits)  # opened as every input is (readers/files.py's open_input)
    parts.resources.append(f)
    return f


def _build_graph(parts: _Parts, ctx: ReadContext, by: str, weights_source: str | None) -> Model:
    built = build_model(parts.config, ctx)
    model = built.model
    model.validate(ctx.limits.max_tensor_elements, ctx.limits.max_rank)
    origin = weights_source or ctx.source or "the model file"
    if parts.v3_weights is not None:
        bind_weights(built, v3_groups(parts.v3_weights, model), "name", ctx, origin)
    elif parts.groups is not None:
        bind_weights(built, parts.groups, by, ctx, origin)
    elif parts.tfjs_scopes is not None:
        bind_weights(built, weight_groups(parts.tfjs_scopes, model), "name", ctx, origin)
    return model


def bind_weights(built: BuiltModel, groups: list[WeightGroup], by: str, ctx: ReadContext, origin: str) -> None:
    """Give every layer that has weights its saved weights (from ``origin``), matched by layer name
    or by order."""
    owners = [layer for layer in built.model.layers if layer in built.binders]
    saved = [g for g in groups if g.weights]
    if by == "name":
        index = {g.layer: g for g in saved}
        names = {layer.name for layer in owners}
        missing = [layer.name for layer in owners if layer.name not in index]
        extra = [g.layer for g in saved if g.layer not in names]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"no saved weights for layer(s) {', '.join(missing)}")
            if extra:
                parts.append(f"saved weights for layer(s) not in the model: {', '.join(extra)}")
            raise ctx.incompatible("; ".join(parts) + f" (matching by layer name against {origin})")
        pairs = [(layer, index[layer.name]) for layer in owners]
    else:
        if len(owners) != len(saved):
            raise ctx.incompatible(
                f"{origin} holds weights for {len(saved)} layer(s) [{', '.join(g.layer for g in saved)}] "
                f"but the model has {len(owners)} layer(s) with weights "
                f"[{', '.join(layer.name for layer in owners)}] (matching by order)")
        pairs = list(zip(owners, saved))
    for layer, group in pairs:
        try:
            layer.weights = built.binders[layer](group.weights)
        except KConvertError as exc:
            raise layer.context_error(exc) from None


def detect_generation(config: Any, keras_version: str | None) -> int:
    """1, 2 or 3: which Keras wrote the config, from the version or, failing that, its shape."""
    if keras_version and keras_version[:1] in "123":
        return int(keras_version[0])
    text_keys = {key for key, _ in _items(config)}
    if {"module", "registered_name", "batch_shape"} & text_keys:
        return 3
    if {"output_dim", "nb_filter", "border_mode", "dim_ordering", "init", "input_dtype", "subsample"} & text_keys \
            and "units" not in text_keys and "filters" not in text_keys:
        return 1
    return 2


def _decide_backend(parts: _Parts, ctx: ReadContext) -> None:
    """The training backend decides whether convolution kernels are Theano's (flipped).

    Keras 2 and later record it.  For Keras 1 the weight names tell: TensorFlow names variables
    ``dense_1_W:0`` while Theano keeps ``dense_1_W``.  A Keras 1 configuration without weights
    falls back on ``dim_ordering='th'``, the usual Theano setting.
    """
    items = _items(parts.config) if ctx.generation == 1 else set()
    orderings = {value for key, value in items if key == "dim_ordering" and value in ("th", "tf")}
    ctx.keras1_dim_ordering = orderings.pop() if len(orderings) == 1 else None
    if parts.backend:
        ctx.backend = parts.backend
        return
    if ctx.options.backend:
        ctx.backend = ctx.options.backend
        return
    ctx.backend, ctx.backend_assumed = "tensorflow", True
    if ctx.generation != 1:
        return
    names = [w.name for g in parts.groups or () for w in g.weights]
    if names:
        if not any(_TF_VARIABLE.search(n) for n in names):
            ctx.backend = "theano"
            ctx.note("assumed", "the file does not record its backend; Theano assumed because its weight names "
                     "lack the ':0' suffix TensorFlow gives variables (pass backend='tensorflow' to override)")
    elif ("dim_ordering", "th") in items:
        ctx.backend = "theano"
        ctx.note("assumed", "the file does not record its backend; Theano assumed because layers use "
                 "dim_ordering='th' (pass backend='tensorflow' to kconvert.load if it was TensorFlow)")


_TF_VARIABLE = re.compile(r":\d+$")


def _items(config: Any) -> set[tuple[str, Any]]:
    """Every (key, scalar value) pair anywhere in a config."""
    found: set[tuple[str, Any]] = set()
    stack = [config]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (dict, list)):
                    stack.append(v)
                else:
                    found.add((k, v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)))
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
