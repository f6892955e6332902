"""The one rewrite API: rules registered per (pass, IR kind), each seeing a layer with its shapes.

Every pass that rewrites a model -- the lowering of each target (:mod:`kconvert.rewrite.lowering`)
and the channels-last layout pass (:mod:`kconvert.ir.layout`) -- keeps its rules in a
:class:`RuleBook`.  A rule receives a :class:`Site` (the layer and the shapes of its inputs and
outputs) and returns a typed result, or None when it does not apply.  A lowering rule returns a
:class:`Rewrite`: the :class:`Step` layers replacing the layer and the note the report carries.

A rule shared by several targets is written once (:mod:`kconvert.rewrite.compositions`) and
marked with :func:`rule`; each target's book includes the shared rules it opts in to.  A kind may
have several rules in one book, tried in the order they were added, the first that applies wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Layer
from kconvert.ir.layer import LayerConfig
from kconvert.ir.shapes import Shape
from kconvert.ir.weights import Weight

S = TypeVar("S", bound="Site")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

#: the kind a rule registered for every layer kind is filed under (tried after the kind's own rules)
ANY = "*"


@dataclass
class Site:
    """A layer as a rule sees it: its IR and the shapes of its inputs at each of its calls.

    ``target`` names what the layer is rewritten for; refusals name it.  A rewrite serves every
    call of the layer, so a rule reading :attr:`inputs` needs all calls to agree on them."""

    layer: Layer
    calls: list[list[Shape]]
    target: str

    @property
    def config(self) -> Any:
        return self.layer.config

    @property
    def kind(self) -> str:
        return self.layer.kind

    @cached_property
    def inputs(self) -> list[Shape]:
        """The shapes of the layer's inputs, the same at every call."""
        if any(shapes != self.calls[0] for shapes in self.calls[1:]):
            raise self.refuse(f"rewrites {self.kind} from its input shapes, and this layer's calls have different ones")
        return self.calls[0]

    @cached_property
    def outputs(self) -> list[Shape]:
        return self.config.output_shapes(self.inputs)

    @property
    def shape(self) -> Shape:
        """The shape of the (first) input."""
        return self.inputs[0]

    def refuse(self, reason: str, key: str | None = None) -> IncompatibleKerasConfigurationException:
        """The refusal of this layer: ``reason`` follows the target's name ("TF.js has no ...")."""
        return self.layer.context_error(IncompatibleKerasConfigurationException(  # type: ignore[return-value]
            f"{self.target} {reason}", key=key))

    def known(self, dims: Iterable[int | None], what: str) -> tuple[int, ...]:
        """``dims``, which the rewrite needs to know; refuses naming ``what`` where one is unknown."""
        dims = tuple(dims)
        if any(d is None for d in dims):
            raise self.refuse(f"needs a known {what} to write {self.kind} through a Reshape (got {dims})")
        return dims  # type: ignore[return-value]


# -- what a lowering rule returns ------------------------------------------------------------------

@dataclass(frozen=True)
class Arg:
    """The rewritten layer's input ``index``, as each of its calls gives it; ``index=None``: all of them."""

    index: int | None = None


#: all the rewritten layer's inputs, in order
ARGS = Arg()


@dataclass(frozen=True)
class Out:
    """The output of the earlier step named ``step``."""

    step: str


Source = Arg | Out


@dataclass(frozen=True)
class Step:
    """One layer of a rewrite, called once per call of the layer it replaces.

    ``inputs`` None: the previous step's output (the layer's own inputs for the first step).  A
    step whose ``weights`` are the replaced layer's own, or derived from them value for value
    (``keeps_settings``), keeps their training settings (initializers, regularizers)."""

    name: str
    config: LayerConfig
    weights: Mapping[str, Weight] = field(default_factory=dict)
    inputs: tuple[Source, ...] | None = None
    keeps_settings: bool = False


@dataclass(frozen=True)
class Rewrite:
    """The layers replacing a layer (the last takes its name, so references to it still hold),
    the note the report carries, and a training-only setting the rewrite drops, if any."""

    steps: tuple[Step, ...]
    note: str
    drops: str | None = None

    @staticmethod
    def to(config: LayerConfig, note: str, weights: Mapping[str, Weight] | None = None, *,
           inputs: tuple[Source, ...] | None = None, keeps_settings: bool = False,
           drops: str | None = None) -> "Rewrite":
        """The layer as one layer of another configuration (and weights: ``None`` keeps its own)."""
        return Rewrite((Step("", config, weights if weights is not None else _OWN, inputs, keeps_settings),),
                       note, drops)

    @staticmethod
    def chain(steps: Iterable[Step], note: str) -> "Rewrite":
        return Rewrite(tuple(steps), note)


#: "the replaced layer's own weights" (kept with their training settings)
_OWN: Mapping[str, Weight] = MappingProxyType({})


def owns(step: Step, layer: Layer) -> bool:
    """Whether ``step`` keeps ``layer``'s weights' training settings."""
    return step.keeps_settings or step.weights is _OWN or (step.weights is layer.weights and bool(layer.weights))


def weights_of(step: Step, layer: Layer) -> dict[str, Weight]:
    return dict(layer.weights) if step.weights is _OWN else dict(step.weights)


# -- registries ------------------------------------------------------------------------------------

def rule(*kinds: str, keeps_kind: bool = False) -> Callable[[F], F]:
    """Marks a shared rule with the kinds it rewrites; a :class:`RuleBook` that includes it files
    it under them.  ``keeps_kind``: the rule only changes settings of the layer (its kind stays)."""
    def mark(fn: F) -> F:
        fn.kinds = kinds  # type: ignore[attr-defined]
        fn.keeps_kind = keeps_kind  # type: ignore[attr-defined]
        return fn
    return mark


class RuleBook(Generic[S, R]):
    """The rules of one pass (a target's lowering, the layout pass), by IR kind."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._rules: dict[str, list[Callable[[S], R | None]]] = {}

    def rule(self, *kinds: str) -> Callable[[F], F]:
        """Decorator: the function is a rule of this book for ``kinds``."""
        def register(fn: F) -> F:
            self.add(fn, kinds)
            return fn
        return register

    def include(self, *rules: Callable[..., Any], kinds: Iterable[str] | None = None) -> None:
        """Adds shared rules (marked by :func:`rule`) under the kinds they are marked with, or
        only ``kinds`` of them."""
        for fn in rules:
            marked = fn.kinds  # type: ignore[attr-defined]
            if kinds is not None and not set(kinds) <= set(marked):
                raise TypeError(f"{fn.__name__} is not a rule for {sorted(set(kinds) - set(marked))}")
            self.add(fn, marked if kinds is None else kinds)

    def add(self, fn: Callable[[S], R | None], kinds: Iterable[str]) -> None:
        for kind in kinds:
            filed = self._rules.setdefault(kind, [])
            if fn in filed:
                raise TypeError(f"{fn.__name__} is already a rule of {self.name} for {kind!r}")
            filed.append(fn)

    def __contains__(self, kind: str) -> bool:
        return kind in self._rules

    def kinds(self) -> frozenset[str]:
        """The kinds a rule may replace by others (the coverage matrix reads this)."""
        return frozenset(k for k, fns in self._rules.items()
                         if k != ANY and any(not getattr(fn, "keeps_kind", False) for fn in fns))

    def apply(self, site: S) -> R | None:
        """The first result of ``site``'s kind's rules (then the rules for every kind), or None."""
        for fn in (*self._rules.get(site.kind, ()), *self._rules.get(ANY, ())):
            found = fn(site)
            if found is not None:
                return found
        return None
