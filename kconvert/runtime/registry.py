"""The kernel registry: one TensorFlow function per IR layer kind.

A kernel receives an :class:`Invocation` (the layer, its input tensors and masks, call arguments and
access to its weights as tensors) and returns its output tensors.  How Keras masks flow through a
layer follows from the IR (:attr:`~kconvert.ir.layer.LayerConfig.passes_mask`) unless the registration
declares another rule (``mask=``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence, Union

from kconvert.ir.graph import Layer
from kconvert.registry import register_kinds
from kconvert.runtime.quiet_start import tf

if TYPE_CHECKING:
    from kconvert.runtime.executor import Executor

Mask = Union[tf.Tensor, None]
#: how output masks follow from input masks, where the IR's ``passes_mask`` does not say it (the first
#: input's mask on every output, or none): all -> the AND of the inputs' masks; custom -> the kernel
#: returns ``(outputs, masks)`` itself
MaskRule = Literal["all", "custom"]
KernelResult = Union[list[tf.Tensor], tuple[list[tf.Tensor], list[Mask]]]
KernelFn = Callable[["Invocation"], KernelResult]


@dataclass
class Invocation:
    """One call of one layer, as a kernel sees it."""

    layer: Layer
    inputs: list[tf.Tensor]
    masks: list[Mask]
    kwargs: dict[str, Any]
    executor: "Executor"

    @property
    def config(self) -> Any:
        return self.layer.config

    @property
    def x(self) -> tf.Tensor:
        return self.inputs[0]

    @property
    def mask(self) -> Mask:
        return self.masks[0] if self.masks else None

    @property
    def dtype(self) -> tf.DType:
        return self.executor.dtype

    def w(self, name: str) -> tf.Tensor:
        """A weight of this layer as a tensor in the compute dtype."""
        return self.executor.weight(self.layer.weights[name])

    def has(self, name: str) -> bool:
        return name in self.layer.weights

    def apply(self, layer: Layer, inputs: Sequence[tf.Tensor], masks: Sequence[Mask] | None = None,
              kwargs: dict[str, Any] | None = None) -> tuple[list[tf.Tensor], list[Mask]]:
        """Run another layer (a wrapped one) on tensors."""
        return self.executor.apply(layer, list(inputs), list(masks or [None] * len(inputs)), kwargs or {})


@dataclass(frozen=True)
class Kernel:
    fn: KernelFn
    mask: MaskRule | None = None
    integer_inputs: bool = False  # takes integer tensors as they are (Embedding); others get floats


KERNELS: dict[str, Kernel] = {}


def kernel(*kinds: str, mask: MaskRule | None = None, integer_inputs: bool = False) -> Callable[[KernelFn], KernelFn]:
    """Register a kernel for one or more IR layer kinds (refusing duplicates)."""
    def register(fn: KernelFn) -> KernelFn:
        register_kinds(KERNELS, kinds, Kernel(fn, mask, integer_inputs), "a runtime kernel")
        return fn
    return register
