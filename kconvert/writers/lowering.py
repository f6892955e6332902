"""Lowering: rewriting an IR model into layers a target expresses, computing the same function.

* Keras 1's ``Highway``, ``MaxoutDense``, ``ParametricSoftplus`` and ``SReLU`` have no modern
  class, but are compositions of modern layers (Dense, Rescaling, Multiply, Add; Dense, Reshape,
  GlobalMaxPooling1D).  Their per-unit weights become the kernels and biases of kernel-size-1
  DepthwiseConv1D layers over the flattened units, which scale and shift each unit exactly.
* An activation the target lacks, or spells ambiguously (``hard_sigmoid`` is ``0.2 x + 0.5``
  in Keras 2 and TF.js but ``relu6(x + 3) / 6`` in Keras 3), becomes a linear layer followed by
  layers computing it.  Inside a recurrent cell, where no layer can be inserted, the gate weights
  are scaled instead: ``clip(0.2 z + 0.5) = relu6(1.2 z + 3) / 6``.
* ``ThresholdedReLU``, gone from Keras 3, becomes ``ReLU(threshold=theta)``.
* A target's own rewrites (:attr:`Target.rewrites`, one function per IR kind) replace settings or
  kinds it lacks by layers it has (TF.js: a causal ``Conv1D`` as padding then a valid one).
* Nested models are inlined for a target that cannot hold them: the inner layers join the outer
  graph, called once per call of the nested model (so a model used twice stays shared).

The source model is left as it is: lowering returns a new model that shares untouched layers.
A layer replaced by a chain hands its name to the chain's last layer, so graph references, output
names and training settings keyed by output keep pointing at the same tensor.  Lowering runs in
passes until nothing changes, so a rewrite may produce layers that are rewritten in turn, each
with the shapes of the graph it sits in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Call, Layer, Model, ShapeMap, TensorRef, fresh_name, map_refs
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import activations as act
from kconvert.ir.layers import core, merge, pooling
from kconvert.ir.layers.conv import DepthwiseConv1D
from kconvert.ir.layers.model import NestedModel
from kconvert.ir.shapes import Shape
from kconvert.ir.values import ACTIVATIONS
from kconvert.ir.weights import Weight
from kconvert.writers.context import WriteContext

#: activations as layers applied after a linear layer: IR activation -> the layer chain
ACTIVATION_LAYERS: dict[str, Callable[[], list[LayerConfig]]] = {
    "hard_sigmoid": lambda: [core.Rescaling(scale=0.2, offset=0.5), act.ReLU(max_value=1.0)],
    "hard_sigmoid_relu6": lambda: [core.Rescaling(scale=1 / 6, offset=0.5), act.ReLU(max_value=1.0)],
    "leaky_relu": lambda: [act.LeakyReLU(negative_slope=0.2)],
    "relu6": lambda: [act.ReLU(max_value=6.0)],
}
#: activations that gate their input, ``x * gate(x)``: IR activation -> the gate's activation
GATED_ACTIVATIONS = {"hard_silu": "hard_sigmoid_relu6", "silu": "sigmoid"}
#: gate activations one can be turned into another by scaling the gate's pre-activation
GATE_SCALES = {("hard_sigmoid", "hard_sigmoid_relu6"): 1.2, ("hard_sigmoid_relu6", "hard_sigmoid"): 1 / 1.2}
#: per kind whose pre-activation is linear in its weights: the weights that scale it
LINEAR_WEIGHTS = {kind: ("kernel", "bias") for kind in (
    "Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")}
LINEAR_WEIGHTS.update({"DepthwiseConv1D": ("depthwise_kernel", "bias"),
                       "DepthwiseConv2D": ("depthwise_kernel", "bias"),
                       "SeparableConv1D": ("pointwise_kernel", "bias"),
                       "SeparableConv2D": ("pointwise_kernel", "bias")})
#: a rewrite of one IR kind for one target: the layers replacing ``layer``, or None to keep it
Rewrite = Callable[["Lowering", Layer, set[str]], "list[Layer] | None"]
#: passes after which lowering gives up (a rewrite that never settles is a bug)
_MAX_PASSES = 16
#: per recurrent kind: its gate blocks along the weights' last axis, and which use recurrent_activation
GATES = {"LSTM": (4, (0, 1, 3)), "ConvLSTM2D": (4, (0, 1, 3)), "GRU": (3, (0, 1))}


@dataclass(frozen=True)
class Target:
    """What a target expresses: its activation names, those it spells ambiguously (each with the
    warning to give when one cannot be avoided), and the IR kinds it lacks."""

    name: str
    activations: Mapping[str, str]
    ambiguous: Mapping[str, str] = field(default_factory=dict)
    lacks: frozenset[str] = frozenset()
    #: why nested models are inlined, or None when the target holds them
    inlines_models: str | None = None
    #: the target's own rewrites, by IR kind
    rewrites: Mapping[str, Rewrite] = field(default_factory=dict)

    def has(self, activation: str) -> bool:
        return activation in self.activations and activation not in self.ambiguous


def rewritten_kinds(target: Target) -> frozenset[str]:
    """The IR kinds :func:`lower` may replace by others for ``target`` (the coverage matrix reads this)."""
    return frozenset(COMPOSITIONS) | (target.lacks & {"ThresholdedReLU"}) | (
        {"Model"} if target.inlines_models else set()) | frozenset(target.rewrites)


def lower(model: Model, target: Target, ctx: WriteContext) -> Model:
    """``model`` with every layer ``target`` cannot express as is rewritten (see module docstring)."""
    for _ in range(_MAX_PASSES):
        lowered = Lowering(target, ctx).model(model)
        if lowered is model:
            return model
        model = lowered
    raise RuntimeError(f"lowering for {target.name} did not settle after {_MAX_PASSES} passes")


class Lowering:
    def __init__(self, target: Target, ctx: WriteContext) -> None:
        self.target = target
        self.ctx = ctx
        self.shapes: ShapeMap = {}  # of the model (or nested model) being lowered

    def model(self, model: Model) -> Model:
        outer_shapes, self.shapes = self.shapes, model.shapes()
        try:
            return self._model(model)
        finally:
            self.shapes = outer_shapes

    def _model(self, model: Model) -> Model:
        taken = {layer.name for layer in model.layers}
        layers: list[Layer] = []
        moved: dict[TensorRef, TensorRef] = {}  # outputs of inlined models -> where they are computed now
        for layer in model.layers:
            if isinstance(layer.config, NestedModel) and self.target.inlines_models:
                layers.extend(self.inline(model, layer, taken, moved))
            else:
                layers.extend(self.layer(layer, taken))
        if all(a is b for a, b in zip(layers, model.layers)) and len(layers) == len(model.layers):
            return model
        outputs, training = model.outputs, model.training
        if moved:
            layers = [_rewired(layer, moved) for layer in layers]
            outputs = [moved.get(ref, ref) for ref in model.outputs]
            if training is not None:
                training = training.renamed({a.layer: b.layer for a, b in zip(model.outputs, outputs) if a != b})
        lowered = Model(model.name, layers, model.inputs, outputs, structure=model.structure,
                        provenance=model.provenance, training=training)  # the source keeps its files
        lowered.validate()
        return lowered

    def inline(self, outer: Model, layer: Layer, taken: set[str], moved: dict[TensorRef, TensorRef]) -> list[Layer]:
        """The layers of nested model ``layer``, wired into ``outer``; ``moved`` learns where each
        of its outputs is computed now."""
        c = layer.config
        inner = self.model(c.model)
        for call in layer.calls:
            given = [self.shapes[(r.layer, r.node)][r.index] for r in call.inputs]
            if any(v is not None for v in call.kwargs.values()) or c.conformed_inputs(given) != given:
                raise layer.context_error(IncompatibleKerasConfigurationException(
                    f"{self.target.inlines_models}, and this call of the nested model cannot be inlined (it passes "
                    "call arguments, or inputs Keras reshapes to the model's declared rank)"))
        positions = {ref.layer: k for k, ref in enumerate(inner.inputs)}
        names = {sub.name: sub.name if sub.name not in taken else fresh_name(f"{layer.name}_{sub.name}", taken)
                 for sub in inner.layers if sub.name not in positions}
        taken.update(names.values())
        calls_of = {sub.name: len(sub.calls) for sub in inner.layers}

        def outer_ref(ref: TensorRef, n: int) -> TensorRef:
            """Where inner tensor ``ref`` is computed during the nested model's call ``n``."""
            if ref.layer in positions:
                return layer.calls[n].inputs[positions[ref.layer]]
            return TensorRef(names[ref.layer], n * calls_of[ref.layer] + ref.node, ref.index)

        inlined = [replace(sub, name=names[sub.name], trainable=sub.trainable and layer.trainable,
                           calls=[_mapped_call(call, lambda r, n=n: outer_ref(r, n))
                                  for n in range(len(layer.calls)) for call in sub.calls])
                   for sub in inner.layers if sub.name not in positions]
        for n in range(len(layer.calls)):
            for i, out in enumerate(inner.outputs):
                moved[TensorRef(layer.name, n, i)] = outer_ref(out, n)
        self.note(layer, f"nested model {c.model.name!r} inlined ({self.target.inlines_models})")
        return inlined

    def layer(self, layer: Layer, taken: set[str]) -> list[Layer]:
        c = layer.config
        if isinstance(c, NestedModel):
            inner = self.model(c.model)
            return [layer] if inner is c.model else [replace(layer, config=replace(c, model=inner))]
        if layer.kind in COMPOSITIONS:
            if not layer.weights:  # each composition is computed from the layer's weights
                raise layer.context_error(IncompatibleKerasConfigurationException(
                    f"{layer.kind} is rewritten for {self.target.name} from its weights, and the model has none "
                    "loaded: load the weights with the configuration"))
            return COMPOSITIONS[layer.kind](self, layer, taken)
        rewrite = self.target.rewrites.get(layer.kind)
        rewritten = rewrite(self, layer, taken) if rewrite is not None else None
        if rewritten is not None:
            return rewritten
        if layer.kind == "ThresholdedReLU" and "ThresholdedReLU" in self.target.lacks:
            self.note(layer, f"written as ReLU(threshold={c.theta}) ({self.target.name} has no ThresholdedReLU; "
                      "they differ only at x == theta exactly)")
            return [replace(layer, config=act.ReLU(threshold=c.theta))]
        if layer.kind in GATES or layer.kind == "SimpleRNN":
            return [self.recurrent(layer)]
        if layer.sublayers():
            return [self.wrapper(layer)]
        activation = getattr(c, "activation", None)
        if activation is None or self.target.has(activation):
            return [layer]
        if layer.kind in LINEAR_WEIGHTS and layer.weights:
            for (have, want), scale in GATE_SCALES.items():
                if activation == want and self.target.has(have):
                    return [self.scaled_activation(layer, have, 1 / scale)]
        if activation in GATED_ACTIVATIONS:
            return self.gated_activation(layer, activation, taken)
        if activation in ACTIVATION_LAYERS:
            return self.split_activation(layer, activation, taken)
        return [layer]

    # -- compositions -----------------------------------------------------------------------------

    def chain(self, layer: Layer, steps: list[tuple[str, LayerConfig, dict[str, Weight], Callable]],
              taken: set[str]) -> list[Layer]:
        """Layers called once per call of ``layer``; each step's ``inputs(refs_by_name, call)`` gives
        its inputs.  The last step takes ``layer``'s name, the others fresh names."""
        built: list[Layer] = []
        names: dict[str, str] = {}
        for i, (suffix, config, weights, inputs) in enumerate(steps):
            last = i == len(steps) - 1
            name = layer.name if last else fresh_name(f"{layer.name}_{suffix}", taken)
            names[suffix] = name
            calls = [Call(inputs(lambda s, n=n: TensorRef(names[s], n), call), dict(call.kwargs) if i == 0 else {})
                     for n, call in enumerate(layer.calls)]
            built.append(Layer(name, config, weights, calls, layer.trainable, layer.dtype,
                               source_class=layer.source_class or layer.kind,
                               weight_settings=layer.weight_settings if weights is layer.weights and weights else {}))
        return built

    def highway(self, layer: Layer, taken: set[str]) -> list[Layer]:
        c, w = layer.config, layer.weights
        n = _units(w["kernel"])

        def dense_weights(kernel: str, bias: str) -> dict[str, Weight]:
            return {"kernel": w[kernel], **({"bias": w[bias]} if c.use_bias else {})}

        steps = [
            ("transform", core.Dense(units=n, activation=c.activation, use_bias=c.use_bias),
             dense_weights("kernel", "bias"), layer_inputs),
            ("gate", core.Dense(units=n, activation="sigmoid", use_bias=c.use_bias),
             dense_weights("carry_kernel", "carry_bias"), layer_inputs),
            ("carry", core.Rescaling(scale=-1.0, offset=1.0), {}, after("gate")),
            ("gated", merge.Multiply(), {}, after("gate", "transform")),
            ("carried", merge.Multiply(), {}, lambda ref, call: [ref("carry"), *call.inputs]),
            ("sum", merge.Add(), {}, after("gated", "carried")),
        ]
        self.note(layer, "Keras 1 Highway written as Dense, Rescaling, Multiply and Add layers computing "
                  "t * h + (1 - t) * x")
        return self.chain(layer, steps, taken)  # the next pass lowers its layers' activations

    def maxout(self, layer: Layer, taken: set[str]) -> list[Layer]:
        c, w = layer.config, layer.weights
        features, fan_in, units = w["kernel"].shape
        weights = {"kernel": w["kernel"].transpose((1, 0, 2)).reshape((fan_in, features * units))}
        if c.use_bias:
            weights["bias"] = w["bias"].reshape((features * units,))
        steps = [
            ("projections", core.Dense(units=features * units, use_bias=c.use_bias), weights, layer_inputs),
            ("features", core.Reshape(target_shape=(features, units)), {}, after("projections")),
            ("max", pooling.GlobalMaxPooling1D(), {}, after("features")),
        ]
        self.note(layer, f"Keras 1 MaxoutDense written as Dense({features * units}), Reshape and GlobalMaxPooling1D")
        return self.chain(layer, steps, taken)

    def parametric_softplus(self, layer: Layer, taken: set[str]) -> list[Layer]:
        units = self.units_of(layer)
        w = layer.weights
        steps = [
            ("units", core.Reshape(target_shape=(1, units.size)), {}, layer_inputs),
            ("beta", _per_unit(activation="softplus"), {"depthwise_kernel": units.kernel(w["beta"])}, after("units")),
            ("alpha", _per_unit(), {"depthwise_kernel": units.kernel(w["alpha"])}, after("beta")),
            ("shaped", core.Reshape(target_shape=units.shape), {}, after("alpha")),
        ]
        self.note(layer, "Keras 1 ParametricSoftplus written as alpha * softplus(beta * x) with per-unit "
                  "DepthwiseConv1D layers between Reshape layers")
        return self.chain(layer, steps, taken)

    def srelu(self, layer: Layer, taken: set[str]) -> list[Layer]:
        """x + (a_right - 1) relu(x - t_right') - (a_left - 1) relu(t_left - x), t_right' = t_left + |t_right|."""
        units = self.units_of(layer)
        t_left, a_left, a_right = (units.values(layer.weights[k]) for k in ("t_left", "a_left", "a_right"))
        t_right = t_left + np.abs(units.values(layer.weights["t_right"]))
        ones = np.ones_like(t_left)

        def affine(kernel: np.ndarray, bias: np.ndarray | None = None) -> dict[str, Weight]:
            out = {"depthwise_kernel": Weight.of(kernel.reshape(1, -1, 1), "SReLU weights")}
            return out if bias is None else {**out, "bias": Weight.of(bias, "SReLU weights")}

        steps = [
            ("units", core.Reshape(target_shape=(1, units.size)), {}, layer_inputs),
            ("above", _per_unit(activation="relu", use_bias=True), affine(ones, -t_right), after("units")),
            ("above_scaled", _per_unit(), affine(a_right - 1), after("above")),
            ("below", _per_unit(activation="relu", use_bias=True), affine(-ones, t_left), after("units")),
            ("below_scaled", _per_unit(), affine(1 - a_left), after("below")),
            ("sum", merge.Add(), {}, after("units", "above_scaled", "below_scaled")),
            ("shaped", core.Reshape(target_shape=units.shape), {}, after("sum")),
        ]
        self.note(layer, "Keras 1 SReLU written as x plus its two scaled hinges, with per-unit DepthwiseConv1D "
                  "layers between Reshape layers")
        return self.chain(layer, steps, taken)

    def call_shapes(self, layer: Layer) -> list[Shape]:
        """``layer``'s input shapes, the same for every call (a rewrite's layers serve all its calls)."""
        per_call = [[self.shapes[(r.layer, r.node)][r.index] for r in call.inputs] for call in layer.calls]
        if any(shapes != per_call[0] for shapes in per_call[1:]):
            raise layer.context_error(IncompatibleKerasConfigurationException(
                f"{layer.kind} is rewritten for {self.target.name} from its input shapes, and its calls' differ"))
        return per_call[0]

    def output_shapes(self, layer: Layer) -> list[Shape]:
        """``layer``'s output shapes (of its first call)."""
        return list(self.shapes[(layer.name, 0)])

    def units_of(self, layer: Layer) -> _Units:
        """The units a per-unit layer acts on: its input's shape, which must be fully known."""
        ref = layer.calls[0].inputs[0]
        shape = tuple(self.shapes[(ref.layer, ref.node)][ref.index][1:])
        if any(d is None for d in shape) or any(
                tuple(self.shapes[(r.layer, r.node)][r.index][1:]) != shape
                for call in layer.calls for r in call.inputs):
            raise layer.context_error(IncompatibleKerasConfigurationException(
                f"{layer.kind} needs a fully known input shape (got {shape}) to be written as modern layers"))
        return _Units(shape)  # type: ignore[arg-type]

    def split_activation(self, layer: Layer, activation: str, taken: set[str]) -> list[Layer]:
        """``layer`` with a linear activation, then the layers computing ``activation``."""
        configs = ACTIVATION_LAYERS[activation]()
        if layer.kind == "Activation":
            head: list[tuple[str, LayerConfig, dict[str, Weight], Callable]] = []
        else:
            head = [("linear", replace(layer.config, activation="linear"), layer.weights, layer_inputs)]
        steps = list(head)
        for i, config in enumerate(configs):
            steps.append((f"{activation}_{i}", config, {}, after(steps[-1][0]) if steps else layer_inputs))
        why = "spells it ambiguously" if activation in self.target.ambiguous else "lacks it"
        self.note(layer, f"activation {activation} written as {', '.join(type(c).__name__ for c in configs)} layers "
                  f"({self.target.name} {why})")
        lowered = self.chain(layer, steps, taken)
        lowered[-1].activity_regularizer = layer.activity_regularizer
        return lowered

    def scaled_activation(self, layer: Layer, activation: str, scale: float) -> Layer:
        """``layer`` computing ``activation`` of its pre-activation times ``scale``, which its weights absorb."""
        self.note(layer, f"activation {layer.config.activation} ({ACTIVATIONS[layer.config.activation]}) written as "
                  f"{self.target.name}'s {self.target.activations[activation]!r} ({ACTIVATIONS[activation]}) on "
                  f"weights scaled by {scale:.6g}: the same function")
        weights = dict(layer.weights)
        for name in LINEAR_WEIGHTS[layer.kind]:
            if name in weights:
                weights[name] = _scale_columns(weights[name], 1, (0,), scale)
        return replace(layer, config=replace(layer.config, activation=activation), weights=weights)

    def gated_activation(self, layer: Layer, activation: str, taken: set[str]) -> list[Layer]:
        """``layer`` with a linear activation, then ``x * gate(x)`` as an Activation and a Multiply."""
        gate = GATED_ACTIVATIONS[activation]
        if layer.kind == "Activation":
            steps: list[tuple[str, LayerConfig, dict[str, Weight], Callable]] = [
                ("gate", core.Activation(activation=gate), {}, layer_inputs),
                ("gated", merge.Multiply(), {}, lambda ref, call: [*call.inputs, ref("gate")])]
        else:
            steps = [("linear", replace(layer.config, activation="linear"), layer.weights, layer_inputs),
                     ("gate", core.Activation(activation=gate), {}, after("linear")),
                     ("gated", merge.Multiply(), {}, after("linear", "gate"))]
        self.note(layer, f"activation {activation} ({ACTIVATIONS[activation]}) written as an Activation({gate}) "
                  f"gate and a Multiply ({self.target.name} lacks it)")
        lowered = self.chain(layer, steps, taken)
        lowered[-1].activity_regularizer = layer.activity_regularizer
        return lowered

    # -- inside recurrent cells and wrappers ---------------------------------------------------------

    def recurrent(self, layer: Layer) -> Layer:
        c = layer.config
        if not self.target.has(c.activation) and c.activation in ACTIVATION_LAYERS:
            raise layer.context_error(IncompatibleKerasConfigurationException(
                f"a recurrent layer's activation {c.activation} cannot be expressed in {self.target.name}",
                key="activation"))
        gate = getattr(c, "recurrent_activation", None)
        if gate is None or self.target.has(gate):
            return layer
        for (have, want), scale in GATE_SCALES.items():
            if gate == have and self.target.has(want):
                self.note(layer, f"recurrent_activation {have} ({ACTIVATIONS[have]}) written as "
                          f"{self.target.name}'s {self.target.activations[want]!r} ({ACTIVATIONS[want]}) on gate "
                          f"weights scaled by {scale:.6g}: the same function")
                return replace(layer, config=replace(c, recurrent_activation=want),
                               weights=_scaled_gates(layer, scale))
        if gate in self.target.ambiguous:
            self.ctx.note("approximated", self.target.ambiguous[gate], layer=layer.name, key="recurrent_activation",
                          severity="warning")
        return layer

    def wrapper(self, layer: Layer) -> Layer:
        subs = {id(sub): self.recurrent(sub) if sub.kind in GATES or sub.kind == "SimpleRNN" else sub
                for sub in layer.sublayers()}
        if all(subs[id(s)] is s for s in layer.sublayers()):
            return layer
        c = layer.config
        if layer.kind == "Bidirectional":
            return replace(layer, config=replace(c, forward=subs[id(c.forward)], backward=subs[id(c.backward)]))
        return replace(layer, config=replace(c, layer=subs[id(c.layer)]))

    def note(self, layer: Layer, message: str) -> None:
        self.ctx.note("rewritten", message, layer=layer.name)


def _scaled_gates(layer: Layer, scale: float) -> dict[str, Weight]:
    """The layer's weights with the columns of the gates using recurrent_activation multiplied."""
    blocks, gates = GATES[layer.kind]
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


#: IR kinds written as compositions of modern layers, whatever the target
COMPOSITIONS: dict[str, Callable[[Lowering, Layer, set[str]], list[Layer]]] = {
    "Highway": Lowering.highway, "MaxoutDense": Lowering.maxout,
    "ParametricSoftplus": Lowering.parametric_softplus, "SReLU": Lowering.srelu,
}


@dataclass(frozen=True)
class _Units:
    """The units of a per-unit layer: per-unit weights broadcast to ``shape``, then flattened."""

    shape: tuple[int, ...]

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


def layer_inputs(ref: Callable[[str], TensorRef], call: Call) -> list[TensorRef]:
    """A chain step fed what the replaced layer was fed."""
    return list(call.inputs)


def after(*steps: str) -> Callable[[Callable[[str], TensorRef], Call], list[TensorRef]]:
    """A chain step fed the outputs of earlier steps."""
    return lambda ref, call: [ref(step) for step in steps]


def _mapped_call(call: Call, mapping: Callable[[TensorRef], TensorRef]) -> Call:
    return Call([mapping(r) for r in call.inputs], map_refs(call.kwargs, mapping))


def _rewired(layer: Layer, moved: dict[TensorRef, TensorRef]) -> Layer:
    """``layer`` reading the tensors of inlined models where they are computed now."""
    if not any(ref in moved for call in layer.calls for ref in call.refs()):
        return layer
    return replace(layer, calls=[_mapped_call(call, lambda r: moved.get(r, r)) for call in layer.calls])


def _units(weight: Weight) -> int:
    return weight.shape[-1]

