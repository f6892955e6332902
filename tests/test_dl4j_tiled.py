"""Dense kernels go to Deeplearning4j transposed (DL4J holds W [nIn, nOut] in 'f' order): the writer reads
them in near-square tiles and writes each tile's rows at their offsets inside the stored
``coefficients.bin`` member, then streams the range through the member so that zipfile sizes and
checksums it.  With tiles of a few values cutting every edge, the zip is valid (CRC checked), holds the
same bytes as whole-tensor writing, and the real Deeplearning4j restores it computing what Keras does."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import kconvert
from kconvert.formats.dl4j import COEFFICIENTS
from kconvert.ir import weights
from tests.helpers import randomize_weights

keras = pytest.importorskip("keras")
#: bytes per tile: 4 float32 values, tiles 2 x 2, ragged at every edge of the kernels below
TINY = 16


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A legacy HDF5 MLP whose kernels have odd sides, an input and Keras's predictions for it."""
    tmp = tmp_path_factory.mktemp("dl4j-tiled")
    model = keras.Sequential([keras.Input((37,)), keras.layers.Dense(23, activation="tanh"),
                              keras.layers.Dense(5, activation="softmax")])
    randomize_weights(model, np.random.default_rng(7))
    model.save(tmp / "mlp.h5")
    x = np.random.default_rng(8).normal(0, 1, (3, 37)).astype("float32")
    return tmp / "mlp.h5", x, np.asarray(model.predict(x, verbose=0))


def _write(source: Path, out: Path, chunk_bytes: int, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(weights, "CHUNK_BYTES", chunk_bytes)
    model = kconvert.load(source)
    assert all(w.sliceable for _, w in model.iter_weights())
    return Path(kconvert.write(model, "dl4j", out).files[-1])


def test_tiles_write_the_bytes_of_whole_tensors(tmp_path: Path, source: tuple[Path, np.ndarray, np.ndarray],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    tiled = _write(source[0], tmp_path / "tiled", TINY, monkeypatch)
    whole = _write(source[0], tmp_path / "whole", 2**62, monkeypatch)
    with zipfile.ZipFile(tiled) as a, zipfile.ZipFile(whole) as b:
        assert a.testzip() is None  # every member's CRC and size as recorded
        assert a.getinfo(COEFFICIENTS).compress_type == zipfile.ZIP_STORED
        assert a.read(COEFFICIENTS) == b.read(COEFFICIENTS)


def test_tiled_transpose_places_every_value() -> None:
    """A transposed matrix read tile by tile covers each value once, at its place."""
    matrix = np.arange(7 * 11, dtype=np.float32).reshape(7, 11)
    transposed = weights.Weight.of(matrix).transpose((1, 0))
    assert transposed.tiled
    seen = np.full(transposed.shape, -1.0, np.float32)
    for index, tile in transposed.iter_tiles(4 * 6):
        assert tile.nbytes <= 4 * 6 and (seen[index] == -1).all()
        seen[index] = tile
    np.testing.assert_array_equal(seen, matrix.T)


def test_tiled_zip_in_real_dl4j(tmp_path: Path, source: tuple[Path, np.ndarray, np.ndarray],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from kconvert.verification.dl4j_runner import IMPLEMENTATION, run_dl4j_many
    from tests.conftest import require_dl4j

    require_dl4j()
    path, x, want = source
    (run,) = run_dl4j_many([(_write(path, tmp_path / "out", TINY, monkeypatch), [x], [])])
    assert run.error is None and run.implementation == IMPLEMENTATION, run.error
    np.testing.assert_allclose(run.outputs[0].reshape(want.shape), want, atol=1e-4, rtol=1e-4)
