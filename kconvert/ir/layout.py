"""The layout rewrite: a channels_first model as an equivalent channels_last one.

TensorFlow runs channels_first convolutions on the CPU only where oneDNN is enabled, so a Theano-era
or channels_first model cannot run in Keras 3 on most CPUs; TF.js and DL4J also prefer one layout.
This pass rewrites every channels_first layer to channels_last and proves nothing else changes by
construction: each tensor of the rewritten graph holds a tensor of the source graph in a known
:class:`Layout` (its axes permuted, or permuted and then flattened), and each layer kind has a rule
saying which layouts it can consume as they are and which layouts it then produces.  Where a rule
cannot take the layout it is given, the tensor is brought into the one it needs by inserted
``Permute`` (and ``Reshape``) layers -- the exact rewrite of last resort.

Weights follow the layouts: a Dense layer after a Flatten of a permuted image gets its kernel rows
permuted (the classic Theano-to-TensorFlow fix), per-unit PReLU parameters are transposed, and
normalisation parameters over flattened features are permuted.  The model's inputs and outputs
keep their layout unless ``io="channels_last"`` asks for channels-last image inputs and outputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from kconvert.ir.graph import Call, Layer, Model, ShapeMap, TensorRef, fresh_name, map_refs
from kconvert.ir.layer import LayerConfig, kinds_where
from kconvert.ir.layers import core
from kconvert.ir.layers.conv import LocallyConnected
from kconvert.ir.layers.merge import Concatenate
from kconvert.ir.report import Report
from kconvert.ir.shapes import Shape, norm_axis
from kconvert.ir.weights import Weight
from kconvert.rewrite.rules import RuleBook, Site

Perm = tuple[int, ...]
IO = Literal["original", "channels_last"]


# -- layouts ----------------------------------------------------------------------------------------

def identity(rank: int) -> Perm:
    return tuple(range(rank))


def channels_last(rank: int) -> Perm:
    """The axes of a channels_first tensor in channels_last order: (batch, spatial..., channels)."""
    return (0, *range(2, rank), 1) if rank > 2 else identity(rank)


def inverse(perm: Perm) -> Perm:
    return tuple(int(i) for i in np.argsort(perm))


def compose(first: Perm, then: Perm) -> Perm:
    """The permutation ``x.transpose(first).transpose(then)`` applies."""
    return tuple(first[i] for i in then)


@dataclass(frozen=True)
class Layout:
    """How a tensor of the rewritten graph holds a tensor of the source graph.

    ``perm``: the rewritten tensor is ``source.transpose(perm)`` (0-based axes, batch first and
    fixed).  With ``flattened`` -- the source tensor's non-batch shape before it was flattened --
    the rewritten tensor is that permuted tensor flattened: a (batch, features) tensor whose
    features are the source's in another order.
    """

    perm: Perm
    flattened: tuple[int, ...] | None = None

    @staticmethod
    def of_rank(rank: int) -> "Layout":
        return Layout(identity(rank))

    @property
    def is_identity(self) -> bool:
        return self.perm == identity(len(self.perm))

    @property
    def rank(self) -> int:
        """The rank of the tensor laid out this way (the source's, unless flattened)."""
        return 2 if self.flattened is not None else len(self.perm)

    def axis(self, axis: int) -> int:
        """Where source axis ``axis`` is in an (unflattened) tensor laid out this way."""
        return self.perm.index(norm_axis(axis, len(self.perm)))

    def axis_value(self, axis: int) -> int:
        """:meth:`axis` written as Keras writes axes: -1 for the last one."""
        moved = self.axis(axis)
        return -1 if moved == len(self.perm) - 1 else moved

    def keeps_last_axis(self) -> bool:
        return self.flattened is not None or self.perm[-1] == len(self.perm) - 1

    def gather(self) -> np.ndarray:
        """For a flattened layout: ``rewritten[:, j] == source[:, gather[j]]``."""
        assert self.flattened is not None
        source = np.arange(int(np.prod(self.flattened))).reshape(self.flattened)
        return source.transpose([p - 1 for p in self.perm[1:]]).ravel()

    def permuted_shape(self, shape: Sequence[Any]) -> tuple[Any, ...]:
        """A source shape (batch included) laid out this way, before any flattening."""
        return tuple(shape[p] for p in self.perm)

    def __str__(self) -> str:
        text = "(" + ", ".join(str(p) for p in self.perm) + ")"
        return f"flatten{text}" if self.flattened is not None else text


@dataclass
class Decision:
    """What a rule makes of a layer: its rewritten configuration and weights, the layouts its inputs
    must be brought to, and the layouts of its outputs.  ``note`` says what changed beyond the
    layout attributes (a weight permutation), for the report."""

    config: LayerConfig
    inputs: list[Layout]
    outputs: list[Layout]
    weights: dict[str, Weight] | None = None
    note: str | None = None
    #: a layer applied to all the rewritten layer's outputs, giving the one output of the source layer
    after: LayerConfig | None = None

    def applied_to(self, layer: Layer) -> Layer:
        """``layer`` with this decision's configuration and weights."""
        return replace(layer, config=self.config, weights=layer.weights if self.weights is None else self.weights)


@dataclass
class LayoutSite(Site):
    """A layer as a layout rule sees it, at one call: also the layouts its inputs arrive in."""

    given: list[Layout]
    relayout: Callable[[Model], Model]  # the pass itself, for nested models

    @staticmethod
    def at(layer: Layer, given: list[Layout], inputs: list[Shape], relayout: Callable[[Model], Model]) -> "LayoutSite":
        return LayoutSite(layer, [inputs], "the channels_last layout", given, relayout)

    def keep(self) -> Decision:
        """The layer as it is, on inputs and outputs in their source layout."""
        return Decision(self.config, [Layout.of_rank(len(s)) for s in self.inputs],
                        [Layout.of_rank(len(s)) for s in self.outputs])

    def passing(self, layout: Layout, config: LayerConfig | None = None, **changes: Any) -> Decision:
        """Every input taken and every output produced in ``layout``."""
        return Decision(config or self.config, [layout] * len(self.inputs), [layout] * len(self.outputs), **changes)


#: per IR kind, the rule deciding how it is rewritten (None from a rule: keep the layer as it is)
LAYOUT_RULES: RuleBook[LayoutSite, Decision] = RuleBook("the channels_last layout")
rule = LAYOUT_RULES.rule


def data_format(layer: Layer) -> str | None:
    """The activations' layout a layer (or the layer it wraps) works in; None for layers without one."""
    found = getattr(layer.config, "data_format", None)
    if found is None:
        found = next((f for f in (data_format(sub) for sub in layer.sublayers()) if f), None)
    return found


def _holds_channels_first(layer: Layer) -> bool:
    """Whether ``layer``, a layer it wraps or a layer of a nested model it is works channels_first."""
    inner = getattr(layer.config, "model", None)
    return data_format(layer) == "channels_first" or (
        isinstance(inner, Model) and any(_holds_channels_first(la) for la in inner.layers))


# -- the pass ---------------------------------------------------------------------------------------

def to_channels_last(model: Model, io: IO = "original") -> Model:
    """``model`` with every channels_first layer rewritten to channels_last, computing the same
    function.  The result's report says what was rewritten; ``model`` is left as it is.

    ``io="channels_last"`` also turns channels_first image inputs and outputs channels-last (a
    caller then feeds and receives channels-last arrays): each input for which that saves
    transposes, and each output the rewritten graph computes channels-last."""
    return _best(model, io).result()


def channels_last_io(model: Model) -> tuple[list[bool], list[bool]]:
    """Which inputs and outputs of ``model`` ``to_channels_last(model, io="channels_last")`` makes
    channels-last (their channel axis moved from 1 to the end)."""
    best = _best(model, "channels_last")
    return [ref.layer in best.seeded for ref in model.inputs], best.moved_outputs


def _best(model: Model, io: IO) -> "_Relayout":
    best = _Relayout(model, set()).run(io)
    if io == "channels_last":
        for ref in model.inputs:
            if len(model.shape_of(ref)) > 2:
                trial = _Relayout(model, best.seeded | {ref.layer}).run(io)
                if trial.inserted < best.inserted:
                    best = trial
    return best


class _Relayout:
    def __init__(self, model: Model, seeded: set[str]) -> None:
        self.source = model
        self.seeded = seeded  # input layers made channels-last
        self.shapes: ShapeMap = model.shapes()
        self.taken = {layer.name for layer in model.layers}
        self.layers: dict[str, Layer] = {}  # rewritten layers by name, in the order they appear
        self.tensors: dict[TensorRef, tuple[TensorRef, Layout]] = {}  # source tensor -> where, how
        self.views: dict[tuple[TensorRef, Layout], TensorRef] = {}  # (source tensor, layout) -> tensor
        self.decisions: dict[str, Decision] = {}
        self.inserted = 0
        self.report = Report()
        self.outputs: list[TensorRef] = []
        self.moved_outputs: list[bool] = []  # which outputs are channels-last (io="channels_last")
        self.rewritten: list[str] = []

    def run(self, io: IO) -> "_Relayout":
        # a layer called on inputs of different ranks keeps its source layout on every call
        mixed = {layer.name for layer in self.source.layers
                 if len({tuple(len(self.source.shape_of(r)) for r in call.inputs) for call in layer.calls}) > 1}
        for layer, node in self.source.nodes():
            if layer.kind == "InputLayer":
                self.input(layer)
            else:
                self.call(layer, node, keep=layer.name in mixed)
        for ref in self.source.outputs:
            layout = self.tensors[ref][1]
            moved = io == "channels_last" and layout.rank > 2 and layout == Layout(channels_last(layout.rank))
            self.moved_outputs.append(moved)
            self.outputs.append(self.view(ref, layout if moved else Layout.of_rank(layout.rank)))
        return self

    def call(self, layer: Layer, node: int, keep: bool) -> None:
        source_call = layer.calls[node]
        inputs = [self.source.shape_of(r) for r in source_call.inputs]
        site = LayoutSite.at(layer, [self.tensors[r][1] for r in source_call.inputs], inputs, to_channels_last)
        if layer.name not in self.layers:
            idle = all(g.is_identity for g in site.given) and not _holds_channels_first(layer)
            decision = None if keep or idle else LAYOUT_RULES.apply(site)
            if decision is not None:
                self.decisions[layer.name] = decision
                self.rewritten.append(layer.name)
                if decision.note:
                    self.report.add("info", "rewritten", decision.note, layer=layer.name)
            self.layers[layer.name] = replace(decision.applied_to(layer) if decision else layer, calls=[])
        decision = self.decisions.get(layer.name) or site.keep()
        rewritten = self.layers[layer.name]
        ins = [self.view(r, want) for r, want in zip(source_call.inputs, decision.inputs)]
        kwargs = map_refs(source_call.kwargs, lambda r: self.view(r, Layout.of_rank(len(self.source.shape_of(r)))))
        rewritten.calls.append(Call(ins, kwargs))
        given = [self.shape_in(r, want) for r, want in zip(source_call.inputs, decision.inputs)]
        node_now = len(rewritten.calls) - 1
        produced = [TensorRef(layer.name, node_now, i) for i in range(len(rewritten.config.output_shapes(given)))]
        if decision.after is not None:
            produced = [self.add(f"{layer.name}_{decision.after.kind.lower()}", decision.after, produced)]
        for i, (where, layout) in enumerate(zip(produced, decision.outputs)):
            self.tensors[TensorRef(layer.name, node, i)] = (where, layout)

    def input(self, layer: Layer) -> None:
        c = layer.config
        rank = len(c.batch_shape)
        layout = Layout(channels_last(rank)) if layer.name in self.seeded else Layout.of_rank(rank)
        shape = layout.permuted_shape(c.batch_shape)
        self.layers[layer.name] = layer if layout.is_identity else replace(layer, config=replace(c, batch_shape=shape))
        self.tensors[TensorRef(layer.name)] = (TensorRef(layer.name), layout)

    # -- bringing a tensor into a layout -------------------------------------------------------------

    def view(self, ref: TensorRef, want: Layout) -> TensorRef:
        """A tensor of the rewritten graph holding source tensor ``ref`` in layout ``want``."""
        where, have = self.tensors[ref]
        if have == want:
            return where
        if (ref, want) not in self.views:
            self.views[(ref, want)] = self.convert(ref, where, have, want)
        return self.views[(ref, want)]

    def convert(self, ref: TensorRef, where: TensorRef, have: Layout, want: Layout) -> TensorRef:
        if have.flattened is not None:  # unflatten, undo the permutation, flatten again
            unflat = have.permuted_shape((None, *have.flattened))[1:]
            where = self.insert(ref, "unflatten", core.Reshape(target_shape=tuple(unflat)), where)
            where = self.insert(ref, "permute", core.Permute(dims=inverse(have.perm)[1:]), where)
            where = self.insert(ref, "flatten", core.Flatten(), where)
            have = Layout.of_rank(2)
        if want.flattened is not None:
            if not have.is_identity:
                where = self.convert(ref, where, have, Layout.of_rank(2))
            where = self.insert(ref, "reshape", core.Reshape(target_shape=tuple(want.flattened)), where)
            where = self.insert(ref, "permute", core.Permute(dims=want.perm[1:]), where)
            return self.insert(ref, "flatten", core.Flatten(), where)
        if have.perm == want.perm:
            return where
        return self.insert(ref, "transpose", core.Permute(dims=compose(inverse(have.perm), want.perm)[1:]), where)

    def insert(self, ref: TensorRef, what: str, config: LayerConfig, where: TensorRef) -> TensorRef:
        return self.add(f"{ref.layer}_{what}", config, [where])

    def add(self, name: str, config: LayerConfig, inputs: list[TensorRef]) -> TensorRef:
        """A new layer without weights, called once on ``inputs``."""
        name = fresh_name(name, self.taken)
        self.layers[name] = Layer(name, config, calls=[Call(inputs)], trainable=False, source_class=config.kind)
        self.inserted += 1
        return TensorRef(name)

    def shape_in(self, ref: TensorRef, layout: Layout) -> Shape:
        """The shape of source tensor ``ref`` held in ``layout``."""
        if layout.flattened is not None:
            return self.source.shape_of(ref)
        return layout.permuted_shape(self.source.shape_of(ref))

    # -- the result ----------------------------------------------------------------------------------

    def result(self) -> Model:
        source = self.source
        if not self.rewritten and not self.inserted and not self.seeded:
            return source
        model = Model(source.name, list(self.layers.values()), list(source.inputs), self.outputs,
                      structure=source.structure, provenance=source.provenance, training=source.training,
                      input_structure=source.input_structure, output_structure=source.output_structure)
        if self.outputs != list(source.outputs):
            renamed = {a.layer: b.layer for a, b in zip(source.outputs, self.outputs) if a.layer != b.layer}
            if source.training is not None and renamed:
                model.training = source.training.renamed(renamed)
        model.validate()
        kinds = Counter(self.decisions[n].config.kind for n in self.rewritten)
        self.report.add("info", "rewritten", f"layout: {len(self.rewritten)} layer(s) rewritten to channels_last ("
                        + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + f"), {self.inserted} "
                        "Permute/Reshape layer(s) inserted to keep the function"
                        + (f"; inputs made channels-last: {', '.join(sorted(self.seeded))}" if self.seeded else ""))
        model.report.notes[:0] = self.report.notes
        return model


# -- rules --------------------------------------------------------------------------------------------

#: activations over the last axis, which a permutation moving that axis changes
_AXIS_ACTIVATIONS = frozenset({"softmax", "log_softmax"})


def _cf_to_cl(c: Any, inputs: Sequence[Shape],
              outputs: Sequence[Shape]) -> tuple[Any, list[Layout], list[Layout]] | None:
    if getattr(c, "data_format", None) != "channels_first" or getattr(c, "activation", None) in _AXIS_ACTIVATIONS:
        return None
    return (replace(c, data_format="channels_last"), [Layout(channels_last(len(s))) for s in inputs],
            [Layout(channels_last(len(s))) for s in outputs])


@rule(*kinds_where(lambda c: c.rank is not None and not c.recurrent))
def spatial(site: LayoutSite) -> Decision | None:
    """channels_first -> channels_last: the same window over the same spatial axes; kernels are
    stored spatial-first whatever the data format, so weights stay (except locally connected ones)."""
    found = _cf_to_cl(site.config, site.inputs, site.outputs)
    if found is None:
        return None
    config, inputs, outputs = found
    if isinstance(site.config, LocallyConnected):
        return Decision(config, inputs, outputs, _locally_connected_weights(site), "kernel windows and bias "
                        "reordered channels-last")
    return Decision(config, inputs, outputs)


def _locally_connected_weights(site: LayoutSite) -> dict[str, Weight]:
    """A locally connected kernel flattens each window in the activations' own axis order, and a
    channels_first bias holds (filters, positions...) in the memory of its (positions..., filters)."""
    weights = dict(site.layer.weights)
    window = tuple(site.config.kernel_size)
    if "kernel" in weights:
        kernel = weights["kernel"]
        positions, size, filters = kernel.shape
        order = (0, *range(2, 2 + len(window)), 1, 2 + len(window))
        weights["kernel"] = kernel.derive(
            lambda a: np.ascontiguousarray(a.reshape(positions, -1, *window, filters).transpose(order))
            .reshape(positions, size, filters), kernel.shape, "windows channels-last")
    if "bias" in weights:
        bias = weights["bias"]
        rank = len(bias.shape) - 1
        weights["bias"] = bias.derive(lambda a: np.ascontiguousarray(
            a.reshape(a.shape[-1], *a.shape[:-1]).transpose(*range(1, rank + 1), 0)), bias.shape, "bias channels-last")
    return weights


@rule("ConvLSTM2D")
def conv_lstm(site: LayoutSite) -> Decision | None:
    c = site.config
    if c.data_format != "channels_first" or len(site.inputs) > 1 or c.activation in _AXIS_ACTIVATIONS:
        return None  # initial states would need their own layout
    per_step = (0, 1, 3, 4, 2)
    state = Layout(channels_last(4))
    return Decision(replace(c, data_format="channels_last"), [Layout(per_step)],
                    [Layout(per_step) if c.return_sequences else state, *([state, state] if c.return_state else [])])


@rule("Flatten")
def flatten(site: LayoutSite) -> Decision | None:
    """Keras flattens a channels_first tensor in channels-last order: after the rewrite that is a
    plain flatten.  A plain flatten of a permuted tensor yields the source's features in another
    order, which the layers after it absorb (a Dense kernel's rows)."""
    c, given, shape = site.config, site.given[0], site.inputs[0]
    if c.data_format == "channels_first" and len(shape) > 2:
        return Decision(replace(c, data_format="channels_last"), [Layout(channels_last(len(shape)))],
                        [Layout.of_rank(2)])
    if given.flattened is not None or len(shape) == 2:
        return site.passing(given)
    if given.is_identity or any(d is None for d in shape[1:]):
        return None
    return Decision(c, [given], [Layout(given.perm, tuple(shape[1:]))])


@rule("Reshape")
def reshape(site: LayoutSite) -> Decision | None:
    """A reshape that keeps the channel axis first and regroups the spatial axes regroups them the
    same way channels-last; one to a single axis is a flatten."""
    c, given, shape, out = site.config, site.given[0], site.inputs[0], site.outputs[0]
    if given.flattened is not None or given.is_identity or any(d is None for d in (*shape[1:], *out[1:])):
        return None
    if len(out) == 2:
        return Decision(c, [given], [Layout(given.perm, tuple(shape[1:]))])
    if given.perm == channels_last(len(shape)) and len(out) > 2 and out[1] == shape[1]:
        return Decision(core.Reshape(target_shape=(*out[2:], out[1])), [given], [Layout(channels_last(len(out)))])
    return None


@rule("Permute")
def permute(site: LayoutSite) -> Decision | None:
    """Composed with the layout it is given; the output is in the source layout."""
    given = site.given[0]
    if given.flattened is not None or given.is_identity:
        return None
    dims = compose(inverse(given.perm), (0, *site.config.dims))
    return Decision(core.Permute(dims=dims[1:]), [given], [Layout.of_rank(len(site.outputs[0]))])


@rule(*kinds_where(lambda c: c.elementwise))
def elementwise(site: LayoutSite) -> Decision:
    return site.passing(site.given[0])


@rule("Activation")
def activation(site: LayoutSite) -> Decision | None:
    given = site.given[0]
    return site.passing(given) if site.config.activation not in _AXIS_ACTIVATIONS or given.keeps_last_axis() else None


@rule("Dropout", "AlphaDropout")
def dropout(site: LayoutSite) -> Decision | None:
    c, given = site.config, site.given[0]
    if c.noise_shape is None:
        return site.passing(given)
    if given.flattened is not None:
        return None
    return site.passing(given, replace(c, noise_shape=given.permuted_shape(c.noise_shape)))


@rule("Rescaling")
def rescaling(site: LayoutSite) -> Decision | None:
    """Per-channel factors apply to the last axis, which must stay last."""
    c, given = site.config, site.given[0]
    per_channel = isinstance(c.scale, tuple) or isinstance(c.offset, tuple)
    return site.passing(given) if not per_channel or (given.flattened is None and given.keeps_last_axis()) else None


@rule("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
def merge(site: LayoutSite) -> Decision | None:
    """Inputs of one rank, brought into the layout most of them have, merge in it."""
    layout = _common(site)
    return site.passing(layout) if layout is not None else None


@rule("Concatenate")
def concatenate(site: LayoutSite) -> Decision | None:
    layout = _common(site, flattened=False)
    if layout is None:
        return None
    return site.passing(layout, replace(site.config, axis=layout.axis_value(site.config.axis)))


def _common(site: Site, flattened: bool = True) -> Layout | None:
    ranks = {len(s) for s in site.inputs}
    candidates = [g for g in site.given if not g.is_identity and (flattened or g.flattened is None)]
    if len(ranks) != 1 or not candidates:
        return None
    return Counter(candidates).most_common(1)[0][0]


@rule("Softmax")
def softmax(site: LayoutSite) -> Decision | None:
    c, given = site.config, site.given[0]
    axes = c.axis if isinstance(c.axis, tuple) else (c.axis,)
    if given.flattened is not None:
        return site.passing(given) if all(norm_axis(a, 2) == 1 for a in axes) else None
    moved = tuple(given.axis_value(a) for a in axes)
    return site.passing(given, replace(c, axis=moved if isinstance(c.axis, tuple) else moved[0]))


@rule("BatchNormalization", "LayerNormalization")
def normalization(site: LayoutSite) -> Decision | None:
    """One normalised axis follows its permutation; over flattened features the parameters are
    permuted (a mean and variance over all features do not depend on their order)."""
    c, given = site.config, site.given[0]
    if len(c.axis) != 1:
        return None
    if given.flattened is not None:
        return _gathered(site, given, tuple(site.layer.weights), "parameters")
    return site.passing(given, replace(c, axis=(given.axis_value(c.axis[0]),)))


@rule("Dense")
def dense(site: LayoutSite) -> Decision | None:
    """Over flattened features, the kernel's rows follow them; over a permuted tensor whose last
    axis stays last, nothing changes."""
    given = site.given[0]
    if given.flattened is not None:
        decision = _gathered(site, given, ("kernel",), "kernel rows")
        decision.outputs = [Layout.of_rank(2)]
        return decision
    return site.passing(given) if given.keeps_last_axis() and not given.is_identity else None


def _gathered(site: LayoutSite, layout: Layout, names: Sequence[str], what: str) -> Decision:
    """``site``'s layer over features in ``layout``'s order: the named weights' first axis permuted."""
    index = layout.gather()
    weights = {name: w if name not in names else w.gather(index, "features reordered")
               for name, w in site.layer.weights.items()}
    return site.passing(layout, weights=weights,
                        note=f"{what} permuted to follow features flattened in channels-last order")


@rule("PReLU", "ParametricSoftplus", "SReLU")
def per_unit(site: LayoutSite) -> Decision | None:
    """Per-unit parameters are laid out like one sample of the input: they are permuted with it."""
    c, given = site.config, site.given[0]
    if given.flattened is not None:
        return _gathered(site, given, tuple(site.layer.weights), "per-unit parameters") if not c.shared_axes else None
    order = [p - 1 for p in given.perm[1:]]
    weights = {name: w.transpose(order) for name, w in site.layer.weights.items()}
    shared = tuple(sorted(given.axis(a) for a in c.shared_axes))
    return site.passing(given, replace(c, shared_axes=shared), weights=weights)


@rule("TimeDistributed")
def time_distributed(site: LayoutSite) -> Decision | None:
    """The wrapped layer's rule, on each time step: layouts that keep the time axis in place."""
    c, given = site.config, site.given[0]
    inner = c.layer
    if given.flattened is not None or given.perm[1] != 1:
        return None
    step = LayoutSite.at(inner, [Layout((0, *(p - 1 for p in given.perm[2:])))], [_step(site.inputs[0])],
                         site.relayout)
    found = LAYOUT_RULES.apply(step)
    if found is None or any(lay.flattened is not None for lay in (*found.inputs, *found.outputs)):
        return None
    layer = found.applied_to(inner)
    lift = lambda lay: Layout((0, 1, *(p + 1 for p in lay.perm[1:])))  # noqa: E731
    return Decision(replace(c, layer=layer), [lift(found.inputs[0])], [lift(found.outputs[0])], note=found.note)


def _step(shape: Shape) -> Shape:
    return (shape[0], *shape[2:])


@rule("Bidirectional")
def bidirectional(site: LayoutSite) -> Decision | None:
    """Both directions rewritten alike.  Keras concatenates them along the last axis, which the
    rewrite moves: such a layer returns both directions, and a Concatenate along that axis follows."""
    c = site.config
    if len(site.inputs) > 1:
        return None  # initial states would need their own layout
    found = [LAYOUT_RULES.apply(LayoutSite.at(sub, site.given, site.inputs, site.relayout))
             for sub in (c.forward, c.backward)]
    fw, bw = found
    if fw is None or bw is None or (fw.inputs, fw.outputs) != (bw.inputs, bw.outputs) or len(fw.outputs) != 1:
        return None
    layout = fw.outputs[0]
    config = replace(c, forward=fw.applied_to(c.forward), backward=bw.applied_to(c.backward))
    if c.merge_mode != "concat":
        return Decision(config, fw.inputs, [layout] * len(site.outputs))
    return Decision(replace(config, merge_mode=None), fw.inputs, [layout],
                    after=Concatenate(axis=layout.axis_value(-1)),
                    note="the directions are concatenated by a Concatenate layer after it, along the axis Keras "
                         "concatenates them on, which the rewrite moves")


@rule("Model")
def nested(site: LayoutSite) -> Decision | None:
    """A nested model is rewritten on its own, keeping its inputs' and outputs' layout."""
    inner = site.relayout(site.config.model)
    if inner is site.config.model:
        return None
    kept = site.keep()
    kept.config = replace(site.config, model=inner)
    return kept


__all__ = ["LAYOUT_RULES", "Layout", "channels_last", "channels_last_io", "data_format", "to_channels_last"]
