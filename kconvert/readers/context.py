"""What every reader needs while it reads one input: options, the report, and error helpers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

from kconvert.errors import (
    IncompatibleKerasConfigurationException,
    KConvertError,
    UnsupportedKerasConfigurationException,
    not_honoured,
)
from kconvert.ir.report import Report
from kconvert.ir.shapes import Shape


@dataclass(frozen=True)
class Limits:
    """Bounds that keep hostile or broken files from exhausting memory or time."""

    max_config_bytes: int = 64 * 1024 * 1024  # a model config (JSON/YAML) or HDF5 attribute
    max_nesting: int = 200  # depth of JSON/YAML structures and of nested models
    max_layers: int = 100_000
    max_archive_member_bytes: int = 8 * 1024**3  # one member of a .keras zip
    max_archive_total_bytes: int = 16 * 1024**3
    max_archive_members: int = 100_000
    max_compression_ratio: int = 1000  # declared size / stored size, for zip members and datasets
    max_dimension: int = 2**31 - 1  # any single dimension in a config
    max_tensor_elements: int = 2**32  # a weight, or one sample of a layer's output, a config declares
    #: the rank of any tensor a model makes: real models stay under 8; TensorFlow stops at 254, and
    #: Deeplearning4j's libnd4j (MAX_RANK) at 32, the lowest of the runtimes kconvert writes for
    max_rank: int = 32
    #: any one tensor a run makes (an input, a layer's output, an attention score matrix...), for the
    #: batch being run; see bench/intermediate_sizes.py for what keras.applications models need
    max_intermediate_bytes: int = 4 * 1024**3

    def integer(self, value: Any, minimum: int = 1) -> int:
        """``value`` as an integer in [minimum, max_dimension]; a ValueError giving the reason otherwise
        (a config's sizes, counts and amounts all pass through here)."""
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or value != int(value)):
            raise ValueError(f"expected an integer, got {value!r}")
        if not minimum <= value <= self.max_dimension:
            raise ValueError(f"expected an integer between {minimum} and {self.max_dimension}, got {int(value)}")
        return int(value)


@dataclass(frozen=True)
class LoadOptions:
    """Options of :func:`kconvert.load`; see its docstring."""

    enforce_training_config: bool = False
    weights_by: Literal["order", "name"] = "order"
    lambdas: Mapping[str, Any] = field(default_factory=dict)
    backend: str | None = None  # assumed training backend for files that do not record one
    input_shapes: Mapping[str, tuple[int | None, ...]] | None = None
    limits: Limits = field(default_factory=Limits)


class ReadContext:
    """Per-input state: the display name of the file, options, and the report being built."""

    def __init__(self, source: str | None, options: LoadOptions, report: Report | None = None) -> None:
        self.source = source
        self.options = options
        self.report = report if report is not None else Report()
        self.keras_version: str | None = None
        #: the backend the model was trained with (decides Theano kernel flips), and whether it
        #: was recorded in the file or assumed
        self.backend: str | None = None
        self.backend_assumed = False
        #: Keras 1: the dim_ordering ('th' or 'tf') every layer that records one agrees on, if any
        self.keras1_dim_ordering: str | None = None
        self.generation: int = 2  # 1, 2 or 3: the Keras config dialect being read
        self.depth = 0  # nesting depth of models being built
        #: a .keras archive's vocabulary assets, by the name of the (top-level) layer that saved them
        self.assets: dict[str, bytes] = {}

    @property
    def limits(self) -> Limits:
        return self.options.limits

    # -- outcomes ------------------------------------------------------------------------------

    def incompatible(self, reason: str, *, layer: str | None = None, layer_class: str | None = None,
                     key: str | None = None) -> IncompatibleKerasConfigurationException:
        """Build (not raise) an error for a model that cannot be represented."""
        return IncompatibleKerasConfigurationException(
            reason, file=self.source, layer=layer, layer_class=layer_class, key=key)

    def unsupported(self, reason: str, *, layer: str | None = None, layer_class: str | None = None,
                    key: str | None = None) -> None:
        """A training-only setting is not honoured: raise when enforcing, else warn and note it."""
        err = UnsupportedKerasConfigurationException(
            reason, file=self.source, layer=layer, layer_class=layer_class, key=key)
        not_honoured(err, self.options.enforce_training_config, self.report)

    def note(self, category: str, message: str, *, layer: str | None = None, key: str | None = None,
             severity: Literal["warning", "info"] = "info") -> None:
        self.report.add(severity, category, message, layer=layer, key=key)

    def located(self, err: KConvertError) -> KConvertError:
        return err.with_context(file=self.source)

    def input_shape_override(self, name: str) -> Shape | None:
        shapes = self.options.input_shapes or {}
        shape = shapes.get(name)
        return None if shape is None else (None, *shape)


def guarded(ctx: ReadContext, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and give any kconvert error escaping it the file's name."""
    try:
        return fn()
    except KConvertError as exc:
        raise ctx.located(exc) from None
