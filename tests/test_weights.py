"""kconvert.ir.Weight: lazy reading, layout conversions equal to numpy's, declared shape checks, chunked
reads equal to whole reads."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from kconvert.errors import IncompatibleKerasConfigurationException as Incompatible
from kconvert.errors import NonFiniteWeightWarning
from kconvert.ir import Weight
from kconvert.ir.weights import watching_reads
from kconvert.readers.context import Limits
from kconvert.readers.h5 import H5File
from tests.helpers import raises_exactly


class CountingReader:
    """A weight data source that records how often it is read."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.calls = 0

    def __call__(self) -> np.ndarray:
        self.calls += 1
        return self.array


ARRAY = np.arange(2 * 3 * 4 * 5, dtype="float32").reshape(2, 3, 4, 5)


def lazy(array: np.ndarray = ARRAY) -> tuple[Weight, CountingReader]:
    reader = CountingReader(array)
    return Weight(array.shape, array.dtype, reader, "test.h5:/w"), reader


def test_nothing_is_read_until_numpy() -> None:
    w, reader = lazy()
    derived = [w.transpose((3, 2, 0, 1)), w.flip((0, 1)), w.reshape((6, 20)), *w.split(5, axis=-1),
               Weight.concat([w, w], axis=0)]
    assert (w.shape, w.dtype, w.size, w.nbytes) == ((2, 3, 4, 5), np.dtype("float32"), 120, 480)
    assert [d.shape for d in derived[:3]] == [(5, 4, 2, 3), (2, 3, 4, 5), (6, 20)]
    assert derived[-1].shape == (4, 3, 4, 5)
    assert reader.calls == 0
    w.numpy()
    assert reader.calls == 1
    derived[0].numpy()
    assert reader.calls == 2  # each read goes back to the source: nothing is cached in memory


def test_shape_and_dtype_are_declared_up_front_and_enforced() -> None:
    w = Weight((2, 2), "float16", lambda: np.ones((2, 2), dtype="float64"), "f")
    assert w.numpy().dtype == np.float16
    assert repr(w) == "Weight(shape=(2, 2), dtype=float16, origin='f')"
    assert Weight.of([[1, 2, 3]]).shape == (1, 3)


def test_a_reader_returning_the_wrong_shape_raises_the_typed_error() -> None:
    w = Weight((3, 4), "float32", lambda: np.zeros((4, 3), "float32"), "model.h5:/dense/kernel:0")
    raises_exactly(Incompatible, w.numpy, "model.h5:/dense/kernel:0", "(4, 3)", "expected (3, 4)")
    # a conversion of a bad weight fails the same way, naming the source and the conversion
    raises_exactly(Incompatible, w.transpose((1, 0)).numpy, "model.h5:/dense/kernel:0", "(4, 3)")


@pytest.mark.parametrize("axes", [(1, 0, 2, 3), (3, 2, 1, 0), (0, 2, 3, 1)])
def test_transpose_equals_numpy(axes: tuple[int, ...]) -> None:
    got = lazy()[0].transpose(axes)
    assert got.shape == np.transpose(ARRAY, axes).shape
    np.testing.assert_array_equal(got.numpy(), np.transpose(ARRAY, axes))
    assert got.numpy().flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("axes", [(0,), (0, 1), (1, 3), (-1,)])
def test_flip_equals_numpy(axes: tuple[int, ...]) -> None:
    np.testing.assert_array_equal(lazy()[0].flip(axes).numpy(), np.flip(ARRAY, axes))


def test_reshape_equals_numpy_and_refuses_a_different_size() -> None:
    np.testing.assert_array_equal(lazy()[0].reshape((4, 30)).numpy(), ARRAY.reshape(4, 30))
    raises_exactly(Incompatible, lambda: lazy()[0].reshape((7, 17)), "test.h5:/w", "(2, 3, 4, 5)", "(7, 17)")


@pytest.mark.parametrize("sections,axis", [(2, 0), (3, 1), (4, 2), (5, -1)])
def test_split_equals_numpy(sections: int, axis: int) -> None:
    parts = lazy()[0].split(sections, axis)
    want = np.split(ARRAY, sections, axis=axis)
    assert len(parts) == sections
    for got, expected in zip(parts, want):
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got.numpy(), expected)


def test_split_refuses_unequal_parts() -> None:
    raises_exactly(Incompatible, lambda: lazy()[0].split(3, axis=-1), "cannot be split into 3", "axis 3")


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_equals_numpy(axis: int) -> None:
    a = np.arange(24, dtype="float32").reshape(2, 3, 4)
    b = a * 10
    got = Weight.concat([Weight.of(a), Weight.of(b), Weight.of(a)], axis)
    want = np.concatenate([a, b, a], axis=axis)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)


def test_concat_promotes_dtypes_like_numpy() -> None:
    got = Weight.concat([Weight.of(np.zeros(2, "float16")), Weight.of(np.ones(3, "float32"))])
    assert got.dtype == np.float32 and got.numpy().dtype == np.float32


def test_concat_refuses_mismatched_shapes_naming_both_sources() -> None:
    a = Weight((2, 3), "float32", lambda: np.zeros((2, 3)), "a.h5:/x")
    b = Weight((2, 4), "float32", lambda: np.zeros((2, 4)), "b.h5:/y")
    raises_exactly(Incompatible, lambda: Weight.concat([a, b], axis=0), "a.h5:/x", "b.h5:/y", "(2, 3)", "(2, 4)")


def test_conversions_compose() -> None:
    """The gate-block reordering a reader does: split, reorder, concat, then transpose."""
    kernel = np.arange(3 * 8, dtype="float32").reshape(3, 8)
    i, f, c, o = Weight.of(kernel).split(4)
    got = Weight.concat([i, c, f, o]).transpose((1, 0)).flip((0,))
    blocks = np.split(kernel, 4, axis=1)
    want = np.flip(np.concatenate([blocks[0], blocks[2], blocks[1], blocks[3]], axis=1).T, 0)
    np.testing.assert_array_equal(got.numpy(), want)
    assert got.origin.startswith("memory")


# -- chunked reads -----------------------------------------------------------------------------------


def h5_weight(tmp_path: Path, array: np.ndarray = ARRAY) -> Weight:
    """A weight backed by an HDF5 dataset, read through kconvert's reader (hyperslab reads)."""
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f["w"] = array
    reader = H5File(str(path), "w.h5", Limits())
    return reader.weight(reader.open(), "w")


def chunked(w: Weight, max_bytes: int) -> np.ndarray:
    return np.concatenate([*w.iter_chunks(max_bytes), np.empty(0, w.dtype)])


TRANSFORMS: dict[str, Any] = {
    "plain": lambda w: w,
    "transpose": lambda w: w.transpose((3, 1, 0, 2)),
    "transpose F order": lambda w: w.transpose((3, 2, 1, 0)),
    "flip": lambda w: w.flip((0, 2)),
    "reshape": lambda w: w.reshape((6, 20)),
    "reshape of a transpose": lambda w: w.transpose((1, 0, 3, 2)).reshape((3, 5, 8)),
    "split along the first axis": lambda w: w.split(2, axis=0)[1],
    "split along the last axis": lambda w: w.split(5, axis=-1)[3],
    "concat along the first axis": lambda w: Weight.concat([w, w.flip((0,))], axis=0),
    "gate reordering": lambda w: Weight.concat([w.split(5, -1)[i] for i in (2, 0, 4, 1, 3)], axis=-1),
    "gather": lambda w: w.gather([1, 0], "rows swapped"),
    "composed": lambda w: Weight.concat([w.split(3, 1)[2], w.split(3, 1)[0]], 1).transpose((2, 3, 0, 1)).flip((1,)),
}


@pytest.mark.parametrize("max_bytes", [1, 4, 28, 100, 10**9])
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_chunks_concatenate_to_numpy(tmp_path: Path, transform: str, max_bytes: int) -> None:
    """Every transformation reads hyperslabs of its source, so chunks of any size (a single
    element, a part of a row, several rows) concatenate to exactly the whole read."""
    for source in (h5_weight(tmp_path), Weight.of(ARRAY)):
        w = TRANSFORMS[transform](source)
        assert w.sliceable
        want = w.numpy().reshape(-1)
        chunks = list(w.iter_chunks(max_bytes))
        np.testing.assert_array_equal(np.concatenate(chunks), want)
        assert all(c.nbytes <= max(max_bytes, w.dtype.itemsize) for c in chunks)
        assert len(chunks) >= min(want.size, want.nbytes // max_bytes)


def test_blocks_name_their_hyperslab_and_cover_the_tensor_once() -> None:
    out = np.full(ARRAY.shape, -1.0, "float32")
    for index, block in Weight.of(ARRAY).iter_blocks(44):
        assert (out[index] == -1).all()
        out[index] = block
    np.testing.assert_array_equal(out, ARRAY)


def test_scalars_and_empty_tensors_in_chunks() -> None:
    assert [c.tolist() for c in Weight.of(np.float32(2.5)).iter_chunks(1)] == [[2.5]]
    assert list(Weight.of(np.zeros((0, 3), "float32")).iter_chunks(1)) == []


def test_an_arbitrary_derive_falls_back_to_one_whole_chunk() -> None:
    w, reader = lazy()
    derived = Weight.of(ARRAY).derive(lambda a: a * 2, ARRAY.shape, "doubled")
    assert not derived.sliceable and not w.sliceable
    for weight, want in ((derived, ARRAY * 2), (w, ARRAY)):
        chunks = list(weight.iter_chunks(8))
        assert len(chunks) == 1
        np.testing.assert_array_equal(chunks[0], want.reshape(-1))
    assert reader.calls == 1


def test_chunked_reads_report_progress_and_warn_about_nan_once_per_tensor(tmp_path: Path) -> None:
    data = ARRAY.copy()
    data[0, 0, 0, :2] = np.nan
    data[1, 2, 3, 4] = np.inf
    w = h5_weight(tmp_path, data)
    seen: list[int] = []
    with watching_reads(seen.append), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chunks = list(w.transpose((3, 2, 1, 0)).iter_chunks(16))
    assert len(chunks) == 40 and sum(seen) == data.nbytes
    messages = [str(c.message) for c in caught if issubclass(c.category, NonFiniteWeightWarning)]
    assert messages == ["w.h5:/w: 2 NaN and 1 infinite value(s) among 120 weights"]
