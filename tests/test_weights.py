"""kconvert.ir.Weight: lazy reading, layout conversions equal to numpy's, declared shape checks."""

from __future__ import annotations

import numpy as np
import pytest

from kconvert.errors import IncompatibleKerasConfigurationException as Incompatible
from kconvert.ir import Weight
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
