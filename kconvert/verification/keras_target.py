"""Running a converted Keras model -- a ``.keras`` archive, a legacy ``.h5`` file, or a JSON
configuration with its ``.weights.h5`` -- in the installed Keras 3 and tf_keras.

A legacy ``.h5`` is run in both, since kconvert writes it for both.  One exception is stated, not
hidden: a recurrent ``hard_sigmoid`` gate in a legacy file means ``0.2 x + 0.5`` to tf_keras but
``relu6(x + 3) / 6`` to Keras 3, so such a file is not compared in Keras 3 (the writer warned).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from kconvert.errors import KConvertError
from kconvert.formats.detect import Detected
from kconvert.formats.keras3 import weights_beside
from kconvert.readers.context import Limits
from kconvert.verification import TargetRun, TargetSkipped
from kconvert.verification.keras_reference import KerasFile, installed_version, run_files


def legacy_config(target: Detected) -> tuple[dict[str, Any], str] | None:
    """The model config of a full-model legacy HDF5 file and the Keras version that wrote it (the
    one it was written for), or None for any other file."""
    if target.format != "keras-h5" or not _named_for_keras(target, (".h5", ".hdf5")):
        return None
    try:
        with h5py.File(target.path, "r") as f:
            raw, written_by = f.attrs.get("model_config"), f.attrs.get("keras_version", b"")
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (OSError, TypeError, ValueError):
        return None
    written_by = written_by.decode("utf-8", "replace") if isinstance(written_by, bytes) else str(written_by)
    return (config, written_by) if isinstance(config, dict) else None


def _weights_beside(target: Detected) -> str | None:
    if target.format != "keras-json" or not _named_for_keras(target, (".json",)):
        return None
    weights = weights_beside(Path(target.path))
    return str(weights) if weights.is_file() else None


def _legacy_for(target: Detected, majors: tuple[str, ...]) -> bool:
    legacy = legacy_config(target)
    return legacy is not None and legacy[1].split(".")[0] in majors


def accepts_keras3(target: Detected) -> bool:
    if installed_version("keras") is None:
        return False
    return (target.format == "keras-v3" and _named_for_keras(target, (".keras",))) or \
        _legacy_for(target, ("2", "3")) or _weights_beside(target) is not None


def _named_for_keras(target: Detected, suffixes: tuple[str, ...]) -> bool:
    """Keras's loaders go by the file's suffix (and the weights of a .json file are named after
    it), so a file kconvert recognises by content runs there only under its usual name."""
    return target.path is not None and target.path.lower().endswith(suffixes)


def accepts_tf_keras(target: Detected) -> bool:
    return installed_version("tf_keras") is not None and _legacy_for(target, ("2",))


def run_keras3(target: Detected, inputs: list[np.ndarray], layers: list[str], device: str | None,
               dtype: str, limits: Limits) -> TargetRun:
    legacy = legacy_config(target)
    if legacy is not None and legacy[1].startswith("2.") and _has_recurrent_hard_sigmoid(legacy[0]):
        raise TargetSkipped("a recurrent hard_sigmoid gate in a legacy HDF5 file means relu6(x + 3) / 6 to Keras 3 "
                            "but 0.2 x + 0.5 to the tf.keras it was written for")
    return _run(KerasFile(target.display, "keras", inputs, layers, weights=_weights_beside(target)))


def run_tf_keras(target: Detected, inputs: list[np.ndarray], layers: list[str], device: str | None,
                 dtype: str, limits: Limits) -> TargetRun:
    return _run(KerasFile(target.display, "tf_keras", inputs, layers))


def _run(file: KerasFile) -> TargetRun:
    (run,) = run_files([file])
    if run.skipped and "--layout channels_last" in run.skipped:  # this machine cannot run it, not a fault in it
        raise TargetSkipped(run.skipped)
    if run.skipped or run.error:
        raise KConvertError(run.error or run.skipped or "", file=file.path)
    return TargetRun(run.outputs, run.activations, run.implementation or file.package)


def _has_recurrent_hard_sigmoid(value: Any) -> bool:
    if isinstance(value, dict):
        return value.get("recurrent_activation") == "hard_sigmoid" or any(
            _has_recurrent_hard_sigmoid(v) for v in value.values())
    return isinstance(value, list) and any(_has_recurrent_hard_sigmoid(v) for v in value)
