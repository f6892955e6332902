"""The layout rewrite (``layout="channels_last"``): a channels_first model becomes a channels_last
one computing the same function, which Keras 3 runs on any CPU -- also where TensorFlow lacks
oneDNN and cannot run a channels_first convolution (AMD machines, or ``TF_ENABLE_ONEDNN_OPTS=0``).

Judges: the predictions Keras itself stored with the generated fixtures and the real-world files,
and kconvert's runtime on the source model (which runs channels_first layers by transposing, and is
proven against Keras in test_runtime and test_verify); the written files are run by the real
Keras 3 in a subprocess with oneDNN switched off.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import EXIT_OK, EXIT_USAGE, main
from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir import Call, Layer, Model, TensorRef, Weight
from kconvert.ir.layers import activations as act
from kconvert.ir.layers import conv, core, merge, noise, normalization, pooling, recurrent, reshaping
from kconvert.ir.layers import model as nested
from kconvert.ir.layers.wrappers import TimeDistributed
from kconvert.ir.layout import Layout, channels_last, channels_last_io, data_format, to_channels_last
from kconvert.schemas import validate
from kconvert.verification.inputs import generate_inputs
from kconvert.verification.keras_reference import KerasFile, run_files
from tests.conftest import FIXTURES, GENERATED, REALWORLD, require_shared
from tests.helpers import input_layer, layer, model, stored_predictions

ATOL = RTOL = 1e-5
KERAS1 = FIXTURES / "keras1"
#: Keras 1 fixtures kconvert refuses to read (tested in test_keras1)
KERAS1_UNREADABLE = {"batchnorm_mode2", "lambda_layer", "merge_lambda", "prelu_shared_axes"}
#: what Keras 3 lacks, so that a rewritten model holding it cannot be written as .keras
KERAS3_LACKS = ("has no LocallyConnected2D", "has no LocallyConnected1D")


def channels_first_layers(m: Model) -> list[str]:
    return [la.name for la in m.iter_layers(recursive=True) if data_format(la) == "channels_first"]


def _channels_first_fixtures() -> list[str]:
    found = [f"generated/{p.parent.name}/{p.name}" for p in sorted(GENERATED.glob("*/channels_first.h5"))]
    for path in sorted(KERAS1.glob("*.h5")):
        if path.stem not in KERAS1_UNREADABLE and channels_first_layers(kconvert.load(path)):
            found.append(f"keras1/{path.name}")
    return found


CHANNELS_FIRST_FIXTURES = _channels_first_fixtures()


def moved_inputs(source: Model, rewritten: Model, xs: list[np.ndarray]) -> list[np.ndarray]:
    """``xs`` as ``rewritten`` takes them: channels-last where its input layers say so."""
    moved, _ = channels_last_io(source)
    changed = [a.config.batch_shape != b.config.batch_shape
               for a, b in zip(source.input_layers, rewritten.input_layers)]
    assert changed == moved or not any(changed)
    return [np.moveaxis(x, 1, -1) if m else x for x, m in zip(xs, changed)]


def assert_same(got: list[np.ndarray], want: list[np.ndarray], what: str) -> None:
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        w = np.asarray(w).reshape(np.shape(w))
        assert g.shape == w.shape, (what, g.shape, w.shape)
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=what)


def run_rewritten(source: Model, io: str, xs: list[np.ndarray]) -> tuple[Model, list[np.ndarray]]:
    """``source`` rewritten, run on ``xs`` (moved as it takes them), outputs moved back."""
    rewritten = to_channels_last(source, io)  # type: ignore[arg-type]
    assert not channels_first_layers(rewritten)
    ys = kconvert.run(rewritten, moved_inputs(source, rewritten, xs), device="cpu")
    _, outs = channels_last_io(source) if io == "channels_last" else (None, [False] * len(ys))
    return rewritten, [np.moveaxis(y, -1, 1) if m else y for y, m in zip(ys, outs)]


# -- the fixtures -------------------------------------------------------------------------------

def test_the_fixtures_hold_channels_first_models() -> None:
    assert len(CHANNELS_FIRST_FIXTURES) >= 7, CHANNELS_FIRST_FIXTURES


@pytest.mark.parametrize("io", ["original", "channels_last"])
@pytest.mark.parametrize("name", CHANNELS_FIRST_FIXTURES)
def test_fixtures_rewritten_compute_the_same(name: str, io: str) -> None:
    source = kconvert.load(FIXTURES / name)
    xs = generate_inputs(source, 2, 0)
    want = kconvert.run(source, xs, device="cpu")
    rewritten, got = run_rewritten(source, io, xs)
    assert_same(got, want, name)
    notes = [n.message for n in rewritten.report.by_category("rewritten")]
    assert any(n.startswith("layout: ") for n in notes), notes
    if io == "channels_last":
        assert sum(la.kind == "Permute" and not la.trainable for la in rewritten.layers) == 0, \
            "a model taking channels-last images needs no transposes"


@pytest.mark.parametrize("flavour", ["keras3", "tfkeras"])
def test_generated_fixture_matches_what_keras_predicted(flavour: str) -> None:
    """The stored reference was computed by Keras itself on the channels_first model."""
    source = kconvert.load(GENERATED / flavour / "channels_first.h5")
    with np.load(GENERATED / flavour / "channels_first.ref.npz") as data:
        xs, want = [data["x0"]], [data["y0"]]
    for io in ("original", "channels_last"):
        _, got = run_rewritten(source, io, xs)
        assert_same(got, want, f"{flavour} {io}")


def run_in_keras3_without_onednn(monkeypatch: pytest.MonkeyPatch,
                                 files: list[tuple[Path, list[np.ndarray]]]) -> list[Any]:
    """Each .keras file run by Keras 3 in one subprocess whose TensorFlow has oneDNN off, as on
    CPUs without it: there a channels_first convolution cannot run."""
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    return run_files([KerasFile(str(path), "keras", xs) for path, xs in files])


def test_rewritten_fixtures_run_in_keras3_without_onednn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Written as .keras with the rewrite, every channels_first fixture runs in Keras 3 with oneDNN
    off and predicts what the source computes; written as it is, a channels_first model cannot
    run there (the reason for the rewrite, checked so that this test keeps testing something)."""
    jobs, wants = [], []
    for i, name in enumerate(CHANNELS_FIRST_FIXTURES):
        source = kconvert.load(FIXTURES / name)
        xs = generate_inputs(source, 2, 0)
        for io in ("original", "channels_last"):
            out = tmp_path / f"{i}-{io}.keras"
            try:
                kconvert.write(source, "keras", out, layout="channels_last", layout_io=io)
            except IncompatibleKerasConfigurationException as exc:
                assert any(r in exc.reason for r in KERAS3_LACKS), exc
                continue
            rewritten = kconvert.load(out)
            jobs.append((out, moved_inputs(source, rewritten, xs)))
            wants.append((f"{name} {io}", kconvert.run(source, xs, device="cpu"),
                          channels_last_io(source)[1] if io == "channels_last" else None))
    as_is = tmp_path / "as-is.keras"
    kconvert.write(kconvert.load(GENERATED / "keras3" / "channels_first.h5"), "keras", as_is)
    source_xs = generate_inputs(kconvert.load(as_is), 2, 0)
    runs = run_in_keras3_without_onednn(monkeypatch, [*jobs, (as_is, source_xs)])
    assert len(jobs) == 2 * (len(CHANNELS_FIRST_FIXTURES) - 1)  # all but LocallyConnected2D
    for (what, want, moved), run in zip(wants, runs):
        assert run.skipped is None and run.error is None, (what, run.skipped, run.error)
        got = run.outputs if moved is None else [np.moveaxis(y, -1, 1) if m else y for y, m in zip(run.outputs, moved)]
        assert_same(got, want, what)
    assert runs[-1].skipped and "channels_first" in runs[-1].skipped and "--layout channels_last" in runs[-1].skipped


# -- the real-world corpus ----------------------------------------------------------------------

@pytest.mark.slow
def test_realworld_channels_first_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every channels_first file of the real-world corpus, rewritten, computes what it stored (or what
    the runtime computes on the source) in kconvert's runtime and, as .keras, in Keras 3 without oneDNN."""
    realworld = require_shared(REALWORLD)
    jobs, wants, refused = [], [], {}
    for path in sorted(p for p in realworld.glob("**/*.h*5") if "inputs_and_outputs" not in p.name):
        try:
            source = kconvert.load(path)
        except kconvert.KConvertError:
            continue  # weights-only files and refused models: covered by test_realworld
        if not channels_first_layers(source):
            continue
        name = str(path.relative_to(realworld))
        stored = stored_predictions(path)
        xs = stored[0] if stored else generate_inputs(source, 2, 0)
        want = stored[1] if stored else kconvert.run(source, xs, device="cpu")
        want = [np.asarray(w).reshape(y.shape) for w, y in zip(want, kconvert.run(source, xs, device="cpu"))]
        _, got = run_rewritten(source, "original", xs)
        assert_same(got, want, name)
        out = tmp_path / f"{len(jobs)}.keras"
        try:
            kconvert.write(source, "keras", out, layout="channels_last")
        except IncompatibleKerasConfigurationException as exc:
            refused[name] = exc.reason
            continue
        jobs.append((out, xs))
        wants.append((name, want))
    runs = run_in_keras3_without_onednn(monkeypatch, jobs)
    for (name, want), run in zip(wants, runs):
        assert run.skipped is None and run.error is None, (name, run.skipped, run.error)
        assert_same(run.outputs, want, name)
    assert all(any(r in reason for r in KERAS3_LACKS) for reason in refused.values()), refused
    assert len(jobs) + len(refused) >= 5, (len(jobs), refused)


# -- rules, one kind at a time --------------------------------------------------------------------

B = None


def build(specs: list[tuple[str, Any, list[str]]], inputs: dict[str, tuple[int | None, ...]], outputs: list[str],
          seed: int = 0) -> Model:
    """A graph of ``(name, config, input names)`` with random weights of the shapes each kind expects."""
    rng = np.random.default_rng(seed)

    def random(config: Any, shapes: list[Any]) -> dict[str, Weight]:
        return {k: Weight.of(np.abs(w) + 0.5 if "variance" in k else w) for k, s in config.weight_shapes(shapes).items()
                for w in [rng.normal(0, 0.5, s).astype("float32")]}

    graph = model([input_layer(n, s) for n, s in inputs.items()], list(inputs), list(inputs))
    for name, config, ins in specs:
        graph.layers.append(layer(name, config, ins))
        graph.outputs = [TensorRef(name)]
        graph.validate()
        shapes = graph.call_input_shapes(graph.layers[-1], 0)
        graph.layers[-1].weights = random(config, shapes)
        for sub, sub_shapes in config.sublayer_inputs(shapes):
            sub.weights = random(sub.config, sub_shapes)
    graph.outputs = [TensorRef(o) for o in outputs]
    graph.validate()
    return graph


def cf_conv(filters: int = 4, rank: int = 2, **kw: Any) -> Any:
    cls = {1: conv.Conv1D, 2: conv.Conv2D, 3: conv.Conv3D}[rank]
    return cls(filters=filters, kernel_size=(2,) * rank, data_format="channels_first", **kw)


def check_rule(m: Model, expect_transposes: int | None = None) -> Model:
    xs = generate_inputs(m, 3, 1)
    want = kconvert.run(m, xs, device="cpu")
    assert all(np.ptp(w) > 1e-3 for w in want), "degenerate model"
    for io in ("original", "channels_last"):
        rewritten, got = run_rewritten(m, io, xs)
        assert_same(got, want, io)
    rewritten = to_channels_last(m)
    inserted = [la for la in rewritten.layers if la.name not in {x.name for x in m.layers}]
    if expect_transposes is not None:
        assert len(inserted) == expect_transposes, [(la.name, la.kind) for la in inserted]
    return rewritten


IMAGE = {"x": (B, 3, 6, 5)}


def test_flatten_then_dense_permutes_kernel_rows() -> None:
    """Keras 1 Theano models flatten (channels, rows, cols); the Dense after it gets its rows permuted."""
    m = build([("c", cf_conv(), ["x"]), ("f", core.Flatten(), ["c"]), ("bn", normalization.BatchNormalization(), ["f"]),
               ("d", core.Dense(units=3), ["bn"])], IMAGE, ["d"])
    rewritten = check_rule(m, expect_transposes=1)
    assert {n.layer for n in rewritten.report.by_category("rewritten") if n.layer} == {"bn", "d"}


def test_keras2_flatten_needs_no_weight_change() -> None:
    m = build([("c", cf_conv(), ["x"]), ("f", core.Flatten(data_format="channels_first"), ["c"]),
               ("d", core.Dense(units=3), ["f"])], IMAGE, ["d"])
    rewritten = check_rule(m, expect_transposes=1)
    assert rewritten.layer("d").weights["kernel"] is m.layer("d").weights["kernel"]


def test_flattened_features_brought_back_where_a_layer_needs_them() -> None:
    """A flattened layout reaching a layer with no rule for it (RepeatVector) is undone exactly."""
    m = build([("c", cf_conv(), ["x"]), ("f", core.Flatten(), ["c"]), ("r", core.RepeatVector(n=2), ["f"])],
              IMAGE, ["r"])
    check_rule(m, expect_transposes=4)  # to channels-last, then unflatten, permute back, flatten


@pytest.mark.parametrize("kind", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"])
def test_merges_take_their_inputs_in_one_layout(kind: str) -> None:
    cls = getattr(merge, kind)
    m = build([("a", cf_conv(padding="same"), ["x"]), ("b", cf_conv(padding="same"), ["x"]),
               ("m", cls(), ["a", "b"]), ("p", pooling.GlobalAveragePooling2D(data_format="channels_first"), ["m"])],
              IMAGE, ["p"])
    check_rule(m, expect_transposes=1)


def test_a_merge_with_an_input_in_the_source_layout() -> None:
    """The input tensor (channels_first) added to a convolution's output: brought to channels-last once."""
    m = build([("a", cf_conv(filters=3, padding="same"), ["x"]), ("m", merge.Add(), ["a", "x"])], IMAGE, ["m"])
    check_rule(m, expect_transposes=2)  # x to channels-last (shared by both), the output back


def test_concatenate_axis_follows_the_channels() -> None:
    m = build([("a", cf_conv(padding="same"), ["x"]), ("b", cf_conv(filters=2, padding="same"), ["x"]),
               ("cat", merge.Concatenate(axis=1), ["a", "b"]), ("c", cf_conv(filters=2), ["cat"])], IMAGE, ["c"])
    rewritten = check_rule(m, expect_transposes=2)
    assert rewritten.layer("cat").config.axis == -1


def test_concatenate_along_a_spatial_axis() -> None:
    m = build([("a", cf_conv(padding="same"), ["x"]), ("b", cf_conv(padding="same"), ["x"]),
               ("cat", merge.Concatenate(axis=-1), ["a", "b"])], IMAGE, ["cat"])
    rewritten = check_rule(m)
    assert rewritten.layer("cat").config.axis == 2


def test_softmax_and_normalization_axes() -> None:
    m = build([("c", cf_conv(), ["x"]), ("bn", normalization.BatchNormalization(axis=(1,)), ["c"]),
               ("ln", normalization.LayerNormalization(axis=(1,)), ["bn"]), ("s", act.Softmax(axis=1), ["ln"]),
               ("s2", act.Softmax(axis=-1), ["ln"])], IMAGE, ["s", "s2"])
    rewritten = check_rule(m, expect_transposes=3)
    assert rewritten.layer("bn").config.axis == (-1,) and rewritten.layer("s2").config.axis == 2


def test_softmax_activation_over_the_last_axis_is_not_moved() -> None:
    """A softmax activation works on the last axis: after a channels_first layer that is a spatial
    axis, so the tensor goes back to its source layout first."""
    m = build([("c", cf_conv(), ["x"]), ("a", core.Activation(activation="softmax"), ["c"]),
               ("r", act.ReLU(), ["a"])], IMAGE, ["r"])
    check_rule(m, expect_transposes=2)


def test_per_unit_parameters_are_transposed() -> None:
    m = build([("c", cf_conv(), ["x"]), ("p", act.PReLU(shared_axes=(2, 3)), ["c"]),
               ("p2", act.PReLU(), ["p"]), ("c2", cf_conv(), ["p2"])], IMAGE, ["c2"])
    rewritten = check_rule(m, expect_transposes=2)
    assert rewritten.layer("p").config.shared_axes == (1, 2)
    assert rewritten.layer("p").weights["alpha"].shape == (1, 1, 4)


def test_reshape_keeping_the_channels_and_reshape_to_a_vector() -> None:
    m = build([("c", cf_conv(), ["x"]), ("r", core.Reshape(target_shape=(4, 20)), ["c"]),
               ("c1", conv.Conv1D(filters=2, kernel_size=(3,), data_format="channels_first"), ["r"]),
               ("v", core.Reshape(target_shape=(-1,)), ["c1"]), ("d", core.Dense(units=2), ["v"])], IMAGE, ["d"])
    check_rule(m, expect_transposes=1)


def test_reshape_mixing_channels_and_space_goes_back_first() -> None:
    m = build([("c", cf_conv(), ["x"]), ("r", core.Reshape(target_shape=(10, 8)), ["c"]),
               ("d", core.Dense(units=2), ["r"])], IMAGE, ["d"])
    check_rule(m, expect_transposes=2)


def test_permute_is_composed() -> None:
    m = build([("c", cf_conv(), ["x"]), ("p", core.Permute(dims=(2, 3, 1)), ["c"]),
               ("d", core.Dense(units=2), ["p"])], IMAGE, ["d"])
    rewritten = check_rule(m, expect_transposes=1)
    assert rewritten.layer("p").config.dims == (1, 2, 3)


def test_dropout_noise_shape_and_elementwise_layers() -> None:
    m = build([("c", cf_conv(), ["x"]), ("drop", noise.Dropout(rate=0.5, noise_shape=(B, 4, 1, 1)), ["c"]),
               ("e", act.ELU(alpha=0.5), ["drop"]), ("r", core.Rescaling(scale=0.5, offset=1.0), ["e"]),
               ("sd", noise.SpatialDropout2D(rate=0.3, data_format="channels_first"), ["r"]),
               ("c2", cf_conv(), ["sd"])], IMAGE, ["c2"])
    rewritten = check_rule(m, expect_transposes=2)
    assert rewritten.layer("drop").config.noise_shape == (B, 1, 1, 4)


@pytest.mark.parametrize("spec", [
    conv.Conv1D(filters=3, kernel_size=(3,), padding="causal", dilation_rate=(2,), data_format="channels_first"),
    conv.Conv2DTranspose(filters=3, kernel_size=(3, 2), strides=(2, 1), data_format="channels_first"),
    conv.SeparableConv2D(filters=3, kernel_size=(2, 2), depth_multiplier=2, data_format="channels_first"),
    conv.DepthwiseConv2D(kernel_size=(2, 3), depth_multiplier=2, data_format="channels_first"),
    conv.LocallyConnected2D(filters=2, kernel_size=(2, 2), data_format="channels_first"),
    pooling.MaxPooling2D(pool_size=(2, 2), padding="same", data_format="channels_first"),
    pooling.AveragePooling2D(pool_size=(3, 2), strides=(1, 1), padding="same", data_format="channels_first"),
    pooling.GlobalMaxPooling2D(keepdims=True, data_format="channels_first"),
    reshaping.Cropping2D(cropping=((1, 0), (0, 2)), data_format="channels_first"),
    reshaping.ZeroPadding2D(padding=((1, 2), (0, 1)), data_format="channels_first"),
    reshaping.UpSampling2D(size=(2, 1), data_format="channels_first"),
], ids=lambda c: c.kind)
def test_image_layers(spec: Any) -> None:
    rank = {1: 3, 2: 4}[spec.rank]
    shape = IMAGE["x"][:rank]
    m = build([("l", spec, ["x"]), ("a", act.LeakyReLU(negative_slope=0.1), ["l"])], {"x": shape}, ["a"])
    check_rule(m, expect_transposes=2)


def test_locally_connected_1d() -> None:
    m = build([("l", conv.LocallyConnected1D(filters=2, kernel_size=(2,), data_format="channels_first"), ["x"])],
              {"x": (B, 3, 7)}, ["l"])
    check_rule(m, expect_transposes=2)


def test_volumes() -> None:
    pool = pooling.MaxPooling3D(pool_size=(2, 2, 1), data_format="channels_first")
    m = build([("c", cf_conv(rank=3), ["x"]), ("p", pool, ["c"]),
               ("g", pooling.GlobalAveragePooling3D(data_format="channels_first"), ["p"])],
              {"x": (B, 2, 5, 6, 4)}, ["g"])
    check_rule(m, expect_transposes=1)


def test_conv_lstm_and_time_distributed() -> None:
    td = TimeDistributed(layer=Layer("inner", cf_conv(filters=2)))
    m = build([("td", td, ["x"]),
               ("lstm", recurrent.ConvLSTM2D(filters=2, kernel_size=(2, 2), return_sequences=True,
                                             data_format="channels_first"), ["td"]),
               ("last", recurrent.ConvLSTM2D(filters=2, kernel_size=(1, 1), data_format="channels_first"), ["lstm"]),
               ("c", cf_conv(filters=2), ["last"])], {"x": (B, 3, 3, 6, 5)}, ["c"])
    rewritten = check_rule(m, expect_transposes=2)
    assert rewritten.layer("td").config.layer.config.data_format == "channels_last"


def test_shared_layer_and_nested_model() -> None:
    inner = build([("ic", cf_conv(filters=3, padding="same"), ["ix"])], {"ix": (B, 3, 6, 5)}, ["ic"])
    m = build([("shared", cf_conv(filters=3, padding="same"), ["x"]),
               ("n", nested.NestedModel(model=inner), ["shared"])], IMAGE, ["n"])
    m.layer("shared").calls.append(Call([TensorRef("n")]))
    m.outputs = [TensorRef("shared", 1)]
    m.validate()
    rewritten = check_rule(m)
    assert not channels_first_layers(rewritten.layer("n").config.model)


def test_a_model_without_channels_first_layers_is_left_as_it_is() -> None:
    m = kconvert.load(GENERATED / "keras3" / "cnn2d.h5")
    assert to_channels_last(m) is m and to_channels_last(m, "channels_last") is m


def test_layout_algebra() -> None:
    assert channels_last(4) == (0, 2, 3, 1) and channels_last(2) == (0, 1)
    flat = Layout(channels_last(4), flattened=(2, 3, 4))
    source = np.arange(24).reshape(1, 2, 3, 4)
    rewritten = source.transpose(flat.perm).reshape(1, -1)
    assert (rewritten[0] == source.reshape(1, -1)[0][flat.gather()]).all()


# -- the interfaces -----------------------------------------------------------------------------

def test_write_options_are_checked(tmp_path: Path) -> None:
    m = kconvert.load(GENERATED / "keras3" / "channels_first.h5")
    with pytest.raises(ValueError, match="unknown layout"):
        kconvert.write(m, "keras", tmp_path / "a.keras", layout="channels_middle")
    with pytest.raises(ValueError, match="layout_io goes with"):
        kconvert.write(m, "keras", tmp_path / "a.keras", layout_io="channels_last")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("target,io", [("tfjs", "original"), ("keras", "original"), ("dl4j", "channels_last")])
def test_every_writer_gets_the_rewritten_model(tmp_path: Path, target: str, io: str) -> None:
    """Read back, each written model holds no channels_first layer and computes the source's function
    (DL4J records no input shape, so it cannot permute an input: it takes channels-last images)."""
    out = tmp_path / ("out.keras" if target == "keras" else "out")
    written = kconvert.convert(KERAS1 / "conv2d_th.h5", target, out, layout="channels_last", layout_io=io)
    assert any(n.message.startswith("layout: 8 layer(s) rewritten") for n in written.report.notes)
    back = kconvert.load(written.files[-1] if target == "dl4j" else written.path)  # DL4J: the model zip
    assert not channels_first_layers(back)
    source = kconvert.load(KERAS1 / "conv2d_th.h5")
    xs = generate_inputs(source, 2, 0)
    moved = [np.moveaxis(x, 1, -1) if io == "channels_last" else x for x in xs]
    assert_same(kconvert.run(back, moved, device="cpu"), kconvert.run(source, xs, device="cpu"), target)


def test_cli_layout_and_verify(tmp_path: Path) -> None:
    runner = CliRunner()
    source = str(GENERATED / "keras3" / "channels_first.keras")
    bad = runner.invoke(main, [source, "--to", "keras", str(tmp_path / "x.keras"), "--layout-io", "channels_last"])
    assert bad.exit_code == EXIT_USAGE and "--layout-io goes with --layout" in bad.output
    report = tmp_path / "report.json"
    result = runner.invoke(main, [source, "--to", "tfjs", str(tmp_path / "web"), "--layout", "channels_last",
                                  "--layout-io", "channels_last", "--verify", "--report", str(report)])
    assert result.exit_code == EXIT_OK, result.output
    assert "inputs made channels-last: chw" in result.output
    document = json.loads(report.read_text())
    validate(document, "convert-report")
    targets = [c for c in document["verification"]["checks"] if c["name"] == "target"]
    assert targets and all(c["status"] == "passed" for c in targets)
    topology = json.loads((tmp_path / "web" / "model.json").read_text())["modelTopology"]["model_config"]["config"]
    assert topology["layers"][0]["config"]["batch_input_shape"] == [None, 10, 10, 3]


def test_inspect_shows_each_layers_layout() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["inspect", str(KERAS1 / "conv2d_th.h5"), "--json"])
    assert result.exit_code == EXIT_OK, result.output
    document = json.loads(result.output)
    validate(document, "inspect-report")
    layouts = {la["name"]: la["layout"] for la in document["layers"]}
    assert layouts["convolution2d_1"] == "channels_first" and layouts["dense_1"] is None
    text = runner.invoke(main, ["inspect", str(KERAS1 / "conv2d_th.h5")]).output
    assert "Layout" in text.splitlines()[1]
    assert any("convolution2d_1 " in line and "channels_first" in line for line in text.splitlines())
