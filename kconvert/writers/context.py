"""What a writer collects while it writes: notes for the user, the enforcement policy, and the weights it writes
from (shape-only stand-ins where a configuration without weights is written alone)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kconvert.errors import (IncompatibleKerasConfigurationException, UnsupportedKerasConfigurationException,
                             not_honoured)
from kconvert.ir.graph import Layer
from kconvert.ir.report import Report
from kconvert.ir.shapes import Shape
from kconvert.ir.weights import Weight


class WriteContext:
    """``enforce_training_config`` decides whether a training-only setting the target cannot carry
    stops the conversion (as when loading); ``config_only``: the configuration alone is written."""

    def __init__(self, target: str, enforce_training_config: bool = False, config_only: bool = False) -> None:
        self.target = target
        self.enforce_training_config = enforce_training_config
        self.config_only = config_only
        self.report = Report()

    def weights(self, layer: Layer, inputs: list[Shape]) -> dict[str, Weight]:
        """``layer``'s weights, for what is written from them.  Writing the configuration alone, a layer
        read without weights has stand-ins of the shapes its kind states for ``inputs``: a configuration
        needs their shapes and which of them exist, never their values (a stand-in refuses to be read)."""
        if layer.weights or not self.config_only:
            return layer.weights
        absent = {}
        for name, shape in layer.config.weight_shapes(inputs).items():
            if any(d is None for d in shape):
                raise layer.context_error(IncompatibleKerasConfigurationException(
                    f"weight '{name}' has a shape the configuration leaves open {shape}: its size cannot be "
                    "written without the weights", key=name))
            absent[name] = Weight.absent(shape, np.float32, f"layer '{layer.name}' weight '{name}'", partial(
                layer.context_error, IncompatibleKerasConfigurationException(
                    f"{self.target} needs the values of weight '{name}' to write this layer, and the model is a "
                    "configuration without weights", key=name)))
        return absent

    def unsupported(self, err: UnsupportedKerasConfigurationException) -> None:
        not_honoured(err, self.enforce_training_config, self.report)

    def note(self, category: str, message: str, *, layer: str | None = None, key: str | None = None,
             severity: Literal["warning", "info"] = "info") -> None:
        self.report.add(severity, category, message, layer=layer, key=key)


@dataclass
class Written:
    """What a writer produced: the main file, every file written, and its notes."""

    path: Path  # the file a loader opens (model.json, the model zip, the .keras file)
    files: list[Path]
    report: Report
    weights: int = 0  # tensors written
    weight_bytes: int = 0  # bytes of weight data written (after quantization)
    companion: Path | None = None  # TF.js: the kconvert-layers.js module a loader must load first

    def to_dict(self) -> dict[str, Any]:
        out = {"path": str(self.path), "files": [str(f) for f in self.files], "weights": self.weights,
               "weight_bytes": self.weight_bytes, "notes": self.report.to_list()}
        return {**out, "companion": str(self.companion)} if self.companion else out
