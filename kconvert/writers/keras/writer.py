"""Writing an IR model as a modern Keras model: ``.keras``, legacy ``.h5``, or a JSON/YAML config.

The configuration is written from the IR, never by instantiating Keras: writing needs h5py and
numpy only.  ``.keras`` archives, JSON and YAML use the Keras 3 dialect; ``.h5`` files the tf.keras
2 dialect, which tf_keras and Keras 3's legacy loader both read.  What a target cannot express as
is, is first lowered into modern layers (:mod:`kconvert.rewrite.lowering`).
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import h5py

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.formats.keras3 import ARCHIVE_CONFIG, ARCHIVE_METADATA, ARCHIVE_WEIGHTS, weights_beside
from kconvert.ir.graph import Model, fresh_name, renamed
from kconvert.ir.layers.model import NestedModel
from kconvert.rewrite import compositions as shared
from kconvert.rewrite.lowering import Target, lower
from kconvert.rewrite.rules import RuleBook
from kconvert.writers.context import WriteContext, Written
from kconvert.writers.keras.config import ConfigWriter
from kconvert.writers.keras.dialect import KERAS2_ACTIVATIONS, KERAS3, Keras2Dialect, takes_trainable
from kconvert.writers.keras.training import training_config
from kconvert.writers.keras.weights import write_legacy_weights, write_v3_weights
from kconvert.writers.output import atomic_files
from kconvert.writers.serialize import json_text, yaml_text

Format = Literal["keras", "h5", "json", "yaml"]
#: the extensions keras.saving.load_model recognises each format by
_LOADED_BY_SUFFIX: dict[str, tuple[str, ...]] = {"keras": (".keras",), "h5": (".h5", ".hdf5")}
#: layer classes Keras 3 no longer has (and its legacy HDF5 loader cannot read), and no rule rewrites;
#: the refusal says no more than that
_GONE_IN_KERAS3 = {"LocallyConnected1D": "", "LocallyConnected2D": ""}


class LegacyH5Dialect(Keras2Dialect):
    """tf.keras 2 configs, as both tf_keras and Keras 3's legacy loader read them: objects carry
    Keras 3's ``module`` keys (tf_keras ignores them; Keras 3 needs them to find a Bidirectional's
    inner layer class), SpatialDropout and Discretization configs carry no ``trainable`` (Keras 3's constructors
    refuse it), and Bidirectional layers are written as Keras 3 reads them.  The two number a
    nested model's calls differently, so nested models are inlined (lowering)."""

    name = "a legacy HDF5 file (tf.keras 2 and Keras 3)"
    flips_go_backwards = KERAS3.flips_go_backwards

    def obj(self, family: str, class_name: str, config: dict[str, Any]) -> dict[str, Any]:
        return KERAS3.obj(family, class_name, config)

    def layer(self, class_name: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if not takes_trainable(class_name):
            del config["trainable"]
        if class_name in ("Resizing", "CenterCrop"):  # tf.keras's take channels-last images only, no antialias
            for key, default in (("data_format", "channels_last"), ("antialias", False)):
                if config.get(key, default) == default:
                    config.pop(key, None)
        if class_name == "MultiHeadAttention":
            return super().layer(class_name, config)
        return config, {}


LEGACY_H5 = LegacyH5Dialect()
#: what both Keras targets rewrite: Keras 1 layers, ThresholdedReLU (gone from Keras 3), activations they lack
KERAS_RULES: RuleBook = RuleBook("Keras")
KERAS_RULES.include(shared.thresholded_relu, *shared.EVERY_TARGET)
KERAS3_TARGET = Target("Keras 3", KERAS3.activations, KERAS_RULES, lacks=_GONE_IN_KERAS3, sized_weights=True)
_H5_HARD_SIGMOID = ("hard_sigmoid inside a recurrent cell is written as tf.keras 2 defines it (0.2 x + 0.5); Keras 3 "
                    "reads the name in legacy HDF5 files as relu6(x + 3) / 6, so load this file with tf_keras, or "
                    "write a .keras archive, which expresses it exactly")
LEGACY_H5_TARGET = Target(
    LEGACY_H5.name, KERAS2_ACTIVATIONS, KERAS_RULES, lacks=_GONE_IN_KERAS3, ambiguous={"hard_sigmoid": _H5_HARD_SIGMOID},
    inlines_models="tf.keras 2 and Keras 3 number a nested model's calls differently in legacy HDF5 files",
    sized_weights=True)


def write_keras(model: Model, output: str | os.PathLike[str], *, format: Format | None = None,
                overwrite: bool = False, enforce_training_config: bool = False,
                save_weights: bool = False) -> Written:
    """Write ``model`` for Keras.  ``format`` (default: from the extension of ``output``):
    ``keras`` (a Keras 3 archive), ``h5`` (legacy full model), ``json``/``yaml`` (the
    configuration; ``save_weights`` adds ``<stem>.weights.h5`` beside it)."""
    out = Path(output)
    fmt = format or _format_of(out)
    if fmt in _LOADED_BY_SUFFIX and out.suffix.lower() not in _LOADED_BY_SUFFIX[fmt]:
        raise ValueError(f"Keras loads a {fmt} file only by its extension: "
                         f"name it {out.stem}{_LOADED_BY_SUFFIX[fmt][0]}")
    ctx = WriteContext(f"keras-{fmt}", enforce_training_config)
    if model.lacks_weights and (fmt in ("keras", "h5") or save_weights):
        raise IncompatibleKerasConfigurationException(
            f"model '{model.name}' has no weights loaded (a configuration only): write it as json or yaml without "
            "weights, or load its weights first")
    target, dialect = (LEGACY_H5_TARGET, LEGACY_H5) if fmt == "h5" else (KERAS3_TARGET, KERAS3)
    lowered = lower(_without_slashes(model, ctx), target, ctx)
    _refuse_missing_classes(lowered, target)
    _note_lambdas(lowered, ctx)
    config = ConfigWriter(dialect).model(lowered)
    outputs = [ref.layer for ref in lowered.outputs]
    training = training_config(lowered.training, outputs, dialect=dialect, ctx=ctx) if lowered.training else None
    if fmt == "h5":
        files = _write_h5(lowered, out, config, training, overwrite)
    else:
        document = {**config, "compile_config": training} if training else config
        if fmt == "keras":
            files = _write_archive(lowered, out, document, overwrite)
        else:
            files = _write_config(lowered, out, document, fmt, save_weights, overwrite, ctx)
    wrote_weights = fmt in ("keras", "h5") or save_weights
    weights = [w for _, w in lowered.iter_weights()] if wrote_weights else []
    return Written(out, files, ctx.report, weights=len(weights), weight_bytes=sum(w.nbytes for w in weights))


def _format_of(path: Path) -> Format:
    suffix = path.suffix.lower()
    formats: dict[str, Format] = {".keras": "keras", ".h5": "h5", ".hdf5": "h5", ".json": "json", ".yaml": "yaml",
                                  ".yml": "yaml"}
    if suffix not in formats:
        raise ValueError(f"cannot tell the Keras format from {path.name!r}: use .keras, .h5, .json or .yaml, or "
                         "give format=")
    return formats[suffix]


def _without_slashes(model: Model, ctx: WriteContext) -> Model:
    """Keras 3 refuses a layer name holding '/' (tf.keras named DenseNet's layers 'conv1/conv'), and
    a '/' would also become nested HDF5 groups: such layers are written with '_' instead."""
    layers = [replace(layer, config=replace(layer.config, model=_without_slashes(layer.config.model, ctx)))
              if isinstance(layer.config, NestedModel) else layer for layer in model.layers]
    taken = {layer.name for layer in layers}
    names = {layer.name: fresh_name(layer.name.replace("/", "_"), taken) for layer in layers if "/" in layer.name}
    if not names and all(a is b or a.config.model is b.config.model for a, b in zip(layers, model.layers)):
        return model
    if names:
        shown = ", ".join(f"{a} -> {b}" for a, b in list(names.items())[:3])
        ctx.note("rewritten", f"{len(names)} layer name(s) holding '/' written with '_' instead, as Keras 3 "
                 f"requires ({shown}{', ...' if len(names) > 3 else ''})")
    return renamed(replace(model, layers=layers), names)


def _refuse_missing_classes(model: Model, target: Target) -> None:
    """Refuse layers the target lacks, and names of wrapped layers Keras 3 refuses to load."""
    for layer in model.iter_layers():
        why = target.lacks.get(layer.kind)
        if why is not None:
            raise layer.context_error(IncompatibleKerasConfigurationException(
                f"{target.name} has no {layer.kind} layer" + (f" ({why})" if why else "")))
        if "/" in layer.name:
            raise layer.context_error(IncompatibleKerasConfigurationException(
                "Keras 3 refuses a layer name containing '/'"))


def _note_lambdas(model: Model, ctx: WriteContext) -> None:
    for layer in model.iter_layers():
        if layer.source_class == "Lambda":
            ctx.note("rewritten", f"the Lambda layer is written as its registered replacement, a {layer.kind} layer "
                     "(no code is copied)", layer=layer.name)


def _write_h5(model: Model, out: Path, config: dict[str, Any], training: dict[str, Any] | None,
              overwrite: bool) -> list[Path]:
    with atomic_files([out], overwrite) as (staged,), h5py.File(staged, "w") as f:
        f.attrs["keras_version"] = LEGACY_H5.keras_version
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json_text(config)
        if training is not None:
            f.attrs["training_config"] = json_text(training)
        write_legacy_weights(f.create_group("model_weights"), model, LEGACY_H5.keras_version)
    return [out]


def _write_archive(model: Model, out: Path, document: dict[str, Any], overwrite: bool) -> list[Path]:
    metadata = {"keras_version": KERAS3.keras_version, "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S")}
    with atomic_files([out], overwrite) as (staged,):
        handle, weights_path = tempfile.mkstemp(prefix=".weights.", suffix=".h5", dir=staged.parent)
        os.close(handle)
        try:
            with h5py.File(weights_path, "w") as f:
                write_v3_weights(f, model)
            with zipfile.ZipFile(staged, "w") as zf:
                zf.writestr(ARCHIVE_METADATA, json_text(metadata), zipfile.ZIP_DEFLATED)
                zf.writestr(ARCHIVE_CONFIG, json_text(document), zipfile.ZIP_DEFLATED)
                zf.write(weights_path, ARCHIVE_WEIGHTS, zipfile.ZIP_STORED)
        finally:
            os.unlink(weights_path)
    return [out]


def _write_config(model: Model, out: Path, document: dict[str, Any], fmt: Format, save_weights: bool,
                  overwrite: bool, ctx: WriteContext) -> list[Path]:
    text = json_text(document, indent=2) if fmt == "json" else yaml_text(document)
    targets = [out]
    if save_weights:
        targets.append(weights_beside(out))
    elif model.has_weights:
        ctx.note("ignored-key", "the configuration alone is written; its weights are not (ask for them with "
                 "save_weights / --save-weights)")
    with atomic_files(targets, overwrite) as staged:
        staged[0].write_text(text, encoding="utf-8")
        if save_weights:
            with h5py.File(staged[1], "w") as f:
                write_v3_weights(f, model)
    return targets
