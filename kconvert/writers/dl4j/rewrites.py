"""IR layers rewritten, before writing, into layers Deeplearning4j 1.0.0-M2.1 has: DL4J's rule book.

Each rule computes exactly what the layer computes.  DL4J's own rules are here; the shared ones it
includes (:mod:`kconvert.rewrite.compositions`) write Normalization and Rescaling as
BatchNormalization, CustomScaleLayer as Rescaling and Add, keepdims pooling as pooling and a
Reshape, and 1D pooling, padding, cropping, upsampling and depthwise and separable convolutions as
their 2D forms between Reshapes (DL4J's 1D layers read NCW only; it has no 1D depthwise or separable one).

* ``Rescaling`` becomes a ``BatchNormalization`` with ``epsilon = 0`` (DL4J's ScaleVertex and
  ShiftVertex take one number each, and exist in graphs only).
* A ``Bidirectional`` returning its last step only is its two layers side by side, the backward one
  reading the input reversed in time (DL4J's ReverseTimeSeriesVertex, over NCW between Permutes), then
  merged: DL4J's LastTimeStep over a Bidirectional would take the backward layer's first step.
* A mean or sum over the last axis is a Dense (a 1x1 Conv2D over images) of one unit with weights
  ``1 / n`` (or 1), then a Reshape dropping the axis.
* ``keras.ops`` arithmetic (the shared ``binary_op``): with a constant a Rescaling, so a
  BatchNormalization (MobileNetV3's hard sigmoid, ``relu6(x + 3) * (1 / 6)``).
* A layer called several times (shared weights, siamese towers) is written once per call
  (``Target.unshares_layers``, :mod:`kconvert.rewrite.unshare`).
* ``LayerNormalization`` over the last axis is three Dense layers, the middle one DL4J's only layer norm
  (a DenseLayer with ``hasLayerNorm``, which standardizes with no epsilon): the first appends
  ``mean + a`` and ``mean - a`` with ``a = sqrt(d * epsilon / 2)``, which keep the mean and make the
  variance ``d / (d + 2) * (variance + epsilon)``; the gain undoes that factor and the last drops the two
  (over images, per pixel between Reshapes to and from (pixels, channels)).
* ``Cropping3D`` and ``ZeroPadding3D`` of channels-last volumes run channels-first between two
  Permutes: DL4J's 3D cropping and padding layers have no data format (NCDHW only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from kconvert.formats.dl4j import REVERSE_TIME
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import conv, core, merge
from kconvert.ir.shapes import norm_axis
from kconvert.ir.weights import Weight
from kconvert.rewrite import compositions as shared
from kconvert.rewrite.compositions import reshape_to, sequence
from kconvert.rewrite.lowering import TargetSite
from kconvert.rewrite.rules import ARGS, Out, Rewrite, RuleBook, Step
from kconvert.writers.dl4j.layers import LayerNormDense

DL4J_RULES: RuleBook[TargetSite, Rewrite] = RuleBook("Deeplearning4j")
rule = DL4J_RULES.rule


@rule("Rescaling")
def rescaling(site: TargetSite) -> Rewrite:
    c = site.config
    return shared.as_batch_normalization(site, "x * scale + offset", gamma=c.scale, beta=c.offset)


@rule("MaxPooling1D", "AveragePooling1D", "ZeroPadding1D", "Cropping1D", "UpSampling1D", "DepthwiseConv1D",
      "SeparableConv1D")
def sequence_of_known_length(site: TargetSite) -> Rewrite | None:
    """The 2-D form's Reshapes need the length: DL4J's ReshapePreprocessor compares the sizes as
    written, -1 included (channels-first pooling is read as NCW by DL4J's Subsampling1DLayer as it is)."""
    if len(site.shape) != 3:
        raise site.refuse(f"writes {site.kind} of (batch, time, features) sequences only, not rank {len(site.shape)}")
    if getattr(site.config, "data_format", "channels_last") == "channels_last":
        site.known(site.shape[1:], "sequence length and number of features")
    return shared.planar(site)


@rule("Cropping3D", "ZeroPadding3D")
def volume_channels_first(site: TargetSite) -> Rewrite | None:
    c = site.config
    if c.data_format == "channels_first":
        return None
    return Rewrite.chain(sequence(("ncdhw", core.Permute(dims=(4, 1, 2, 3))),
                                  ("ncdhw_out", replace(c, data_format="channels_first")),
                                  ("ndhwc", core.Permute(dims=(2, 3, 4, 1)))),
                         f"channels_last {site.kind} written channels-first between Permute layers (DL4J's is NCDHW "
                         "only)")


@rule("Reduce")
def mean_over_features(site: TargetSite) -> Rewrite | None:
    """A mean (or sum) over the last axis as a linear layer of one unit whose weights are all ``1 / n``
    (or 1), then a Reshape dropping the axis: DL4J's pooling layers reduce over time or space, not
    features (a Dense over a sequence runs at every step; a 1x1 convolution over an image at every pixel)."""
    c, shape = site.config, site.shape
    rank = len(shape)
    if c.op not in ("mean", "sum") or tuple(sorted({a % rank for a in c.axis})) != (rank - 1,) or rank not in (2, 3, 4):
        return None  # refused by the emitter
    if rank == 2 and not c.keepdims:
        raise site.refuse("writes a reduction over the features of a flat input only with keepdims (a "
                          "Deeplearning4j array has at least two axes)", key="keepdims")
    (n,) = site.known(shape[-1:], "number of features")
    value = 1.0 / n if c.op == "mean" else 1.0
    if rank == 4:
        linear: LayerConfig = conv.Conv2D(kernel_size=(1, 1), strides=(1, 1), dilation_rate=(1, 1), filters=1,
                                          use_bias=False)
        kernel = Weight.filled((1, 1, n, 1), value, np.float32, f"{c.op} over {n} channels")
    else:
        linear = core.Dense(units=1, use_bias=False)
        kernel = Weight.filled((n, 1), value, np.float32, f"{c.op} over {n} features")
    steps = [Step("summed", linear, {"kernel": kernel})]
    if not c.keepdims:
        steps.append(Step("dropped", reshape_to(*shape[1:-1])))
    return Rewrite.chain(steps, f"{c.op} over the last axis written as a {linear.kind} of one unit with every weight "
                         f"{value:.6g}" + ("" if c.keepdims else " and a Reshape dropping the axis"))


@rule("LayerNormalization")
def layer_normalization(site: TargetSite) -> Rewrite:
    """``gamma * (x - mean) / sqrt(variance + epsilon) + beta`` over the last axis of d features, with
    DL4J's only layer norm, which divides by the population std with no epsilon:

    1. a Dense to d + 2 units, kernel ``[I | 1/d | 1/d]``, bias ``[0..., a, -a]``, ``a = sqrt(d * eps / 2)``:
       x with ``mean + a`` and ``mean - a`` appended, whose mean is the mean and whose variance is
       ``(d * variance + 2 * a**2) / (d + 2) = d / (d + 2) * (variance + eps)``;
    2. a DenseLayer with ``hasLayerNorm``, kernel I, gain ``[gamma * sqrt(d / (d + 2))..., 1, 1]``:
       ``gamma * (x - mean) / sqrt(variance + eps)`` in the first d units;
    3. a Dense back to d units, kernel ``[I; 0]``, bias beta.

    A Dense runs per step over a sequence; an image (channels-last) runs per pixel, as (pixels, channels)
    between Reshapes, since a convolution has no layer norm."""
    c, shape = site.config, site.shape
    rank = len(shape)
    if tuple(sorted({norm_axis(a, rank) for a in c.axis})) != (rank - 1,) or rank not in (2, 3, 4):
        raise site.refuse(f"writes LayerNormalization over the last axis of a rank-2, 3 or 4 input only (axes "
                          f"{list(c.axis)} of rank {rank}): its only layer norm (a DenseLayer's hasLayerNorm) runs "
                          "over a dense layer's units", key="axis")
    if c.rms_scaling:
        raise site.refuse("writes no LayerNormalization with rms_scaling: its only layer norm (a DenseLayer's "
                          "hasLayerNorm) subtracts the mean", key="rms_scaling")
    (d,) = site.known(shape[-1:], "number of features")
    a = np.sqrt(d * c.epsilon / 2)
    w = site.weights
    eye = np.eye(d, dtype=np.float32)
    moments = np.concatenate([eye, np.full((d, 2), 1.0 / d, np.float32)], axis=1)
    what = f"{site.kind} over {d} features"
    ratio = np.float32(np.sqrt(d / (d + 2)))
    gamma = (w["gamma"].derive(lambda g: g.astype(np.float32) * ratio, (d,), "gamma * sqrt(d / (d + 2))")
             if c.scale else Weight.filled((d,), float(ratio), np.float32, f"{what}: sqrt(d / (d + 2))"))
    steps = [
        Step("moments", core.Dense(units=d + 2),
             {"kernel": Weight.of(moments, f"{what}: x, mean, mean"),
              "bias": Weight.of(np.r_[np.zeros(d), a, -a].astype(np.float32), f"{what}: 0, a, -a")}),
        Step("standardized", LayerNormDense(units=d + 2, use_bias=False),
             {"kernel": Weight.of(np.eye(d + 2, dtype=np.float32), f"{what}: I"),
              "gain": Weight.concat([gamma, Weight.filled((2,), 1.0, np.float32, f"{what}: 1")])}),
        Step("normalized", core.Dense(units=d, use_bias=c.center),
             {"kernel": Weight.of(np.concatenate([eye, np.zeros((2, d), np.float32)]), f"{what}: [I; 0]"),
              **({"bias": w["beta"]} if c.center else {})})]
    if rank == 4:
        h, wd = site.known(shape[1:3], "image height and width")
        steps = [Step("pixels", reshape_to(h * wd, d)), *steps, Step("image", reshape_to(h, wd, d))]
    return Rewrite.chain(steps, f"{site.kind} written as three Dense layers, the middle one with DL4J's layer norm "
                         f"(hasLayerNorm, no epsilon), the first appending mean +- sqrt(d * epsilon / 2) to carry the "
                         f"epsilon" + (" (per pixel, between Reshapes)" if rank == 4 else ""))


#: Keras merge mode -> the IR merge of the two directions' outputs
_MERGES: dict[str, Callable[[], LayerConfig]] = {
    "concat": lambda: merge.Concatenate(axis=-1), "sum": merge.Add, "mul": merge.Multiply, "ave": merge.Average}


@rule("Bidirectional")
def bidirectional_last_step(site: TargetSite) -> Rewrite | None:
    c = site.config
    forward, backward = c.forward, c.backward
    if forward.config.return_sequences or c.merge_mode not in _MERGES or getattr(forward.config, "return_state",
                                                                                   False):
        return None
    if forward.config.go_backwards or not backward.config.go_backwards:
        return None  # refused by the emitter with its reason
    return Rewrite.chain([
        Step("forward", forward.config, forward.weights, (ARGS,)),
        Step("ncw", core.Permute(dims=(2, 1)), inputs=(ARGS,)),
        Step("reversed", REVERSE_TIME),
        Step("nwc", core.Permute(dims=(2, 1))),
        Step("backward", replace(backward.config, go_backwards=False), backward.weights),
        Step("merged", _MERGES[c.merge_mode](), inputs=(Out("forward"), Out("backward")))],
        "Bidirectional returning its last step written as its two layers side by side, the backward one reading "
        "the input reversed in time (ReverseTimeSeriesVertex), then merged")


DL4J_RULES.include(shared.depthwise_groups, shared.normalization_layer, shared.custom_scale, shared.keepdims_pooling,
                   shared.binary_op, shared.unary_op, *shared.EVERY_TARGET)
