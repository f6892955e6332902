"""Lazily read weight arrays in kconvert's canonical layout.

A :class:`Weight` knows its shape and dtype without holding its data: readers hand out weights
that read themselves from the source file on demand, and layout conversions (transposes, kernel
flips, gate reordering) are recorded as transformations applied at read time.  A writer streaming
a 500 MB model therefore holds one tensor at a time, never the whole model -- and, through
:meth:`Weight.iter_blocks`, not even one whole tensor: a weight read from a file reads any
hyperslab of itself (HDF5 ``dataset[i:j, ...]``), every built-in transformation maps a hyperslab of
its result to hyperslabs of its source, so a writer holds at most :data:`CHUNK_BYTES` of one tensor.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException, NonFiniteWeightWarning
from kconvert.ir.extent import RAW_BYTES, Extent

#: one step-1 slice per axis (explicit bounds): a hyperslab of a tensor
Index = tuple[slice, ...]
Reader = Callable[[], np.ndarray]
#: the hyperslab of a tensor at an index, read without reading the rest
Slicer = Callable[[Index], np.ndarray]
_READ_HOOKS: list[Callable[[int], None]] = []
#: the most bytes of one tensor a writer holds at a time (tests lower it to exercise the slicing)
CHUNK_BYTES = 8 * 2**20


@contextmanager
def watching_reads(hook: Callable[[int], None]) -> Iterator[None]:
    """Call ``hook(nbytes)`` for every weight read from a file meanwhile (progress displays)."""
    _READ_HOOKS.append(hook)
    try:
        yield
    finally:
        _READ_HOOKS.remove(hook)


class Weight:
    """One weight tensor: shape and dtype known up front, data read whole by :meth:`numpy` or in
    bounded pieces by :meth:`iter_blocks` / :meth:`iter_chunks`."""

    __slots__ = ("shape", "dtype", "origin", "_read", "_slicer", "_raw", "_transposed")

    def __init__(self, shape: Sequence[int], dtype: np.dtype | str, read: Reader, origin: str,
                 slicer: Slicer | None = None) -> None:
        self.shape: tuple[int, ...] = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.origin = origin  # where the data comes from, for error messages
        self._read = read
        self._slicer = slicer  # None: only whole reads (an arbitrary derive)
        self._raw: tuple[Extent, _ReadCheck] | None = None  # set by from_file: see iter_raw
        self._transposed = False  # a transposed matrix: see iter_tiles

    @classmethod
    def from_file(cls, shape: Sequence[int], dtype: np.dtype | str, read: Reader, origin: str,
                  slicer: Slicer | None = None, extent: Extent | None = None) -> "Weight":
        """A weight read from a model file, whole by ``read`` or by hyperslab by ``slicer``: its data
        is checked for NaN/Inf (one warning per complete read, whole or slice by slice), and its
        size reported to whoever watches reads (a progress display).  ``extent``: where the file
        holds the data as C-order bytes of ``dtype``, for :meth:`iter_raw`."""
        check = _ReadCheck(_prod(shape), origin)
        weight = cls(shape, dtype, lambda: check(read()), origin,
                     None if slicer is None else (lambda index: check(slicer(index))))
        if extent is not None:
            weight._raw = (extent, check)
        return weight

    @classmethod
    def of(cls, array: np.ndarray | Sequence, origin: str = "memory") -> "Weight":
        """A weight backed by an in-memory array (used by tests and by format writers)."""
        arr = np.asarray(array)
        return cls(arr.shape, arr.dtype, lambda: arr, origin, lambda index: arr[index])

    @classmethod
    def filled(cls, shape: Sequence[int], value: float, dtype: np.dtype | str, origin: str) -> "Weight":
        """A constant weight, allocated only as it is read."""
        return cls(shape, dtype, lambda: np.full(shape, value, dtype), origin,
                   lambda index: np.full(box_shape(index), value, dtype))

    @classmethod
    def absent(cls, shape: Sequence[int], dtype: np.dtype | str, origin: str,
               refusal: Callable[[], Exception]) -> "Weight":
        """A weight whose shape is known but whose data was never loaded (a model read from its
        configuration alone): a writer may state its shape; reading it raises ``refusal()``."""
        def refuse(*_: object) -> np.ndarray:
            raise refusal()
        return cls(shape, dtype, refuse, origin, refuse)

    @property
    def size(self) -> int:
        return _prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def sliceable(self) -> bool:
        """Whether :meth:`iter_blocks` reads hyperslabs (else it reads the tensor whole)."""
        return self._slicer is not None

    def numpy(self) -> np.ndarray:
        """Read the data; the result is checked against the declared shape and dtype."""
        return self._checked(self._read(), self.shape)

    def take(self, index: Index) -> np.ndarray:
        """The hyperslab at ``index`` (one step-1 slice per axis), read alone when the weight is
        sliceable, else cut from a whole read."""
        if self._slicer is None:
            return np.ascontiguousarray(self.numpy()[index])
        return self._checked(self._slicer(index), box_shape(index))

    def iter_blocks(self, max_bytes: int | None = None) -> Iterator[tuple[Index, np.ndarray]]:
        """``(index, block)`` hyperslabs covering the tensor in C order, each at most ``max_bytes``
        (default :data:`CHUNK_BYTES`) unless one element is larger; one whole block when the
        weight is not sliceable.  Nothing for an empty tensor."""
        if self.size == 0:
            return
        if self._slicer is None:
            yield tuple(slice(0, d) for d in self.shape), self.numpy()
            return
        for index in chunk_boxes(self.shape, self.dtype.itemsize, CHUNK_BYTES if max_bytes is None else max_bytes):
            yield index, self.take(index)

    def iter_tiles(self, max_bytes: int | None = None) -> Iterator[tuple[Index, np.ndarray]]:
        """``(index, block)`` hyperslabs covering the tensor, each at most ``max_bytes`` (default
        :data:`CHUNK_BYTES`), in the order and shape that read the source cheaply: near-square tiles
        of a transposed matrix (a C-order band of it is a narrow column band of its source, read a
        few hundred bytes per source row: VGG16's fc1 took 15x as long), :meth:`iter_blocks`'s bands
        otherwise.  A writer places each at its offsets (:func:`flat_runs`)."""
        if not self.tiled:
            yield from self.iter_blocks(max_bytes)
            return
        for index in tile_boxes(self.shape, self.dtype.itemsize, CHUNK_BYTES if max_bytes is None else max_bytes):
            yield index, self.take(index)

    @property
    def tiled(self) -> bool:
        """Whether :meth:`iter_tiles` reads tiles (of a matrix) rather than C-order bands."""
        return self._transposed and self.sliceable and self.size > 0

    def iter_chunks(self, max_bytes: int | None = None) -> Iterator[np.ndarray]:
        """The tensor's C-order flattened data in consecutive 1-D pieces (see :meth:`iter_blocks`)."""
        for _, block in self.iter_blocks(max_bytes):
            yield block.reshape(-1)

    @property
    def raw(self) -> bool:
        """Whether :meth:`iter_raw` can copy the data as its file stores it (a weight read from a
        file unchanged, stored there contiguously in :attr:`dtype`); derived weights cannot."""
        return self._raw is not None

    def iter_raw(self, max_bytes: int = RAW_BYTES) -> Iterator[np.ndarray]:
        """The data as :meth:`iter_chunks` gives it, read straight from the file's bytes into one
        reused buffer of ``max_bytes`` (each piece is valid until the next is asked for): what
        :meth:`iter_chunks` does without HDF5's slicing and an array per chunk, checked and reported
        the same way.  Only for a :attr:`raw` weight."""
        if self._raw is None:
            raise ValueError(f"weight {self.origin} is not stored as raw bytes in a file")
        extent, check = self._raw
        itemsize = self.dtype.itemsize
        buffer = np.empty(max(1, max_bytes // itemsize) * itemsize, np.uint8)
        for piece in extent.pieces(memoryview(buffer)):
            yield check(np.frombuffer(piece, self.dtype))

    def _checked(self, data: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        arr = np.asarray(data)
        if arr.shape != shape:
            raise IncompatibleKerasConfigurationException(
                f"weight data read from {self.origin} has shape {arr.shape}, expected {shape}"
            )
        if arr.dtype != self.dtype:
            arr = arr.astype(self.dtype)
        return arr

    # -- lazy layout conversions ---------------------------------------------------------------
    # Each maps a hyperslab of its result to hyperslabs of its source, so results stay sliceable.

    def derive(self, fn: Callable[[np.ndarray], np.ndarray], shape: Sequence[int], what: str,
               slicer: Slicer | None = None) -> "Weight":
        """A new weight computed from this one by ``fn`` (applied at read time); ``slicer`` reads
        a hyperslab of the result (without it, chunked reads fall back to whole reads)."""
        source = self
        return Weight(shape, self.dtype, lambda: fn(source.numpy()), f"{self.origin} [{what}]",
                      slicer if self.sliceable else None)

    def transpose(self, axes: Sequence[int]) -> "Weight":
        axes = tuple(axes)
        inverse = tuple(int(i) for i in np.argsort(axes))

        def part(index: Index) -> np.ndarray:
            return np.ascontiguousarray(self.take(tuple(index[k] for k in inverse)).transpose(axes))
        result = self.derive(lambda a: np.ascontiguousarray(a.transpose(axes)),
                             tuple(self.shape[i] for i in axes), f"transpose{axes}", part)
        result._transposed = axes == (1, 0)
        return result

    def flip(self, axes: Sequence[int]) -> "Weight":
        """Reverse the given axes (converts a convolution kernel to a correlation kernel)."""
        axes = tuple(axes)
        flipped = {a % len(self.shape) for a in axes}

        def part(index: Index) -> np.ndarray:
            mirrored = tuple(slice(n - s.stop, n - s.start) if k in flipped else s
                             for k, (s, n) in enumerate(zip(index, self.shape)))
            return np.ascontiguousarray(np.flip(self.take(mirrored), axes))
        return self.derive(lambda a: np.ascontiguousarray(np.flip(a, axes)), self.shape, f"flip{axes}", part)

    def reshape(self, shape: Sequence[int]) -> "Weight":
        shape = tuple(int(d) for d in shape)
        if _prod(shape) != self.size:
            raise IncompatibleKerasConfigurationException(
                f"cannot reshape weight {self.origin} of shape {self.shape} to {shape}"
            )

        def part(index: Index) -> np.ndarray:
            pieces = [self.take(box).reshape(-1) for start, stop in flat_runs(shape, index)
                      for box in flat_boxes(self.shape, start, stop)]
            return np.concatenate(pieces).reshape(box_shape(index))
        return self.derive(lambda a: a.reshape(shape), shape, f"reshape{shape}", part)

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
        return [self._section(axis, i * step, step, f"part {i + 1}/{sections}", shape) for i in range(sections)]

    def _section(self, axis: int, offset: int, length: int, what: str, shape: Sequence[int]) -> "Weight":
        """The ``length`` entries from ``offset`` along ``axis``."""
        whole = tuple(slice(offset, offset + length) if k == axis else slice(None) for k in range(len(self.shape)))

        def part(index: Index) -> np.ndarray:
            s = index[axis]
            return self.take(index[:axis] + (slice(offset + s.start, offset + s.stop),) + index[axis + 1:])
        return self.derive(lambda a: a[whole], shape, what, part)

    def gather(self, rows: Sequence[int] | np.ndarray, what: str) -> "Weight":
        """The rows (axis 0) ``rows`` names, in that order (features reordered); a hyperslab reads
        each run of consecutive source rows as one hyperslab."""
        rows = np.asarray(rows, dtype=np.int64)

        def part(index: Index) -> np.ndarray:
            wanted = rows[index[0]]
            runs = np.split(wanted, np.flatnonzero(np.diff(wanted) != 1) + 1)
            return np.concatenate([self.take((slice(int(r[0]), int(r[-1]) + 1), *index[1:])) for r in runs])
        return self.derive(lambda a: a[rows], (len(rows), *self.shape[1:]), what, part)

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
        offsets = np.cumsum([0] + [w.shape[axis] for w in parts]).tolist()

        def part(index: Index) -> np.ndarray:
            s = index[axis]
            pieces = [w.take(index[:axis] + (slice(max(s.start, lo) - lo, min(s.stop, hi) - lo),) + index[axis + 1:])
                      for w, lo, hi in zip(parts, offsets, offsets[1:]) if max(s.start, lo) < min(s.stop, hi)]
            return np.concatenate(pieces, axis=axis).astype(dtype, copy=False)
        return Weight(shape, dtype, lambda: np.concatenate([w.numpy() for w in parts], axis=axis),
                      " + ".join(w.origin for w in parts), part if all(w.sliceable for w in parts) else None)

    def __repr__(self) -> str:
        return f"Weight(shape={self.shape}, dtype={self.dtype}, origin={self.origin!r})"


class _ReadCheck:
    """Checks the data of one file-backed tensor as it is read: reports its size to the read
    hooks, and warns about NaN/Inf once per complete read, whether whole or slice by slice (the
    counts add up until the slices read cover the tensor)."""

    def __init__(self, size: int, origin: str) -> None:
        self.size = size
        self.origin = origin
        self.seen = self.nan = self.inf = 0

    def __call__(self, data: np.ndarray) -> np.ndarray:
        array = np.asarray(data)
        for hook in _READ_HOOKS:
            hook(array.nbytes)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            self.nan += int(np.isnan(array).sum())
            self.inf += int(np.isinf(array).sum())
        self.seen += array.size
        if self.seen >= self.size:
            if self.nan or self.inf:
                _warn_not_finite(self.origin, self.nan, self.inf, self.size)
            self.seen = self.nan = self.inf = 0
        return array


# -- hyperslab arithmetic ----------------------------------------------------------------------------

def box_shape(index: Index) -> tuple[int, ...]:
    """The shape of the hyperslab ``index``."""
    return tuple(int(s.stop) - int(s.start) for s in index)


def chunk_boxes(shape: Sequence[int], itemsize: int, max_bytes: int) -> Iterator[Index]:
    """Hyperslabs of at most ``max_bytes`` (one element at least) covering ``shape`` in C order,
    each contiguous in the flattened tensor: ranges along the outermost axis whose one step fits,
    at every position of the axes before it."""
    shape = tuple(shape)
    if not shape:
        yield ()
        return
    axis = next(k for k in range(len(shape))
                if k == len(shape) - 1 or itemsize * _prod(shape[k + 1:]) <= max_bytes)
    step = max(1, max_bytes // (itemsize * _prod(shape[axis + 1:])))
    tail = tuple(slice(0, d) for d in shape[axis + 1:])
    for outer in np.ndindex(*shape[:axis]):
        head = tuple(slice(i, i + 1) for i in outer)
        for start in range(0, shape[axis], step):
            yield (*head, slice(start, min(start + step, shape[axis])), *tail)


def tile_boxes(shape: Sequence[int], itemsize: int, max_bytes: int) -> Iterator[Index]:
    """Tiles of at most ``max_bytes`` (one element at least) covering a matrix: as square as its
    sides allow, so that the rows of a tile and of its transpose are both long; row by row of tiles."""
    rows, cols = (int(d) for d in shape)
    budget = max(1, max_bytes // itemsize)
    width = min(cols, max(1, math.isqrt(budget)))
    height = min(rows, max(1, budget // width))
    for r in range(0, rows, height):
        for c in range(0, cols, width):
            yield slice(r, min(r + height, rows)), slice(c, min(c + width, cols))


def flat_runs(shape: Sequence[int], index: Index) -> Iterator[tuple[int, int]]:
    """The hyperslab ``index`` of ``shape`` as ``[start, stop)`` ranges of the C-order flattened
    tensor, in order."""
    full = len(shape)  # axes from here on are taken whole
    while full and index[full - 1].start == 0 and index[full - 1].stop == shape[full - 1]:
        full -= 1
    if not full:
        yield 0, _prod(shape)
        return
    axis = full - 1
    strides = [_prod(shape[k + 1:]) for k in range(len(shape))]
    for outer in np.ndindex(*box_shape(index[:axis])):
        base = sum((index[k].start + i) * strides[k] for k, i in enumerate(outer))
        yield base + index[axis].start * strides[axis], base + index[axis].stop * strides[axis]


def flat_boxes(shape: Sequence[int], start: int, stop: int) -> Iterator[Index]:
    """The C-order flat range ``[start, stop)`` of ``shape`` as hyperslabs, in order: a partial
    leading row, whole rows, a partial trailing row (the partial rows split the same way)."""
    if start >= stop:
        return
    if not shape:
        yield ()
        return
    rest = tuple(shape[1:])
    inner = _prod(rest)
    first, last = -(-start // inner), stop // inner  # whole rows [first, last)
    if first > last:  # inside one row
        row = start // inner
        yield from _in_row(row, rest, start - row * inner, stop - row * inner)
        return
    if start < first * inner:
        yield from _in_row(first - 1, rest, start - (first - 1) * inner, inner)
    if first < last:
        yield (slice(first, last), *(slice(0, d) for d in rest))
    if last * inner < stop:
        yield from _in_row(last, rest, 0, stop - last * inner)


def _in_row(row: int, rest: tuple[int, ...], start: int, stop: int) -> Iterator[Index]:
    for box in flat_boxes(rest, start, stop):
        yield (slice(row, row + 1), *box)


def _prod(dims: Sequence[int]) -> int:
    return int(np.prod(dims, dtype=np.int64))


def warn_if_not_finite(array: np.ndarray, origin: str) -> np.ndarray:
    """``array``, after warning (:class:`NonFiniteWeightWarning`) if it holds NaN or infinities."""
    array = np.asarray(array)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        _warn_not_finite(origin, int(np.isnan(array).sum()), int(np.isinf(array).sum()), array.size)
    return array


def _warn_not_finite(origin: str, nan: int, inf: int, size: int) -> None:
    warnings.warn(f"{origin}: {nan} NaN and {inf} infinite value(s) among {size} weights", NonFiniteWeightWarning,
                  stacklevel=4)
