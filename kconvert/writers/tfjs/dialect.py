"""What tfjs-layers (TF.js 4.x) reads of a tf.keras 2 config, and how it differs from Keras.

One rule per IR layer kind checks a layer and adjusts its emitted config.  A kind without a rule
is not written: tfjs-layers has no such class.  A rule refuses what TF.js would reject at load or,
worse, load and compute differently: it reads only the keys it knows and ignores the rest
silently (``groups``, ``output_padding``, ReLU's ``threshold``...).  The facts come from reading
tfjs-layers 4.22 and loading probe models in it; the tests load every written model in it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kconvert.errors import IncompatibleKerasConfigurationException, UnsupportedKerasConfigurationException
from kconvert.formats.tfjs import LISTED_INPUTS
from kconvert.ir.graph import Layer
from kconvert.ir.shapes import Shape
from kconvert.ir.structure import Structure
from kconvert.registry import registrar
from kconvert.writers.context import WriteContext
from kconvert.writers.keras.dialect import KERAS2_ACTIVATIONS, Keras2Dialect, Ref
from kconvert.writers.keras.layers import is_mirrored
from kconvert.writers.tfjs.companion import ASK_HINT, Companion
from kconvert.writers.tfjs.operations import COMPANION_OPERATIONS, companion_operation


class TfjsDialect(Keras2Dialect):
    """tf.keras 2 configs, less the activations tfjs-layers does not register (after its
    snake_case -> camelCase conversion of every string)."""

    name = "TF.js"
    # tfjs registers its tanh GELU as "gelu_new", which its camelCasing of every string turns into
    # the unknown "geluNew": gelu_tanh is rewritten into layers instead (rewrite/compositions.py)
    activations = {ir: name for ir, name in KERAS2_ACTIVATIONS.items() if ir != "exponential"}

    def io(self, refs: list[Ref], structure: Structure = None) -> Any:
        """tfjs-layers reads flat input/output lists only; dict keys become the layers' names
        (``writers/io_names.py``)."""
        return refs

    def operation_layer(self, layer: Layer) -> tuple[str, dict[str, Any]] | None:
        """The companion module's class for an operation no stock layer computes (its check,
        below, asks for the module)."""
        return companion_operation(layer)

    def node(self, kind: str, inputs: Sequence[tuple[Ref, Shape, str]], kwargs: dict[str, Any]) -> Any:
        """tfjs-layers connects only the tensors a node lists, not those among its call arguments,
        and frees a tensor listed twice too early: MultiHeadAttention's node lists each distinct
        input once, and every entry carries the call's inputs in Keras's order (query, value, key,
        attention_mask) as indices into them (:data:`LISTED_INPUTS`), a flag saying that an
        attention_mask is among them, and whether the mask is causal.  The companion class and
        kconvert's reader read them."""
        if "_inputs" not in kwargs:
            return super().node(kind, inputs, kwargs)
        names = kwargs.pop("_inputs")
        distinct: list[Ref] = []
        for ref, _, _ in inputs:
            if ref not in distinct:
                distinct.append(ref)
        flags = {**kwargs, **({"attention_mask": True} if "attention_mask" in names else {}),
                 LISTED_INPUTS: [distinct.index(ref) for ref, _, _ in inputs]}
        return [[*ref, dict(flags)] for ref in distinct]


TFJS = TfjsDialect()
#: initializer classes tfjs-layers knows, by IR (Keras 3) name
TFJS_INITIALIZERS = {
    "Zeros": "Zeros", "Ones": "Ones", "Constant": "Constant", "RandomNormal": "RandomNormal",
    "RandomUniform": "RandomUniform", "TruncatedNormal": "TruncatedNormal", "VarianceScaling": "VarianceScaling",
    "GlorotUniform": "GlorotUniform", "GlorotNormal": "GlorotNormal", "HeUniform": "HeUniform",
    "HeNormal": "HeNormal", "LecunUniform": "LeCunUniform", "LecunNormal": "LeCunNormal",
    "Orthogonal": "Orthogonal", "Identity": "Identity",
}
_VARIANCE_SCALING_DISTRIBUTIONS = ("normal", "uniform", "truncated_normal")


@dataclass
class Emission:
    """One layer being written: its IR, its emitted config (to adjust) and its input shapes."""

    layer: Layer
    entry: dict[str, Any]
    inputs: list[Shape]
    ctx: WriteContext
    companion: Companion = field(default_factory=Companion)

    @property
    def config(self) -> dict[str, Any]:
        return self.entry["config"]

    @property
    def rank(self) -> int:
        return len(self.inputs[0])

    def refuse(self, reason: str, key: str | None = None) -> IncompatibleKerasConfigurationException:
        return self.layer.context_error(IncompatibleKerasConfigurationException(
            f"TF.js {reason}", key=key))  # type: ignore[return-value]

    def needs_companion(self, what: str, key: str | None = None) -> None:
        """Keep a layer only the companion module (kconvert-layers.js) runs; without it, refuse
        and say how to ask for it."""
        if not self.companion.enabled:
            raise self.layer.context_error(IncompatibleKerasConfigurationException(
                f"stock TF.js has no {what}; {ASK_HINT}", key=key))
        self.companion.use(what, self.layer.name)


Rule = Callable[[Emission], None]
#: the IR kinds tfjs-layers has a class for, each with the check and adjustment of its emitted config
CHECKS: dict[str, Rule] = {}


rule = registrar(CHECKS, "a TF.js check")


def adapt(site: Emission) -> None:
    """Check and adjust one emitted layer for tfjs-layers."""
    layer = site.layer
    check = CHECKS.get(layer.kind)
    if check is None:
        raise site.refuse(f"has no {layer.source_class or layer.kind} layer")
    check(site)
    if layer.kind not in ("InputLayer", "Model"):
        _weight_settings(site)
        if isinstance(site.config.get("dtype"), dict) or str(site.config.get("dtype", "")).startswith("mixed_"):
            site.ctx.note("approximated", f"the mixed-precision policy {layer.dtype} is written as float32: TF.js "
                          "computes in float32, Keras computed in lower precision", layer=layer.name)
            site.config["dtype"] = "float32"


@rule("Dense", "Dropout", "SpatialDropout1D", "Activation", "RepeatVector", "Masking", "Embedding",
      "GaussianNoise", "GaussianDropout", "AlphaDropout", "ThresholdedReLU", "PReLU", "LeakyReLU", "ReLU", "ELU",
      "Add", "Multiply", "Average", "Maximum", "Minimum", "MaxPooling1D", "AveragePooling1D", "MaxPooling2D",
      "MaxPooling3D", "AveragePooling2D", "AveragePooling3D", "ZeroPadding2D", "Cropping2D", "LayerNormalization",
      "Rescaling", "SimpleRNN", "LSTM", "Flatten", "Model")
def as_is(site: Emission) -> None:
    """Read by tfjs-layers as tf.keras 2 writes it (what it reads differently was rewritten before:
    :mod:`kconvert.writers.tfjs.rewrites`)."""


@rule("InputLayer")
def input_layer(site: Emission) -> None:
    c = site.layer.config
    if c.sparse or c.ragged:
        raise site.refuse("has no sparse or ragged inputs", key="sparse" if c.sparse else "ragged")
    if c.dtype not in ("float32", "int32", "bool"):
        site.ctx.note("rewritten", f"input dtype {c.dtype} is written as "
                      f"{'int32' if 'int' in c.dtype else 'float32'}, the nearest dtype TF.js has",
                      layer=site.layer.name, key="dtype")
        site.config["dtype"] = "int32" if "int" in c.dtype else "float32"
    for key in ("sparse", "ragged"):
        site.config.pop(key, None)


@rule("Permute")
def permute(site: Emission) -> None:
    if len(site.layer.config.dims) >= 10:  # tfjs validates dims with a lexicographic sort
        raise site.refuse("rejects permutations of 10 or more axes", key="dims")


@rule("Reshape")
def reshape(site: Emission) -> None:
    """tfjs never resolves a -1 in the target shape when it builds the model (the batch size is
    unknown), so the layers after it fail: write the size Keras infers.  Where the input has an
    unknown size too (a sequence's length), tfjs leaves that axis unknown, as Keras does, and
    resolves it when it runs: the layers after it need the last axis only."""
    target = list(site.layer.config.target_shape)
    if -1 in target:
        known = site.inputs[0][1:]
        if any(d is None for d in known):
            if target[-1] == -1:
                raise site.refuse("cannot resolve -1 in the last axis of the target shape without a fully known "
                                  "input shape", key="target_shape")
            return
        total = 1
        for d in known:
            total *= d  # type: ignore[operator]
        rest = 1
        for d in target:
            rest *= d if d != -1 else 1
        target[target.index(-1)] = total // rest
        site.config["target_shape"] = target


def _groups(site: Emission) -> None:
    if getattr(site.layer.config, "groups", 1) != 1:
        raise site.refuse("has no grouped convolutions (one group per input channel is written as a DepthwiseConv2D); "
                          "groups would be ignored", key="groups")


def _no_dilation(site: Emission, what: str) -> None:
    if any(d != 1 for d in site.layer.config.dilation_rate):
        raise site.refuse(f"ignores dilation_rate in {what}; the output would differ",
                          key="dilation_rate")


def _strided_dilation(site: Emission) -> None:
    c = site.layer.config
    if any(s != 1 for s in c.strides) and any(d != 1 for d in c.dilation_rate):
        raise site.refuse("cannot combine strides and dilation in one convolution", key="strides")


@rule("Conv1D", "Conv2D", "Conv3D")
def conv(site: Emission) -> None:
    _groups(site)
    _strided_dilation(site)


@rule("Conv2DTranspose", "Conv3DTranspose")
def conv_transpose(site: Emission) -> None:
    c = site.layer.config
    if c.output_padding is not None:
        raise site.refuse("ignores output_padding in transposed convolutions", key="output_padding")
    _no_dilation(site, "transposed convolutions")
    site.config.pop("output_padding", None)


@rule("SeparableConv2D")
def separable_conv(site: Emission) -> None:
    c = site.layer.config
    if c.data_format == "channels_first" and c.use_bias:
        raise site.refuse("adds a channels_first SeparableConv2D's bias on the wrong axis",
                          key="data_format")
    _strided_dilation(site)
    for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):  # tfjs throws on these
        site.config.pop(key, None)


@rule("DepthwiseConv2D")
def depthwise_conv(site: Emission) -> None:
    _no_dilation(site, "DepthwiseConv2D")


@rule("UpSampling2D")
def upsampling(site: Emission) -> None:
    if site.layer.config.interpolation != "nearest":
        raise site.refuse(f"{site.layer.config.interpolation} upsampling samples pixels differently "
                          "from Keras (no half-pixel centres)", key="interpolation")


@rule("GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling2D")
def global_pooling(site: Emission) -> None:
    site.config.pop("keepdims", None)  # always False here (rewritten); tfjs-layers has no such key


@rule("Concatenate")
def concatenate(site: Emission) -> None:
    """tfjs concatenates on the last axis for every negative axis: write a positive one."""
    axis = site.layer.config.axis
    if axis < -1:
        site.config["axis"] = site.rank + axis


@rule("Dot")
def dot(site: Emission) -> None:
    if any(len(shape) > 3 for shape in site.inputs):
        raise site.refuse("Dot takes inputs of rank 3 at most", key="axes")
    if site.layer.config.normalize:
        site.ctx.note("approximated", "TF.js normalizes with max(sum of squares, 1e-7) where Keras uses 1e-12: "
                      "results differ for vectors whose norm is below 3e-4", layer=site.layer.name, key="normalize")


@rule("BatchNormalization", "Softmax")
def last_axis(site: Emission) -> None:
    """Over the last axis (others were rewritten), written -1: tfjs's CPU kernel misapplies others."""
    site.config["axis"] = -1


@rule("GRU")
def gru(site: Emission) -> None:
    if site.layer.config.reset_after:
        site.needs_companion("GRU with reset_after=True (the tf.keras 2 and Keras 3 default; CuDNNGRU weights "
                             "are of this kind)", key="reset_after")


# -- classes of the companion module (kconvert-layers.js) ----------------------------------------

#: the companion's MultiHeadAttention config key saying to zero the weights of masked keys
ZERO_MASKED_ROWS = "kconvert_zero_masked_rows"
#: kinds written only with the companion module (the coverage matrix says "companion")
COMPANION_KINDS: set[str] = set()


def companion_rule(*kinds: str) -> Callable[[Rule], Rule]:
    COMPANION_KINDS.update(kinds)
    return rule(*kinds)


@companion_rule("LocallyConnected1D", "LocallyConnected2D", "EinsumDense", "GroupNormalization")
def companion_class(site: Emission) -> None:
    site.needs_companion(site.layer.kind)


@companion_rule("UnitNormalization")
def unit_normalization(site: Emission) -> None:
    if site.layer.config.floor != 1e-12:
        site.ctx.note("approximated", "the companion module floors the squared norm at 1e-12 (tf.keras's floor); "
                      "results differ from Keras 3's only for vectors of norm below 1e-6", layer=site.layer.name)
    site.needs_companion("UnitNormalization")


@companion_rule("MultiHeadAttention")
def multi_head_attention(site: Emission) -> None:
    """Its inputs are listed positionally in the node (see :meth:`TfjsDialect.node`)."""
    if site.layer.config.zero_masked_rows:  # Keras 3's softmax path (dropout > 0) zeroes a row with no key left
        site.config[ZERO_MASKED_ROWS] = True
    site.needs_companion("MultiHeadAttention")


@companion_rule("Discretization", "CategoryEncoding", "IntegerLookup")
def encoding(site: Emission) -> None:
    """tfjs computes the indices in int32 (its CategoryEncoding throws on indices out of range, where
    Keras counts them nowhere: the companion's class replaces it)."""
    c = site.layer.config
    values = [*getattr(c, "vocabulary", ()), *(v for v in (getattr(c, "mask_token", None),
                                                           getattr(c, "oov_token", None)) if v is not None)]
    if any(not -2**31 <= v < 2**31 for v in values):
        raise site.refuse("computes the lookup in int32, and this vocabulary holds larger integers", key="vocabulary")
    site.needs_companion(site.layer.kind)


@companion_rule(*COMPANION_OPERATIONS)
def operation(site: Emission) -> None:
    """What TF.js's rules left of a functional operation (stock layers compute the rest)."""
    site.needs_companion(f"layer computing the operation {site.layer.kind}{_operation_detail(site.layer)}")


def _operation_detail(layer: Layer) -> str:
    op = getattr(layer.config, "op", None)
    return f" {op}" if op is not None else ""


@rule("ConvLSTM2D")
def conv_lstm(site: Emission) -> None:
    _strided_dilation(site)


@rule("TimeDistributed")
def time_distributed(site: Emission) -> None:
    """The wrapped layer was adapted when it was emitted."""


@rule("Bidirectional")
def bidirectional(site: Emission) -> None:
    if not is_mirrored(site.layer.config):
        raise site.refuse("ignores backward_layer and mirrors the forward layer; this backward layer "
                          "differs from it", key="backward_layer")


def _weight_settings(site: Emission) -> None:
    """Initializers TF.js knows (others are dropped: they do not affect a trained model), L1L2
    regularizers with both terms, and no constraints: TF.js applies constraints when it loads
    weights, which could alter trained values."""
    layer, config = site.layer, site.config
    for key in list(config):
        value = config[key]
        if key.endswith("_initializer") and isinstance(value, dict):
            name = TFJS_INITIALIZERS.get(value["class_name"])
            known = name is not None and (name != "VarianceScaling" or
                                          value["config"].get("distribution") in _VARIANCE_SCALING_DISTRIBUTIONS)
            if known:
                value["class_name"] = name
            else:
                del config[key]
                site.ctx.note("ignored-key", f"initializer {value['class_name']} is unknown to TF.js and is left out "
                              "(it does not affect the trained weights)", layer=layer.name, key=key)
        elif key.endswith("_regularizer") and value is not None:
            if value["class_name"] != "L1L2":
                del config[key]
                site.ctx.unsupported(UnsupportedKerasConfigurationException(
                    f"TF.js has no {value['class_name']} regularizer; it is dropped", layer=layer.name, key=key))
            elif key == "activity_regularizer":
                del config[key]
                site.ctx.unsupported(UnsupportedKerasConfigurationException(
                    "TF.js cannot load layers with an activity regularizer; it is dropped", layer=layer.name,
                    key=key))
            else:
                value["config"] = {"l1": float(value["config"].get("l1", 0.0)),
                                   "l2": float(value["config"].get("l2", 0.0))}
        elif key.endswith("_constraint") and value is not None:
            del config[key]
            site.ctx.unsupported(UnsupportedKerasConfigurationException(
                f"constraint {value['class_name']} is dropped: TF.js applies constraints to weights as it loads them, "
                "which could change the trained values", layer=layer.name, key=key))
