"""Reading one Keras layer config: a typed, version-aware view and the converter registry.

Every Keras class the reader understands has one converter, registered under its class name (and
the Keras 1 aliases), that turns a :class:`KerasLayerConfig` into IR attributes and says how the
layer's saved weights map onto canonical ones.  Keras-version differences are handled inside that
one function: the accessor takes the Keras 1 spelling of a key next to the modern one
(``cfg.integer("units", k1="output_dim")``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from kconvert.errors import IncompatibleKerasConfigurationException, KConvertError
from kconvert.formats.keras3 import OPERATION_MODULES, OPERATION_PACKAGE
from kconvert.ir.graph import Layer
from kconvert.ir.layer import LayerConfig
from kconvert.ir.report import Report
from kconvert.ir.values import WeightSettings
from kconvert.ir.weights import Weight
from kconvert.readers.context import ReadContext
from kconvert.readers.keras import values
from kconvert.registry import register_kinds

_REQUIRED: Any = object()

#: keys every layer may carry that the model builder reads itself (shape, dtype, name...)
GENERIC_KEYS = frozenset({
    "name", "trainable", "dtype", "batch_input_shape", "batch_shape", "input_shape", "input_dtype",
    "batch_size", "activity_regularizer", "build_config", "autocast", "custom_name", "input_dim",
    "input_length",
})
#: keys that do not change what a layer computes and need no mention when ignored
HARMLESS_KEYS = frozenset({"implementation", "consume_less", "input_spec"})


@dataclass(frozen=True)
class SourceWeight:
    """One saved weight as the source file names it, in the file's order."""

    name: str
    weight: Weight


Binder = Callable[[list[SourceWeight]], dict[str, Weight]]


@dataclass
class Converted:
    """A converter's result: the IR attributes and how to map saved weights onto the layer.

    ``bind`` receives the layer's saved weights in file order and returns canonical weights;
    wrappers bind their sublayers themselves.  ``None`` means the layer has no weights.
    """

    config: LayerConfig
    bind: Binder | None = None
    #: call keyword arguments the converter folded into ``config`` (the builder drops them)
    call_kwargs: tuple[str, ...] = ()
    #: call keyword arguments holding tensors the layer takes as further inputs, after the positional
    #: ones and in this order (tf.keras records MultiHeadAttention's ``value`` and
    #: ``tf.math.multiply(x, y=t)``'s ``y`` so)
    tensor_kwargs: tuple[str, ...] = ()
    #: each tensor argument brings its own mask (Keras 3 fills ``<argument>_mask`` parameters)
    masks_per_argument: bool = False


Converter = Callable[["KerasLayerConfig"], "Converted | LayerConfig"]
KERAS_LAYERS: dict[str, Converter] = {}
#: Keras 3 operations (module keras.src.ops...) by class name: a registry of their own, since their
#: class names may equal a layer's (ops.Add, ops.Reshape, ops.Concatenate)
KERAS_OPERATIONS: dict[str, Converter] = {}


def keras_layer(*class_names: str, operation: bool = False) -> Callable[[Converter], Converter]:
    """Register a converter for one or more Keras class names (refusing duplicates).

    ``operation`` marks a Keras 3 graph operation (keras.src.ops) rather than a layer class.
    """
    def register(fn: Converter) -> Converter:
        if operation:
            register_kinds(KERAS_OPERATIONS, class_names, fn, "a converter for the Keras 3 operation")
        else:
            register_kinds(KERAS_LAYERS, class_names, fn, "a converter for the Keras class")
        return fn
    return register


class KerasLayerConfig:
    """A typed view over one layer's Keras config, recording which keys were read."""

    def __init__(self, class_name: str, config: dict[str, Any], name: str, ctx: ReadContext,
                 node: dict[str, Any] | None = None) -> None:
        self.class_name = class_name
        self.raw = config
        self.name = name
        self.ctx = ctx
        self.node = node or {}  # the enclosing {"class_name", "config", ...} dict (Keras 3 extras)
        self.weight_settings: dict[str, WeightSettings] = {}
        self._used: set[str] = set()

    @property
    def generation(self) -> int:
        return self.ctx.generation

    @property
    def report(self) -> Report:
        return self.ctx.report

    # -- errors and notes ---------------------------------------------------------------------

    def error(self, reason: str, key: str | None = None) -> KConvertError:
        return IncompatibleKerasConfigurationException(reason, key=key)

    def unsupported(self, reason: str, key: str | None = None) -> None:
        self.ctx.unsupported(reason, layer=self.name, layer_class=self.class_name, key=key)

    def note(self, category: str, message: str, key: str | None = None, severity: str = "info") -> None:
        self.ctx.note(category, message, layer=self.name, key=key, severity=severity)  # type: ignore[arg-type]

    # -- raw access ----------------------------------------------------------------------------

    def _find(self, key: str, k1: str | None) -> str | None:
        for k in (key, k1):
            if k is not None and k in self.raw:
                self._used.add(k)
                return k
        return None

    def has(self, key: str, k1: str | None = None) -> bool:
        return any(k is not None and k in self.raw for k in (key, k1))

    def get(self, key: str, default: Any = _REQUIRED, *, k1: str | None = None) -> Any:
        """The raw value of ``key`` (or its Keras 1 name ``k1``); ``default`` when absent or null."""
        found = self._find(key, k1)
        if found is None or self.raw[found] is None:
            if default is _REQUIRED:
                raise self.error("required key is missing" if found is None else "required key is null",
                                 key)
            return default
        return self.raw[found]

    def mark_used(self, *keys: str) -> None:
        self._used.update(k for k in keys if k in self.raw)

    def leftover(self) -> dict[str, Any]:
        """Keys nobody read, except those the builder handles and those that change nothing."""
        return {k: v for k, v in self.raw.items()
                if k not in self._used and k not in GENERIC_KEYS and k not in HARMLESS_KEYS}

    # -- typed access --------------------------------------------------------------------------

    def integer(self, key: str, default: Any = _REQUIRED, *, k1: str | None = None, minimum: int = 1) -> int:
        value = self.get(key, default, k1=k1)
        if value is default and default is not _REQUIRED:
            return value
        return self._int(value, key, minimum)

    def _int(self, value: Any, key: str, minimum: int) -> int:
        try:
            return self.ctx.limits.integer(value, minimum)
        except ValueError as exc:
            raise self.error(str(exc), key) from None

    def number(self, key: str, default: Any = _REQUIRED, *, k1: str | None = None,
               minimum: float | None = None, maximum: float | None = None) -> float:
        value = self.get(key, default, k1=k1)
        if value is default and default is not _REQUIRED:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"expected a number, got {value!r}", key)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise self.error(f"expected a number in [{minimum}, {maximum}], got {value}", key)
        return float(value)

    def boolean(self, key: str, default: Any = _REQUIRED, *, k1: str | None = None) -> bool:
        value = self.get(key, default, k1=k1)
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise self.error(f"expected true or false, got {value!r}", key)

    def choice(self, key: str, choices: Iterable[str], default: Any = _REQUIRED, *,
               k1: str | None = None) -> str:
        value = self.get(key, default, k1=k1)
        choices = tuple(choices)
        if value not in choices:
            raise self.error(f"expected one of {', '.join(map(repr, choices))}, got {value!r}", key)
        return value

    def ints(self, key: str, n: int, default: Any = _REQUIRED, *, k1: str | None = None,
             minimum: int = 1) -> tuple[int, ...]:
        """An int or a sequence of ``n`` ints, as a tuple of ``n`` ints."""
        value = self.get(key, default, k1=k1)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value] * n
        if not isinstance(value, (list, tuple)) or len(value) != n:
            raise self.error(f"expected {n} integer(s), got {value!r}", key)
        return tuple(self._int(v, key, minimum) for v in value)

    def pairs(self, key: str, n: int, default: Any = _REQUIRED, *,
              k1: str | None = None) -> tuple[tuple[int, int], ...]:
        """Padding/cropping amounts: an int, ``n`` ints, or ``n`` (before, after) pairs."""
        return self.to_pairs(self.get(key, default, k1=k1), key, n)

    def to_pairs(self, value: Any, key: str, n: int) -> tuple[tuple[int, int], ...]:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value] * n
        if n == 1 and isinstance(value, (list, tuple)) and len(value) == 2 and all(
                isinstance(v, (int, float)) for v in value):
            value = [value]
        if not isinstance(value, (list, tuple)) or len(value) != n:
            raise self.error(f"expected {n} padding pair(s), got {value!r}", key)
        out = []
        for item in value:
            pair = [item, item] if isinstance(item, (int, float)) else item
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise self.error(f"expected a (before, after) pair, got {item!r}", key)
            out.append((self._int(pair[0], key, 0), self._int(pair[1], key, 0)))
        return tuple(out)

    def activation(self, key: str = "activation", default: str = "linear", *, k1: str | None = None) -> str:
        value = self.get(key, None, k1=k1)
        if value is None:
            return default
        try:
            return values.activation(value, self.generation)
        except KConvertError as exc:
            raise exc.with_context(key=key) from None

    def data_format(self, key: str = "data_format") -> str:
        """``data_format`` (Keras 2/3) or ``dim_ordering`` (Keras 1) as channels_last/first."""
        found = self._find(key, "dim_ordering")
        value = None if found is None else self.raw[found]
        mapped = {"tf": "channels_last", "th": "channels_first", "channels_last": "channels_last",
                  "channels_first": "channels_first"}.get(value) if isinstance(value, str) else None
        if mapped is not None:
            return mapped
        if value not in (None, "default"):
            raise self.error(f"unknown data format {value!r}", found)
        if found is not None:
            self.note("assumed", "data format not recorded ('default'); assumed channels_last", key=found)
        return "channels_last"

    def image_data_format(self) -> str:
        """:meth:`data_format` for the image layers Keras 1.2 saved no ``dim_ordering`` for (padding,
        cropping, up-sampling, spatial dropout): they used keras.json's ``image_dim_ordering``, which the
        model's other layers reveal when they all record the same one."""
        if self.generation != 1 or self.has("data_format", "dim_ordering"):
            return self.data_format()
        ordering = self.ctx.keras1_dim_ordering or "tf"
        self.note("assumed", f"Keras 1 saved no dim_ordering for this layer (it followed keras.json); assumed "
                  f"'{ordering}'" + (" like the model's other layers" if self.ctx.keras1_dim_ordering
                                     else ", Keras's default"), key="dim_ordering")
        return "channels_first" if ordering == "th" else "channels_last"

    def padding(self, choices: Sequence[str] = ("valid", "same")) -> str:
        return self.choice("padding", choices, "valid", k1="border_mode")

    def axis_tuple(self, key: str, default: Any = _REQUIRED) -> tuple[int, ...]:
        value = self.get(key, default)
        value = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(value, (list, tuple)) or not value or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self.error(f"expected an axis or a list of axes, got {value!r}", key)
        return tuple(value)

    def shape(self, key: str, default: Any = _REQUIRED, *, k1: str | None = None,
              batch: bool = True) -> tuple[int | None, ...]:
        """A shape list (``None`` for unknown dimensions); ``batch`` says it includes the batch axis."""
        value = self.get(key, default, k1=k1)
        if value is default and default is not _REQUIRED:
            return value
        if not isinstance(value, (list, tuple)) or (batch and not value):
            raise self.error(f"expected a shape (a list of dimensions), got {_preview(value)}", key)
        return tuple(None if d is None else self._int(d, key, 0) for d in value)

    def call_kwargs(self) -> list[dict[str, Any]]:
        """The non-tensor keyword arguments of each call of this layer, in any Keras dialect."""
        out = []
        nodes = self.node.get("inbound_nodes")
        for node in nodes if isinstance(nodes, list) else []:
            if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
                kwargs = node.get("kwargs")
                out.append(dict(kwargs) if isinstance(kwargs, dict) else {})
            elif isinstance(node, list):  # Keras 2: [[name, node, tensor, kwargs], ...]
                merged: dict[str, Any] = {}
                for entry in node:
                    if isinstance(entry, list) and len(entry) > 3 and isinstance(entry[3], dict):
                        merged.update(entry[3])
                out.append(merged)
        return out

    def weight(self, weight: str, *, prefix: str | None = None,
               k1: tuple[str | None, str | None, str | None] = (None, None, None)) -> None:
        """Read the initializer, regularizer and constraint of one weight into ``weight_settings``."""
        prefix = prefix or weight
        unsupported = self._unsupported_for
        init = self.get(f"{prefix}_initializer", None, k1=k1[0])
        reg = self.get(f"{prefix}_regularizer", None, k1=k1[1])
        con = self.get(f"{prefix}_constraint", None, k1=k1[2])
        settings = WeightSettings(
            values.initializer(init, self.generation, unsupported(f"{prefix}_initializer", k1[0])),
            values.regularizer(reg, unsupported(f"{prefix}_regularizer", k1[1])),
            values.constraint(con, unsupported(f"{prefix}_constraint", k1[2])),
        )
        if settings != WeightSettings():
            self.weight_settings[weight] = settings

    def _unsupported_for(self, key: str, k1: str | None) -> Callable[[str], None]:
        shown = key if key in self.raw or k1 is None else k1
        return lambda reason: self.unsupported(reason, key=shown)


# -- weight binding helpers -----------------------------------------------------------------------

def weight_count_error(expected: Sequence[str], got: list[SourceWeight]) -> KConvertError:
    return IncompatibleKerasConfigurationException(
        f"the file holds {len(got)} weight(s) [{', '.join(w.name for w in got)}] but the layer "
        f"configuration calls for {len(expected)} [{', '.join(expected)}]")


#: Keras 1 keys of a kernel's and a bias's (initializer, regularizer, constraint)
KERNEL_K1 = ("init", "W_regularizer", "W_constraint")
BIAS_K1 = (None, "b_regularizer", "b_constraint")


def kernel_and_bias(cfg: KerasLayerConfig, use_bias: bool) -> tuple[str, ...]:
    """Read the settings of ``kernel`` (and ``bias``) and return the canonical weight names."""
    cfg.weight("kernel", k1=KERNEL_K1)
    cfg.weight("bias", k1=BIAS_K1)
    return ("kernel", "bias") if use_bias else ("kernel",)


def ordered(*names: str) -> Binder:
    """Bind saved weights by position to canonical names (the Keras 2/3 layout)."""
    def bind(saved: list[SourceWeight]) -> dict[str, Weight]:
        if len(saved) != len(names):
            raise weight_count_error(names, saved)
        return {name: w.weight for name, w in zip(names, saved)}
    return bind


def build_layer(node: Any, ctx: ReadContext, *, name: str | None = None) -> tuple[Layer, Converted]:
    """Turn one serialized layer ``{"class_name", "config"}`` into an IR layer and its binder.

    The layer has no calls yet; the model builder connects it.
    """
    if not isinstance(node, dict) or not isinstance(node.get("class_name"), str):
        raise IncompatibleKerasConfigurationException(
            f"a layer entry must be an object with a 'class_name', got {_preview(node)}")
    class_name = node["class_name"]
    config = node.get("config")
    if not isinstance(config, dict):
        entry_name = node.get("name")
        raise IncompatibleKerasConfigurationException(
            f"layer of class {class_name!r} has no 'config' object",
            layer=entry_name if isinstance(entry_name, str) else name, key="config")
    name = config.get("name") or node.get("name") or name
    if class_name == "TensorFlowOpLayer" and isinstance(name, str):  # its config keeps the unprefixed op name
        name = node.get("name") if isinstance(node.get("name"), str) else f"tf_op_layer_{name}"
    if not isinstance(name, str) or not name:
        raise IncompatibleKerasConfigurationException(
            f"layer of class {class_name!r} has no name", key="name")
    cfg = KerasLayerConfig(class_name, config, name, ctx, node)
    try:
        converter = KERAS_LAYERS.get(class_name)
        module = node.get("module")
        if is_operation(node):
            if module is not None and module not in OPERATION_MODULES:
                raise IncompatibleKerasConfigurationException(
                    f"module {module!r} is not one Keras 3 records operations from "
                    f"({', '.join(sorted(OPERATION_MODULES))})", key="module")
            converter = KERAS_OPERATIONS.get(class_name)
            if converter is None:
                raise IncompatibleKerasConfigurationException(
                    f"Keras 3 recorded the operation {module or 'keras.src.ops'}.{class_name} in the graph (a "
                    "keras.ops call in the model's code); kconvert cannot express it")
        if converter is None:
            raise unknown_layer_error(class_name)
        cfg.mark_used("name")
        trainable = cfg.boolean("trainable", True)
        dtype = values.dtype(config.get("dtype")) or "float32"
        activity = values.regularizer(cfg.get("activity_regularizer", None),
                                      cfg._unsupported_for("activity_regularizer", None))
        try:
            result = converter(cfg)
        except ValueError as exc:  # raised by IR attribute validation
            raise IncompatibleKerasConfigurationException(str(exc)) from None
        converted = result if isinstance(result, Converted) else Converted(result)
        for key, value in cfg.leftover().items():
            if value not in (None, False, [], {}, ""):
                cfg.note("ignored-key", f"key not read by kconvert (value {_preview(value)})", key=key,
                         severity="warning")
    except KConvertError as exc:
        raise exc.with_context(layer=name, layer_class=class_name) from None
    layer = Layer(name, converted.config, trainable=trainable, dtype=dtype, activity_regularizer=activity,
                  weight_settings=cfg.weight_settings, source_class=class_name)
    return layer, converted


def is_operation(node: dict[str, Any]) -> bool:
    """Whether a layer entry is a Keras 3 graph operation rather than a layer.

    ``.keras`` archives say so with the module (``keras.src.ops.numpy``); Keras 3's legacy HDF5
    files drop the module, so there an entry is an operation when its calls use Keras 3's dict form
    and its config lacks the ``trainable`` key every Keras 3 layer writes (an ``ops.add(x, 2.0)``
    is stored as ``Add`` with one tensor and a constant, not as the merge layer)."""
    module = node.get("module")
    if isinstance(module, str):  # what the entry claims; build_layer checks the whole module
        return module.startswith(OPERATION_PACKAGE)
    config = node.get("config")
    nodes = node.get("inbound_nodes")
    return (node.get("class_name") in KERAS_OPERATIONS and isinstance(config, dict) and "trainable" not in config
            and isinstance(nodes, list) and bool(nodes) and all(isinstance(n, dict) for n in nodes))


#: classes that exist in Keras files but embed something kconvert cannot express
REFUSED_CLASSES = {
    "TFSMLayer": "loads an external TensorFlow SavedModel from a path",
    "AutoContrast": "rescales each image by its own per-channel value range at inference",
    "Equalization": "equalizes each image's histogram at inference",
}


def unknown_layer_error(class_name: str) -> KConvertError:
    if class_name in REFUSED_CLASSES:
        return IncompatibleKerasConfigurationException(
            f"layer class {class_name!r} {REFUSED_CLASSES[class_name]}, which kconvert cannot express")
    return IncompatibleKerasConfigurationException(
        f"unknown layer class {class_name!r}{values.suggest(class_name, KERAS_LAYERS)}; kconvert never "
        f"imports code named by a model file (see 'kconvert formats' for the supported layers)")


def _preview(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
