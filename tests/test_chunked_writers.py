"""Writers stream weights in chunks of :data:`kconvert.ir.weights.CHUNK_BYTES`: with chunks of a
few elements (hyperslabs cutting rows, read from the source file) they write exactly the bytes
that whole-tensor reads write."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.ir import weights

FIXTURES = Path(__file__).parent / "fixtures"
KERAS1 = FIXTURES / "keras1"
GENERATED = FIXTURES / "generated"
TINY = 12  # three float32 values: rows of every kernel are cut
WHOLE = 2**62  # every tensor in one chunk: the whole-tensor path
#: a Theano-layout model made channels-last: flipped, transposed kernels; Dense rows gathered
CHANNELS_LAST = {"layout": "channels_last", "layout_io": "channels_last"}


def written_bytes(tmp_path: Path, source: Path, to: str, chunk_bytes: int, monkeypatch: pytest.MonkeyPatch,
                  **options: Any) -> dict[str, bytes]:
    """The bytes of what ``to``'s writer writes for ``source`` (zip archives: of their members, but
    the save date in a .keras archive's metadata)."""
    monkeypatch.setattr(weights, "CHUNK_BYTES", chunk_bytes)
    out = tmp_path / f"{chunk_bytes}" / {"keras": "out.keras", "h5": "out.h5"}.get(to, "out")
    written = kconvert.write(kconvert.load(source), to, out, **options)
    result = {}
    for path in written.files:
        if path.suffix in (".zip", ".keras"):
            with zipfile.ZipFile(path) as zf:
                result.update({f"{path.name}/{name}": zf.read(name) for name in zf.namelist()
                               if name != "metadata.json"})
        else:
            result[path.name] = path.read_bytes()
    return result


def assert_chunking_changes_nothing(tmp_path: Path, source: Path, to: str, monkeypatch: pytest.MonkeyPatch,
                                    **options: Any) -> None:
    whole = written_bytes(tmp_path, source, to, WHOLE, monkeypatch, **options)
    tiny = written_bytes(tmp_path, source, to, TINY, monkeypatch, **options)
    assert tiny.keys() == whole.keys()
    assert [name for name in whole if tiny[name] != whole[name]] == []


@pytest.mark.parametrize("source,options", [
    (KERAS1 / "lstm_per_gate.h5", {}),  # per-gate matrices concatenated
    (KERAS1 / "conv1d.h5", {"shard_size": 100}),  # a reshaped kernel; entries straddle shards
    (KERAS1 / "bidirectional.h5", {"quantize": "uint8"}),  # a first pass for the range
    (KERAS1 / "deconv2d_th.h5", {"quantize": "float16"}),  # transposed kernels
    (KERAS1 / "gru_per_gate.h5", {"quantize": "uint16"}),
    (GENERATED / "keras3" / "convlstm.keras", {}),
    (KERAS1 / "conv2d_th.h5", CHANNELS_LAST),
])
def test_tfjs_shards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path, options: dict[str, Any]) -> None:
    assert_chunking_changes_nothing(tmp_path, source, "tfjs", monkeypatch, **options)


@pytest.mark.parametrize("source,options", [
    (KERAS1 / "lstm_per_gate.h5", {}),  # 'F' order of reordered gate blocks: column hyperslabs
    (KERAS1 / "separable_conv2d_th.h5", {}),  # kernels transposed to OIHW, flipped from Theano
    (KERAS1 / "batchnorm.h5", {}),  # filled gamma/beta blocks
    (KERAS1 / "conv2d_th.h5", CHANNELS_LAST),
])
def test_dl4j_coefficients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path,
                           options: dict[str, Any]) -> None:
    assert_chunking_changes_nothing(tmp_path, source, "dl4j", monkeypatch, **options)


@pytest.mark.parametrize("to", ["keras", "h5"])
@pytest.mark.parametrize("source", [KERAS1 / "conv2d_th.h5", KERAS1 / "gru_per_gate.h5",
                                    GENERATED / "keras3" / "cnn2d.keras", GENERATED / "tfkeras" / "functional.h5"])
def test_keras_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path, to: str) -> None:
    assert_chunking_changes_nothing(tmp_path, source, to, monkeypatch)


@pytest.mark.parametrize("source", [KERAS1 / "lstm_per_gate.h5", KERAS1 / "conv2d_th.h5",
                                    GENERATED / "keras3" / "cnn2d.keras", GENERATED / "tfkeras" / "channels_first.h5"])
def test_real_model_weights_read_in_hyperslabs(source: Path) -> None:
    """The whole-tensor fallback is for arbitrary derivations only: the weights of real models,
    through their layout conversions, read hyperslabs from the file."""
    model = kconvert.load(source)
    assert all(w.sliceable for _, w in model.iter_weights())


@pytest.mark.parametrize("quantize", [None, "uint8", "float16"])
def test_tfjs_weights_read_back_in_hyperslabs(tmp_path: Path, quantize: str | None) -> None:
    """A TF.js model's weights, shards straddled and quantized or not, read their own byte ranges."""
    kconvert.write(kconvert.load(KERAS1 / "lstm_per_gate.h5"), "tfjs", tmp_path / "out", quantize=quantize,
                   shard_size=50)
    for name, weight in kconvert.load(tmp_path / "out" / "model.json").iter_weights():
        assert weight.sliceable, name
        np.testing.assert_array_equal(np.concatenate(list(weight.iter_chunks(TINY))), weight.numpy().reshape(-1))
