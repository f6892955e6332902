"""Typed views over DL4J's Jackson JSON: a Java object's class and keys, and one layer's spec."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from kconvert.errors import IncompatibleKerasConfigurationException, KConvertError
from kconvert.formats.dl4j import LAYERS
from kconvert.readers.context import Limits

#: the bounds on a configuration's sizes (any more is a hostile or corrupt file)
LIMITS = Limits()
_REQUIRED: Any = object()
#: 0.x wrapper names -> @class short names
_LEGACY_LAYERS = {"dense": "DenseLayer", "output": "OutputLayer", "rnnoutput": "RnnOutputLayer",
                  "convolution": "ConvolutionLayer", "convolution1d": "Convolution1DLayer",
                  "subsampling": "SubsamplingLayer", "subsampling1d": "Subsampling1DLayer",
                  "batchNormalization": "BatchNormalization", "embedding": "EmbeddingLayer",
                  "activation": "ActivationLayer", "dropout": "DropoutLayer", "GlobalPooling": "GlobalPoolingLayer",
                  "zeroPadding": "ZeroPaddingLayer", "zeroPadding1d": "ZeroPadding1DLayer", "LSTM": "LSTM",
                  "gravesLSTM": "GravesLSTM", "gravesBidirectionalLSTM": "GravesBidirectionalLSTM",
                  "Upsampling2D": "Upsampling2D", "Bidirectional": "recurrent.Bidirectional",
                  "SimpleRnn": "recurrent.SimpleRnn"}


@dataclass
class Keys:
    """A Jackson object's keys, read with their types checked: a missing or mistyped key is a
    typed error naming it, never a Python exception from deep inside the reader."""

    body: dict[str, Any]

    def error(self, message: str, key: str | None = None) -> KConvertError:
        return IncompatibleKerasConfigurationException(message, key=key)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.body.get(key)
        if value is None:
            if default is _REQUIRED:
                raise self.error("required key is missing", key)
            return default
        return value

    def _integer(self, value: Any, key: str, minimum: int) -> int:
        try:
            return LIMITS.integer(value, minimum)
        except ValueError as exc:
            raise self.error(str(exc), key) from None

    def integer(self, key: str, default: Any = _REQUIRED, minimum: int = 1) -> int:
        value = self.get(key, default)
        return value if value is default and default is not _REQUIRED else self._integer(value, key, minimum)

    def integers(self, key: str, default: Any = _REQUIRED, minimum: int = 1) -> tuple[int, ...]:
        value = self.get(key, default)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)) or not value:
            raise self.error(f"expected a list of integers, got {value!r}", key)
        return tuple(self._integer(v, key, minimum) for v in value)

    def number(self, key: str, default: Any = _REQUIRED) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(f"expected a finite number, got {value!r}", key)
        return float(value)

    def flag(self, key: str, default: Any = _REQUIRED) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"expected true or false, got {value!r}", key)
        return value

    def text(self, key: str, default: Any = _REQUIRED) -> str:
        value = self.get(key, default)
        if not isinstance(value, str):
            raise self.error(f"expected a string, got {value!r}", key)
        return value


@dataclass
class LayerSpec(Keys):
    """One DL4J layer, unwrapped: its short class name, its keys, and the parameter names its
    enclosing configuration lists (``variables``)."""

    cls: str
    name: str
    variables: list[str] = field(default_factory=list)

    def error(self, message: str, key: str | None = None) -> KConvertError:
        return IncompatibleKerasConfigurationException(message, layer=self.name, layer_class=self.cls, key=key)

    def rnn_format(self) -> str:
        return self.text("rnnDataFormat", "NCW")

    def cnn_format(self) -> str:
        for key in ("cnn2dDataFormat", "cnn2DFormat", "dataFormat", "format"):  # each layer class has its own key
            if self.get(key) is not None:
                return self.text(key)
        return "NCHW"

    def channels_last(self) -> bool:
        return self.cnn_format() in ("NHWC", "NDHWC")

    def window(self, rank: int) -> dict[str, Any]:
        """A convolution or pooling window's keys (DL4J stores 1D ones as (k, 1)).  Same mode computes its own
        padding whatever ``padding`` says (DL4J ignores it there); Truncate and Strict pad by ``padding``
        first (:meth:`explicit_padding`)."""
        mode = self.text("convolutionMode", "Truncate")
        padding = {"Truncate": "valid", "Strict": "valid", "Same": "same", "Causal": "causal"}.get(mode)
        if padding is None or (padding == "causal" and any(self.integers("padding", [0], minimum=0))):
            raise self.error(f"convolution mode {mode} with explicit padding {self.get('padding')}: not supported")
        return {"strides": self.integers("stride", [1] * rank)[:rank], "padding": padding}

    def explicit_padding(self, rank: int) -> tuple[tuple[int, int], ...] | None:
        """The zeros a Truncate or Strict window pads each spatial axis with on both sides, None when none."""
        if self.text("convolutionMode", "Truncate") not in ("Truncate", "Strict"):
            return None
        amounts = self.integers("padding", [0], minimum=0)
        if not any(amounts):
            return None
        amounts = (amounts * rank)[:rank] if len(amounts) == 1 else amounts[:rank]
        return tuple((a, a) for a in amounts)

    def declared_inputs(self) -> int:
        """``nin``, which a network's first layer must record: DL4J records no input shape."""
        if self.get("nin") is None:
            raise self.error("the network's first layer does not say how many inputs it takes")
        return self.integer("nin")


def java_object(raw: Any, what: str, package: str, legacy: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """A Jackson-serialized Java object: ``{"@class": ..., keys}`` (1.0.0-beta and later) or a
    single-key wrapper ``{"name": {keys}}`` (0.x, names mapped through ``legacy``).  Returns its
    class name relative to ``package`` and its keys."""
    if not isinstance(raw, dict) or not raw:
        raise IncompatibleKerasConfigurationException(f"{what} that is not an object")
    if "@class" in raw:
        return str(raw["@class"]).removeprefix(package), raw
    if len(raw) != 1:
        raise IncompatibleKerasConfigurationException(f"{what} without @class")
    ((name, body),) = raw.items()
    if body is not None and not isinstance(body, dict):
        raise IncompatibleKerasConfigurationException(f"{what} {name} is not an object")
    return (legacy or {}).get(name, name), body or {}


def layer_spec(raw: Any, fallback_name: str) -> LayerSpec:
    """A layer configuration (either dialect), named by its ``layerName`` or else ``fallback_name``."""
    try:
        cls, body = java_object(raw, "a layer configuration", LAYERS, _LEGACY_LAYERS)
    except KConvertError as exc:
        raise exc.with_context(layer=fallback_name) from None
    name = body.get("layerName")
    return LayerSpec(body, cls, name if isinstance(name, str) and name else fallback_name)


def strings(document: dict[str, Any], key: str) -> list[str]:
    """A list of names (absent: empty)."""
    value = document.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IncompatibleKerasConfigurationException(f"expected a list of names, got {value!r:.60}", key=key)
    return value
