"""Provenance of a loaded model, and reports of what loading or writing dropped, assumed or approximated."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["warning", "info"]


@dataclass(frozen=True)
class Provenance:
    """Where a model came from; writers record it and ``inspect`` prints it."""

    source: str | None  # path, or None for an in-memory string
    source_format: str  # keras-json, keras-yaml, keras-h5, keras-v3, ...
    keras_version: str | None = None
    backend: str | None = None
    model_class: str | None = None  # Sequential, Model, Functional
    weights_source: str | None = None
    backend_assumed: bool = False  # the file did not record its backend; kconvert inferred it
    inputs_from: tuple[str, ...] = ()  # the layers it was cut at (kconvert/ir/cut.py): its inputs are their outputs

    @property
    def keras_major(self) -> int | None:
        v = (self.keras_version or "").strip()
        return int(v[0]) if v[:1].isdigit() else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "inputs_from": list(self.inputs_from), "keras_major": self.keras_major}


@dataclass(frozen=True)
class Note:
    """One thing the user should know about a conversion.

    ``category`` is a stable, machine-readable tag: ``unsupported`` (a training-only setting was
    dropped), ``approximated`` (kept, but not bit-exact), ``assumed`` (a fact the file does not
    record was guessed), ``ignored-key`` (a config key kconvert does not read), ``rewritten``
    (a legacy construct was expressed with modern layers).
    """

    severity: Severity
    category: str
    message: str
    layer: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = ": ".join(p for p in (f"layer '{self.layer}'" if self.layer else None,
                                      f"key '{self.key}'" if self.key else None) if p)
        return f"{self.severity}: {where + ': ' if where else ''}{self.message}"


@dataclass
class Report:
    """Everything a step (loading, writing) did not carry over exactly, so that nothing is lost silently."""

    notes: list[Note] = field(default_factory=list)

    def add(self, severity: Severity, category: str, message: str, *, layer: str | None = None,
            key: str | None = None) -> Note:
        note = Note(severity, category, " ".join(message.split()), layer, key)
        if note not in self.notes:
            self.notes.append(note)
        return note

    @property
    def warnings(self) -> list[Note]:
        return [n for n in self.notes if n.severity == "warning"]

    def by_category(self, category: str) -> list[Note]:
        return [n for n in self.notes if n.category == category]

    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(n) for n in self.notes]
