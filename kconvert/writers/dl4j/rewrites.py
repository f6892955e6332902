"""IR layers rewritten, before writing, into layers Deeplearning4j 1.0.0-M2.1 has; one rule per IR kind.

Each rule computes exactly what the layer computes:

* ``Rescaling`` and ``Normalization`` become a ``BatchNormalization`` with ``epsilon = 0``: with a
  unit variance and a zero mean, ``gamma * x + beta`` is ``x * scale + offset``; Keras's
  ``(x - mean) / max(sqrt(variance), 1e-7)`` is ``(x - mean) / sqrt(max(variance, 1e-14))``.
  (DL4J's ScaleVertex and ShiftVertex take one number each, and exist in graphs only.)
* ``CustomScaleLayer`` (InceptionResNetV2) is ``inputs[0] + inputs[1] * scale``: a Rescaling and an Add.
* Global pooling with ``keepdims`` is global pooling then a Reshape to the kept size-1 axes
  (DL4J's ``collapseDimensions = false`` restores the axes after the channels only).
* 1D pooling, padding, cropping and upsampling over Keras's (batch, time, features) run as their 2D
  forms over (batch, time, 1, features) between two Reshapes: DL4J's 1D layers read NCW only.
* A ``Bidirectional`` returning its last step only is its two layers side by side, the backward one
  reading the input reversed in time (DL4J's ReverseTimeSeriesVertex, over NCW between Permutes), then
  merged: DL4J's LastTimeStep over a Bidirectional would take the backward layer's first step.
* ``Cropping3D`` and ``ZeroPadding3D`` of channels-last volumes run channels-first between two
  Permutes: DL4J's 3D cropping and padding layers have no data format (NCDHW only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Call, Layer, TensorRef
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import core, merge, normalization, ops, pooling, reshaping
from kconvert.ir.shapes import Shape
from kconvert.ir.weights import Weight
from kconvert.registry import registrar
from kconvert.writers.lowering import Lowering, Rewrite

#: a step: name suffix, config, weights, and its inputs (earlier steps by suffix, tensors, or _INPUT: the
#: rewritten layer's own inputs)
Step = tuple[str, LayerConfig, dict[str, Weight], list[str | TensorRef]]
Rule = Callable[["_Site"], list[Step] | None]
REWRITES: dict[str, Rule] = {}
rewrite = registrar(REWRITES, "a Deeplearning4j rewrite")

#: the smallest standard deviation Keras's Normalization divides by, squared
_MIN_VARIANCE = 1e-14
#: ``inputs`` entries meaning "the rewritten layer's own inputs"
_INPUT = "<input>"


@dataclass
class _Site:
    layer: Layer
    shapes: list[Shape]

    @property
    def shape(self) -> Shape:
        return self.shapes[0]

    def error(self, message: str) -> IncompatibleKerasConfigurationException:
        return self.layer.context_error(IncompatibleKerasConfigurationException(  # type: ignore[return-value]
            f"{message}: Deeplearning4j cannot express it"))


def _lowering_rewrite(rule: Rule) -> Rewrite:
    """``rule`` as a rewrite of :mod:`kconvert.writers.lowering`, which runs it in passes until
    nothing changes (a rewrite may produce a kind rewritten in turn: CustomScaleLayer's Rescaling)."""
    def apply(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer] | None:
        if len(layer.calls) != 1:
            return None
        steps = rule(_Site(layer, low.call_shapes(layer)))
        if steps is None:
            return None
        low.note(layer, f"{layer.kind} written as {', '.join(config.kind for _, config, _, _ in steps)} layers "
                 "computing the same (see kconvert.writers.dl4j.rewrites)")
        return low.chain(layer, [(suffix, config, weights, _inputs(sources))
                                 for suffix, config, weights, sources in steps], taken)
    return apply


def _inputs(sources: list[str | TensorRef]) -> Callable[[Callable[[str], TensorRef], Call], list[TensorRef]]:
    """A chain step's inputs: tensors, the rewritten layer's own inputs, or earlier steps by suffix."""
    def inputs(ref: Callable[[str], TensorRef], call: Call) -> list[TensorRef]:
        out: list[TensorRef] = []
        for source in sources:
            if isinstance(source, TensorRef):
                out.append(source)
            else:
                out.extend(call.inputs if source == _INPUT else [ref(source)])
        return out
    return inputs


def _vector(values: Any, n: int, what: str) -> Weight:
    return Weight.of(np.broadcast_to(np.asarray(values, np.float32), (n,)).copy(), what)


def _affine_bn(n: int, gamma: Any, beta: Any, mean: Any = 0.0, variance: Any = 1.0) -> tuple[LayerConfig, dict]:
    """A BatchNormalization over the last axis computing ``gamma * (x - mean) / sqrt(variance) + beta``."""
    config = normalization.BatchNormalization(axis=(-1,), epsilon=0.0)
    weights = {"gamma": _vector(gamma, n, "DL4J rewrite: gamma"), "beta": _vector(beta, n, "DL4J rewrite: beta"),
               "moving_mean": _vector(mean, n, "DL4J rewrite: mean"),
               "moving_variance": _vector(variance, n, "DL4J rewrite: variance")}
    return config, weights


def _channels(site: _Site) -> int:
    n = site.shape[-1]
    if n is None:
        raise site.error(f"{site.layer.kind} over features of unknown size")
    return int(n)


@rewrite("Rescaling")
def rescaling(site: _Site) -> list[Step]:
    c = site.layer.config
    config, weights = _affine_bn(_channels(site), c.scale, c.offset)
    return [("affine", config, weights, [_INPUT])]


@rewrite("Normalization")
def normalization_layer(site: _Site) -> list[Step]:
    c, shape = site.layer.config, site.shape
    axes = tuple(a % len(shape) for a in c.axis)
    if axes != (len(shape) - 1,):
        raise site.error(f"a Normalization keeping statistics along axes {c.axis} (not the last axis only)")
    n = _channels(site)
    if c.mean is not None:
        mean, variance = np.asarray(c.mean, np.float64), np.asarray(c.variance, np.float64)
    elif "mean" in site.layer.weights:
        mean = site.layer.weights["mean"].numpy().astype(np.float64)
        variance = site.layer.weights["variance"].numpy().astype(np.float64)
    else:  # a configuration alone (--config-only): the statistics are not written
        mean, variance = np.zeros(n), np.ones(n)
    variance = np.maximum(variance.reshape(-1) if variance.size > 1 else variance, _MIN_VARIANCE)
    mean = mean.reshape(-1) if mean.size > 1 else mean
    if c.invert:  # mean + x * std
        config, weights = _affine_bn(n, np.sqrt(variance), mean)
    else:
        config, weights = _affine_bn(n, 1.0, 0.0, mean, variance)
    return [("standardized", config, weights, [_INPUT])]


@rewrite("CustomScaleLayer")
def custom_scale(site: _Site) -> list[Step]:
    if site.shapes[0] != site.shapes[1]:
        raise site.error("a CustomScaleLayer broadcasting its inputs")
    first, second = site.layer.calls[0].inputs
    return [("scaled", core.Rescaling(scale=site.layer.config.scale), {}, [second]),
            ("sum", merge.Add(), {}, [first, "scaled"])]


@rewrite("GlobalMaxPooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling2D",
         "GlobalMaxPooling3D", "GlobalAveragePooling3D")
def global_pooling_keepdims(site: _Site) -> list[Step] | None:
    c = site.layer.config
    if not c.keepdims:
        return None
    pooled = site.layer.config.output_shape(site.shape)[1:]
    if any(d is None for d in pooled):
        raise site.error("global pooling with keepdims over channels of unknown number")
    return [("pooled", replace(c, keepdims=False), {}, [_INPUT]),
            ("kept", core.Reshape(target_shape=tuple(int(d) for d in pooled)), {}, ["pooled"])]


#: 1D kind -> its 2D form's config built from the 1D config
_AS_2D: dict[str, Callable[[Any], LayerConfig]] = {
    "MaxPooling1D": lambda c: pooling.MaxPooling2D(pool_size=(c.pool_size[0], 1), strides=(c.strides[0], 1),
                                                   padding=c.padding),
    "AveragePooling1D": lambda c: pooling.AveragePooling2D(pool_size=(c.pool_size[0], 1),
                                                           strides=(c.strides[0], 1), padding=c.padding),
    "ZeroPadding1D": lambda c: reshaping.ZeroPadding2D(padding=(tuple(c.padding[0]), (0, 0))),
    "Cropping1D": lambda c: reshaping.Cropping2D(cropping=(tuple(c.cropping[0]), (0, 0))),
    "UpSampling1D": lambda c: reshaping.UpSampling2D(size=(c.size[0], 1)),
}


@rewrite(*_AS_2D)
def sequence_as_image(site: _Site) -> list[Step] | None:
    """(batch, time, features) as (batch, time, 1, features) NHWC images, and back."""
    c, shape = site.layer.config, site.shape
    if len(shape) != 3:
        raise site.error(f"{site.layer.kind} of a rank-{len(shape)} input")
    if getattr(c, "data_format", "channels_last") != "channels_last":
        return None  # channels-first pooling: DL4J's Subsampling1DLayer reads NCW as it is
    features, length = _channels(site), shape[1]
    if length is None:  # DL4J's ReshapePreprocessor compares the sizes as written, -1 included
        raise site.error(f"{site.layer.kind} over a (batch, time, features) sequence of unknown length (DL4J's 1D "
                         "layers read NCW only, and the reshapes around its 2D form need the length)")
    image = _AS_2D[site.layer.kind](c)
    out_length = image.output_shape((None, int(length), 1, features))[1]
    return [("image", core.Reshape(target_shape=(int(length), 1, features)), {}, [_INPUT]),
            ("image_out", image, {}, ["image"]),
            ("sequence", core.Reshape(target_shape=(out_length, features)), {}, ["image_out"])]


@rewrite("Cropping3D", "ZeroPadding3D")
def volume_channels_first(site: _Site) -> list[Step] | None:
    c = site.layer.config
    if c.data_format == "channels_first":
        return None
    return [("ncdhw", core.Permute(dims=(4, 1, 2, 3)), {}, [_INPUT]),
            ("ncdhw_out", replace(c, data_format="channels_first"), {}, ["ncdhw"]),
            ("ndhwc", core.Permute(dims=(2, 3, 4, 1)), {}, ["ncdhw_out"])]


#: Keras merge mode -> the IR merge of the two directions' outputs
_MERGES: dict[str, Callable[[], LayerConfig]] = {
    "concat": lambda: merge.Concatenate(axis=-1), "sum": merge.Add, "mul": merge.Multiply, "ave": merge.Average}
#: x[:, :, ::-1]: a (batch, features, time) sequence reversed in time
REVERSE_TIME = ops.GetItem(items=(ops.Index("slice"), ops.Index("slice"), ops.Index("slice", step=-1)))


@rewrite("Bidirectional")
def bidirectional_last_step(site: _Site) -> list[Step] | None:
    c = site.layer.config
    forward, backward = c.forward, c.backward
    if forward.config.return_sequences or c.merge_mode not in _MERGES or getattr(forward.config, "return_state",
                                                                                   False):
        return None
    if forward.config.go_backwards or not backward.config.go_backwards:
        return None  # refused by the emitter with its reason
    return [("forward", forward.config, forward.weights, [_INPUT]),
            ("ncw", core.Permute(dims=(2, 1)), {}, [_INPUT]),
            ("reversed", REVERSE_TIME, {}, ["ncw"]),
            ("nwc", core.Permute(dims=(2, 1)), {}, ["reversed"]),
            ("backward", replace(backward.config, go_backwards=False), backward.weights, ["nwc"]),
            ("merged", _MERGES[c.merge_mode](), {}, ["forward", "backward"])]


#: the rules, as the lowering's rewrites for the Deeplearning4j target
DL4J_REWRITES: dict[str, Rewrite] = {kind: _lowering_rewrite(rule) for kind, rule in REWRITES.items()}
