"""Lazily read weight arrays in kconvert's canonical layout.

A :class:`Weight` knows its shape and dtype without holding its data: readers hand out weights
that read themselves from the source file on demand, and layout conversions (transposes, kernel
flips, gate reordering) are recorded as transformations applied at read time.  A writer streaming
a 500 MB model therefore holds one tensor at a time, never the whole model.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException, NonFiniteWeightWarning

Reader = Callable[[], np.ndarray]
_READ_HOOKS: list[Callable[[int], None]] = []


@contextmanager
def watching_reads(hook: Callable[[int], None]) -> Iterator[None]:
    """Call ``hook(nbytes)`` for every weight read from a file meanwhile (progress displays)."""
    _READ_HOOKS.append(hook)
    try:
        yield
    finally:
        _READ_HOOKS.remove(hook)


class Weight:
    """One weight tensor: shape and dtype known up front, data read on :meth:`numpy`."""

    __slots__ = ("shape", "dtype", "origin", "_read")

    def __init__(self, shape: Sequence[int], dtype: np.dtype | str, read: Reader, origin: str) -> None:
        self.shape: tuple[int, ...] = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.origin = origin  # where the data comes from, for error messages
        self._read = read

    @classmethod
    def from_file(cls, shape: Sequence[int], dtype: np.dtype | str, read: Reader, origin: str) -> "Weight":
        """A weight read from a model file: its data is checked for NaN/Inf when read (a warning),
        and its size reported to whoever watches reads (a progress display)."""
        def checked() -> np.ndarray:
            array = warn_if_not_finite(read(), origin)
            for hook in _READ_HOOKS:
                hook(array.nbytes)
            return array
        return cls(shape, dtype, checked, origin)

    @classmethod
    def of(cls, array: np.ndarray | Sequence, origin: str = "memory") -> "Weight":
        """A weight backed by an in-memory array (used by tests and by format writers)."""
        arr = np.asarray(array)
        return cls(arr.shape, arr.dtype, lambda: arr, origin)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def numpy(self) -> np.ndarray:
        """Read the data; the result is checked against the declared shape and dtype."""
        arr = np.asarray(self._read())
        if arr.shape != self.shape:
            raise IncompatibleKerasConfigurationException(
                f"weight data read from {self.origin} has shape {arr.shape}, expected {self.shape}"
            )
        if arr.dtype != self.dtype:
            arr = arr.astype(self.dtype)
        return arr

    # -- lazy layout conversions ---------------------------------------------------------------

    def derive(self, fn: Callable[[np.ndarray], np.ndarray], shape: Sequence[int], what: str) -> "Weight":
        """A new weight computed from this one by ``fn`` (applied at read time)."""
        source = self
        return Weight(shape, self.dtype, lambda: fn(source.numpy()), f"{self.origin} [{what}]")

    def transpose(self, axes: Sequence[int]) -> "Weight":
        axes = tuple(axes)
        return self.derive(lambda a: np.ascontiguousarray(a.transpose(axes)),
                           tuple(self.shape[i] for i in axes), f"transpose{axes}")

    def flip(self, axes: Sequence[int]) -> "Weight":
        """Reverse the given axes (converts a convolution kernel to a correlation kernel)."""
        axes = tuple(axes)
        return self.derive(lambda a: np.ascontiguousarray(np.flip(a, axes)), self.shape, f"flip{axes}")

    def reshape(self, shape: Sequence[int]) -> "Weight":
        shape = tuple(int(d) for d in shape)
        if int(np.prod(shape, dtype=np.int64)) != self.size:
            raise IncompatibleKerasConfigurationException(
                f"cannot reshape weight {self.origin} of shape {self.shape} to {shape}"
            )
        return self.derive(lambda a: a.reshape(shape), shape, f"reshape{shape}")

    def split(self, sections: int, axis: int = -1) -> list["Weight"]:
        """Split into equal sections along an axis (e.g. the gate blocks of an RNN kernel)."""
        axis = axis % len(self.shape)
        if self.shape[axis] % sections:
            raise IncompatibleKerasConfigurationException(
                f"weight {self.origin} of shape {self.shape} cannot be split into {sections} "
                f"equal parts along axis {axis}"
            )
        step = self.shape[axis] // sections
        shape = list(self.shape)
        shape[axis] = step
        parts = []
        for i in range(sections):
            index = tuple(slice(i * step, (i + 1) * step) if k == axis else slice(None)
                          for k in range(len(self.shape)))
            parts.append(self.derive(lambda a, ix=index: a[ix], shape, f"part {i + 1}/{sections}"))
        return parts

    @staticmethod
    def concat(weights: Sequence["Weight"], axis: int = -1) -> "Weight":
        """Concatenate weights (e.g. Keras 1 per-gate matrices into one fused kernel)."""
        first = weights[0]
        axis = axis % len(first.shape)
        for w in weights[1:]:
            if len(w.shape) != len(first.shape) or any(
                a != b for k, (a, b) in enumerate(zip(w.shape, first.shape)) if k != axis
            ):
                raise IncompatibleKerasConfigurationException(
                    f"cannot concatenate weights of shapes {first.shape} ({first.origin}) and "
                    f"{w.shape} ({w.origin})"
                )
        shape = list(first.shape)
        shape[axis] = sum(w.shape[axis] for w in weights)
        dtype = np.result_type(*(w.dtype for w in weights))
        parts = list(weights)
        return Weight(shape, dtype, lambda: np.concatenate([w.numpy() for w in parts], axis=axis),
                      " + ".join(w.origin for w in parts))

    def __repr__(self) -> str:
        return f"Weight(shape={self.shape}, dtype={self.dtype}, origin={self.origin!r})"


def warn_if_not_finite(array: np.ndarray, origin: str) -> np.ndarray:
    """``array``, after warning (:class:`NonFiniteWeightWarning`) if it holds NaN or infinities."""
    array = np.asarray(array)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        nan = int(np.isnan(array).sum())
        warnings.warn(f"{origin}: {nan} NaN and {int(np.isinf(array).sum())} infinite value(s) among "
                      f"{array.size} weights", NonFiniteWeightWarning, stacklevel=3)
    return array
