"""Running a converted Keras model -- a ``.keras`` archive, a legacy ``.h5`` file, or a JSON
configuration with its ``.weights.h5`` -- in the installed Keras 3 and tf_keras.

A legacy ``.h5`` is run in both, since kconvert writes it for both.  One exception is stated, not
hidden: a recurrent ``hard_sigmoid`` gate in a legacy file means ``0.2 x + 0.5`` to tf_keras but
``relu6(x + 3) / 6`` to Keras 3, so such a file is not compared in Keras 3 (the writer warned).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from kconvert.errors import KConvertError
from kconvert.formats.keras3 import weights_beside
from kconvert.verification import TargetRun, TargetSkipped
from kconvert.verification.keras_reference import KerasFile, installed_version, run_files


def legacy_config(path: str) -> tuple[dict[str, Any], str] | None:
    """The model config of a full-model legacy HDF5 file and the Keras version that wrote it (the
    one it was written for), or None for any other file."""
    if Path(path).suffix.lower() not in (".h5", ".hdf5") or not Path(path).is_file():
        return None
    try:
        with h5py.File(path, "r") as f:
            raw, written_by = f.attrs.get("model_config"), f.attrs.get("keras_version", b"")
        config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except (OSError, TypeError, ValueError):
        return None
    written_by = written_by.decode("utf-8", "replace") if isinstance(written_by, bytes) else str(written_by)
    return (config, written_by) if isinstance(config, dict) else None


def _weights_beside(path: str) -> str | None:
    weights = weights_beside(Path(path))
    return str(weights) if Path(path).suffix.lower() == ".json" and weights.is_file() else None


def _legacy_for(path: str, majors: tuple[str, ...]) -> bool:
    legacy = legacy_config(path)
    return legacy is not None and legacy[1].split(".")[0] in majors


def accepts_keras3(path: str) -> bool:
    if installed_version("keras") is None:
        return False
    return (Path(path).suffix.lower() == ".keras" and zipfile.is_zipfile(path)) or \
        _legacy_for(path, ("2", "3")) or _weights_beside(path) is not None


def accepts_tf_keras(path: str) -> bool:
    return installed_version("tf_keras") is not None and _legacy_for(path, ("2",))


def run_keras3(path: str, inputs: list[np.ndarray], layers: list[str], device: str | None,
               dtype: str) -> TargetRun:
    legacy = legacy_config(path)
    if legacy is not None and legacy[1].startswith("2.") and _has_recurrent_hard_sigmoid(legacy[0]):
        raise TargetSkipped("a recurrent hard_sigmoid gate in a legacy HDF5 file means relu6(x + 3) / 6 to Keras 3 "
                            "but 0.2 x + 0.5 to the tf.keras it was written for")
    return _run(KerasFile(path, "keras", inputs, layers, weights=_weights_beside(path)))


def run_tf_keras(path: str, inputs: list[np.ndarray], layers: list[str], device: str | None,
                 dtype: str) -> TargetRun:
    return _run(KerasFile(path, "tf_keras", inputs, layers))


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
