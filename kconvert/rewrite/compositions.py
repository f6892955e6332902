"""Rewrites every target may share: layers and settings as compositions of common layers.

Each rule here computes exactly what the layer computes, moving, padding, copying or scaling
values; none approximates.  A target opts in to a rule by including it in its
:class:`~kconvert.rewrite.rules.RuleBook` (see ``rules.py`` of each writer).

* Keras 1's ``Highway``, ``MaxoutDense``, ``ParametricSoftplus`` and ``SReLU`` have no modern
  class, but are compositions of modern layers (Dense, Rescaling, Multiply, Add; Dense, Reshape,
  GlobalMaxPooling1D).  Their per-unit weights become the kernels and biases of kernel-size-1
  DepthwiseConv1D layers over the flattened units, which scale and shift each unit exactly.
* An activation the target lacks, or spells ambiguously (``hard_sigmoid`` is ``0.2 x + 0.5``
  in Keras 2 and TF.js but ``relu6(x + 3) / 6`` in Keras 3), becomes a linear layer followed by
  layers computing it.  Inside a recurrent cell, where no layer can be inserted, the gate weights
  are scaled instead: ``clip(0.2 z + 0.5) = relu6(1.2 z + 3) / 6``.
* ``x * scale + offset`` per feature (Rescaling, Normalization, LayerScale) is an inference
  BatchNormalization with zero mean, unit variance and no epsilon; a Normalization is one with
  its own mean and variance (``(x - mean) / sqrt(max(variance, 1e-14))`` is Keras's
  ``(x - mean) / max(sqrt(variance), 1e-7)``), computed as both targets' BatchNormalization does.
* Global pooling with ``keepdims`` is global pooling then a Reshape to the kept size-1 axes.
* A 1-D window layer over (steps, channels) is its 2-D form over (steps, 1, channels) between
  Reshapes (an unknown number of steps stays -1).
* A ``keras.ops`` call recorded in the graph: arithmetic of two tensors is their merge layer, with a
  constant a Rescaling (which a target without Rescaling rewrites in turn), activations Activation layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.layer import LayerConfig, kinds_where
from kconvert.ir.layers import activations as act
from kconvert.ir.layers import core, merge, normalization, pooling
from kconvert.ir.layers.conv import DepthwiseConv1D, DepthwiseConv2D
from kconvert.ir.shapes import norm_axis
from kconvert.ir.values import ACTIVATIONS
from kconvert.ir.weights import Weight
from kconvert.rewrite.lowering import TargetSite
from kconvert.rewrite.rules import ARGS, ANY, Arg, Out, Rewrite, Step, rule

#: activations as layers applied after a linear layer: IR activation -> the layer chain
ACTIVATION_LAYERS: dict[str, Callable[[], list[LayerConfig]]] = {
    "hard_sigmoid": lambda: [core.Rescaling(scale=0.2, offset=0.5), act.ReLU(max_value=1.0)],
    "hard_sigmoid_relu6": lambda: [core.Rescaling(scale=1 / 6, offset=0.5), act.ReLU(max_value=1.0)],
    "leaky_relu": lambda: [act.LeakyReLU(negative_slope=0.2)],
    "relu6": lambda: [act.ReLU(max_value=6.0)],
}
#: activations that gate their input, ``x * gate(k * x)``: IR activation -> the gate's activation and k
GATED_ACTIVATIONS = {"hard_silu": ("hard_sigmoid_relu6", 1.0), "silu": ("sigmoid", 1.0),
                     "gelu_sigmoid": ("sigmoid", 1.702)}
#: gate activations one can be turned into another by scaling the gate's pre-activation
GATE_SCALES = {("hard_sigmoid", "hard_sigmoid_relu6"): 1.2, ("hard_sigmoid_relu6", "hard_sigmoid"): 1 / 1.2}


def sequence(*steps: tuple[str, LayerConfig] | tuple[str, LayerConfig, Any]) -> list[Step]:
    """Steps applied one after the other to the layer's inputs: (name, config[, weights])."""
    return [Step(name, config, *rest) for name, config, *rest in steps]


# -- Keras 1 layers without a modern class -------------------------------------------------------------

@rule("Highway")
def highway(site: TargetSite) -> Rewrite:
    c, w = site.config, site.weights
    n = w["kernel"].shape[-1]

    def dense_weights(kernel: str, bias: str) -> dict[str, Weight]:
        return {"kernel": w[kernel], **({"bias": w[bias]} if c.use_bias else {})}

    return Rewrite.chain([
        Step("transform", core.Dense(units=n, activation=c.activation, use_bias=c.use_bias),
             dense_weights("kernel", "bias"), (ARGS,)),
        Step("gate", core.Dense(units=n, activation="sigmoid", use_bias=c.use_bias),
             dense_weights("carry_kernel", "carry_bias"), (ARGS,)),
        Step("carry", core.Rescaling(scale=-1.0, offset=1.0), inputs=(Out("gate"),)),
        Step("gated", merge.Multiply(), inputs=(Out("gate"), Out("transform"))),
        Step("carried", merge.Multiply(), inputs=(Out("carry"), ARGS)),
        Step("sum", merge.Add(), inputs=(Out("gated"), Out("carried")))],
        "Keras 1 Highway written as Dense, Rescaling, Multiply and Add layers computing t * h + (1 - t) * x")


@rule("MaxoutDense")
def maxout(site: TargetSite) -> Rewrite:
    c, w = site.config, site.weights
    features, fan_in, units = w["kernel"].shape
    weights = {"kernel": w["kernel"].transpose((1, 0, 2)).reshape((fan_in, features * units))}
    if c.use_bias:
        weights["bias"] = w["bias"].reshape((features * units,))
    return Rewrite.chain(sequence(
        ("projections", core.Dense(units=features * units, use_bias=c.use_bias), weights),
        ("features", core.Reshape(target_shape=(features, units))),
        ("max", pooling.GlobalMaxPooling1D())),
        f"Keras 1 MaxoutDense written as Dense({features * units}), Reshape and GlobalMaxPooling1D")


@rule("ParametricSoftplus")
def parametric_softplus(site: TargetSite) -> Rewrite:
    units = _Units.of(site)
    w = site.weights
    return Rewrite.chain(sequence(
        ("units", core.Reshape(target_shape=(1, units.size))),
        ("beta", _per_unit(activation="softplus"), {"depthwise_kernel": units.kernel(w["beta"])}),
        ("alpha", _per_unit(), {"depthwise_kernel": units.kernel(w["alpha"])}),
        ("shaped", core.Reshape(target_shape=units.shape))),
        "Keras 1 ParametricSoftplus written as alpha * softplus(beta * x) with per-unit DepthwiseConv1D layers "
        "between Reshape layers")


@rule("SReLU")
def srelu(site: TargetSite) -> Rewrite:
    """x + (a_right - 1) relu(x - t_right') - (a_left - 1) relu(t_left - x), t_right' = t_left + |t_right|."""
    units = _Units.of(site)
    w = site.weights
    t_left, a_left, a_right = (units.values(w[k]) for k in ("t_left", "a_left", "a_right"))
    t_right = t_left + np.abs(units.values(w["t_right"]))
    ones = np.ones_like(t_left)

    def affine(kernel: np.ndarray, bias: np.ndarray | None = None) -> dict[str, Weight]:
        out = {"depthwise_kernel": Weight.of(kernel.reshape(1, -1, 1), "SReLU weights")}
        return out if bias is None else {**out, "bias": Weight.of(bias, "SReLU weights")}

    return Rewrite.chain([
        Step("units", core.Reshape(target_shape=(1, units.size))),
        Step("above", _per_unit(activation="relu", use_bias=True), affine(ones, -t_right), (Out("units"),)),
        Step("above_scaled", _per_unit(), affine(a_right - 1)),
        Step("below", _per_unit(activation="relu", use_bias=True), affine(-ones, t_left), (Out("units"),)),
        Step("below_scaled", _per_unit(), affine(1 - a_left)),
        Step("sum", merge.Add(), inputs=(Out("units"), Out("above_scaled"), Out("below_scaled"))),
        Step("shaped", core.Reshape(target_shape=units.shape))],
        "Keras 1 SReLU written as x plus its two scaled hinges, with per-unit DepthwiseConv1D layers between "
        "Reshape layers")


@dataclass(frozen=True)
class _Units:
    """The units of a per-unit layer: per-unit weights broadcast to ``shape``, then flattened."""

    shape: tuple[int, ...]

    @staticmethod
    def of(site: TargetSite) -> "_Units":
        """The units ``site``'s layer acts on: its input's shape, which must be fully known."""
        shapes = {tuple(s[1:]) for call in site.calls for s in call}
        shape = tuple(site.calls[0][0][1:])
        if any(d is None for d in shape) or len(shapes) > 1:
            raise site.layer.context_error(IncompatibleKerasConfigurationException(
                f"{site.kind} needs a fully known input shape (got {shape}) to be written as modern layers"))
        return _Units(shape)  # type: ignore[arg-type]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def values(self, weight: Weight) -> np.ndarray:
        return np.broadcast_to(weight.numpy(), self.shape).reshape(-1).astype(np.float32)

    def kernel(self, weight: Weight) -> Weight:
        """A per-unit weight as the (1, units, 1) kernel of a DepthwiseConv1D."""
        return weight.derive(lambda a: np.broadcast_to(a, self.shape).reshape(1, -1, 1), (1, self.size, 1),
                             "per-unit weights as a DepthwiseConv1D kernel")


def _per_unit(activation: str = "linear", use_bias: bool = False) -> DepthwiseConv1D:
    return DepthwiseConv1D(kernel_size=(1,), activation=activation, use_bias=use_bias)


@rule("ThresholdedReLU")
def thresholded_relu(site: TargetSite) -> Rewrite:
    """For targets without ThresholdedReLU (Keras 3)."""
    theta = site.config.theta
    return Rewrite.to(act.ReLU(threshold=theta), f"written as ReLU(threshold={theta}) ({site.target} has no "
                      "ThresholdedReLU; they differ only at x == theta exactly)")


# -- activations --------------------------------------------------------------------------------------

@rule(ANY)
def activation(site: TargetSite) -> Rewrite | None:
    """A layer's activation the target lacks or spells ambiguously, as layers or scaled weights."""
    c, target = site.config, site.spec
    name = getattr(c, "activation", None)
    if name is None or target.has(name) or site.layer.sublayers() or c.recurrent:
        return None
    if c.linear_weights and site.has_weights:
        for (have, want), scale in GATE_SCALES.items():
            if name == want and target.has(have):
                return _scaled_activation(site, have, 1 / scale)
    if name in GATED_ACTIVATIONS:
        return _gated_activation(site, name)
    if name == "gelu_tanh":
        return _gelu_tanh(site)
    if name in ACTIVATION_LAYERS:
        return _split_activation(site, name)
    return None


def _linear_head(site: TargetSite) -> list[Step]:
    """The layer itself with a linear activation (nothing for an Activation layer)."""
    if site.kind == "Activation":
        return []
    return [Step("linear", replace(site.config, activation="linear"), site.layer.weights)]


def _split_activation(site: TargetSite, name: str) -> Rewrite:
    """The layer with a linear activation, then the layers computing ``name``."""
    configs = ACTIVATION_LAYERS[name]()
    steps = _linear_head(site) + [Step(f"{name}_{i}", config) for i, config in enumerate(configs)]
    why = "spells it ambiguously" if name in site.spec.ambiguous else "lacks it"
    return Rewrite.chain(steps, f"activation {name} written as {', '.join(type(c).__name__ for c in configs)} "
                         f"layers ({site.target} {why})")


def _scaled_activation(site: TargetSite, name: str, scale: float) -> Rewrite:
    """The layer computing ``name`` of its pre-activation times ``scale``, which its weights absorb."""
    c = site.config
    weights = dict(site.weights)
    for weight in c.linear_weights:
        if weight in weights:
            weights[weight] = _scale_columns(weights[weight], 1, (0,), scale)
    return Rewrite.to(replace(c, activation=name),
                   f"activation {c.activation} ({ACTIVATIONS[c.activation]}) written as {site.target}'s "
                   f"{site.spec.activations[name]!r} ({ACTIVATIONS[name]}) on weights scaled by {scale:.6g}: the "
                   "same function", weights, keeps_settings=True)


def _gated_activation(site: TargetSite, name: str) -> Rewrite:
    """The layer with a linear activation, then ``x * gate(k * x)`` as a Rescaling (where k is not 1),
    an Activation and a Multiply."""
    gate, scale = GATED_ACTIVATIONS[name]
    head = _linear_head(site)
    x = Out("linear") if head else ARGS
    gate_steps = [Step("gate", core.Activation(activation=gate), inputs=(x,))]
    if scale != 1.0:
        gate_steps = [Step("gate_input", core.Rescaling(scale=scale), inputs=(x,)),
                      Step("gate", core.Activation(activation=gate))]
    steps = [*head, *gate_steps, Step("gated", merge.Multiply(), inputs=(x, Out("gate")))]
    scaled = f"Rescaling({scale:g}), " if scale != 1.0 else ""
    return Rewrite.chain(steps, f"activation {name} ({ACTIVATIONS[name]}) written as {scaled}an Activation({gate}) "
                         f"gate and a Multiply ({site.target} lacks it)")


#: 0.5 (1 + tanh(z)) is sigmoid(2 z): gelu_tanh is x * sigmoid(GELU_TANH_SCALE * (x + 0.044715 x^3))
GELU_TANH_SCALE = 2 * np.sqrt(2 / np.pi)


def _gelu_tanh(site: TargetSite) -> Rewrite:
    """The layer with a linear activation, then ``x * sigmoid(k (x + 0.044715 x^3))`` as a Multiply
    (x^3), Rescalings, an Add, an Activation(sigmoid) and a Multiply: tanh-approximated GELU from
    layers every target has."""
    head = _linear_head(site)
    x = Out("linear") if head else ARGS
    steps = [*head, Step("cube", merge.Multiply(), inputs=(x, x, x)),
             Step("cubic", core.Rescaling(scale=0.044715)), Step("inner", merge.Add(), inputs=(x, Out("cubic"))),
             Step("gate_input", core.Rescaling(scale=float(GELU_TANH_SCALE))),
             Step("gate", core.Activation(activation="sigmoid")),
             Step("gated", merge.Multiply(), inputs=(x, Out("gate")))]
    return Rewrite.chain(steps, f"activation gelu_tanh ({ACTIVATIONS['gelu_tanh']}) written as x * sigmoid("
                         f"{GELU_TANH_SCALE:.6g} (x + 0.044715 x^3)) in Multiply, Rescaling, Add and Activation "
                         f"layers ({site.target} lacks it)")


# -- inside recurrent cells and wrappers ----------------------------------------------------------------

#: the weights whose gate columns scale a gate's pre-activation (a layer with others, such as
#: PeepholeLSTM's peephole_kernel, is not scaled)
_GATE_WEIGHTS = frozenset({"kernel", "recurrent_kernel", "bias"})


@rule(*kinds_where(lambda c: c.recurrent), keeps_kind=True)
def recurrent(site: TargetSite) -> Rewrite | None:
    """A gate activation the target lacks, as one it has on gate weights scaled to compute the same."""
    layer = _recurrent(site, site.layer)
    if layer is site.layer:
        return None
    return Rewrite.to(layer.config, _gate_note(site, layer), layer.weights, keeps_settings=True)


@rule("Bidirectional", "TimeDistributed", keeps_kind=True)
def wrapped_recurrent(site: TargetSite) -> Rewrite | None:
    """:func:`recurrent` for the recurrent layers a wrapper holds."""
    old = site.layer.sublayers()  # (forward, backward) or (layer,)
    new = [_recurrent(site, sub) if sub.config.recurrent else sub for sub in old]
    changed = [n for o, n in zip(old, new) if n is not o]
    if not changed:
        return None
    c = site.config
    config = replace(c, forward=new[0], backward=new[1]) if site.kind == "Bidirectional" else replace(c, layer=new[0])
    return Rewrite.to(config, _gate_note(site, changed[0]))


def _recurrent(site: TargetSite, layer: Any) -> Any:
    c, target = layer.config, site.spec
    if not target.has(c.activation) and c.activation in ACTIVATION_LAYERS:
        raise layer.context_error(IncompatibleKerasConfigurationException(
            f"a recurrent layer's activation {c.activation} cannot be expressed in {target.name}", key="activation"))
    gate = getattr(c, "recurrent_activation", None)
    if gate is None or target.has(gate):
        return layer
    for (have, want), scale in GATE_SCALES.items():
        if gate == have and target.has(want) and c.gates is not None and set(layer.weights) <= _GATE_WEIGHTS:
            return replace(layer, config=replace(c, recurrent_activation=want), weights=_scaled_gates(layer, scale))
    if gate in target.ambiguous:
        site.ctx.note("approximated", target.ambiguous[gate], layer=layer.name, key="recurrent_activation",
                      severity="warning")
    return layer


def _gate_note(site: TargetSite, changed: Any) -> str:
    have = next(h for (h, w) in GATE_SCALES if w == changed.config.recurrent_activation)
    want = changed.config.recurrent_activation
    return (f"recurrent_activation {have} ({ACTIVATIONS[have]}) written as {site.target}'s "
            f"{site.spec.activations[want]!r} ({ACTIVATIONS[want]}) on gate weights scaled by "
            f"{GATE_SCALES[(have, want)]:.6g}: the same function")


def _scaled_gates(layer: Any, scale: float) -> dict[str, Weight]:
    """The layer's weights with the columns of the gates using recurrent_activation multiplied."""
    blocks, gates = layer.config.gates
    out = dict(layer.weights)
    for name in ("kernel", "recurrent_kernel", "bias"):
        if name in out:
            out[name] = _scale_columns(out[name], blocks, gates, scale)
    return out


def _scale_columns(weight: Weight, blocks: int, gates: Iterable[int], scale: float) -> Weight:
    width = weight.shape[-1] // blocks
    factors = np.ones(weight.shape[-1], dtype=np.float64)
    for g in gates:
        factors[g * width:(g + 1) * width] = scale

    def scaled(a: np.ndarray, columns: slice = slice(None)) -> np.ndarray:
        return (a * factors[columns]).astype(a.dtype)
    return weight.derive(scaled, weight.shape, f"gate columns scaled by {scale:.6g}",
                         lambda index: scaled(weight.take(index), index[-1]))


# -- per-feature affine maps as BatchNormalization -----------------------------------------------------

#: the smallest standard deviation Keras's Normalization divides by, squared
MIN_VARIANCE = 1e-14


def as_batch_normalization(site: TargetSite, what: str, gamma: Any = 1.0, beta: Any = 0.0, mean: Any = 0.0,
                           variance: Any = 1.0) -> Rewrite:
    """The layer as an inference BatchNormalization over the last axis with no epsilon, computing
    ``gamma * (x - mean) / sqrt(variance) + beta`` per feature."""
    n = _features(site)

    def vector(values: Any, name: str) -> Weight:
        if isinstance(values, Weight):  # a learned vector, read as it is written
            return values
        return Weight.of(np.broadcast_to(np.asarray(values, np.float32), (n,)).copy(), f"{site.kind} as {name}")

    weights = {"gamma": vector(gamma, "gamma"), "beta": vector(beta, "beta"),
               "moving_mean": vector(mean, "moving_mean"), "moving_variance": vector(variance, "moving_variance")}
    return Rewrite.to(normalization.BatchNormalization(axis=(-1,), epsilon=0.0),
                      f"{site.kind} written as a BatchNormalization computing {what} ({site.target} has no "
                      f"{site.kind})", weights)


def _features(site: TargetSite) -> int:
    n = site.shape[-1]
    if n is None:
        raise site.refuse(f"writes {site.kind} per feature of the last axis, and its size is unknown")
    return int(n)


@rule("Conv2D")
def depthwise_groups(site: TargetSite) -> Rewrite | None:
    """A convolution with one group per input channel (ConvNeXt's, MobileNet's) is a DepthwiseConv2D:
    group ``c`` computes output channels ``c * m ... c * m + m - 1``, as depth multiplier ``m`` numbers
    them."""
    c = site.config
    if c.groups == 1:
        return None
    channels = site.shape[1 if c.data_format == "channels_first" else -1]
    if c.groups != channels:
        return None  # other grouped convolutions are refused by the target's emitter
    multiplier = c.filters // c.groups
    w = site.layer.weights  # none for a configuration alone: the DepthwiseConv2D's configuration needs none
    weights = {"depthwise_kernel": w["kernel"].reshape((*w["kernel"].shape[:2], channels, multiplier)),
               **({"bias": w["bias"]} if c.use_bias else {})} if w else {}
    config = DepthwiseConv2D(kernel_size=c.kernel_size, strides=c.strides, padding=c.padding, data_format=c.data_format,
                             dilation_rate=c.dilation_rate, depth_multiplier=multiplier, activation=c.activation,
                             use_bias=c.use_bias)
    return Rewrite.to(config, f"Conv2D with {c.groups} groups (one per input channel) written as a DepthwiseConv2D "
                      f"with depth_multiplier {multiplier}", weights)


@rule("Normalization")
def normalization_layer(site: TargetSite) -> Rewrite:
    """(x - mean) / max(sqrt(variance), 1e-7), or with invert mean + x * that, per last-axis feature;
    one mean and variance for every value is a Rescaling."""
    c, shape = site.config, site.shape
    if c.mean is not None:
        mean, variance = (np.asarray(v, np.float64).reshape(-1) for v in (c.mean, c.variance))
    elif "mean" in site.layer.weights:
        mean, variance = (site.layer.weights[k].numpy().astype(np.float64).reshape(-1) for k in ("mean", "variance"))
        try:  # adapted statistics are weights, read only now
            normalization.Normalization.check_variance(variance.tolist())
        except ValueError as exc:
            raise site.refuse(str(exc), key="variance") from None
    else:  # a configuration alone (--config-only): the statistics are not written
        mean, variance = np.zeros(1), np.ones(1)
    axes = tuple(sorted(norm_axis(a, len(shape)) for a in c.axis))
    if axes == ():
        std = max(float(np.sqrt(variance[0])), 1e-7)
        scale, offset = (std, float(mean[0])) if c.invert else (1 / std, -float(mean[0]) / std)
        return Rewrite.to(core.Rescaling(scale=scale, offset=offset), "Normalization of every value by one mean "
                          f"and variance written as a Rescaling ({site.target} has no Normalization)", {})
    if axes != (len(shape) - 1,):
        raise site.refuse(f"writes Normalization per feature of the last axis only (axes {list(c.axis)})", key="axis")
    variance = np.maximum(variance, MIN_VARIANCE)
    if c.invert:
        return as_batch_normalization(site, "mean + x * std", gamma=np.sqrt(variance), beta=mean)
    return as_batch_normalization(site, "(x - mean) / std", mean=mean, variance=variance)


@rule("LayerScale")
def layer_scale(site: TargetSite) -> Rewrite:
    return as_batch_normalization(site, "x * gamma", gamma=site.weights["gamma"])


@rule("CustomScaleLayer")
def custom_scale(site: TargetSite) -> Rewrite:
    """inputs[0] + inputs[1] * scale (InceptionResNetV2's residuals)."""
    if site.inputs[0] != site.inputs[1]:
        raise site.refuse("writes a CustomScaleLayer over inputs of one shape only (its Add would broadcast)")
    scale = site.config.scale
    return Rewrite.chain([Step("scaled", core.Rescaling(scale=scale), inputs=(Arg(1),)),
                          Step("sum", merge.Add(), inputs=(Arg(0), Out("scaled")))],
                         f"CustomScaleLayer written as a Rescaling({scale:.6g}) of its second input and an Add")


# -- pooling and 1-D layers ---------------------------------------------------------------------------

@rule("GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
      "GlobalAveragePooling3D", "GlobalMaxPooling3D")
def keepdims_pooling(site: TargetSite) -> Rewrite | None:
    c = site.config
    if not c.keepdims:
        return None
    kept = site.known(site.outputs[0][1:], "number of channels")
    return Rewrite.chain(sequence(("pooled", replace(c, keepdims=False)), ("kept", core.Reshape(target_shape=kept))),
                         f"{site.kind} with keepdims written as {site.kind} and a Reshape to {kept} ({site.target} "
                         "ignores keepdims)")


def reshape_to(*dims: int | None) -> core.Reshape:
    """A Reshape to ``dims``; one unknown size (a sequence's length) becomes -1."""
    if sum(d is None for d in dims) > 1:
        raise ValueError(f"two unknown sizes in {dims}")
    return core.Reshape(target_shape=tuple(-1 if d is None else d for d in dims))


@rule(*kinds_where(lambda c: c.planar is not LayerConfig.planar))
def planar(site: TargetSite) -> Rewrite | None:
    """A channels-last 1-D layer over (steps, channels) as its 2-D form over (steps, 1, channels)
    between Reshapes; its weights gain a width axis of 1 (:meth:`LayerConfig.planar`)."""
    c = site.config
    if getattr(c, "data_format", "channels_last") != "channels_last" or getattr(c, "padding", None) == "causal":
        return None
    ((steps, channels),) = [s[1:] for s in site.inputs]
    site.known((channels,), "number of channels")
    ((out_steps, out_channels),) = [s[1:] for s in site.outputs]
    two_d = c.planar()
    shapes = two_d.weight_shapes([(None, steps, 1, channels)])
    weights = {name: w.reshape(shapes[name]) for name, w in site.layer.weights.items()}
    return Rewrite.chain(sequence(("as_2d", reshape_to(steps, 1, channels)), ("2d", two_d, weights),
                                  ("as_1d", reshape_to(out_steps, out_channels))),
                         f"{site.kind} written as {two_d.kind} over (steps, 1, channels) between Reshape layers "
                         f"({site.target} has no {site.kind})")


@rule("Identity", "StochasticDepth")
def identity(site: TargetSite) -> Rewrite:
    return Rewrite.to(core.Activation(activation="linear"),
                      f"{site.kind} (the identity at inference) written as a linear Activation")


@rule("Augmentation")
def augmentation(site: TargetSite) -> Rewrite:
    """A random augmentation is the identity at inference; its training-time randomness is dropped."""
    what = site.config.augmentation
    return Rewrite.to(core.Activation(activation="linear"), f"{what} (the identity at inference) written as a "
                      "linear Activation", drops=f"{what}'s training-time augmentation is dropped: at inference "
                      "Keras passes images through it unchanged")


#: the Keras 1 compositions every target includes
KERAS1 = (highway, maxout, parametric_softplus, srelu)
#: what every target's lowering does: Keras 1 compositions, activations and recurrent gates it lacks
EVERY_TARGET = (*KERAS1, recurrent, wrapped_recurrent, activation, augmentation)


# -- functional operations (keras.ops / tf.* nodes) ------------------------------------------------------

#: two-tensor operations -> the merge layer computing them
_MERGES: dict[str, Callable[[], LayerConfig]] = {
    "add": merge.Add, "subtract": merge.Subtract, "multiply": merge.Multiply, "maximum": merge.Maximum,
    "minimum": merge.Minimum}
#: unary operations computed as an Activation of the same IR name (one a target lacks is rewritten in turn)
_ACTIVATION_OPS = ("sigmoid", "tanh", "relu6", "hard_sigmoid_relu6", "hard_silu", "silu", "relu")


@rule("BinaryOp")
def binary_op(site: TargetSite) -> Rewrite | None:
    """Two tensors as their merge layer; ``x + k``, ``x * k``, ``x - k`` and ``k - x`` as one Rescaling;
    ``max(x, 0)``, ``min(x, 0)`` as ReLUs; ``x ** 2`` as a Multiply.  Anything else is the target's
    to write (TF.js's companion class) or refuse (its emitter)."""
    c = site.config
    if c.constant is None:
        if c.op not in _MERGES:
            return None
        config = _MERGES[c.op]()
        return Rewrite.to(config, f"operation {c.op} of two tensors written as a {config.kind} layer")
    k = float(c.constant)
    affine = {"add": (1.0, k), "multiply": (k, 0.0), "subtract": (-1.0, k) if c.constant_first else (1.0, -k)}
    if c.op in affine:
        scale, offset = affine[c.op]
        return Rewrite.to(core.Rescaling(scale=scale, offset=offset), f"operation {c.op} with the constant {k:.6g} "
                          f"written as Rescaling(scale={scale:.6g}, offset={offset:.6g})")
    if c.op in ("maximum", "minimum") and k == 0.0:
        if c.op == "maximum":
            return Rewrite.to(act.ReLU(), "operation maximum(x, 0) written as ReLU layers")
        return Rewrite.chain(sequence(("negated", core.Rescaling(scale=-1.0)), ("positive", act.ReLU()),
                                      ("negative", core.Rescaling(scale=-1.0))),
                             "operation minimum(x, 0) written as ReLU layers")
    if c.op == "power" and k == 2.0 and not c.constant_first:
        return _square()
    return None


def _square() -> Rewrite:
    return Rewrite.to(merge.Multiply(), "x ** 2 written as a Multiply of x by itself", inputs=(Arg(0), Arg(0)))


@rule("UnaryOp")
def unary_op(site: TargetSite) -> Rewrite | None:
    """An activation as an Activation layer; ``-x`` as a Rescaling, ``x ** 2`` as a Multiply,
    ``abs(x)`` as ``relu(x) + relu(-x)``; anything else is the target's to write or refuse."""
    op = site.config.op
    if op in _ACTIVATION_OPS:
        return Rewrite.to(core.Activation(activation=op), f"operation {op} written as an Activation layer")
    if op == "negative":
        return Rewrite.to(core.Rescaling(scale=-1.0), "operation negative written as Rescaling(scale=-1)")
    if op == "square":
        return _square()
    if op == "abs":
        return Rewrite.chain([Step("positive", act.ReLU(), inputs=(ARGS,)),
                              Step("negated", core.Rescaling(scale=-1.0), inputs=(ARGS,)),
                              Step("negative", act.ReLU()),
                              Step("sum", merge.Add(), inputs=(Out("positive"), Out("negative")))],
                             "operation abs written as relu(x) + relu(-x)")
    return None
