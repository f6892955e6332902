"""Lowering: an IR model rewritten into layers a target expresses, computing the same function.

Each target says what it expresses in one :class:`Target`: its activation names, the kinds it
lacks, whether it holds nested models, and its :class:`~kconvert.rewrite.rules.RuleBook` -- its
own rules and the shared compositions it opts in to (:mod:`kconvert.rewrite.compositions`).
Lowering applies the book to every layer; a rule's :class:`~kconvert.rewrite.rules.Rewrite`
replaces the layer by its steps.  What no rule rewrites is left to the target's emitter, which
refuses what it cannot write: a fact lives in the rule or in the refusal, never in both.

Nested models are inlined for a target that cannot hold them: the inner layers join the outer
graph, called once per call of the nested model (so a model used twice stays shared).  A target whose
layers each run once has every shared layer written as one copy per call (:mod:`kconvert.rewrite.unshare`).

The source model is left as it is: lowering returns a new model that shares untouched layers.
A layer replaced by steps hands its name to the last one, so graph references, output names and
training settings keyed by output keep pointing at the same tensor.  Lowering runs in passes until
nothing changes, so a rule may produce layers that are rewritten in turn, each with the shapes of
the graph it sits in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from kconvert.errors import IncompatibleKerasConfigurationException, UnsupportedKerasConfigurationException
from kconvert.ir.graph import Call, Layer, Model, ShapeMap, TensorRef, fresh_name, map_refs
from kconvert.ir.layers.model import NestedModel
from kconvert.ir.weights import Weight
from kconvert.rewrite.rules import Out, Rewrite, RuleBook, Site, Step, owns, weights_of
from kconvert.rewrite.unshare import unshared
from kconvert.writers.context import WriteContext

#: passes after which lowering gives up (a rewrite that never settles is a bug)
_MAX_PASSES = 16


@dataclass(frozen=True)
class Target:
    """What a target expresses: its activation names (IR name -> its name), those it spells
    ambiguously (each with the warning to give when one cannot be avoided), the IR kinds it lacks
    that no rule rewrites (each with why, or "" where its refusal needs no more), why it inlines
    nested models (None: it holds them), why it writes a layer called several times as one copy per
    call (None: it shares layers), its rules, and whether it makes each layer's weights from the
    shapes of the layer's inputs when it builds the model (Keras, TF.js: they must then be known)."""

    name: str
    activations: Mapping[str, str]
    rules: RuleBook["TargetSite", Rewrite]
    ambiguous: Mapping[str, str] = field(default_factory=dict)
    lacks: Mapping[str, str] = field(default_factory=dict)
    inlines_models: str | None = None
    unshares_layers: str | None = None
    sized_weights: bool = False

    def has(self, activation: str) -> bool:
        return activation in self.activations and activation not in self.ambiguous

    def rewritten_kinds(self) -> frozenset[str]:
        """The IR kinds lowering may replace by others (the coverage matrix reads this)."""
        return self.rules.kinds() | ({"Model"} if self.inlines_models else set())


@dataclass
class TargetSite(Site):
    """A layer being lowered: the target's facts and the write's report are at hand."""

    spec: Target
    ctx: WriteContext

    @property
    def has_weights(self) -> bool:
        """Whether the layer has weights to rewrite from: loaded, or stand-ins for a configuration
        written alone (read only where its input shapes are needed)."""
        return bool(self.layer.weights) or self.ctx.config_only

    @property
    def weights(self) -> dict[str, Weight]:
        """The layer's weights, for a rewrite built from them (shape-only stand-ins where the configuration
        alone is written); refused where the model has none loaded."""
        if self.layer.weights:
            return self.layer.weights
        weights = self.ctx.weights(self.layer, self.inputs)
        if not weights and self.config.weight_shapes(self.inputs):
            raise self.layer.context_error(IncompatibleKerasConfigurationException(
                f"{self.kind} is rewritten for {self.target} from its weights, and the model has none loaded: load "
                "the weights with the configuration"))
        return weights


def lower(model: Model, target: Target, ctx: WriteContext) -> Model:
    """``model`` with every layer ``target``'s rules rewrite replaced (see module docstring)."""
    for _ in range(_MAX_PASSES):
        lowered = _Lowering(target, ctx).model(model)
        if lowered is model:
            if target.sized_weights:
                _check_sized(model, target)
            return unshared(model, target.unshares_layers, ctx) if target.unshares_layers else model
        model = lowered
    raise RuntimeError(f"lowering for {target.name} did not settle after {_MAX_PASSES} passes")


def _check_sized(model: Model, target: Target) -> None:
    """Refuse a layer whose weights' shapes follow from an input size the model does not know (a
    DL4J network need not record its input's height and width), asking for the input's shape."""
    shapes = model.shapes()
    for layer in model.layers:
        for call in layer.calls[:1]:
            inputs = [shapes[(r.layer, r.node)][r.index] for r in call.inputs]
            unknown = [name for name, shape in layer.config.weight_shapes(inputs).items() if None in shape]
            if unknown:
                names = ", ".join(f"'{ref.layer}' {ref_shape[1:]}" for ref, ref_shape in
                                  zip(model.inputs, model.input_shapes))
                raise layer.context_error(IncompatibleKerasConfigurationException(
                    f"{target.name} makes its weights {unknown} from the size of its input "
                    f"{', '.join(str(s) for s in inputs)}, which the model does not know: give the model's input "
                    f"shape (inputs {names}; kconvert --input-shape NAME=D1,D2,..., or kconvert.load(..., "
                    "input_shapes={NAME: (D1, D2, ...)}), batch left out)"))


def site_of(layer: Layer, shapes: ShapeMap, target: Target, ctx: WriteContext) -> TargetSite:
    """``layer`` as ``target``'s rules see it, with its input shapes from ``shapes``."""
    calls = [[shapes[(r.layer, r.node)][r.index] for r in call.inputs] for call in layer.calls]
    return TargetSite(layer, calls, target.name, target, ctx)


class _Lowering:
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
                layers.extend(self.inline(layer, taken, moved))
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
                        provenance=model.provenance, training=training, input_structure=model.input_structure,
                        output_structure=model.output_structure)  # the source keeps its files
        lowered.validate()
        return lowered

    def layer(self, layer: Layer, taken: set[str]) -> list[Layer]:
        c = layer.config
        if isinstance(c, NestedModel):
            inner = self.model(c.model)
            return [layer] if inner is c.model else [replace(layer, config=replace(c, model=inner))]
        site = site_of(layer, self.shapes, self.target, self.ctx)
        rewrite = self.target.rules.apply(site)
        if rewrite is None:
            return [layer]
        self.ctx.note("rewritten", rewrite.note, layer=layer.name)
        if rewrite.drops is not None:
            self.ctx.unsupported(UnsupportedKerasConfigurationException(rewrite.drops, layer=layer.name))
        return built(layer, rewrite.steps, taken)

    def inline(self, layer: Layer, taken: set[str], moved: dict[TensorRef, TensorRef]) -> list[Layer]:
        """The layers of nested model ``layer``, wired into the outer model; ``moved`` learns where
        each of its outputs is computed now."""
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
        self.ctx.note("rewritten", f"nested model {c.model.name!r} inlined ({self.target.inlines_models})",
                      layer=layer.name)
        return inlined


def built(layer: Layer, steps: tuple[Step, ...], taken: set[str]) -> list[Layer]:
    """The layers of ``steps``, each called once per call of ``layer``; the last takes its name (and
    keeps its other attributes), the others fresh names."""
    names: dict[str, str] = {}
    out: list[Layer] = []
    previous: str | None = None
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        name = layer.name if last else fresh_name(f"{layer.name}_{step.name}", taken)
        calls = [Call(_inputs(step, previous, names, n, call), dict(call.kwargs) if i == 0 else {})
                 for n, call in enumerate(layer.calls)]
        if step.name in names:
            raise ValueError(f"two steps named {step.name!r} in a rewrite of {layer.name!r}")
        names[step.name] = previous = name
        weights = weights_of(step, layer)
        settings = dict(layer.weight_settings) if owns(step, layer) else {}
        if last:
            out.append(replace(layer, config=step.config, weights=weights, calls=calls, weight_settings=settings))
        else:
            out.append(Layer(name, step.config, weights, calls, layer.trainable, layer.dtype,
                             source_class=layer.source_class or layer.kind, weight_settings=settings))
    return out


def _inputs(step: Step, previous: str | None, names: dict[str, str], n: int, call: Call) -> list[TensorRef]:
    """What ``step`` reads during call ``n`` (``call``) of the replaced layer; ``previous``: the
    layer of the step before it (None for the first)."""
    if step.inputs is None:
        return list(call.inputs) if previous is None else [TensorRef(previous, n)]
    out: list[TensorRef] = []
    for source in step.inputs:
        if isinstance(source, Out):
            out.append(TensorRef(names[source.step], n))
        elif source.index is None:
            out.extend(call.inputs)
        else:
            out.append(call.inputs[source.index])
    return out


def _mapped_call(call: Call, mapping: Callable[[TensorRef], TensorRef]) -> Call:
    return Call([mapping(r) for r in call.inputs], map_refs(call.kwargs, mapping))


def _rewired(layer: Layer, moved: dict[TensorRef, TensorRef]) -> Layer:
    """``layer`` reading the tensors of inlined models where they are computed now."""
    if not any(ref in moved for call in layer.calls for ref in call.refs()):
        return layer
    return replace(layer, calls=[_mapped_call(call, lambda r: moved.get(r, r)) for call in layer.calls])


__all__ = ["Target", "TargetSite", "lower", "site_of"]
