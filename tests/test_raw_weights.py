"""The raw-bytes fast path (:meth:`kconvert.ir.weights.Weight.iter_raw`): a weight the HDF5 file
stores contiguously in its own type is copied as the file's bytes, and everything else takes the
general path -- and both write exactly the same bytes."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np
import pytest

import kconvert
from kconvert.errors import NonFiniteWeightWarning
from kconvert.ir import Weight
from kconvert.ir.weights import watching_reads
from kconvert.readers.context import Limits
from kconvert.readers.h5 import H5File

GENERATED = Path(__file__).parent / "fixtures" / "generated"
VALUES = np.random.default_rng(7).standard_normal((37, 29)).astype(np.float32)

#: how a dataset is stored -> (h5py create_dataset arguments, whether the fast path applies)
STORAGE: dict[str, tuple[dict[str, Any], bool]] = {
    "contiguous float32": ({"data": VALUES}, True),
    "contiguous int32": ({"data": (VALUES * 100).astype(np.int32)}, True),
    "chunked": ({"data": VALUES, "chunks": (5, 7)}, False),
    "gzip": ({"data": VALUES, "chunks": (37, 29), "compression": "gzip", "shuffle": True}, False),
    "float16": ({"data": VALUES.astype(np.float16)}, True),
    "float64": ({"data": VALUES.astype(np.float64)}, True),
    "big-endian float32": ({"data": VALUES.astype(">f4")}, True),
    "unwritten (small)": ({"shape": (4, 4), "dtype": np.float32}, False),  # larger: refused as a shape bomb
}


def h5_weight(path: Path, userblock: int = 0, in_memory: bool = False, **dataset: Any) -> Weight:
    with h5py.File(path, "w", userblock_size=userblock) as f:
        f.create_dataset("w", **dataset)
    source: str | bytes = path.read_bytes() if in_memory else str(path)
    h5 = H5File(source, path.name, Limits())
    return h5.weight(h5.file, "w")


def joined(pieces: Any) -> bytes:
    return b"".join(np.ascontiguousarray(p).tobytes() for p in pieces)


@pytest.mark.parametrize("storage", STORAGE)
def test_raw_bytes_equal_what_h5py_reads(tmp_path: Path, storage: str) -> None:
    arguments, raw = STORAGE[storage]
    weight = h5_weight(tmp_path / "w.h5", **arguments)
    assert weight.raw is raw
    if raw:
        for max_bytes in (4, 100, 2**20):  # pieces cut inside rows, and the whole tensor
            assert joined(weight.iter_raw(max_bytes)) == joined(weight.iter_chunks())
    else:
        with pytest.raises(ValueError, match="not stored as raw bytes"):
            next(weight.iter_raw())


@pytest.mark.parametrize("where", ["userblock", "in memory"])
def test_raw_bytes_are_found_behind_a_userblock_and_in_memory(tmp_path: Path, where: str) -> None:
    weight = h5_weight(tmp_path / "w.h5", userblock=512 if where == "userblock" else 0,
                       in_memory=where == "in memory", data=VALUES)
    assert weight.raw and joined(weight.iter_raw(64)) == VALUES.tobytes()


def test_derived_weights_are_not_raw(tmp_path: Path) -> None:
    weight = h5_weight(tmp_path / "w.h5", data=VALUES)
    assert not weight.transpose((1, 0)).raw and not weight.reshape((29, 37)).raw and not Weight.of(VALUES).raw


def test_raw_reads_warn_and_report_as_slices_do(tmp_path: Path) -> None:
    values = VALUES.copy()
    values[3, 4], values[30, 1] = np.nan, np.inf
    weight = h5_weight(tmp_path / "w.h5", data=values)
    seen: list[int] = []
    with warnings.catch_warnings(record=True) as caught, watching_reads(seen.append):
        warnings.simplefilter("always")
        list(weight.iter_raw(256))
    assert sum(seen) == values.nbytes
    assert [str(w.message) for w in caught if w.category is NonFiniteWeightWarning] == [
        f"w.h5:/w: 1 NaN and 1 infinite value(s) among {values.size} weights"]


def restored(source: Path, target: Path, change: Callable[[np.ndarray], dict[str, Any]]) -> Path:
    """``source`` with every weight dataset stored again as ``change`` says (same values)."""
    with h5py.File(source) as src, h5py.File(target, "w") as dst:
        for name, value in src.attrs.items():
            dst.attrs[name] = value

        def copy(name: str, node: Any) -> None:
            if isinstance(node, h5py.Group):
                group = dst.require_group(name)
                for key, value in node.attrs.items():
                    group.attrs[key] = value
            else:
                dst.create_dataset(name, **change(node[()]))
        src.visititems(copy)
    return target


def tfjs_bytes(source: Path, out: Path) -> dict[str, bytes]:
    written = kconvert.write(kconvert.load(source), "tfjs", out, shard_size=1000)  # entries straddle shards
    return {p.name: p.read_bytes() for p in written.files}


@pytest.mark.parametrize("model", ["cnn2d", "cnn1d", "mlp"])
def test_the_fast_path_writes_the_bytes_of_the_general_path(tmp_path: Path, model: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    source = GENERATED / "tfkeras" / f"{model}.h5"
    with kconvert.load(source) as loaded:
        assert any(w.raw for _, w in loaded.iter_weights())
    fast = tfjs_bytes(source, tmp_path / "fast")
    monkeypatch.setattr(Weight, "raw", property(lambda self: False))
    assert tfjs_bytes(source, tmp_path / "general") == fast


def chunked(a: np.ndarray, **options: Any) -> dict[str, Any]:
    return {"data": a, **({"chunks": tuple(max(1, n // 2) for n in a.shape), **options} if a.ndim else {})}


@pytest.mark.parametrize("change", [
    chunked,
    lambda a: chunked(a, compression="gzip"),
    lambda a: {"data": a.astype(a.dtype.newbyteorder(">"))},
    lambda a: {"data": a.astype(np.float64) if a.dtype.kind == "f" else a},
], ids=["chunked", "gzip", "big-endian", "float64"])
def test_every_storage_writes_the_same_tfjs_bytes(tmp_path: Path, change: Callable[[np.ndarray], dict[str, Any]]
                                                   ) -> None:
    source = GENERATED / "tfkeras" / "cnn2d.h5"
    stored = restored(source, tmp_path / "stored.h5", change)
    assert tfjs_bytes(stored, tmp_path / "stored") == tfjs_bytes(source, tmp_path / "contiguous")
