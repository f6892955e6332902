"""The model graph: layers, the calls that connect them, and the model that owns them.

The graph follows Keras's own shape so that every Keras model maps onto it without loss: a
:class:`Layer` owns its attributes and weights and may be *called* several times (a shared layer);
each :class:`Call` consumes tensors produced by earlier calls, addressed by :class:`TensorRef`
``(layer, call index, output index)``.  A nested model is a layer whose attributes hold a
:class:`Model`.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Literal, Sequence

from kconvert.errors import IncompatibleKerasConfigurationException, KConvertError
from kconvert.ir.layer import LayerConfig
from kconvert.ir.report import Provenance, Report
from kconvert.ir.shapes import Shape, ShapeError, shape_str
from kconvert.ir.structure import Structure, names as structure_names
from kconvert.ir.training import TrainingConfig
from kconvert.ir.values import Regularizer, WeightSettings
from kconvert.ir.weights import Weight


@dataclass(frozen=True)
class TensorRef:
    """Output ``index`` of call ``node`` of layer ``layer``."""

    layer: str
    node: int = 0
    index: int = 0

    def __str__(self) -> str:
        return self.layer + (f"[{self.node}]" if self.node else "") + (f".{self.index}" if self.index else "")


def refs_in(value: Any) -> Iterator[TensorRef]:
    """Every tensor reference inside a (possibly nested) call argument."""
    if isinstance(value, TensorRef):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from refs_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from refs_in(v)


@dataclass
class Call:
    """One application of a layer: its input tensors and extra call arguments.

    ``kwargs`` holds non-positional call arguments; values may be tensor references.  ``mask``
    says which padding mask the call receives: a reference (or a list, one per input), or None for
    no mask.  When ``mask`` is absent, the masks of the inputs flow in implicitly (Keras's
    automatic mask propagation).
    """

    inputs: list[TensorRef]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def refs(self) -> Iterator[TensorRef]:
        yield from self.inputs
        yield from refs_in(self.kwargs)


@dataclass(eq=False)
class Layer:
    """A layer instance: typed attributes, canonical weights (in the order of its kind's ``weight_shapes``,
    which :meth:`Model.validate` establishes), and the calls made to it."""

    name: str
    config: LayerConfig
    weights: dict[str, Weight] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    trainable: bool = True
    dtype: str = "float32"  # dtype policy name: float32, float16, mixed_float16, ...
    activity_regularizer: Regularizer | None = None
    #: training-only settings per canonical weight name (initializer, regularizer, constraint)
    weight_settings: dict[str, WeightSettings] = field(default_factory=dict)
    source_class: str | None = None  # the class name the source format used (e.g. Convolution2D)

    @property
    def kind(self) -> str:
        return self.config.kind

    def sublayers(self) -> tuple["Layer", ...]:
        return self.config.sublayers()

    def iter_weights(self, prefix: str = "") -> Iterator[tuple[str, Weight]]:
        """All weights of this layer and its sublayers as ``(path, weight)``."""
        for name, w in self.weights.items():
            yield prefix + name, w
        for sub in self.sublayers():
            yield from sub.iter_weights(f"{prefix}{sub.name}/")
        nested = getattr(self.config, "model", None)
        if isinstance(nested, Model):
            for layer in nested.layers:
                yield from layer.iter_weights(f"{prefix}{layer.name}/")

    def has_weights(self) -> bool:
        return next(self.iter_weights(), None) is not None

    def context_error(self, err: KConvertError) -> KConvertError:
        return err.with_context(layer=self.name, layer_class=self.source_class or self.kind)


ShapeMap = dict[tuple[str, int], list[Shape]]


@dataclass(eq=False)
class Model:
    """A model: layers in definition order, the graph's input and output tensors, and metadata."""

    name: str
    layers: list[Layer]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    structure: Literal["sequential", "functional"] = "functional"
    provenance: Provenance | None = None
    training: TrainingConfig | None = None
    report: Report = field(default_factory=Report)
    #: how Keras groups the inputs and outputs (dicts, nesting; ``ir/structure.py``); None: a plain list
    input_structure: Structure = None
    output_structure: Structure = None
    resources: list[Any] = field(default_factory=list, repr=False)  # open files, closed by close()
    _shapes: ShapeMap | None = field(default=None, init=False, repr=False)
    #: what kconvert.run compiled for this model, kept for its next call (kconvert/runtime/reuse.py)
    _runtimes: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    # -- lookup ----------------------------------------------------------------------------------

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def iter_layers(self, recursive: bool = True) -> Iterator[Layer]:
        """Layers in definition order; with ``recursive``, also wrapped layers and nested models'."""
        stack = list(reversed(self.layers))
        while stack:
            layer = stack.pop()
            yield layer
            if recursive:
                nested = getattr(layer.config, "model", None)
                children = list(layer.sublayers()) + (list(nested.layers) if isinstance(nested, Model) else [])
                stack.extend(reversed(children))

    def iter_weights(self) -> Iterator[tuple[str, Weight]]:
        for layer in self.layers:
            yield from layer.iter_weights(f"{layer.name}/")

    @property
    def has_weights(self) -> bool:
        return next(self.iter_weights(), None) is not None

    @property
    def lacks_weights(self) -> bool:
        """Whether the model needs weights it does not have (it was read from a configuration alone)."""
        return not self.has_weights and self.param_count() != 0

    @property
    def input_layers(self) -> list[Layer]:
        return [self.layer(ref.layer) for ref in self.inputs]

    @property
    def input_names(self) -> list[str]:
        """Each input's name: its key in the model's structure (dict inputs), else its layer's name."""
        keys = structure_names(self.input_structure, len(self.inputs))
        return [key or ref.layer for key, ref in zip(keys, self.inputs)]

    @property
    def output_names(self) -> list[str]:
        """Each output's name: its key in the model's structure (dict outputs), else its layer's name
        (with ``.N`` for a layer's output N > 0)."""
        keys = structure_names(self.output_structure, len(self.outputs))
        return [key or (r.layer if r.index == 0 else f"{r.layer}.{r.index}") for key, r in zip(keys, self.outputs)]

    # -- graph order and shapes -----------------------------------------------------------------

    def nodes(self) -> list[tuple[Layer, int]]:
        """Every (layer, call index) in a topological order, stable with respect to definition order."""
        return topological_nodes(self)

    def shapes(self) -> ShapeMap:
        """Output shapes of every call, inferred from the input layers' declared shapes (cached)."""
        if self._shapes is None:
            self._shapes = infer_shapes(self)
        return self._shapes

    def shape_of(self, ref: TensorRef) -> Shape:
        return self.shapes()[(ref.layer, ref.node)][ref.index]

    @property
    def input_shapes(self) -> list[Shape]:
        return [self.shape_of(r) for r in self.inputs]

    @property
    def output_shapes(self) -> list[Shape]:
        return [self.shape_of(r) for r in self.outputs]

    def call_input_shapes(self, layer: Layer, node: int) -> list[Shape]:
        return [self.shape_of(r) for r in layer.calls[node].inputs]

    def param_count(self, layer: Layer | None = None) -> int | None:
        """Number of scalar parameters of one layer (or the model); None if not determinable."""
        if layer is None:
            counts = [self.param_count(lay) for lay in self.layers]
            return None if any(c is None for c in counts) else sum(c for c in counts if c)
        return _param_count(layer, self.call_input_shapes(layer, 0) if layer.calls else None)

    # -- validation ----------------------------------------------------------------------------

    def validate(self, max_elements: int | None = None, max_rank: int | None = None) -> None:
        """Check the graph, infer every shape and check every weight against its expected shape.

        ``max_elements`` bounds every tensor a config declares (a weight, or one sample of a layer
        output): a few bytes of JSON can declare a kernel of 10^18 numbers that every consumer would
        try to allocate.  ``max_rank`` bounds the rank of every tensor the graph makes (nested
        models' included): a subscript of 20,000 ``None`` items is a rank no runtime holds."""
        self._shapes = None
        check_structure(self)
        shapes = self.shapes()
        check_tensor_shapes(self, shapes, max_elements, max_rank)
        check_model_weights(self, shapes, max_elements)

    # -- resources -----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the files the lazily read weights come from (the weights become unreadable) and
        what kconvert.run compiled (its copy of the weights)."""
        self._runtimes.clear()
        for res in self.resources:
            res.close()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _param_count(layer: Layer, inputs: list[Shape] | None) -> int | None:
    if layer.has_weights():
        return sum(w.size for _, w in layer.iter_weights())
    nested = getattr(layer.config, "model", None)
    if isinstance(nested, Model):
        return nested.param_count()
    if inputs is None:
        return None
    total = 0
    try:
        expected = list(layer.config.weight_shapes(inputs).values())
        for sub, sub_inputs in layer.config.sublayer_inputs(inputs):
            count = _param_count(sub, sub_inputs)
            if count is None:
                return None
            total += count
    except ShapeError:
        return None
    for shape in expected:
        if any(d is None for d in shape):
            return None
        n = 1
        for d in shape:
            n *= d  # type: ignore[operator]
        total += n
    return total


def _error(layer: Layer | None, message: str) -> KConvertError:
    err = IncompatibleKerasConfigurationException(message)
    return layer.context_error(err) if layer is not None else err


def check_structure(model: Model) -> None:
    """Unique names, resolvable references, inputs and outputs present, no cycles."""
    seen: dict[str, Layer] = {}
    for layer in model.layers:
        if layer.name in seen:
            raise _error(layer, f"duplicate layer name '{layer.name}' in model '{model.name}'")
        seen[layer.name] = layer
    if not model.inputs:
        raise _error(None, f"model '{model.name}' has no inputs")
    if not model.outputs:
        raise _error(None, f"model '{model.name}' has no outputs")

    def check_ref(ref: TensorRef, owner: Layer | None, what: str) -> None:
        target = seen.get(ref.layer)
        if target is None:
            raise _error(owner, f"{what} refers to unknown layer '{ref.layer}'")
        if not 0 <= ref.node < len(target.calls):
            raise _error(owner, f"{what} refers to call {ref.node} of layer '{ref.layer}', "
                                f"which is called {len(target.calls)} time(s)")
        if ref.index < 0:
            raise _error(owner, f"{what} has a negative tensor index")

    for layer in model.layers:
        for call in layer.calls:
            for ref in call.refs():
                check_ref(ref, layer, "an input")
    for ref in model.inputs:
        check_ref(ref, None, "a model input")
        if seen[ref.layer].kind != "InputLayer":
            raise _error(seen[ref.layer], f"a model input must be an InputLayer, not a {seen[ref.layer].kind} layer")
    for ref in model.outputs:
        check_ref(ref, None, "a model output")
    topological_nodes(model)
    for layer in model.layers:
        nested = getattr(layer.config, "model", None)
        if isinstance(nested, Model):
            try:
                check_structure(nested)
            except KConvertError as exc:
                raise layer.context_error(exc) from None


def map_refs(value: Any, mapping: Callable[[TensorRef], TensorRef]) -> Any:
    """A call argument with every tensor reference in it mapped."""
    if isinstance(value, TensorRef):
        return mapping(value)
    if isinstance(value, dict):
        return {k: map_refs(v, mapping) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(map_refs(v, mapping) for v in value)
    return value


def fresh_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name_1``, ``name_2``... whichever is not ``taken`` yet (it is then taken)."""
    candidate, n = name, 1
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def renamed(model: Model, names: dict[str, str]) -> Model:
    """``model`` with layers renamed (``names``: old -> new); references, outputs and per-output
    training settings follow.  The source model is left as it is."""
    def ref(r: TensorRef) -> TensorRef:
        return TensorRef(names.get(r.layer, r.layer), r.node, r.index)

    layers = [replace(layer, name=names.get(layer.name, layer.name),
                      calls=[Call([ref(r) for r in call.inputs], map_refs(call.kwargs, ref)) for call in layer.calls])
              for layer in model.layers]
    outputs = [ref(r) for r in model.outputs]
    training = model.training.renamed(names) if model.training is not None else None
    return Model(model.name, layers, [ref(r) for r in model.inputs], outputs, structure=model.structure,
                 provenance=model.provenance, training=training, report=model.report,
                 input_structure=model.input_structure, output_structure=model.output_structure)


def topological_nodes(model: Model) -> list[tuple[Layer, int]]:
    by_name = {layer.name: layer for layer in model.layers}
    keys = [(layer.name, i) for layer in model.layers for i in range(len(layer.calls))]
    position = {key: n for n, key in enumerate(keys)}
    deps: dict[tuple[str, int], set[tuple[str, int]]] = {}
    users: dict[tuple[str, int], list[tuple[str, int]]] = {k: [] for k in keys}
    for key in keys:
        call = by_name[key[0]].calls[key[1]]
        deps[key] = {(r.layer, r.node) for r in call.refs() if (r.layer, r.node) in position}
        for d in deps[key]:
            users[d].append(key)
    # always emit the ready call defined first, so that a definition order that is already
    # topological is kept as it is
    ready = [position[k] for k in keys if not deps[k]]
    heapq.heapify(ready)
    remaining = {k: len(v) for k, v in deps.items()}
    order: list[tuple[Layer, int]] = []
    while ready:
        key = keys[heapq.heappop(ready)]
        order.append((by_name[key[0]], key[1]))
        for user in users[key]:
            remaining[user] -= 1
            if remaining[user] == 0:
                heapq.heappush(ready, position[user])
    if len(order) != len(keys):
        stuck = [k[0] for k in keys if remaining[k] > 0]
        raise _error(by_name[stuck[0]], "the graph has a cycle through layers " + ", ".join(
            f"'{n}'" for n in dict.fromkeys(stuck)))
    return order


def infer_shapes(model: Model, input_shapes: Sequence[Shape] | None = None) -> ShapeMap:
    """Propagate shapes through the graph; ``input_shapes`` overrides the input layers' shapes."""
    shapes: ShapeMap = {}
    overrides = {}
    if input_shapes is not None:
        if len(input_shapes) != len(model.inputs):
            raise _error(None, f"model '{model.name}' takes {len(model.inputs)} inputs, "
                               f"got {len(input_shapes)}")
        overrides = {(r.layer, r.node): [tuple(s)] for r, s in zip(model.inputs, input_shapes)}
    for layer, node in model.nodes():
        key = (layer.name, node)
        shapes[key] = overrides[key] if key in overrides else call_shapes(layer, node, shapes)
    for ref in model.inputs:
        _produced(shapes, ref, None, f"model '{model.name}' input")
    for ref in model.outputs:
        _produced(shapes, ref, None, f"model '{model.name}' output")
    return shapes


def call_shapes(layer: Layer, node: int, shapes: ShapeMap) -> list[Shape]:
    """The output shapes of call ``node`` of ``layer``, from the shapes already in ``shapes``."""
    inputs = [_produced(shapes, ref, layer, "input") for ref in layer.calls[node].inputs]
    try:
        layer.config.check_arity(len(inputs))
        return layer.config.output_shapes(inputs)
    except ShapeError as exc:
        given = ", ".join(shape_str(s) for s in inputs) or "no inputs"
        raise _error(layer, f"cannot be applied to {given}: {exc}") from None


def _produced(shapes: ShapeMap, ref: TensorRef, owner: Layer | None, what: str) -> Shape:
    """The shape ``ref`` points at, or a typed error naming ``owner`` if it points at nothing."""
    produced = shapes.get((ref.layer, ref.node))
    if produced is None:
        raise _error(owner, f"{what} '{ref}' refers to a call that is not in the graph")
    if not 0 <= ref.index < len(produced):
        raise _error(owner, f"{what} '{ref}' asks for output {ref.index} of a call that produces {len(produced)}")
    return produced[ref.index]


def check_model_weights(model: Model, shapes: ShapeMap, max_elements: int | None = None) -> None:
    """Check the weights of every call of every layer against the shapes inferred for ``model``;
    a layer called more than once shares its weights, so every call must need the same shapes."""
    for layer in model.layers:
        first: dict[str, Shape] | None = None
        for call in layer.calls:
            inputs = [shapes[(r.layer, r.node)][r.index] for r in call.inputs]
            expected = check_weights(layer, inputs, max_elements)
            if first is not None and expected != first:
                raise _error(layer, "is called on inputs that need weights of different shapes ("
                             + ", ".join(f"{n} {shape_str(first[n]) if n in first else 'none'} and "
                                         f"{shape_str(s)}" for n, s in expected.items() if first.get(n) != s) + ")")
            first = expected


def check_weights(layer: Layer, inputs: list[Shape], max_elements: int | None = None) -> dict[str, Shape]:
    """Compare the weights bound to a layer (and its sublayers) with what its kind expects, and put
    them in the kind's canonical order (``weight_shapes``'), which writers storing weights by position
    (Keras) rely on; returns the shapes it expects."""
    try:
        expected = layer.config.weight_shapes(inputs)
        subs = layer.config.sublayer_inputs(inputs)
    except ShapeError as exc:
        raise _error(layer, str(exc)) from None
    if max_elements is not None:
        for name, shape in expected.items():
            _check_size(layer, "a weight", shape, max_elements, key=name)
    if layer.weights or (expected and layer.has_weights()):
        missing = [n for n in expected if n not in layer.weights]
        extra = [n for n in layer.weights if n not in expected]
        if missing or extra:
            raise _error(layer, "has weights " + _names(layer.weights) + " but its configuration "
                                "calls for " + _names(expected))
        for name, shape in expected.items():
            actual = layer.weights[name].shape
            if len(actual) != len(shape) or any(e is not None and e != a for e, a in zip(shape, actual)):
                raise _error(layer, f"weight '{name}' has shape {shape_str(actual)} but the layer "
                                    f"configuration and its input {', '.join(shape_str(s) for s in inputs)} "
                                    f"call for {shape_str(shape)}").with_context(key=name)
        if list(layer.weights) != list(expected):  # readers fill them in their format's order (DL4J: bias first)
            layer.weights = {name: layer.weights[name] for name in expected}
    nested = getattr(layer.config, "model", None)
    try:
        for sub, sub_inputs in subs:
            check_weights(sub, sub_inputs, max_elements)
        if isinstance(nested, Model):  # a nested model's layers own its weights
            inner = layer.config.conformed_inputs(inputs)  # type: ignore[attr-defined]
            check_model_weights(nested, infer_shapes(nested, inner), max_elements)
    except KConvertError as exc:
        raise layer.context_error(exc) from None
    return expected


def check_tensor_shapes(model: Model, shapes: ShapeMap, max_elements: int | None, max_rank: int | None) -> None:
    """Bound the size of one sample and the rank of every tensor ``model`` (and the models nested in
    it) makes, naming the layer that makes it."""
    for layer, node in model.nodes():
        for shape in shapes[(layer.name, node)]:
            if max_rank is not None and len(shape) > max_rank:
                raise _error(layer, f"makes a tensor of rank {len(shape)}, over the limit of {max_rank} "
                                    "(Limits.max_rank; raise it with --limit max_rank=N)")
            if max_elements is not None:
                _check_size(layer, "an output", shape, max_elements)
        nested = getattr(layer.config, "model", None)
        if isinstance(nested, Model):
            inputs = [shapes[(r.layer, r.node)][r.index] for r in layer.calls[node].inputs]
            inner = layer.config.conformed_inputs(inputs)  # type: ignore[attr-defined]
            try:
                check_tensor_shapes(nested, infer_shapes(nested, inner), max_elements, max_rank)
            except KConvertError as exc:
                raise layer.context_error(exc) from None


def _check_size(layer: Layer, what: str, shape: Shape, max_elements: int, key: str | None = None) -> None:
    elements = 1
    for d in shape:
        elements *= d or 1
    if elements > max_elements:
        err = _error(layer, f"{what} of shape {shape_str(shape)} would hold {elements:.3g} numbers, over the "
                            f"limit of {max_elements} (Limits.max_tensor_elements)")
        raise err.with_context(key=key) if key else err


def _names(names: Any) -> str:
    return "[" + ", ".join(names) + "]" if names else "none"
