"""ONNX models written by kconvert run in the real ONNX Runtime (CPU) and compute what the source
computes in kconvert's runtime (at atol 1e-4), pass onnx.checker's full check, keep the source's
names, take any batch size, and stream their weights to external data past the threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import EXIT_OK, main
from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.layers import core, recurrent, wrappers
from kconvert.verification.inputs import generate_inputs
from tests.conftest import GENERATED
from tests.helpers import input_layer, layer, model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

ATOL = RTOL = 1e-4
GENERATED_SOURCES = sorted(str(p.relative_to(GENERATED)) for p in GENERATED.glob("*/*.h5")
                           if not p.name.endswith(("weights.h5",)))
#: generated fixtures holding what the ONNX writer refuses, and the refusal's words
REFUSED: dict[str, str] = {}


def run_onnx(path: Path, xs: list[np.ndarray]) -> list[np.ndarray]:
    from kconvert.verification.onnx_runner import INPUT_TYPES

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x.astype(INPUT_TYPES.get(i.type, np.float32))
                              for i, x in zip(session.get_inputs(), xs)})


def assert_runs_as_source(source: kconvert.Model, path: Path, batch: int = 2,
                          xs: list[np.ndarray] | None = None) -> float:
    """The written model agrees with the runtime on ``xs`` (default: generated inputs); the largest error."""
    xs = xs if xs is not None else [x.astype(np.float32) for x in generate_inputs(source, batch, 0)]
    want = kconvert.run(source, xs, device="cpu")
    got = run_onnx(path, xs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), atol=ATOL, rtol=RTOL)
    return max(float(np.max(np.abs(g - np.asarray(w)))) for g, w in zip(got, want))


@pytest.mark.parametrize("name", GENERATED_SOURCES)
def test_generated_fixtures(tmp_path: Path, name: str) -> None:
    source = kconvert.load(GENERATED / name)
    out = tmp_path / "m.onnx"
    stem = Path(name).stem
    if stem in REFUSED:
        with pytest.raises(IncompatibleKerasConfigurationException, match=REFUSED[stem]):
            kconvert.write(source, "onnx", out)
        assert not out.exists()
        return
    kconvert.write(source, "onnx", out)
    onnx.checker.check_model(str(out), full_check=True)
    assert_runs_as_source(source, out)


def _recurrent_model(seed: int = 0) -> kconvert.Model:
    """LSTM, GRU (both reset_after forms), SimpleRNN backwards and a Bidirectional LSTM, random weights."""
    rng = np.random.default_rng(seed)

    def weights(config: object, shape: tuple) -> dict[str, np.ndarray]:
        return {k: rng.normal(0, 0.4, s).astype(np.float32) for k, s in config.weight_shapes([shape]).items()}

    seq = (None, 5, 3)
    lstm = recurrent.LSTM(units=4, return_sequences=True)
    gru = recurrent.GRU(units=4, reset_after=True, return_sequences=True)
    gru_v1 = recurrent.GRU(units=3, reset_after=False, recurrent_activation="hard_sigmoid")
    rnn = recurrent.SimpleRNN(units=2, go_backwards=True, return_sequences=True)
    forward = layer("f", recurrent.LSTM(units=3), weights=weights(recurrent.LSTM(units=3), seq))
    backward = layer("b", recurrent.LSTM(units=3, go_backwards=True), weights=weights(recurrent.LSTM(units=3), seq))
    bidi = wrappers.Bidirectional(forward=forward, backward=backward, merge_mode="concat")
    layers = [input_layer("seq", seq),
              layer("lstm", lstm, ["seq"], weights=weights(lstm, seq)),
              layer("gru", gru, ["lstm"], weights=weights(gru, (None, 5, 4))),
              layer("gru_v1", gru_v1, ["gru"], weights=weights(gru_v1, (None, 5, 4))),
              layer("rnn", rnn, ["seq"], weights=weights(rnn, seq)),
              layer("bidi", bidi, ["seq"])]
    return model(layers, ["seq"], ["gru_v1", "rnn", "bidi"])


def test_recurrent_layers(tmp_path: Path) -> None:
    source = _recurrent_model()
    kconvert.write(source, "onnx", tmp_path / "rnn.onnx")
    assert assert_runs_as_source(source, tmp_path / "rnn.onnx") < ATOL


@pytest.mark.parametrize("opset", [13, 20])
def test_opsets(tmp_path: Path, opset: int) -> None:
    """Gelu and LayerNormalization: operators at opsets 20 and 17, compositions before."""
    from kconvert.ir.layers.normalization import LayerNormalization

    rng = np.random.default_rng(1)
    dense = core.Dense(units=6, activation="gelu")
    norm = LayerNormalization(axis=(-1,))
    source = model([input_layer("x", (None, 4)),
                    layer("dense", dense, ["x"], weights={"kernel": rng.normal(size=(4, 6)), "bias": np.ones(6)}),
                    layer("norm", norm, ["dense"], weights={"gamma": rng.normal(size=6), "beta": rng.normal(size=6)})],
                   ["x"], ["norm"])
    kconvert.write(source, "onnx", tmp_path / "m.onnx", opset=opset)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert proto.opset_import[0].version == opset
    ops = {n.op_type for n in proto.graph.node}
    assert ("Gelu" in ops) == (opset >= 20) and ("LayerNormalization" in ops) == (opset >= 17)
    assert_runs_as_source(source, tmp_path / "m.onnx")


def test_names_batch_and_external_data(tmp_path: Path) -> None:
    """Input and output names kept, any batch size, and weights beside the model past the threshold."""
    source = kconvert.load(GENERATED / "keras3" / "cnn2d.h5")
    out = tmp_path / "cnn.onnx"
    written = kconvert.write(source, "onnx", out, external_above=0)
    assert written.files == [out, tmp_path / "cnn.onnx.data"]
    proto = onnx.load(str(out), load_external_data=False)
    external = [{e.key: e.value for e in t.external_data} for t in proto.graph.initializer
                if t.data_location == onnx.TensorProto.EXTERNAL]
    assert external and max(int(e["offset"]) + int(e["length"]) for e in external) == \
        (tmp_path / "cnn.onnx.data").stat().st_size
    assert [i.name for i in proto.graph.input] == [r.layer for r in source.inputs]
    assert [o.name for o in proto.graph.output] == [r.layer for r in source.outputs]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    onnx.checker.check_model(str(out), full_check=True)
    for batch in (1, 3):
        assert_runs_as_source(source, out, batch)


def test_channels_first_io(tmp_path: Path) -> None:
    """Channels-last by default, Transposes only at the edges of convolution regions; --onnx-layout
    channels_first takes NCHW images."""
    source = kconvert.load(GENERATED / "keras3" / "cnn2d.h5")
    kconvert.write(source, "onnx", tmp_path / "last.onnx")
    kconvert.write(source, "onnx", tmp_path / "first.onnx", io_layout="channels_first")
    last, first = (onnx.load(str(tmp_path / f"{n}.onnx")) for n in ("last", "first"))
    dims = [[d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim[1:]] for m in (last, first)]
    assert dims[1] == [dims[0][-1], *dims[0][:-1]]
    assert sum(n.op_type == "Transpose" for n in first.graph.node) < sum(n.op_type == "Transpose"
                                                                         for n in last.graph.node)
    xs = [x.astype(np.float32) for x in generate_inputs(source, 2, 0)]
    np.testing.assert_allclose(run_onnx(tmp_path / "first.onnx", [np.moveaxis(xs[0], -1, 1)])[0],
                               run_onnx(tmp_path / "last.onnx", xs)[0], atol=1e-6)


def test_verify_and_check_the_onnx_file(tmp_path: Path) -> None:
    source = str(GENERATED / "tfkeras" / "cnn1d.h5")
    out = tmp_path / "cnn1d.onnx"
    runner = CliRunner()
    result = runner.invoke(main, [source, "--to", "onnx", str(out), "--opset", "18"])
    assert result.exit_code == EXIT_OK, result.output
    result = runner.invoke(main, ["verify", source, "--target", str(out), "--no-keras"])
    assert result.exit_code == EXIT_OK and "ONNX Runtime" in result.output, result.output
    result = runner.invoke(main, ["check", str(out), "--source", source])
    assert result.exit_code == EXIT_OK, result.output
    assert "onnx.checker" in result.output and "parity" in result.output


def test_mismatch_names_the_diverging_layer(tmp_path: Path) -> None:
    """A wrong weight in the written model is found, and the probe names its layer."""
    from kconvert.verification import verify

    source = GENERATED / "keras3" / "mlp.h5"
    out = tmp_path / "mlp.onnx"
    kconvert.write(kconvert.load(source), "onnx", out)
    proto = onnx.load(str(out))
    first = next(t for t in proto.graph.initializer if t.name.endswith("/kernel"))
    broken = onnx.numpy_helper.to_array(first) + 1.0
    first.CopyFrom(onnx.numpy_helper.from_array(broken, first.name))
    onnx.save(proto, str(out))
    report = verify(str(source), targets=(str(out),), keras="never")
    (check,) = [c for c in report.checks if c.name == "target"]
    assert check.status == "failed" and check.first_divergence["layer"] == first.name.split("/")[0]


def _random_weights(rng: np.random.Generator, config: object, shapes: list[tuple]) -> dict[str, np.ndarray]:
    return {k: rng.normal(0, 0.5, s).astype(np.float32) for k, s in config.weight_shapes(shapes).items()}


def _attention_model() -> kconvert.Model:
    """Attention (dot with scale, causal; concat returning its scores; over rank-2 inputs),
    MultiHeadAttention (causal with a key; with an attention mask and a 2-axis output), EinsumDense,
    TimeDistributed over a Dense and a Conv1D."""
    from kconvert.ir.graph import TensorRef
    from kconvert.ir.layers.attention import Attention, MultiHeadAttention
    from kconvert.ir.layers.conv import Conv1D
    from kconvert.ir.layers.einsum import EinsumDense

    rng = np.random.default_rng(3)

    def wrapped(name: str, config: object, shape: tuple) -> wrappers.TimeDistributed:
        return wrappers.TimeDistributed(layer=layer(name, config, weights=_random_weights(rng, config, [shape])))

    seq, other, mask, images = (None, 5, 4), (None, 6, 4), (None, 5, 6), (None, 2, 5, 3)
    called = {  # name: (config, inputs, their shapes)
        "flat": (core.Flatten(), ["q"], [seq]),
        "vector": (core.Dense(units=4), ["flat"], [(None, 20)]),
        "dot": (Attention(use_scale=True, causal=True), ["q", "v"], [seq, other]),
        "concat": (Attention(score_mode="concat", use_scale=True, return_attention_scores=True), ["q", "q"],
                   [seq, seq]),
        "across_batch": (Attention(), ["vector", "vector"], [(None, 4), (None, 4)]),
        "mha": (MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2, causal=True), ["q", "v", "v"],
                [seq, other, other]),
        "masked": (MultiHeadAttention(num_heads=3, key_dim=2, value_dim=2, output_dims=(2, 3),
                                      with_attention_mask=True, use_bias=False), ["q", "v", "m"], [seq, other, mask]),
        "einsum": (EinsumDense(equation="abc,cd->abd", partial_output_shape=(None, 3), bias_axes="d",
                               activation="tanh"), ["q"], [seq]),
        "td_dense": (wrapped("inner_dense", core.Dense(units=3), (None, 4)), ["q"], [seq]),
        "td_conv": (wrapped("inner_conv", Conv1D(filters=2, kernel_size=(2,)), (None, 5, 3)), ["img"], [images]),
    }
    layers = [input_layer("q", seq), input_layer("v", other), input_layer("m", mask), input_layer("img", images)]
    layers += [layer(name, config, inputs, weights=_random_weights(rng, config, shapes))
               for name, (config, inputs, shapes) in called.items()]
    outputs = [n for n in called if n != "flat"] + [TensorRef("concat", 0, 1)]
    return model(layers, ["q", "v", "m", "img"], outputs)


def test_attention_einsum_and_time_distributed(tmp_path: Path) -> None:
    source = _attention_model()
    kconvert.write(source, "onnx", tmp_path / "m.onnx")
    onnx.checker.check_model(str(tmp_path / "m.onnx"), full_check=True)
    xs = [x.astype(np.float32) for x in generate_inputs(source, 2, 0)]
    xs[2] = (xs[2] > 0.3).astype(np.float32)  # an attention mask: some keys of some rows masked
    assert_runs_as_source(source, tmp_path / "m.onnx", xs=xs)


def _masked_model(recurrent_after: bool = False) -> kconvert.Model:
    """Masks from Embedding(mask_zero) and Masking through a masked mean, Attention (query and value
    masks), MultiHeadAttention and Add; or an LSTM after the embedding, which is refused."""
    from kconvert.ir.layers.attention import Attention, MultiHeadAttention
    from kconvert.ir.layers.merge import Add
    from kconvert.ir.layers.pooling import GlobalAveragePooling1D

    rng = np.random.default_rng(5)
    embed = core.Embedding(input_dim=5, output_dim=4, mask_zero=True)
    called = {"embed": (embed, ["ids"], [(None, 6)]), "masked": (core.Masking(mask_value=0.0), ["x"], [(None, 6, 4)])}
    if recurrent_after:
        called["lstm"] = (recurrent.LSTM(units=3), ["embed"], [(None, 6, 4)])
    else:
        called.update({
            "mean": (GlobalAveragePooling1D(), ["embed"], [(None, 6, 4)]),
            "att": (Attention(causal=True), ["embed", "masked"], [(None, 6, 4)] * 2),
            "mha": (MultiHeadAttention(num_heads=2, key_dim=2, value_dim=2), ["masked", "embed"], [(None, 6, 4)] * 2),
            "sum": (Add(), ["att", "mha"], [(None, 6, 4)] * 2),
            "pooled": (GlobalAveragePooling1D(), ["sum"], [(None, 6, 4)])})
    layers = [input_layer("ids", (None, 6)), input_layer("x", (None, 6, 4))]
    layers += [layer(n, c, i, weights=_random_weights(rng, c, s)) for n, (c, i, s) in called.items()]
    return model(layers, ["ids", "x"], ["lstm"] if recurrent_after else ["mean", "att", "mha", "pooled"])


def test_padding_masks(tmp_path: Path) -> None:
    """Keras's masks are carried as boolean tensors and honoured exactly where a layer reads them
    (a recurrent layer given one: test_masked_recurrent_layers_match_keras)."""
    source = _masked_model()
    kconvert.write(source, "onnx", tmp_path / "m.onnx")
    ids = np.array([[1, 2, 0, 3, 0, 0], [4, 0, 1, 1, 2, 0]], np.float32)  # zeros anywhere, not only at the end
    x = np.random.default_rng(0).normal(size=(2, 6, 4)).astype(np.float32)
    x[0, [1, 4]] = 0.0
    x[1, 5] = 0.0
    assert assert_runs_as_source(source, tmp_path / "m.onnx", xs=[ids, x]) < ATOL
    kconvert.write(_masked_model(recurrent_after=True), "onnx", tmp_path / "lstm.onnx")
    assert assert_runs_as_source(_masked_model(recurrent_after=True), tmp_path / "lstm.onnx", xs=[ids, x]) < ATOL


def test_masked_recurrent_layers_match_keras(tmp_path: Path) -> None:
    """Recurrent layers given a mask skipping steps anywhere (the first and the last included) run as
    a Scan of the Keras cell: LSTM, GRU of both reset forms, SimpleRNN backwards, Bidirectional
    returning sequences (zeros at masked steps) or not, an LSTM from given initial states returning
    them; unmasked initial states go to ONNX's own LSTM.  Against Keras 3's predictions."""
    keras = pytest.importorskip("keras")
    from tests.helpers import randomize_weights

    L = keras.layers
    ids, context = keras.Input((7,)), keras.Input((3,))
    seq = L.Embedding(6, 4, mask_zero=True)(ids)
    h0, c0 = L.Dense(5)(context), L.Dense(5)(context)
    initial = L.LSTM(5, return_sequences=True, return_state=True)(seq, initial_state=[h0, c0])
    outputs = [L.LSTM(3, return_sequences=True)(seq), L.GRU(3, return_sequences=True, reset_after=False)(seq),
               L.GRU(2)(seq), L.SimpleRNN(3, go_backwards=True)(seq), L.SimpleRNN(2, return_sequences=True,
                                                                              go_backwards=True)(seq),
               L.Bidirectional(L.LSTM(2, return_sequences=True))(seq),
               L.Bidirectional(L.GRU(2), merge_mode="sum")(seq), *initial,
               L.LSTM(2, return_sequences=True)(L.Dense(4)(seq), initial_state=[L.Dense(2)(context)] * 2),
               L.LSTM(2, return_sequences=True)(L.RepeatVector(4)(context), initial_state=[h0[:, :2], c0[:, 1:3]]),
               L.GRU(5, go_backwards=True)(L.RepeatVector(3)(context), initial_state=h0)]
    keras_model = keras.Model([ids, context], outputs)
    randomize_weights(keras_model, np.random.default_rng(11))
    keras_model.save(tmp_path / "masked.keras")
    kconvert.write(kconvert.load(tmp_path / "masked.keras"), "onnx", tmp_path / "masked.onnx")
    onnx.checker.check_model(str(tmp_path / "masked.onnx"), full_check=True)
    xs = [np.array([[0, 2, 0, 3, 5, 0, 1], [4, 1, 0, 0, 2, 3, 0], [0, 0, 0, 0, 0, 0, 0]], np.float32),
          np.random.default_rng(12).normal(size=(3, 3)).astype(np.float32)]
    want = keras_model.predict(xs, verbose=0)
    got = run_onnx(tmp_path / "masked.onnx", xs)
    assert len(got) == len(want) == 13
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=f"output {i}")


def test_functional_operations_match_keras(tmp_path: Path) -> None:
    """The keras.ops and tf.* operations of test_ops's models, written to ONNX, match Keras's predictions."""
    from tests import test_ops
    from tests.helpers import randomize_weights

    x = test_ops.sample()
    for make, name in ((test_ops.keras3_model, "ops.keras"), (test_ops.tf_keras_model, "ops.h5")):
        keras_model = make()
        randomize_weights(keras_model, np.random.default_rng(0))
        keras_model.save(tmp_path / name)
        want = keras_model.predict(x, verbose=0)
        kconvert.write(kconvert.load(tmp_path / name), "onnx", tmp_path / f"{name}.onnx")
        got = run_onnx(tmp_path / f"{name}.onnx", [x])
        assert len(got) == len(want) > 20
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=name)


def test_batch_convert_and_check(tmp_path: Path) -> None:
    """``kconvert SRC/ OUT/ --to onnx`` writes OUT/<name>.onnx; ``check OUT/ --source SRC/`` runs each.
    (In a subprocess: a batch forks, which TensorFlow imported by earlier tests would not survive.)"""
    import subprocess
    import sys

    from tests.conftest import ROOT

    sources = tmp_path / "src"
    (sources / "deep").mkdir(parents=True)
    for name, to in (("mlp.h5", "mlp.h5"), ("cnn1d.h5", "deep/cnn1d.h5")):
        (sources / to).write_bytes((GENERATED / "keras3" / name).read_bytes())
    out = tmp_path / "out"

    def kconvert_command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kconvert", *args, "--jobs", "1"], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)

    result = kconvert_command(str(sources), str(out), "--to", "onnx")
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        ["deep/cnn1d.onnx", "mlp.onnx"]
    result = kconvert_command("check", str(out), "--source", str(sources))
    assert result.returncode == EXIT_OK and "2 passed" in result.stdout, result.stdout + result.stderr


#: why ONNX cannot be written for some real-world files (each refusal must be one of these)
REALWORLD_REFUSALS: tuple[str, ...] = ()


@pytest.mark.slow
@pytest.mark.shared
def test_realworld_files_in_onnx_runtime(tmp_path: Path) -> None:
    """Every real-world model kconvert reads is written or refused for a known reason (at least 95 %
    written); each written one runs in ONNX Runtime and matches the stored Keras predictions or
    (without them) kconvert's runtime, which test_verify proves against Keras."""
    from tests.conftest import REALWORLD, require_shared
    from tests.helpers import stored_predictions

    realworld = require_shared(REALWORLD)
    files = sorted(p for p in realworld.glob("**/*.h*5") if "inputs_and_outputs" not in p.name)
    refusals: dict[str, str] = {}
    by_reference = {"stored predictions": 0, "kconvert runtime": 0}
    worst = 0.0
    for path in files:
        try:
            source = kconvert.load(path)
        except kconvert.KConvertError:
            continue  # weights-only files and refused models: covered by test_realworld
        name = str(path.relative_to(realworld))
        out = tmp_path / (name.replace("/", "__") + ".onnx")
        try:
            kconvert.write(source, "onnx", out)
        except IncompatibleKerasConfigurationException as exc:
            refusals[name] = exc.reason
            continue
        stored = stored_predictions(path)
        if stored is not None:
            xs, want, reference = [x.astype(np.float32) for x in stored[0]], stored[1], "stored predictions"
        else:
            xs = [x.astype(np.float32) for x in generate_inputs(source, 2, 0)]
            want, reference = kconvert.run(source, xs, device="cpu"), "kconvert runtime"
        got = run_onnx(out, xs)
        assert len(got) == len(want), name
        for g, w in zip(got, want):
            w = np.asarray(w).reshape(g.shape)
            np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=f"{name} against {reference}")
            worst = max(worst, float(np.max(np.abs(g - w))))
        by_reference[reference] += 1
    unexplained = {n: r for n, r in refusals.items() if not any(known in r for known in REALWORLD_REFUSALS)}
    assert not unexplained
    written = sum(by_reference.values())
    assert written >= 0.95 * (written + len(refusals)) and written >= 100, (by_reference, refusals)
    assert by_reference["stored predictions"] >= 20, by_reference
    print(f"real-world: {written} written and matching ({by_reference}), {len(refusals)} refused, "
          f"max abs error {worst:.2e}")


def test_transposed_convolutions_with_output_padding(tmp_path: Path) -> None:
    """Conv*Transpose with and without output_padding, same and valid, odd and even kernels, strides
    past the kernel (TensorFlow runs no dilated ones on CPU): ONNX's pads and output_padding crop the
    full output as TensorFlow does (Keras's predictions)."""
    keras = pytest.importorskip("keras")
    from tests.helpers import randomize_weights

    L = keras.layers
    cases = [(L.Conv1DTranspose, 1, dict(kernel_size=3, strides=2, padding="same", output_padding=1)),
             (L.Conv1DTranspose, 1, dict(kernel_size=1, strides=3, padding="valid", output_padding=2)),
             (L.Conv1DTranspose, 1, dict(kernel_size=2, strides=3, padding="same")),
             (L.Conv2DTranspose, 2, dict(kernel_size=(3, 2), strides=(3, 2), padding="same", output_padding=(2, 1))),
             (L.Conv2DTranspose, 2, dict(kernel_size=4, strides=2, padding="valid", output_padding=1)),
             (L.Conv2DTranspose, 2, dict(kernel_size=3, strides=1, padding="same", output_padding=0)),
             (L.Conv3DTranspose, 3, dict(kernel_size=2, strides=2, padding="same", output_padding=(1, 1, 1)))]
    x3 = {d: np.random.default_rng(d).normal(size=(2,) + (5,) * d + (3,)).astype(np.float32) for d in (1, 2, 3)}
    for i, (cls, dims, kwargs) in enumerate(cases):
        inp = keras.Input((5,) * dims + (3,))
        keras_model = keras.Model(inp, cls(filters=2, **kwargs)(inp))
        randomize_weights(keras_model, np.random.default_rng(i))
        keras_model.save(tmp_path / f"{i}.keras")
        kconvert.write(kconvert.load(tmp_path / f"{i}.keras"), "onnx", tmp_path / f"{i}.onnx")
        want = keras_model.predict(x3[dims], verbose=0)
        got = run_onnx(tmp_path / f"{i}.onnx", [x3[dims]])[0]
        assert got.shape == want.shape, (cls.__name__, kwargs)
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL, err_msg=f"{cls.__name__} {kwargs}")


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_locally_connected_layers_match_tf_keras(tmp_path: Path, data_format: str) -> None:
    """LocallyConnected1D/2D (tf_keras has them): windows gathered, one MatMul per position."""
    tf_keras = pytest.importorskip("tf_keras")
    from tests.helpers import randomize_weights

    L = tf_keras.layers
    seq, image = tf_keras.Input((7, 3)), tf_keras.Input((3, 6, 5) if data_format == "channels_first" else (6, 5, 3))
    one = L.LocallyConnected1D(4, 3, strides=2, activation="tanh")(seq)
    two = L.LocallyConnected2D(2, (2, 3), strides=(2, 1), data_format=data_format)(image)
    unbiased = L.LocallyConnected2D(3, 2, use_bias=False, data_format=data_format)(image)
    keras_model = tf_keras.Model([seq, image], [one, two, unbiased])
    randomize_weights(keras_model, np.random.default_rng(7))
    keras_model.save(tmp_path / "lc.h5")
    kconvert.write(kconvert.load(tmp_path / "lc.h5"), "onnx", tmp_path / "lc.onnx")
    rng = np.random.default_rng(8)
    xs = [rng.normal(size=(2, *t.shape[1:])).astype(np.float32) for t in keras_model.inputs]
    for got, want in zip(run_onnx(tmp_path / "lc.onnx", xs), keras_model.predict(xs, verbose=0), strict=True):
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)


def test_conv_lstm_2d_matches_keras(tmp_path: Path) -> None:
    """ConvLSTM2D as a Scan of its cell: strided 'same' (padding at the end), backwards returning its
    states, a sequence into another, Bidirectional returning sequences or not, against Keras 3's
    predictions; channels_first (which TensorFlow does not run on CPU) against kconvert's runtime."""
    keras = pytest.importorskip("keras")
    from tests.helpers import randomize_weights

    L = keras.layers
    planar = keras.Input((3, 2, 5, 6))
    first = keras.Model(planar, L.ConvLSTM2D(2, 3, data_format="channels_first", return_sequences=True,
                                             padding="same")(planar))
    randomize_weights(first, np.random.default_rng(12))
    first.save(tmp_path / "first.keras")
    source = kconvert.load(tmp_path / "first.keras")
    kconvert.write(source, "onnx", tmp_path / "first.onnx")
    assert_runs_as_source(source, tmp_path / "first.onnx")
    video = keras.Input((4, 7, 6, 2))
    sequence = L.ConvLSTM2D(3, 3, padding="same", return_sequences=True, recurrent_activation="hard_sigmoid")(video)
    outputs = [L.ConvLSTM2D(2, (2, 3), strides=2, padding="same")(sequence),
               *L.ConvLSTM2D(2, 2, go_backwards=True, return_state=True, activation="relu")(video),
               L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same", return_sequences=True))(video),
               L.Bidirectional(L.ConvLSTM2D(3, 2), merge_mode="sum")(video)]
    keras_model = keras.Model(video, outputs)
    randomize_weights(keras_model, np.random.default_rng(13))
    keras_model.save(tmp_path / "convlstm.keras")
    kconvert.write(kconvert.load(tmp_path / "convlstm.keras"), "onnx", tmp_path / "convlstm.onnx")
    rng = np.random.default_rng(14)
    xs = [rng.normal(size=(2, 4, 7, 6, 2)).astype(np.float32)]
    got, want = run_onnx(tmp_path / "convlstm.onnx", xs), keras_model.predict(xs, verbose=0)
    assert len(got) == len(want) == 6
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=f"output {i}")
