"""What a writer collects while it writes: notes for the user, and the enforcement policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kconvert.errors import UnsupportedKerasConfigurationException, not_honoured
from kconvert.ir.report import Report


class WriteContext:
    """``enforce_training_config`` decides whether a training-only setting the target cannot carry
    stops the conversion (as when loading)."""

    def __init__(self, target: str, enforce_training_config: bool = False) -> None:
        self.target = target
        self.enforce_training_config = enforce_training_config
        self.report = Report()

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
