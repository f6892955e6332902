"""What tfjs-layers lacks, written as layers it has that compute the same function: TF.js's rule book.

tfjs-layers 4.22 has the 2-D forms of padding, cropping, up-sampling and most convolutions, but
not their 1-D or 3-D forms, no causal padding, no ``keepdims`` in global pooling, and normalizes
or pools over the last axis only.  Each rule here rewrites one IR kind for TF.js (the shared ones
it includes are in :mod:`kconvert.rewrite.compositions`); lowering runs in passes, so a rule may
produce a layer another rule rewrites (a causal ``Conv1D`` becomes a ``ZeroPadding1D``, which
becomes a ``ZeroPadding2D`` between two ``Reshape`` layers).  The rewrites move, pad, copy or
scale values: none approximates, and each is noted in the report.  Where a rewrite needs sizes
TF.js cannot infer (a ``Reshape`` may leave one axis unknown), it refuses naming the axis.  What
no rule rewrites is checked by :mod:`kconvert.writers.tfjs.dialect`, which refuses what TF.js
cannot run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import activations as act
from kconvert.ir.layers import core, merge, noise, pooling, reshaping
from kconvert.ir.shapes import norm_axis, split_channels
from kconvert.rewrite import compositions as shared
from kconvert.rewrite.compositions import reshape_to, sequence
from kconvert.rewrite.lowering import TargetSite
from kconvert.rewrite.rules import ARGS, Arg, Out, Rewrite, RuleBook, Step

TFJS_RULES: RuleBook[TargetSite, Rewrite] = RuleBook("TF.js")
rule = TFJS_RULES.rule


def _mul(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a * b


# -- channels_first layers TF.js runs only channels-last --------------------------------------------------

def _between_permutes(site: TargetSite, config: LayerConfig, back: bool = True) -> Rewrite:
    """``config`` (channels-last) between Permutes moving the channels of the input last and, when
    ``back``, first again."""
    spatial = len(site.shape) - 2
    steps = [Step("channels_last_input", core.Permute(dims=(*range(2, spatial + 2), 1))),
             Step("channels_last", config, site.layer.weights)]
    if back:
        steps.append(Step("channels_first", core.Permute(dims=(spatial + 1, *range(1, spatial + 1)))))
    return Rewrite.chain(steps, f"channels_first {site.kind} written channels-last between Permute layers (TF.js "
                         "runs it channels-last only)")


def _channels_first(site: TargetSite, back: bool = True) -> Rewrite | None:
    if getattr(site.config, "data_format", "channels_last") != "channels_first":
        return None
    return _between_permutes(site, replace(site.config, data_format="channels_last"), back)


# -- convolutions -------------------------------------------------------------------------------------

@rule("Conv1D", "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose")
def conv_1d(site: TargetSite) -> Rewrite | None:
    """channels_first runs between Permutes; causal padding is left padding then a valid convolution
    (the other 1-D convolutions then become their 2-D form, a shared rule)."""
    c = site.config
    if c.data_format == "channels_first":
        return _channels_first(site)
    if c.padding == "causal":
        left = c.dilation_rate[0] * (c.kernel_size[0] - 1)
        return Rewrite.chain(sequence(("causal_padding", reshaping.ZeroPadding1D(padding=((left, 0),))),
                                      ("valid", replace(c, padding="valid"), site.layer.weights)),
                             f"causal {site.kind} written as {left} zero step(s) of left padding, then a valid "
                             "convolution (what causal padding is)")
    return None


# -- padding, cropping and up-sampling in 3 dimensions --------------------------------------------------

@rule("ZeroPadding3D", "Cropping3D", "UpSampling3D")
def spatial_3d(site: TargetSite) -> Rewrite | None:
    """(d, h, w, c) as (d, h, w * c) for the first two axes, then as (d * h, w, c) for the third."""
    if site.config.data_format == "channels_first":
        return _channels_first(site)
    (d, h, w, channels) = site.shape[1:]
    site.known((h, w, channels), "height, width and number of channels")
    (d2, h2, w2, _) = site.outputs[0][1:]
    two_d = _spatial_2d(site.config, (0, 1))
    return Rewrite.chain(sequence(
        ("depth_height", reshape_to(d, h, w * channels)),  # type: ignore[operator]
        ("2d_depth_height", two_d),
        ("width", reshape_to(_mul(d2, h2), w, channels)),
        ("2d_width", _spatial_2d(site.config, (None, 2))),
        ("as_3d", reshape_to(d2, h2, w2, channels))),
        f"{site.kind} written as two 2-D {two_d.kind} layers between Reshape layers (TF.js has no {site.kind})")


def _spatial_2d(config: LayerConfig, placed: tuple[int | None, int | None]) -> LayerConfig:
    """The 2-D layer doing ``config``'s work on its spatial axes ``placed[0]`` and ``placed[1]``
    (None: a 2-D axis left alone)."""
    def pairs(values: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        return tuple((0, 0) if i is None else values[i] for i in placed)

    if isinstance(config, reshaping.ZeroPadding3D):
        return reshaping.ZeroPadding2D(padding=pairs(config.padding))
    if isinstance(config, reshaping.Cropping3D):
        return reshaping.Cropping2D(cropping=pairs(config.cropping))
    return reshaping.UpSampling2D(size=tuple(1 if i is None else config.size[i] for i in placed))


# -- pooling ----------------------------------------------------------------------------------------------

@rule("MaxPooling1D", "AveragePooling1D")
def pooling_1d(site: TargetSite) -> Rewrite | None:
    return _channels_first(site)


@rule("GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling3D", "GlobalMaxPooling3D")
def global_pooling(site: TargetSite) -> Rewrite | None:
    """channels_first 1-D and 3-D pooling runs channels-last; 3-D pooling (which TF.js lacks) pools
    the (cells, channels) sequence.  With keepdims, the shared rule runs first."""
    c = site.config
    if c.keepdims:
        return None
    if c.data_format == "channels_first":
        return _between_permutes(site, replace(c, data_format="channels_last"), back=False)
    if c.rank == 3:
        (d, h, w, channels) = site.shape[1:]
        site.known((h, w, channels), "height, width and number of channels")
        one_d = (pooling.GlobalMaxPooling1D if c.reduction == "max" else pooling.GlobalAveragePooling1D)()
        return Rewrite.chain(sequence(("cells", reshape_to(_mul(d, _mul(h, w)), channels)), ("pooled", one_d)),
                             f"{site.kind} written as a Reshape to (cells, channels) and {one_d.kind} (TF.js has no "
                             f"{site.kind})")
    return None


# -- normalization ---------------------------------------------------------------------------------------

def _axis_last(site: TargetSite, axes: tuple[int, ...], config: Callable[[], LayerConfig]) -> Rewrite | None:
    """The layer over one non-last axis, as ``config()`` over the last axis between Permute layers."""
    rank = len(site.shape)
    if len(axes) != 1:
        raise site.refuse(f"normalizes over one axis only; this layer normalizes over {list(axes)}", key="axis")
    axis = norm_axis(axes[0], rank)
    if axis == rank - 1:
        return None
    to_last = (*(a for a in range(1, rank) if a != axis), axis)
    back = tuple(int(i) + 1 for i in np.argsort(to_last))
    return Rewrite.chain(sequence(("axis_last", core.Permute(dims=to_last)),
                                  ("last_axis", config(), site.layer.weights),
                                  ("axis_back", core.Permute(dims=back))),
                         f"{site.kind} over axis {axis} written over the last axis between Permute layers (TF.js "
                         "normalizes over the last axis only)")


@rule("Softmax")
def softmax(site: TargetSite) -> Rewrite | None:
    axis = site.config.axis
    return _axis_last(site, axis if isinstance(axis, tuple) else (axis,), lambda: act.Softmax(axis=-1))


@rule("BatchNormalization")
def batch_normalization(site: TargetSite) -> Rewrite | None:
    c = site.config
    moved = _axis_last(site, c.axis, lambda: replace(c, axis=(-1,)))
    if moved is not None:
        return moved
    rank = len(site.shape)
    if rank <= 4:
        return None
    inner = site.known(site.shape[2:-1], "size of the inner axes")
    return Rewrite.chain(sequence(("rank_4", reshape_to(site.shape[1], int(np.prod(inner)), site.shape[-1])),
                                  ("normalized", replace(c, axis=(-1,)), site.layer.weights),
                                  ("shaped", reshape_to(*site.shape[1:]))),
                         f"batch normalization of a rank-{rank} input written over a rank-4 view of it between "
                         "Reshape layers (TF.js normalizes inputs of rank 4 at most)")


@rule("Subtract")
def subtract(site: TargetSite) -> Rewrite:
    return Rewrite.chain([Step("negated", core.Rescaling(scale=-1.0), inputs=(Arg(1),)),
                          Step("sum", merge.Add(), inputs=(Arg(0), Out("negated")))],
                         "Subtract written as an Add of the first input and the negated second (TF.js has no "
                         "Subtract)")


# -- activations -----------------------------------------------------------------------------------------

@rule("ELU")
def elu(site: TargetSite) -> Rewrite | None:
    """relu(x) + alpha * elu(min(x, 0)): x itself above zero, alpha * (exp(x) - 1) below."""
    alpha = site.config.alpha
    if alpha == 1.0:
        return None
    return Rewrite.chain([
        Step("positive", act.ReLU(), inputs=(ARGS,)),
        Step("negated", core.Rescaling(scale=-1.0), inputs=(ARGS,)),
        Step("magnitude", act.ReLU()),
        Step("negative", core.Rescaling(scale=-1.0)),
        Step("elu", core.Activation(activation="elu")),
        Step("scaled", core.Rescaling(scale=alpha)),
        Step("sum", merge.Add(), inputs=(Out("positive"), Out("scaled")))],
        f"ELU(alpha={alpha:.6g}) written as relu(x) + {alpha:.6g} * elu(min(x, 0)) (TF.js's ELU has alpha 1 only)")


@rule("ReLU")
def relu(site: TargetSite) -> Rewrite | None:
    """x from the threshold up (capped at max_value), negative_slope * (x - threshold) below it; a
    leaky ReLU without cap or threshold is TF.js's LeakyReLU (its ReLU reads max_value only)."""
    c = site.config
    if c.threshold == 0 and c.negative_slope == 0:
        return None
    if c.threshold == 0 and c.max_value is None:
        return Rewrite.to(act.LeakyReLU(negative_slope=c.negative_slope),
                          f"ReLU(negative_slope={c.negative_slope:.6g}) written as TF.js's LeakyReLU")
    if c.threshold < 0 or (c.max_value is not None and c.max_value <= c.threshold):
        raise site.refuse("writes ReLU with a threshold only when 0 <= threshold < max_value", key="threshold")
    if c.threshold:
        steps = [Step("above", act.ThresholdedReLU(theta=c.threshold), inputs=(ARGS,))]
        if c.max_value is not None:
            steps.append(Step("capped", act.ReLU(max_value=c.max_value)))
    else:
        steps = [Step("above", act.ReLU(max_value=c.max_value), inputs=(ARGS,))]
    if c.negative_slope:
        steps += [Step("shifted", core.Rescaling(scale=-1.0, offset=c.threshold), inputs=(ARGS,)),
                  Step("below", act.ReLU()),
                  Step("below_scaled", core.Rescaling(scale=-c.negative_slope)),
                  Step("sum", merge.Add(), inputs=(Out(steps[-1].name), Out("below_scaled")))]
    return Rewrite.chain(steps, (
        f"ReLU(max_value={c.max_value}, negative_slope={c.negative_slope:.6g}, threshold={c.threshold:.6g}) written "
        "as ThresholdedReLU/ReLU, Rescaling and Add layers (TF.js's ReLU reads max_value only; at x == threshold "
        "exactly the result is 0, not threshold)" if c.threshold else
        f"ReLU(max_value={c.max_value}, negative_slope={c.negative_slope:.6g}) written as ReLU, Rescaling and Add "
        "layers (TF.js's ReLU reads max_value only)"))


# -- layers TF.js has under another class -----------------------------------------------------------------

@rule("Flatten")
def flatten(site: TargetSite) -> Rewrite | None:
    """tfjs refuses to flatten a rank-2 input (Keras lets it pass through): reshape it to itself."""
    if len(site.shape) != 2:
        return None
    (size,) = site.known(site.shape[1:], "size")
    return Rewrite.to(core.Reshape(target_shape=(size,)), "Flatten of a rank-2 input written as a Reshape to "
                      "itself (tfjs refuses to flatten rank-2 inputs)")


@rule("SpatialDropout2D", "SpatialDropout3D")
def spatial_dropout(site: TargetSite) -> Rewrite:
    """A Dropout whose noise is shared over the spatial axes is the same layer (tfjs has no SpatialDropout)."""
    c = site.config
    channels, spatial = split_channels(site.shape, c.data_format)
    ones = tuple(1 for _ in spatial)
    shape = (None, channels, *ones) if c.data_format == "channels_first" else (None, *ones, channels)
    return Rewrite.to(noise.Dropout(rate=c.rate, noise_shape=shape, seed=c.seed), f"{site.kind} written as a "
                      f"Dropout with noise_shape {shape} (TF.js has no {site.kind})")


@rule("ActivityRegularization")
def activity_regularization(site: TargetSite) -> Rewrite:
    """Identity at inference; only its training penalty has no TF.js equivalent."""
    c = site.config
    return Rewrite.to(core.Activation(activation="linear"), "ActivityRegularization written as a linear Activation",
                      drops=f"TF.js has no ActivityRegularization; it is written as a linear Activation and its "
                      f"penalty (l1={c.l1}, l2={c.l2}) is dropped")


# -- attention --------------------------------------------------------------------------------------------

@rule("Attention")
def attention(site: TargetSite) -> Rewrite:
    """softmax(scale * query . key^T) . value, as Dot, Rescaling, Activation and Dot layers."""
    c = site.config
    for flag, key in ((c.score_mode != "dot", "score_mode"), (c.causal, "use_causal_mask"),
                      (c.return_attention_scores, "return_attention_scores")):
        if flag:
            raise site.refuse(f"has no Attention layer, and writes dot-product attention only without {key}", key=key)
    if any(len(s) != 3 for s in site.inputs):
        raise site.refuse("writes Attention over (batch, steps, features) inputs only")
    if any(call.kwargs.get("mask") is not None for call in site.layer.calls):
        raise site.refuse("writes Attention without masks only", key="mask")
    scale = float(site.weights["scale"].numpy()) if c.use_scale else None
    steps = [Step("scores", merge.Dot(axes=(2, 2)), inputs=(Arg(0), Arg(len(site.inputs) - 1)))]  # key, else value
    if scale is not None:
        steps.append(Step("scaled", core.Rescaling(scale=scale)))
    steps += [Step("weights", core.Activation(activation="softmax")),
              Step("attended", merge.Dot(axes=(2, 1)), inputs=(Out("weights"), Arg(1)))]
    return Rewrite.chain(steps, "Attention written as Dot, " + ("Rescaling, " if scale is not None else "") +
                         "softmax Activation and Dot layers (TF.js has no Attention layer)")


# -- functional operations (keras.ops / tf.* nodes): binary_op and unary_op are the shared rules;
# what they leave (a quotient, a power, exp, sqrt, cast...) is the companion module's class (dialect.py)

#: (reduction, rank, axes) -> the global pooling layer computing it without keepdims
_POOLINGS: dict[tuple[str, int, tuple[int, ...]], Callable[..., LayerConfig]] = {
    ("mean", 3, (1,)): pooling.GlobalAveragePooling1D, ("max", 3, (1,)): pooling.GlobalMaxPooling1D,
    ("mean", 4, (1, 2)): pooling.GlobalAveragePooling2D, ("max", 4, (1, 2)): pooling.GlobalMaxPooling2D,
}


@rule("Reduce")
def reduce(site: TargetSite) -> Rewrite | None:
    """A mean or maximum over the steps of a sequence or the pixels of an image is TF.js's global
    pooling (a padding mask reaching it is refused: ``masking.py``); other reductions are left to
    the companion module's class."""
    c = site.config
    rank = len(site.shape)
    axes = tuple(sorted(norm_axis(a, rank) for a in c.axis))
    make = _POOLINGS.get((c.op, rank, axes))
    if make is None:
        return None
    config = make(keepdims=c.keepdims)
    return Rewrite.to(config, f"{c.op} over axes {list(axes)} written as {config.kind}")


@rule("ExpandDims", "Squeeze")
def reshape_axes(site: TargetSite) -> Rewrite | None:
    """Inserting or removing axes of length 1 is a Reshape where the other sizes are known (tfjs
    resolves at most one unknown size itself); else the companion module's class."""
    shape = site.outputs[0][1:]
    if any(d is None for d in shape):
        return None
    return Rewrite.to(reshape_to(*shape), f"{site.kind} over axes {list(site.config.axis)} written as a Reshape")


@rule("Add", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot")
def repeated_inputs(site: TargetSite) -> Rewrite | None:
    """tfjs frees a tensor once per consumer it counts, and counts a layer given the same tensor twice
    once: with another consumer, the tensor is freed before the merge reads it.  A Rescaling(1)
    copy (x * 1 + 0, the same values) gives the merge two tensors."""
    calls = site.layer.calls
    first = calls[0].inputs
    if len(set(first)) == len(first):
        return None
    if any([call.inputs.index(r) for r in call.inputs] != [first.index(r) for r in first] for call in calls):
        raise site.refuse(f"{site.kind} is called with repeated inputs in different places")
    copied = next(i for i, r in enumerate(first) if r in first[:i])
    reads = tuple(Out("copy") if r == first[copied] and i >= copied else Arg(i) for i, r in enumerate(first))
    return Rewrite.chain([Step("copy", core.Rescaling(scale=1.0), inputs=(Arg(copied),)),
                          Step("merged", site.config, site.layer.weights, reads)],
                         f"{site.kind} given the same tensor twice reads a Rescaling(1) copy of it (tfjs would free "
                         "the tensor before the merge reads it)")


TFJS_RULES.include(shared.depthwise_groups, shared.keepdims_pooling, shared.normalization_layer, shared.layer_scale,
                   shared.custom_scale, shared.identity, shared.binary_op, shared.unary_op, *shared.EVERY_TARGET)
#: TF.js has 1-D pooling, but none of these
TFJS_RULES.include(shared.planar, kinds=("ZeroPadding1D", "Cropping1D", "UpSampling1D", "SeparableConv1D",
                                         "DepthwiseConv1D", "Conv1DTranspose"))
