"""The TF.js format's pieces on their own: quantization, shards, the atomic output directory, and
the reader's handling of broken or hostile model directories."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import kconvert
from kconvert.errors import InputReadError
from kconvert.formats.tfjs import dequantize, quantize, shard_names
from kconvert.writers.output import OutputError, atomic_directory
from kconvert.writers.tfjs.quantization import QuantizationPlan
from kconvert.writers.tfjs.shards import ShardWriter
from tests.conftest import FIXTURES, GENERATED

MLP = GENERATED / "tfkeras" / "mlp.h5"

# -- quantization ---------------------------------------------------------------------------------

finite32 = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@settings(max_examples=200, deadline=None)
@given(data=arrays(np.float32, st.integers(1, 300), elements=finite32), dtype=st.sampled_from(["uint8", "uint16"]))
def test_affine_quantization_error_is_at_most_half_a_step(data: np.ndarray, dtype: str) -> None:
    q, entry = quantize(data, dtype)
    assert q.dtype == np.dtype(dtype) and q.shape == data.shape
    back = dequantize(q, entry)
    assert back.dtype == np.float32
    step = entry["scale"]
    # half a step of rounding, plus float32 rounding of the decoded value
    bound = step / 2 + np.abs(data).max() * 2 ** -22 + 1e-30
    assert np.abs(back.astype(np.float64) - data).max() <= bound
    if data.min() <= 0 <= data.max():  # zero is exactly representable when the range covers it
        assert dequantize(np.array([round(-entry["min"] / step)], dtype), entry)[0] == 0.0


def test_quantization_of_zeros_in_a_mixed_range_stays_exact() -> None:
    data = np.array([-0.37, 0.0, 0.0, 1.91, 0.5], np.float32)
    for dtype in ("uint8", "uint16"):
        back = dequantize(*quantize(data, dtype))
        assert back[1] == 0.0 and back[2] == 0.0


def test_constant_and_one_sided_tensors() -> None:
    q, entry = quantize(np.full(5, 0.25, np.float32), "uint8")
    assert entry["scale"] == 1.0 and not q.any()
    assert np.array_equal(dequantize(q, entry), np.full(5, 0.25, np.float32))
    positive = np.array([0.5, 0.75, 1.0], np.float32)  # no zero to keep: the full range is used
    q, entry = quantize(positive, "uint8")
    assert entry["min"] == 0.5 and q[0] == 0 and q[-1] == 255


def test_float16_quantization() -> None:
    data = np.array([0.1, -2.5, 3e4], np.float32)
    q, entry = quantize(data, "float16")
    assert q.dtype == np.float16 and entry == {"dtype": "float16", "original_dtype": "float32"}
    np.testing.assert_allclose(dequantize(q, entry), data, rtol=1e-3)


def test_int32_values_decode_rounded() -> None:
    q = np.array([0, 1, 2], np.uint8)
    entry = {"dtype": "uint8", "min": 0.0, "scale": 1.4, "original_dtype": "int32"}
    assert dequantize(q, entry).tolist() == [0, 1, 3]


def test_quantization_plans() -> None:
    names = ["conv/kernel", "conv/bias", "dense/kernel", "dense/bias", "emb/ids"]
    floats = names[:4]
    assert QuantizationPlan.parse(None).assign(names, floats) == {}
    assert QuantizationPlan.parse("uint8").assign(names, floats) == dict.fromkeys(floats, "uint8")
    plan = QuantizationPlan.parse(["float16", "uint8:*/kernel"])
    assert plan.assign(names, floats) == {"conv/kernel": "uint8", "dense/kernel": "uint8", "conv/bias": "float16",
                                          "dense/bias": "float16"}
    assert QuantizationPlan.parse({"uint16": ["dense/*"]}).assign(names, floats) == {
        "dense/kernel": "uint16", "dense/bias": "uint16"}
    with pytest.raises(ValueError, match="matches no weight"):
        QuantizationPlan.parse("uint8:dense/kernal").assign(names, floats)
    with pytest.raises(ValueError, match="matched by both"):
        QuantizationPlan.parse(["uint8:dense/*", "uint16:*/kernel"]).assign(names, floats)
    with pytest.raises(ValueError, match="unknown quantization dtype"):
        QuantizationPlan.parse("int4")
    with pytest.raises(ValueError, match="asked for every weight"):
        QuantizationPlan.parse(["uint8", "float16"])


# -- shards ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("shard_size", [1, 7, 64, 4096])
def test_shards_cut_one_stream_at_fixed_sizes(tmp_path: Path, shard_size: int) -> None:
    rng = np.random.default_rng(0)
    tensors = [rng.normal(size=n).astype(np.float32) for n in (3, 17, 0, 40)]
    total = sum(t.nbytes for t in tensors)
    with ShardWriter(tmp_path, total, shard_size) as writer:
        for t in tensors:
            writer.write(t)
    assert [p.name for p in writer.paths] == shard_names(total, shard_size)
    sizes = [p.stat().st_size for p in writer.paths]
    assert all(s == shard_size for s in sizes[:-1]) and 0 < sizes[-1] <= shard_size
    stream = b"".join(p.read_bytes() for p in writer.paths)
    assert stream == b"".join(t.tobytes() for t in tensors)


def test_shard_names_follow_the_converter() -> None:
    assert shard_names(10, 4) == ["group1-shard1of3.bin", "group1-shard2of3.bin", "group1-shard3of3.bin"]
    assert shard_names(4 * 1024 * 1024, 4 * 1024 * 1024) == ["group1-shard1of1.bin"]


# -- atomic output --------------------------------------------------------------------------------

def test_atomic_directory_appears_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_directory(out) as staging:
        (staging / "model.json").write_text("{}")
        raise RuntimeError("boom")
    assert not out.exists() and os.listdir(tmp_path) == []
    with atomic_directory(out) as staging:
        (staging / "model.json").write_text("{}")
        assert not out.exists()
    assert (out / "model.json").read_text() == "{}"
    assert os.listdir(tmp_path) == ["out"]


def test_existing_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(OutputError, match="not empty"), atomic_directory(out):
        pass
    with pytest.raises(RuntimeError), atomic_directory(out, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
        raise RuntimeError("a failed replacement keeps the old directory")
    assert os.listdir(out) == ["old.txt"]
    with atomic_directory(out, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert os.listdir(out) == ["new.txt"] and sorted(os.listdir(tmp_path)) == ["out"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="existing file"), atomic_directory(tmp_path / "file", overwrite=True):
        pass
    (tmp_path / "empty").mkdir()
    with atomic_directory(tmp_path / "empty") as staging:  # an empty directory is fine
        (staging / "a").write_text("a")
    assert os.listdir(tmp_path / "empty") == ["a"]


# -- reading TF.js models back: broken and hostile directories ------------------------------------------

@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tfjs") / "mlp"
    kconvert.convert(MLP, "tfjs", out, shard_size=100)
    return out


def _copy(written: Path, tmp_path: Path, edit=None) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path / "model"
    out.mkdir()
    for f in written.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    if edit is not None:
        doc = json.loads((out / "model.json").read_text())
        edit(doc)
        (out / "model.json").write_text(json.dumps(doc))
    return out


def test_round_trip_is_exact(written: Path) -> None:
    source, back = kconvert.load(MLP), kconvert.load(written)
    assert back.provenance.source_format == "tfjs-layers"
    assert [layer.name for layer in back.layers] == [layer.name for layer in source.layers]
    for (name, a), (_, b) in zip(source.iter_weights(), back.iter_weights()):
        assert np.array_equal(a.numpy(), b.numpy()), name
    assert kconvert.load(written / "model.json").param_count() == source.param_count()


def _set_path(doc: dict, path: str) -> None:
    doc["weightsManifest"][0]["paths"][0] = path


@pytest.mark.parametrize("edit,expected", [
    (lambda d: _set_path(d, "../../etc/passwd"), "not a relative path inside the model directory"),
    (lambda d: _set_path(d, "/etc/passwd"), "not a relative path inside the model directory"),
    (lambda d: _set_path(d, "missing.bin"), "'missing.bin' is missing"),
    (lambda d: d["weightsManifest"][0]["weights"][0].update(shape=[8, 1_000_000_000]), "truncated or mismatched"),
    (lambda d: d["weightsManifest"][0]["weights"][0].update(shape=[8, -16]), "not a list of non-negative integers"),
    (lambda d: d["weightsManifest"][0]["weights"][0].update(dtype="complex64"), "has dtype 'complex64'"),
    (lambda d: d["weightsManifest"][0]["weights"][0].update(quantization={"dtype": "uint8"}),
     "needs numeric 'min' and 'scale'"),
    (lambda d: d["weightsManifest"][0]["weights"].pop(), "truncated or mismatched"),
    (lambda d: d.update(weightsManifest={"paths": []}), "must be a list of groups"),
    (lambda d: d.update(modelTopology=None), "modelTopology is missing"),
], ids=["traversal", "absolute", "missing-shard", "shape-bomb", "negative-dim", "dtype", "quantization",
        "extra-bytes", "manifest-type", "no-topology"])
def test_broken_manifests_are_refused_with_the_place(written: Path, tmp_path: Path, edit, expected: str) -> None:
    model_dir = _copy(written, tmp_path, edit)
    with pytest.raises(InputReadError) as err:
        kconvert.load(model_dir)
    assert expected in str(err.value) and str(model_dir / "model.json") in str(err.value)


def test_truncated_shard_is_refused(written: Path, tmp_path: Path) -> None:
    model_dir = _copy(written, tmp_path)
    last = sorted(model_dir.glob("*.bin"))[-1]
    last.write_bytes(last.read_bytes()[:-3])
    with pytest.raises(InputReadError, match="truncated or mismatched shards"):
        kconvert.load(model_dir)


def test_symlinked_shard_outside_the_directory_is_refused(written: Path, tmp_path: Path) -> None:
    model_dir = _copy(written, tmp_path)
    shard = sorted(model_dir.glob("*.bin"))[0]
    outside = tmp_path / "outside.bin"
    outside.write_bytes(shard.read_bytes())
    shard.unlink()
    shard.symlink_to(outside)
    with pytest.raises(InputReadError, match="resolves outside the model directory"):
        kconvert.load(model_dir)


def test_a_directory_without_model_json(tmp_path: Path) -> None:
    with pytest.raises(InputReadError, match="without a TF.js model.json"):
        kconvert.load(tmp_path)


def test_model_json_as_text_cannot_locate_weights(written: Path) -> None:
    text = (written / "model.json").read_text()
    with pytest.raises(InputReadError, match="cannot locate its weight files"):
        kconvert.load(text)
    doc = json.loads(text)
    doc["weightsManifest"] = []
    assert kconvert.load(json.dumps(doc)).layers  # the topology alone still reads


@pytest.mark.parametrize("name", ["cnn", "recurrent"])
def test_models_saved_by_tfjs_itself(name: str) -> None:
    """Written by tfjs-layers' own model.save (tests/fixtures/tfjs/make_tfjs_native.js): bare
    topology, tfjs's own layer names (dense_Dense1), nulls for defaults, one weights.bin; the
    runtime reproduces what TF.js predicted."""
    from kconvert.schemas import validate

    folder = FIXTURES / "tfjs" / "native" / name
    document = json.loads((folder / "model.json").read_text())
    validate(document, "tfjs-layers-model")
    assert document["generatedBy"].startswith("TensorFlow.js tfjs-layers")
    expected = json.loads((folder / "expected.json").read_text())
    inputs = [np.array(t["values"], dtype=t["dtype"]).reshape(t["shape"]) for t in expected["inputs"]]
    (want,) = [np.array(t["values"], dtype="float32").reshape(t["shape"]) for t in expected["outputs"]]
    model = kconvert.load(folder)
    assert model.provenance.source_format == "tfjs-layers" and not model.report.notes
    np.testing.assert_allclose(kconvert.run(model, inputs, device="cpu")[0], want, atol=1e-5)
